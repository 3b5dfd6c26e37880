/**
 * The local backend when PostgreSQL connections die under it (a backend
 * terminated, the server restarted): the process carries on, the request that
 * held the connection gets a clear error, and the next one works; Realtime
 * subscribers are told to rejoin when changes may have been missed.
 */
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../src/local/dbClient.js';
import { type LocalBackend, startLocalBackend } from '../../src/local/gateway.js';
import { createRealtimeServer, installRealtimeTriggers, type RealtimeServer } from '../../src/local/realtime/index.js';
import { inbox } from './helpers/inbox';

let backend: LocalBackend;
let realtime: RealtimeServer | null = null;
const clients: SupabaseClient[] = [];
const logs: string[] = [];
const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function client(key = backend.anonKey): SupabaseClient {
  const sb = createClient(backend.apiUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
  });
  clients.push(sb);
  return sb;
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
  backend = await startLocalBackend({
    port: 0,
    ephemeralDb: true,
    dbPort: 0,
    log: (m) => logs.push(m),
    mounts: {
      realtime: {
        handleUpgrade: (req, socket, head) => (realtime ? realtime.handleUpgrade(req, socket, head) : socket.destroy()),
        handleHttp: async (req, res) => (realtime ? realtime.handleHttp(req, res) : false),
        close: async () => realtime?.close(),
      },
    },
  });
  await backend.pool.query(`
    create function public.conn_loss_sleep(seconds float8) returns int language sql as $$ select 1 from pg_sleep(seconds) $$;
    grant execute on function public.conn_loss_sleep(float8) to anon;
    create table public.conn_loss_notes (id bigserial primary key, body text not null);
    grant select on public.conn_loss_notes to anon;
    alter publication supabase_realtime add table public.conn_loss_notes;
    -- A policy that never answers in time: every row's check sleeps for ten minutes.
    create table public.conn_loss_stuck (id bigserial primary key, body text not null);
    alter table public.conn_loss_stuck enable row level security;
    create policy stuck on public.conn_loss_stuck for select to anon using (public.conn_loss_sleep(600) = 1);
    grant select on public.conn_loss_stuck to anon;
    alter publication supabase_realtime add table public.conn_loss_stuck;
  `);
  await installRealtimeTriggers(backend.pool);
  realtime = createRealtimeServer({ pool: backend.pool, callerPool: backend.realtimePool, jwtSecret: backend.jwtSecret, anonKey: backend.anonKey, log: (m) => logs.push(m) });
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.removeAllChannels()));
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

describe('the Realtime connection listening for changes dies', () => {
  it('tells each postgres_changes channel, which rejoins, and delivers the changes made after', async () => {
    const sb = client();
    const statuses = inbox<string>();
    const system = inbox<{ extension: string; status: string; message: string }>();
    const changes = inbox<{ new: { body: string } }>();
    const channel: RealtimeChannel = sb
      .channel('notes')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'conn_loss_notes' }, (p) => changes.push(p as never))
      .on('system', {}, (p) => system.push(p));
    channel.subscribe((status) => statuses.push(status));
    expect(await statuses.next()).toBe('SUBSCRIBED');
    expect(await system.next()).toMatchObject({ extension: 'postgres_changes', status: 'ok' });
    await backend.pool.query("insert into public.conn_loss_notes (body) values ('before')");
    expect((await changes.next()).new.body).toBe('before');

    const { rows } = await backend.pool.query<{ pid: number }>(
      "select pid from pg_stat_activity where query ilike 'listen realtime_changes%' and pid <> pg_backend_pid()",
    );
    expect(rows).toHaveLength(1);
    await terminate(rows[0]!.pid);

    expect(await system.next()).toMatchObject({ extension: 'postgres_changes', status: 'error', message: expect.stringMatching(/missed/) });
    expect(await statuses.next()).toBe('CHANNEL_ERROR');
    expect(await statuses.next(10_000)).toBe('SUBSCRIBED'); // rejoined by the client itself
    expect(await system.next()).toMatchObject({ extension: 'postgres_changes', status: 'ok' });

    await backend.pool.query("insert into public.conn_loss_notes (body) values ('after')");
    expect((await changes.next()).new.body).toBe('after');
    const { rows: listening } = await backend.pool.query("select pid from pg_stat_activity where query ilike 'listen realtime_changes%'");
    expect(listening).toHaveLength(1);
    expect(uncaught).toEqual([]);
  });
});

// Last in the file: it closes the Realtime server.
describe('a Realtime check that never answers', () => {
  it('fails after its statement timeout: the change is not delivered, and the server still shuts down', async () => {
    const sb = client();
    const statuses = inbox<string>();
    const changes = inbox<unknown>();
    sb.channel('stuck')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'conn_loss_stuck' }, (p) => changes.push(p))
      .subscribe((status) => statuses.push(status));
    expect(await statuses.next()).toBe('SUBSCRIBED');
    await backend.pool.query("insert into public.conn_loss_stuck (body) values ('never seen')");
    // The subscriber's visibility check is running (and would for ten minutes).
    await backendRunning('conn_loss_stuck');
    const server = realtime!;
    realtime = null;
    // Without a timeout this waits for the check; the test's own timeout ends it first.
    await server.close();
    const line = logs.find((l) => l.includes('visibility check on public.conn_loss_stuck failed'));
    expect(line).toMatch(/statement timeout/);
    expect(changes.items).toEqual([]);
    expect(uncaught).toEqual([]);
  }, 30_000);
});
