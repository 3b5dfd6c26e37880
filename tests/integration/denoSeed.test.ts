/**
 * The Deno cache the desktop app ships (src/local/denoSeed.ts): built from the functions as
 * `npm run dist` builds it, it lets a fresh cache start every function with no network at all
 * (every fetch goes to a dead proxy here), and it is what Deno runs from: a package missing from
 * it is a start error naming it, not a download.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDenoSeed } from '../../src/local/buildDenoSeed.js';
import { freePort } from '../../src/local/db.js';
import { createFunctionsRuntime, FunctionsRuntimeError, type FunctionsRuntime } from '../../src/local/functions.js';
import { SEED_LOCK, SEED_STAMP } from '../../src/local/denoSeed.js';

const FUNCTIONS_DIR = resolve('supabase/functions');
let root: string;
let seed: string;
/** Any fetch Deno tries goes to a port nothing listens on. */
let offline: Record<string, string>;
const runtimes: FunctionsRuntime[] = [];
const FUNCTIONS = ['create-call-session', 'end-call-session', 'end-live', 'generate-call-token', 'start-live'];

/** The functions the runtime logged as failing to load, sorted. */
function failedToLoad(log: string[]): string[] {
  return log.flatMap((l) => /function (\S+) failed to load:/.exec(l)?.[1] ?? []).sort();
}

/** One POST through the runtime's proxy, as the gateway makes it. */
async function call(r: FunctionsRuntime, name: string): Promise<{ status: number; body: string }> {
  const server = createServer((req, res) => void r.handle(req, res, name));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    return { status: res.status, body: await res.text() };
  } finally {
    server.close();
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'roast-deno-seed-'));
  seed = join(root, 'seed');
  const proxy = `http://127.0.0.1:${await freePort()}`;
  offline = { HTTPS_PROXY: proxy, HTTP_PROXY: proxy, https_proxy: proxy, http_proxy: proxy };
  // Built online, as the packaging step does (the npm registry is reachable wherever npm ci ran).
  await buildDenoSeed({ functionsDir: FUNCTIONS_DIR, outDir: seed });
}, 300_000);

afterAll(async () => {
  for (const r of runtimes) await r.stop();
  await rm(root, { recursive: true, force: true });
});

function runtime(opts: { denoDir: string; seedDenoDir?: string; log?: string[] }): FunctionsRuntime {
  const r = createFunctionsRuntime({
    functionsDir: FUNCTIONS_DIR,
    env: offline,
    startTimeoutMs: 120_000,
    log: (line) => opts.log?.push(line),
    denoDir: opts.denoDir,
    ...(opts.seedDenoDir ? { seedDenoDir: opts.seedDenoDir } : {}),
  });
  runtimes.push(r);
  return r;
}

describe('the Deno cache shipped with the app', () => {
  it('holds every package the functions import, their lock file and its stamp, and nothing made for this machine', async () => {
    const npm = await readdir(join(seed, 'npm', 'registry.npmjs.org'));
    expect(npm).toEqual(expect.arrayContaining(['@supabase', 'zod', 'jose']));
    // No databases of Deno's nor code compiled for the build machine's paths: only what the app runs from.
    for (const entry of await readdir(seed)) expect(['npm', 'remote', SEED_LOCK, SEED_STAMP]).toContain(entry);
    const lock = JSON.parse(await readFile(join(seed, SEED_LOCK), 'utf8')) as { npm: Record<string, unknown> };
    expect(Object.keys(lock.npm)).toEqual(expect.arrayContaining(['zod@4.6.7', 'jose@6.2.18', '@supabase/supabase-js@2.119.0']));
    const stamp = JSON.parse(await readFile(join(seed, SEED_STAMP), 'utf8')) as { registry: string; packages: string[] };
    expect(stamp.packages).toEqual(expect.arrayContaining(['npm/registry.npmjs.org/zod/4.6.7', 'npm/registry.npmjs.org/@supabase/supabase-js/2.119.0']));
  });

  it('offline, an empty cache cannot load the functions (the proxy does block every fetch)', async () => {
    const log: string[] = [];
    const r = runtime({ denoDir: join(root, 'empty'), log });
    await r.start();
    expect(failedToLoad(log)).toEqual(FUNCTIONS);
    const answer = await call(r, 'start-live');
    expect(answer.status).toBe(500);
    expect(answer.body).toMatch(/failed to load.*registry\.npmjs\.org/);
    await r.stop();
  });

  it('offline, a fresh cache filled from the seed loads every function', async () => {
    const log: string[] = [];
    const r = runtime({ denoDir: join(root, 'first-start'), seedDenoDir: seed, log });
    await r.start();
    expect(r.status().functions.sort()).toEqual(FUNCTIONS);
    expect(failedToLoad(log)).toEqual([]);
    expect(log.some((l) => l.includes("Deno's cache filled from the app's"))).toBe(true);
    // Loaded and answering: no caller, so the function itself refuses.
    const answer = await call(r, 'start-live');
    expect(answer.status).toBe(401);
    await r.stop();
    // The next start finds the seed already there and says nothing of it.
    const again: string[] = [];
    const second = runtime({ denoDir: join(root, 'first-start'), seedDenoDir: seed, log: again });
    await second.start();
    expect(again.some((l) => l.includes("Deno's cache filled"))).toBe(false);
    await second.stop();
  });

  it('offline, on a machine whose npm names another registry (variables and ~/.npmrc), still finds the seed’s packages', async () => {
    const home = join(root, 'home');
    await mkdir(home, { recursive: true });
    const elsewhere = `http://127.0.0.1:${await freePort()}/`;
    await writeFile(join(home, '.npmrc'), `registry=${elsewhere}\n`);
    const log: string[] = [];
    const r = createFunctionsRuntime({
      functionsDir: FUNCTIONS_DIR,
      env: { ...offline, HOME: home, NPM_CONFIG_REGISTRY: elsewhere, npm_config_registry: elsewhere },
      startTimeoutMs: 120_000,
      log: (line) => log.push(line),
      denoDir: join(root, 'other-registry'),
      seedDenoDir: seed,
    });
    runtimes.push(r);
    await r.start();
    expect(failedToLoad(log)).toEqual([]);
    expect((await call(r, 'start-live')).status).toBe(401);
    await r.stop();
  });

  it('runs from the seed alone: a package missing from it fails the functions, naming it, with no download', async () => {
    const partial = join(root, 'partial-seed');
    await cp(seed, partial, { recursive: true });
    await rm(join(partial, 'npm', 'registry.npmjs.org', 'jose'), { recursive: true, force: true });
    const log: string[] = [];
    const r = runtime({ denoDir: join(root, 'partial-cache'), seedDenoDir: partial, log });
    await r.start();
    // The lock file names every package of the seed, and Deno sets them all up before the first import: every
    // function fails alike (a seed missing a package is a broken package of the app), each saying which one.
    expect(failedToLoad(log)).toEqual(FUNCTIONS);
    const answer = await call(r, 'start-live');
    expect(answer.status).toBe(500);
    expect(answer.body).toMatch(/jose/);
    expect(answer.body).toMatch(/cached-only/);
    expect(answer.body).not.toMatch(/registry\.npmjs\.org.*Connection refused/);
    await r.stop();
  });

  it('a seed without its stamp fails the start with what to do', async () => {
    const unstamped = join(root, 'unstamped-seed');
    await cp(seed, unstamped, { recursive: true });
    await rm(join(unstamped, SEED_STAMP));
    const err = await runtime({ denoDir: join(root, 'unstamped-cache'), seedDenoDir: unstamped }).start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FunctionsRuntimeError);
    expect((err as FunctionsRuntimeError).reason).toBe('start_failed');
    expect((err as Error).message).toMatch(/npm run dist/);
  });
});
