/**
 * Deno's cache shipped with the desktop app, so that its first start needs no network.
 *
 * The edge functions import npm packages (supabase-js, zod, jose), which Deno fetches into its
 * cache (DENO_DIR) the first time it loads them. A streamer's first start may be offline, and a
 * packaged app should run what it was built with, not whatever the registry holds that day. So
 * the packaging step loads every function once into a fresh cache and keeps its npm packages and
 * a lock file naming every version it resolved (`buildDenoSeed`), with a stamp saying what it
 * holds and from which registry. At start the app copies that into its own (writable) Deno cache
 * when the cache does not hold it yet (`seedDenoCache`), and Deno runs with that lock file,
 * `--frozen` and `--cached-only`: nothing is fetched or resolved anew at run time, and a package
 * missing from the seed fails its function with the cache's error rather than a download.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AppError } from '../shared/errors.js';

/** The file in a seed (and, once copied, in the cache) that names the seed's content. */
export const SEED_STAMP = 'roast-seed.json';
/** The lock file of the seed: every package version its build resolved, checked at run time (`--frozen`). */
export const SEED_LOCK = 'roast-seed.lock';
/** What of a Deno cache a seed holds: the npm packages (and remote modules, where functions import any). */
export const SEED_PARTS = ['npm', 'remote'] as const;

export interface SeedStamp {
  /** A hash of every function's deno.json and the Deno version: a seed for other imports is another seed. */
  key: string;
  /** When the seed was built (ISO), for the log. */
  builtAt: string;
  /** The npm registry the packages came from: Deno files them under its host, and looks there again at run time. */
  registry: string;
  /** Every package version in it, as `npm/<registry host>/<name>/<version>`: a cache missing one is filled again. */
  packages: string[];
}

export class DenoSeedError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('deno_seed', message, options);
    this.name = 'DenoSeedError';
  }
}

/** The key of a seed for these functions and this Deno: every `<fn>/deno.json` (sorted by folder) and the version. */
export async function seedKey(functionsDir: string, denoVersion: string): Promise<string> {
  const hash = createHash('sha256').update(`deno ${denoVersion}\n`);
  const entries = (await readdir(functionsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const name of entries) {
    const config = await readFile(join(functionsDir, name, 'deno.json'), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (config !== null) hash.update(`${name}\n${config}\n`);
  }
  return hash.digest('hex').slice(0, 32);
}

async function readStamp(dir: string): Promise<SeedStamp | null> {
  let text: string;
  try {
    text = await readFile(join(dir, SEED_STAMP), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<SeedStamp>;
    if (
      typeof parsed.key === 'string' &&
      typeof parsed.builtAt === 'string' &&
      typeof parsed.registry === 'string' &&
      Array.isArray(parsed.packages) &&
      parsed.packages.every((p) => typeof p === 'string')
    ) {
      return { key: parsed.key, builtAt: parsed.builtAt, registry: parsed.registry, packages: parsed.packages };
    }
  } catch {
    // Unreadable: treated as no stamp.
  }
  return null;
}

/**
 * Makes `denoDir` hold the seed: copies the seed in unless `denoDir` already holds its stamp and
 * every package it names (a cache partly deleted is filled again). Files the cache has beyond the
 * seed's stay. The stamp is written last, so a copy cut short (the app killed, a full disk) is
 * made again at the next start. Resolves to the seed's stamp and what was done.
 */
export async function seedDenoCache(seedDir: string, denoDir: string): Promise<{ stamp: SeedStamp; done: 'seeded' | 'current' }> {
  const seed = await readStamp(seedDir);
  if (!seed) throw new DenoSeedError(`the app's Deno cache at ${seedDir} has no readable ${SEED_STAMP}: the app was packaged without it (npm run dist builds it)`);
  const have = await readStamp(denoDir);
  if (have?.key === seed.key && (await allPresent(denoDir, seed.packages))) return { stamp: seed, done: 'current' };
  try {
    await mkdir(denoDir, { recursive: true });
    await rm(join(denoDir, SEED_STAMP), { force: true });
    await cp(seedDir, denoDir, { recursive: true, force: true, filter: (src) => resolve(src) !== resolve(seedDir, SEED_STAMP) });
    await writeFile(join(denoDir, SEED_STAMP), JSON.stringify(seed));
  } catch (err) {
    throw new DenoSeedError(`could not copy the app's Deno cache from ${seedDir} to ${denoDir}: ${(err as Error).message}`, { cause: err });
  }
  return { stamp: seed, done: 'seeded' };
}

async function allPresent(dir: string, relativePaths: string[]): Promise<boolean> {
  for (const path of relativePaths) {
    if (!(await stat(join(dir, path)).catch(() => null))?.isDirectory()) return false;
  }
  return true;
}

/** Every package version in a cache's npm folder, as `npm/<registry host>/<name>/<version>` (scoped names have two parts). */
export async function cachedPackages(denoDir: string): Promise<string[]> {
  const dirs = async (path: string) =>
    (await readdir(path, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const found: string[] = [];
  for (const host of await dirs(join(denoDir, 'npm'))) {
    for (const top of await dirs(join(denoDir, 'npm', host))) {
      const names = top.startsWith('@') ? (await dirs(join(denoDir, 'npm', host, top))).map((n) => `${top}/${n}`) : [top];
      for (const name of names) for (const version of await dirs(join(denoDir, 'npm', host, name))) found.push(`npm/${host}/${name}/${version}`);
    }
  }
  return found;
}

/** Writes the stamp of a seed built into `seedDir`. */
export async function stampSeed(seedDir: string, key: string, registry: string): Promise<SeedStamp> {
  const stamp: SeedStamp = { key, builtAt: new Date().toISOString(), registry, packages: await cachedPackages(seedDir) };
  await writeFile(join(seedDir, SEED_STAMP), `${JSON.stringify(stamp, null, 2)}\n`);
  return stamp;
}
