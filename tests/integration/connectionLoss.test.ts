/**
 * The local backend when PostgreSQL connections die under it (a backend
 * terminated, the server restarted): the process carries on, the request that
 * held the connection gets a clear error, and the next one works.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../src/local/dbClient.js';
import { type LocalBackend, startLocalBackend } from '../../src/local/gateway.js';

let backend: LocalBackend;
const logs: string[] = [];
const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function client(key = backend.anonKey): SupabaseClient {
  return createClient(backend.apiUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
  });
}

/** The pid of the backend running a query that contains `marker`, once it runs. */
async function backendRunning(marker: string, pool: pg.Pool = backend.pool): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const { rows } = await pool.query<{ pid: number }>(
      "select pid from pg_stat_activity where state = 'active' and pid <> pg_backend_pid() and strpos(query, $1) > 0",
      [marker],
    );
    if (rows[0]) return rows[0].pid;
    await sleep(50);
  }
  throw new Error(`no backend is running "${marker}"`);
}

async function terminate(pid: number): Promise<void> {
  const { rows } = await backend.pool.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [pid]);
  expect(rows[0]?.ok).toBe(true);
}

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  backend = await startLocalBackend({ port: 0, ephemeralDb: true, dbPort: 0, log: (m) => logs.push(m) });
  await backend.pool.query(`
    create function public.conn_loss_sleep(seconds float8) returns int language sql as $$ select 1 from pg_sleep(seconds) $$;
    grant execute on function public.conn_loss_sleep(float8) to anon;
  `);
});

afterAll(async () => {
  await backend?.stop();
  process.off('uncaughtException', onUncaught);
});

describe('a connection that dies while a request holds it', () => {
  it('answers that request with a 5xx and a message; the process lives and the next requests work', async () => {
    const sb = client();
    // A query builder sends its request once awaited: start it now.
    const slow = sb.rpc('conn_loss_sleep', { seconds: 5 }).then((r) => r);
    await terminate(await backendRunning('conn_loss_sleep'));
    const { error, status } = await slow;
    expect(status).toBeGreaterThanOrEqual(500);
    expect(error?.message).toMatch(/terminat/i);
    await sleep(100);
    expect(uncaught).toEqual([]);

    // More at once than the pool holds: no broken connection is handed out again.
    const next = await Promise.all(Array.from({ length: 12 }, () => sb.rpc('conn_loss_sleep', { seconds: 0 })));
    expect(next.map((r) => r.error)).toEqual(Array(12).fill(null));
    expect(next.map((r) => r.data)).toEqual(Array(12).fill(1));
    expect(logs.some((line) => /terminat/i.test(line))).toBe(true);
  });

  it('a checkout through withClient whose connection dies is reported on the pool, rejects and is not reused', async () => {
    const pool = new pg.Pool({ connectionString: backend.dbUrl, max: 1 });
    const reported: Error[] = [];
    pool.on('error', (err) => reported.push(err));
    try {
      // Between two queries: the connection's error comes with no query to fail.
      const held = withClient(pool, async (c) => {
        const { rows } = await c.query<{ pid: number }>('select pg_backend_pid() as pid');
        await terminate(rows[0]!.pid);
        await sleep(200);
        return c.query('select 1');
      });
      expect((await held.then(() => null, (err: Error) => err))?.message).toMatch(/not queryable|terminat/i);
      expect(uncaught).toEqual([]);
      expect(reported.map((e) => e.message).join('\n')).toMatch(/terminat/i);
      const { rows } = await withClient(pool, (c) => c.query<{ one: number }>('select 1 as one'));
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
