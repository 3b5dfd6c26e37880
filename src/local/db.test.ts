import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DatabaseError, DEFAULT_MIGRATIONS_DIR, freePort, listMigrations } from './db.js';

const dirs: string[] = [];

async function dirWith(files: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'roast-migrations-'));
  dirs.push(dir);
  for (const f of files) await writeFile(join(dir, f), 'select 1;');
  return dir;
}

afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('listMigrations', () => {
  it('orders migrations by version and ignores other files', async () => {
    const dir = await dirWith(['20260102000000_second.sql', '20260101000000_first.sql', 'README.md']);
    expect((await listMigrations(dir)).map((m) => [m.version, m.name])).toEqual([
      ['20260101000000', 'first'],
      ['20260102000000', 'second'],
    ]);
  });

  it('refuses badly named and duplicate versions', async () => {
    await expect(listMigrations(await dirWith(['core.sql']))).rejects.toBeInstanceOf(DatabaseError);
    await expect(listMigrations(await dirWith(['1_a.sql', '1_b.sql']))).rejects.toMatchObject({ reason: 'bad_migration' });
  });

  it('treats a missing directory as no migrations', async () => {
    expect(await listMigrations(join(tmpdir(), 'roast-no-such-dir'))).toEqual([]);
  });

  it('reads the project migrations', async () => {
    const versions = (await listMigrations(DEFAULT_MIGRATIONS_DIR)).map((m) => m.version);
    expect(versions[0]).toBe('20260101000000');
    expect([...versions].sort()).toEqual(versions);
  });
});

describe('freePort', () => {
  it('finds a port that can be listened on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    expect((server.address() as AddressInfo).port).toBe(port);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
