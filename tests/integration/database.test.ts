/**
 * The embedded PostgreSQL's superuser: its password is made at random with
 * the cluster and kept in the data directory (only the server's user may read
 * it), so another local user or process reaching the port cannot log in as
 * superuser with a well-known password. A cluster made with the old fixed
 * password gets a random one at its first start.
 */
import { mkdtemp, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { PASSWORD_FILE, startDatabase, type Database } from '../../src/local/db.js';

const scratch: string[] = [];
let db: Database | null = null;

afterAll(async () => {
  await db?.stop();
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

async function logsIn(url: string, password: string): Promise<boolean> {
  const { port } = new URL(url);
  const client = new pg.Client({ host: '127.0.0.1', port: Number(port), user: 'postgres', password, database: 'postgres' });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

it('makes the superuser password at random, keeps it in the data directory, and replaces the old fixed one', async () => {
  const noMigrations = await mkdtemp(join(tmpdir(), 'roast-no-migrations-'));
  const parent = await mkdtemp(join(tmpdir(), 'roast-pg-password-'));
  scratch.push(noMigrations, parent);
  const dataDir = join(parent, 'data');
  const start = () => startDatabase({ dataDir, port: 0, migrationsDir: noMigrations, poolSize: 1 });

  db = await start();
  // As root the cluster may live elsewhere than asked (a folder the postgres user can reach): the one it uses.
  const actual = db.dataDir!;
  scratch.push(actual);
  const file = join(actual, PASSWORD_FILE);
  const password = (await readFile(file, 'utf8')).trim();
  expect(password.length).toBeGreaterThanOrEqual(24);
  expect((await stat(file)).mode & 0o077).toBe(0);
  expect(decodeURIComponent(new URL(db.url).password)).toBe(password);
  expect(await logsIn(db.url, 'postgres')).toBe(false);
  expect(await logsIn(db.url, password)).toBe(true);

  // A start that died after initdb, before the password was moved into the data directory: found beside it.
  await db.stop();
  const pending = join(dirname(actual), `.${basename(actual)}.${PASSWORD_FILE}`);
  await rename(file, pending);
  db = await start();
  expect(decodeURIComponent(new URL(db.url).password)).toBe(password);

  // As a cluster made before: the fixed password, and no file.
  await db.pool.query("alter role postgres password 'postgres'");
  await db.stop();
  await unlink(pending);

  db = await start();
  const replaced = (await readFile(file, 'utf8')).trim();
  expect(replaced).not.toBe('postgres');
  expect(replaced).not.toBe(password);
  expect(await logsIn(db.url, 'postgres')).toBe(false);
  expect(await logsIn(db.url, replaced)).toBe(true);
  await db.stop();

  // Started again, it keeps the password it has.
  db = await start();
  expect(decodeURIComponent(new URL(db.url).password)).toBe(replaced);
  expect((await db.pool.query<{ ok: number }>('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
}, 120_000);
