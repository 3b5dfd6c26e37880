import { describe, expect, it } from 'vitest';
import { guestPageLink, parseWebAppUrl, watchPageLink, webAppUrlFromEnv } from './appLinks';

describe('the web app address', () => {
  it('is an http(s) address made to end with a slash', () => {
    expect(parseWebAppUrl('https://app.example.com')).toBe('https://app.example.com/');
    expect(parseWebAppUrl(' http://127.0.0.1:54321/app ')).toBe('http://127.0.0.1:54321/app/');
    expect(parseWebAppUrl('http://127.0.0.1:54321/app/')).toBe('http://127.0.0.1:54321/app/');
  });

  it('refuses anything else, naming the setting', () => {
    expect(() => parseWebAppUrl('app.example.com')).toThrow('ROAST_WEB_APP_URL must be the web app\'s address, such as https://app.example.com/ (got "app.example.com")');
    expect(() => parseWebAppUrl('ftp://app.example.com/')).toThrow('ROAST_WEB_APP_URL must be an http or https address');
    expect(() => parseWebAppUrl('https://app.example.com/#/guest')).toThrow('without a query or #route');
  });

  it('comes from the environment only when set', () => {
    expect(webAppUrlFromEnv({})).toEqual({});
    expect(webAppUrlFromEnv({ ROAST_WEB_APP_URL: 'https://app.example.com' })).toEqual({ webAppUrl: 'https://app.example.com/' });
    expect(() => webAppUrlFromEnv({ ROAST_WEB_APP_URL: 'nope' })).toThrow(/ROAST_WEB_APP_URL/);
  });
});

describe('links for guests and viewers', () => {
  it('are absolute where the app is known, relative otherwise', () => {
    const id = '11111111-1111-4111-8111-111111111111';
    expect(watchPageLink('http://127.0.0.1:54321/app/', id)).toBe(`http://127.0.0.1:54321/app/#/watch?stream=${id}`);
    expect(watchPageLink(undefined, id)).toBe(`#/watch?stream=${id}`);
    expect(guestPageLink('https://app.example.com/')).toBe('https://app.example.com/#/guest');
    expect(guestPageLink(undefined)).toBe('#/guest');
  });
});
