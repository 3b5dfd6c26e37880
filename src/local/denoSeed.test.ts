import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cachedPackages, DenoSeedError, SEED_STAMP, seedDenoCache, seedKey, stampSeed } from './denoSeed.js';
import { denoArgs } from './functions.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'deno-seed-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function seedWith(files: Record<string, string>, key: string): Promise<string> {
  const dir = join(root, `seed-${key}`);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  await stampSeed(dir, key, 'https://registry.npmjs.org/');
  return dir;
}

describe('seedDenoCache', () => {
  it('copies the seed into an empty cache, stamp included, and leaves it alone the next time', async () => {
    const seed = await seedWith({ 'npm/registry.npmjs.org/zod/4.0.0/index.js': 'zod', 'npm/registry.npmjs.org/zod/registry.json': '{}' }, 'a');
    const cache = join(root, 'cache');
    expect((await seedDenoCache(seed, cache)).done).toBe('seeded');
    expect(await readFile(join(cache, 'npm/registry.npmjs.org/zod/4.0.0/index.js'), 'utf8')).toBe('zod');
    expect(JSON.parse(await readFile(join(cache, SEED_STAMP), 'utf8'))).toMatchObject({ key: 'a', registry: 'https://registry.npmjs.org/', packages: ['npm/registry.npmjs.org/zod/4.0.0'] });
    // A file Deno changed since (its own caches) is not overwritten by a seed it already holds.
    await writeFile(join(cache, 'npm/registry.npmjs.org/zod/registry.json'), '{"changed":true}');
    expect((await seedDenoCache(seed, cache)).done).toBe('current');
    expect(await readFile(join(cache, 'npm/registry.npmjs.org/zod/registry.json'), 'utf8')).toBe('{"changed":true}');
  });

  it('adds a newer seed to a cache that holds an older one, keeping what the cache had', async () => {
    const cache = join(root, 'cache');
    await seedDenoCache(await seedWith({ 'npm/r/old/1/index.js': 'old' }, 'old'), cache);
    expect((await seedDenoCache(await seedWith({ 'npm/r/new/2/index.js': 'new' }, 'new'), cache)).done).toBe('seeded');
    expect(await readFile(join(cache, 'npm/r/old/1/index.js'), 'utf8')).toBe('old');
    expect(await readFile(join(cache, 'npm/r/new/2/index.js'), 'utf8')).toBe('new');
    expect(JSON.parse(await readFile(join(cache, SEED_STAMP), 'utf8')).key).toBe('new');
  });

  it('copies again when the stamp is missing (a copy cut short) or unreadable', async () => {
    const seed = await seedWith({ 'npm/r/p/1/index.js': 'p' }, 'k');
    const cache = join(root, 'cache');
    await mkdir(cache, { recursive: true });
    await writeFile(join(cache, SEED_STAMP), 'not json');
    expect((await seedDenoCache(seed, cache)).done).toBe('seeded');
    await rm(join(cache, SEED_STAMP));
    await rm(join(cache, 'npm/r/p/1/index.js'));
    expect((await seedDenoCache(seed, cache)).done).toBe('seeded');
    expect(await readFile(join(cache, 'npm/r/p/1/index.js'), 'utf8')).toBe('p');
  });

  it('fills the cache again when a package the seed names is gone from it, stamp or not', async () => {
    const seed = await seedWith({ 'npm/r/@s/kit/2.0.0/index.js': 'kit', 'npm/r/zod/4.0.0/index.js': 'zod' }, 'k');
    const cache = join(root, 'cache');
    await seedDenoCache(seed, cache);
    await rm(join(cache, 'npm/r/@s/kit'), { recursive: true });
    expect((await seedDenoCache(seed, cache)).done).toBe('seeded');
    expect(await readFile(join(cache, 'npm/r/@s/kit/2.0.0/index.js'), 'utf8')).toBe('kit');
  });

  it('refuses a seed without its stamp, saying how the app is packaged with one, and leaves the cache as it was', async () => {
    const seed = join(root, 'unstamped');
    await mkdir(join(seed, 'npm'), { recursive: true });
    const cache = join(root, 'cache');
    const err = await seedDenoCache(seed, cache).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DenoSeedError);
    expect((err as Error).message).toMatch(/no readable roast-seed\.json.*npm run dist/);
    await expect(readFile(join(cache, SEED_STAMP))).rejects.toThrow(/ENOENT/);
  });
});

describe('cachedPackages', () => {
  it('lists each package version under its registry host, scoped names in two parts', async () => {
    const dir = await seedWith({ 'npm/registry.npmjs.org/@supabase/auth-js/2.1.0/package.json': '{}', 'npm/registry.npmjs.org/@supabase/auth-js/registry.json': '{}', 'npm/registry.npmjs.org/ws/8.0.0/index.js': '' }, 'p');
    expect(await cachedPackages(dir)).toEqual(['npm/registry.npmjs.org/@supabase/auth-js/2.1.0', 'npm/registry.npmjs.org/ws/8.0.0']);
    expect(await cachedPackages(join(root, 'nothing-here'))).toEqual([]);
  });
});

describe('seedKey', () => {
  it('changes with any function’s imports and with the Deno version, not with other files', async () => {
    const fns = join(root, 'functions');
    await mkdir(join(fns, 'a'), { recursive: true });
    await mkdir(join(fns, '_shared'), { recursive: true });
    await writeFile(join(fns, 'a', 'deno.json'), '{"imports":{"zod":"npm:zod@4"}}');
    const first = await seedKey(fns, 'deno 2.9.6');
    await writeFile(join(fns, '_shared', 'x.ts'), 'export {}');
    expect(await seedKey(fns, 'deno 2.9.6')).toBe(first);
    expect(await seedKey(fns, 'deno 2.9.7')).not.toBe(first);
    await writeFile(join(fns, 'a', 'deno.json'), '{"imports":{"zod":"npm:zod@4.1"}}');
    expect(await seedKey(fns, 'deno 2.9.6')).not.toBe(first);
  });
});

describe('denoArgs', () => {
  it('runs without a lock by default, writes one when building a seed, and runs from a seed by its lock and cache alone', () => {
    const base = { importMapPath: '/m.json', functionsDir: '/f', hostScript: '/h.ts', hostConfig: {} };
    expect(denoArgs(base)).toContain('--no-lock');
    expect(denoArgs(base)).not.toContain('--cached-only');
    const building = denoArgs({ ...base, lockFile: '/c/roast-seed.lock' });
    expect(building).toContain('--lock=/c/roast-seed.lock');
    expect(building).not.toContain('--frozen');
    expect(building).not.toContain('--no-lock');
    const seeded = denoArgs({ ...base, lockFile: '/c/roast-seed.lock', cachedOnly: true });
    expect(seeded).toEqual(expect.arrayContaining(['--lock=/c/roast-seed.lock', '--frozen', '--cached-only']));
    expect(seeded.indexOf('--cached-only')).toBeLessThan(seeded.indexOf('/h.ts'));
  });
});
