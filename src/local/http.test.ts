import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { BodyError, nestsDeeperThan, readJson, requestUrl, withoutTrailingSlashes } from './http.js';

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

describe('withoutTrailingSlashes', () => {
  it('drops the slashes at the end only', () => {
    expect(withoutTrailingSlashes('/auth/v1/user///')).toBe('/auth/v1/user');
    expect(withoutTrailingSlashes('/auth/v1/user')).toBe('/auth/v1/user');
    expect(withoutTrailingSlashes('///')).toBe('');
    expect(withoutTrailingSlashes('')).toBe('');
    const long = `/${'/'.repeat(100_000)}x`;
    expect(withoutTrailingSlashes(long)).toBe(long);
  });
});

describe('JSON bodies nested too deep', () => {
  it('counts arrays and objects, not brackets inside strings', () => {
    expect(nestsDeeperThan('[[1]]', 2)).toBe(false);
    expect(nestsDeeperThan('[[[1]]]', 2)).toBe(true);
    expect(nestsDeeperThan('{"a":{"b":[]}}', 3)).toBe(false);
    expect(nestsDeeperThan('{"a":{"b":[{}]}}', 3)).toBe(true);
    expect(nestsDeeperThan('["[[[[", "{{{{"]', 1)).toBe(false);
    expect(nestsDeeperThan('["\\"[[[["]', 1)).toBe(false);
    expect(nestsDeeperThan('[[],[],[]]', 2)).toBe(false);
  });

  const request = (text: string) => Object.assign(Readable.from([Buffer.from(text)]), { headers: {} }) as unknown as IncomingMessage;

  it('refuses one deeper than MAX_JSON_DEPTH as bad JSON, and reads one at the limit', async () => {
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const error = await readJson(request(`{"title":${deep}}`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BodyError);
    expect(error).toMatchObject({ reason: 'bad_json', message: 'invalid JSON body: arrays and objects nested deeper than 512 levels' });
    const atLimit = `${'['.repeat(511)}1${']'.repeat(511)}`;
    const value = await readJson(request(`{"v":${atLimit}}`));
    expect(JSON.stringify(value)).toBe(`{"v":${atLimit}}`);
  });
});
