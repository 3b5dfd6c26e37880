import { describe, expect, it } from 'vitest';
import { requestUrl } from './http.js';

describe('requestUrl', () => {
  it('reads a path as a path, even one that starts with two slashes', () => {
    expect(requestUrl('/rest/v1/streams?select=id')?.pathname).toBe('/rest/v1/streams');
    expect(requestUrl('/rest/v1/streams?select=id')?.searchParams.get('select')).toBe('id');
    expect(requestUrl('//evil.test/x')?.pathname).toBe('//evil.test/x');
    expect(requestUrl('//evil.test/x')?.hostname).toBe('localhost');
    expect(requestUrl(undefined)?.pathname).toBe('/');
    expect(requestUrl('//')?.pathname).toBe('//');
    expect(requestUrl('//[')?.pathname).toBe('//[');
    expect(requestUrl('http://host.test/a?b=1')?.pathname).toBe('/a');
  });

  it('gives null for a target that is not a URL instead of throwing', () => {
    for (const target of ['*', 'not a url', 'http://[', 'http://']) expect(requestUrl(target), target).toBeNull();
  });
});
