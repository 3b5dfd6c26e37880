/**
 * Builds the Deno cache the desktop app ships (denoSeed.ts): every edge function loaded once by
 * the same runtime the app uses, into a fresh DENO_DIR, then stamped.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { seedKey, stampSeed, type SeedStamp } from './denoSeed.js';
import { createFunctionsRuntime, resolveDenoBinary } from './functions.js';

export async function buildDenoSeed(opts: { functionsDir: string; outDir: string; denoPath?: string; log?: (line: string) => void }): Promise<SeedStamp> {
  const outDir = resolve(opts.outDir);
  const deno = opts.denoPath ?? resolveDenoBinary();
  const version = execFileSync(deno, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  // Loading every function fetches every package they import; nothing is served. A function that
  // cannot load (a package the registry did not give) would fail in every app built with this seed.
  const failures: string[] = [];
  const runtime = createFunctionsRuntime({
    functionsDir: opts.functionsDir,
    env: {},
    denoDir: outDir,
    denoPath: deno,
    startTimeoutMs: 300_000,
    log: (line) => {
      if (/ failed to load: /.test(line)) failures.push(line.replace(/^\[functions\] /, ''));
      opts.log?.(line);
    },
  });
  try {
    await runtime.start();
  } finally {
    await runtime.stop();
  }
  if (failures.length > 0) throw new Error(`the Deno cache for the app is incomplete: ${failures.join('; ')}`);
  return stampSeed(outDir, await seedKey(opts.functionsDir, version));
}
