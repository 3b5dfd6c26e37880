/**
 * Deno's cache shipped with the desktop app, so that its first start needs no network.
 *
 * The edge functions import npm packages (supabase-js, zod, jose), which Deno fetches into its
 * cache (DENO_DIR) the first time it loads them. A streamer's first start may be offline, and a
 * packaged app should run what it was built with, not whatever the registry holds that day. So
 * the packaging step loads every function once into a fresh cache (`buildDenoSeed`), writes a
 * stamp naming what it holds, and the app carries that folder as a resource. At start the app
 * copies it into its own (writable) Deno cache when that does not hold this stamp yet
 * (`seedDenoCache`), and Deno then runs with `--cached-only`: nothing is fetched at run time, and
 * a package missing from the seed is a clear start error rather than a silent download.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AppError } from '../shared/errors.js';

/** The file in a seed (and, once copied, in the cache) that names the seed's content. */
export const SEED_STAMP = 'roast-seed.json';

export interface SeedStamp {
  /** A hash of every function's deno.json and the Deno version: a seed for other imports is another seed. */
  key: string;
  /** When the seed was built (ISO), for the log. */
  builtAt: string;
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
    if (typeof parsed.key === 'string' && typeof parsed.builtAt === 'string') return { key: parsed.key, builtAt: parsed.builtAt };
  } catch {
    // Unreadable: treated as no stamp.
  }
  return null;
}

/**
 * Makes `denoDir` hold the seed: copies the seed in unless `denoDir` already holds its stamp.
 * Files the cache has beyond the seed's stay. The stamp is written last, so a copy cut short
 * (the app killed, a full disk) is made again at the next start.
 */
export async function seedDenoCache(seedDir: string, denoDir: string): Promise<'seeded' | 'current'> {
  const seed = await readStamp(seedDir);
  if (!seed) throw new DenoSeedError(`the app's Deno cache at ${seedDir} has no ${SEED_STAMP}: the app was packaged without it (npm run dist builds it)`);
  const have = await readStamp(denoDir);
  if (have?.key === seed.key) return 'current';
  try {
    await mkdir(denoDir, { recursive: true });
    await rm(join(denoDir, SEED_STAMP), { force: true });
    await cp(seedDir, denoDir, { recursive: true, force: true, filter: (src) => resolve(src) !== resolve(seedDir, SEED_STAMP) });
    await writeFile(join(denoDir, SEED_STAMP), JSON.stringify(seed));
  } catch (err) {
    throw new DenoSeedError(`could not copy the app's Deno cache from ${seedDir} to ${denoDir}: ${(err as Error).message}`, { cause: err });
  }
  return 'seeded';
}

/** Writes the stamp of a seed built into `seedDir` (by loading every function with DENO_DIR there). */
export async function stampSeed(seedDir: string, key: string): Promise<SeedStamp> {
  const stamp: SeedStamp = { key, builtAt: new Date().toISOString() };
  await writeFile(join(seedDir, SEED_STAMP), `${JSON.stringify(stamp, null, 2)}\n`);
  return stamp;
}
