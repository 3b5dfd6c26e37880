import { describe, expect, it } from 'vitest';
import { builtPagePolicy, contentSecurityPolicy, withBuiltPagePolicy } from './csp';

const directives = (csp: string) => Object.fromEntries(csp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));

describe('the studio window’s Content-Security-Policy', () => {
  it('runs the app’s own scripts only and connects to its backend, over wss for https', () => {
    const csp = directives(contentSecurityPolicy('https://abc.supabase.co'));
    expect(csp['script-src']).toBe("'self'");
    expect(csp['connect-src']).toBe("'self' https://abc.supabase.co wss://abc.supabase.co");
    expect(csp['object-src']).toBe("'none'");
  });

  it('lets the dev server’s inline refresh preamble and hot-reload socket in, in development only', () => {
    const dev = directives(contentSecurityPolicy('http://127.0.0.1:54321', { dev: true }));
    expect(dev['script-src']).toBe("'self' 'unsafe-inline'");
    expect(dev['connect-src']).toBe("'self' ws: http://127.0.0.1:54321 ws://127.0.0.1:54321");
    const built = directives(contentSecurityPolicy('http://127.0.0.1:54321'));
    expect(built['script-src']).toBe("'self'");
    expect(built['connect-src']).toBe("'self' http://127.0.0.1:54321 ws://127.0.0.1:54321");
  });

  it('is written into the built page too (a file:// page gets no response headers), connecting to any backend address', () => {
    const built = directives(builtPagePolicy());
    expect(built['script-src']).toBe("'self'");
    expect(built['object-src']).toBe("'none'");
    expect(built['connect-src']).toBe("'self' http: https: ws: wss:");
    expect(built['frame-ancestors']).toBeUndefined();
    const page = withBuiltPagePolicy('<!doctype html>\n<html><head>\n<meta charset="UTF-8" />\n<script type="module" src="./a.js"></script></head></html>');
    expect(page.indexOf('http-equiv="Content-Security-Policy"')).toBeGreaterThan(-1);
    expect(page.indexOf('http-equiv="Content-Security-Policy"')).toBeLessThan(page.indexOf('<script'));
    expect(() => withBuiltPagePolicy('<html></html>')).toThrow(/no <head>/);
  });
});
