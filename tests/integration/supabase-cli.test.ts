/**
 * The real Supabase CLI accepts the project's migrations, and Deno type-checks
 * the edge functions as `supabase functions deploy` bundles them.
 *
 * The database is a fresh embedded PostgreSQL with only what a hosted project
 * has before any project migration (the local bootstrap: platform roles, the
 * auth schema and its helpers); the CLI itself applies `supabase/migrations`
 * with `supabase migration up --db-url`, exactly as it would against a
 * hosted database.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, listMigrations, startDatabase } from '../../src/local/db.js';

const execFileAsync = promisify(execFile);

const ROOT = resolve('.');
const SUPABASE_DIR = join(ROOT, 'supabase');
const MIGRATIONS_DIR = join(SUPABASE_DIR, 'migrations');
const FUNCTIONS_DIR = join(SUPABASE_DIR, 'functions');
const SUPABASE_BIN = join(ROOT, 'node_modules', '.bin', 'supabase');
const DENO_BIN = join(ROOT, 'node_modules', '.bin', 'deno');

/** Why the CLI cannot run on this machine, or null when `supabase --version` works. */
function cliUnavailable(): string | null {
  // Run outside the repository: inside a project folder the CLI writes `supabase/.temp/`.
  const cwd = mkdtempSync(join(tmpdir(), 'roast-supabase-probe-'));
  const probe = spawnSync(SUPABASE_BIN, ['--version'], { cwd, encoding: 'utf8', timeout: 30_000 });
  rmSync(cwd, { recursive: true, force: true });
  if (probe.error) return `${SUPABASE_BIN} cannot be started: ${probe.error.message}`;
  if (probe.status !== 0) return `${SUPABASE_BIN} --version exited with ${probe.status ?? probe.signal}: ${(probe.stderr || probe.stdout).trim()}`;
  return null;
}

const skipReason = cliUnavailable();
if (skipReason) console.warn(`supabase-cli.test.ts: skipping the Supabase CLI tests: ${skipReason}`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(bin: string, args: string[], cwd: string): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(bin, args, { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

describe.skipIf(skipReason !== null)('Supabase CLI 2.117.0 against a fresh database', () => {
  let db: Database;
  let scratch: string;
  /** A copy of the project's `supabase/` folder: the CLI writes its `.temp/` there, not in the repository. */
  let workdir: string;
  let dbUrl: string;
  let versions: string[];

  const cli = (...args: string[]): Promise<Run> => run(SUPABASE_BIN, [...args, '--workdir', workdir], workdir);

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'roast-supabase-cli-'));
    const noMigrations = join(scratch, 'no-migrations');
    workdir = join(scratch, 'project');
    await mkdir(noMigrations);
    await mkdir(join(workdir, 'supabase'), { recursive: true });
    await cp(join(SUPABASE_DIR, 'config.toml'), join(workdir, 'supabase', 'config.toml'));
    await cp(MIGRATIONS_DIR, join(workdir, 'supabase', 'migrations'), { recursive: true });
    versions = (await listMigrations(MIGRATIONS_DIR)).map((m) => m.version);

    // Bootstrap only: an empty migrations folder, so that the CLI is the one applying them.
    db = await startDatabase({ ephemeral: true, port: 0, migrationsDir: noMigrations, poolSize: 2 });
    expect(db.appliedMigrations).toEqual([]);
    // The embedded server has no TLS; the CLI tries TLS first unless told otherwise.
    dbUrl = `${db.url}?sslmode=disable`;
  });

  afterAll(async () => {
    await db?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('reports its pinned version', async () => {
    const version = await cli('--version');
    expect(version.stdout.trim()).toBe('2.117.0');
  });

  it('`migration up --db-url` applies every migration in supabase/migrations, in order', async () => {
    expect(versions.length).toBeGreaterThan(0);
    const up = await cli('migration', 'up', '--db-url', dbUrl);
    expect(up.code, up.stderr + up.stdout).toBe(0);
    const applied = [...`${up.stdout}\n${up.stderr}`.matchAll(/Applying migration (\d+)_[^\s]*\.sql/g)].map((m) => m[1]);
    expect(applied).toEqual(versions);

    const { rows } = await db.pool.query<{ version: string }>('select version from supabase_migrations.schema_migrations order by version');
    expect(rows.map((r) => r.version)).toEqual(versions);
    const tables = await db.pool.query<{ name: string }>(
      "select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
    );
    expect(tables.rows.map((r) => r.name)).toEqual(
      expect.arrayContaining(['profiles', 'streams', 'stream_ingests', 'stream_guest_seats', 'stream_guest_invitations', 'stream_guest_events', 'call_sessions']),
    );
  });

  it('`migration list --db-url` shows each migration applied remotely', async () => {
    const list = await cli('migration', 'list', '--db-url', dbUrl, '--output-format', 'json');
    expect(list.code, list.stderr).toBe(0);
    const parsed = JSON.parse(list.stdout) as { migrations: Array<{ local: string; remote: string }> };
    expect(parsed.migrations.map((m) => m.local)).toEqual(versions);
    expect(parsed.migrations.map((m) => m.remote)).toEqual(versions);
  });

  it('finds nothing left to apply, and the local runner agrees with its bookkeeping', async () => {
    const again = await cli('migration', 'up', '--db-url', dbUrl);
    expect(again.code, again.stderr).toBe(0);
    expect(`${again.stdout}\n${again.stderr}`).not.toMatch(/Applying migration/);

    const push = await cli('db', 'push', '--db-url', dbUrl, '--dry-run');
    expect(push.code, push.stderr).toBe(0);
    expect(`${push.stdout}\n${push.stderr}`).toMatch(/up to date/i);

    // The local backend's own migration runner, started on the CLI-migrated database, applies nothing.
    const local = await startDatabase({ databaseUrl: db.url, migrationsDir: MIGRATIONS_DIR, poolSize: 1 });
    try {
      expect(local.appliedMigrations).toEqual([]);
    } finally {
      await local.stop();
    }
  });
});

describe('edge functions', () => {
  it('type-check with `deno check supabase/functions/*/index.ts`', async () => {
    const entries: string[] = [];
    for (const name of (await readdir(FUNCTIONS_DIR)).sort()) {
      const index = join(FUNCTIONS_DIR, name, 'index.ts');
      if (await stat(index).then((s) => s.isFile(), () => false)) entries.push(join('supabase', 'functions', name, 'index.ts'));
    }
    expect(entries.length).toBeGreaterThanOrEqual(5);
    const check = await run(DENO_BIN, ['check', ...entries], ROOT);
    expect(check.code, check.stderr + check.stdout).toBe(0);
  });
});
