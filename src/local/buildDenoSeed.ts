/**
 * Builds the Deno cache the desktop app ships (denoSeed.ts): every edge function loaded once by
 * the same runtime the app uses, into a fresh DENO_DIR with a lock file; then its npm packages
 * (and remote modules), the lock file and a stamp go to the seed folder. The rest of a Deno cache
 * (its databases, code compiled for this machine's paths) is made again where the app runs.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SEED_LOCK, SEED_PARTS, seedKey, stampSeed, type SeedStamp } from './denoSeed.js';
import { createFunctionsRuntime, resolveDenoBinary } from './functions.js';

const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

export async function buildDenoSeed(opts: { functionsDir: string; outDir: string; denoPath?: string; log?: (line: string) => void }): Promise<SeedStamp> {
  const outDir = resolve(opts.outDir);
  const deno = opts.denoPath ?? resolveDenoBinary();
  const version = execFileSync(deno, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  // The registry npm is set to (a mirror named in .npmrc reaches scripts as npm_config_registry); no ~/.npmrc
  // of this machine decides behind its back. The app looks the packages up under the same registry's host.
  const registry = process.env.NPM_CONFIG_REGISTRY || process.env.npm_config_registry || DEFAULT_REGISTRY;
  const work = await mkdtemp(join(tmpdir(), 'roast-deno-seed-'));
  const cache = join(work, 'cache');
  const home = join(work, 'home');
  await mkdir(home, { recursive: true });
  // Loading every function fetches every package they import; nothing is served. A function that
  // cannot load (a package the registry did not give) would fail in every app built with this seed.
  const failures: string[] = [];
  const runtime = createFunctionsRuntime({
    functionsDir: opts.functionsDir,
    env: { NPM_CONFIG_REGISTRY: registry, npm_config_registry: registry, HOME: home },
    denoDir: cache,
    denoPath: deno,
    lockFile: join(cache, SEED_LOCK),
    startTimeoutMs: 300_000,
    log: (line) => {
      if (/ failed to load: /.test(line)) failures.push(line.replace(/^\[functions\] /, ''));
      opts.log?.(line);
    },
  });
  try {
    try {
      await runtime.start();
    } finally {
      await runtime.stop();
    }
    if (failures.length > 0) throw new Error(`the Deno cache for the app is incomplete: ${failures.join('; ')}`);
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    for (const part of SEED_PARTS) {
      if (await stat(join(cache, part)).catch(() => null)) await cp(join(cache, part), join(outDir, part), { recursive: true });
    }
    await cp(join(cache, SEED_LOCK), join(outDir, SEED_LOCK));
    const stamp = await stampSeed(outDir, await seedKey(opts.functionsDir, version), registry);
    const host = new URL(registry).host;
    if (!stamp.packages.some((p) => p.startsWith(`npm/${host}/`))) {
      throw new Error(`the Deno cache for the app holds no package from ${registry} (npm/${host}): Deno used another registry`);
    }
    return stamp;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
