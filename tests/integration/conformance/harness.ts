/**
 * The conformance suite's harness: the whole local stack on free ports, and
 * supabase-js clients made exactly as an app makes them (Node needs only the
 * `ws` transport for Realtime).
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type RealtimeChannel, type SupabaseClient, type SupabaseClientOptions } from '@supabase/supabase-js';
import pg from 'pg';
import WebSocket from 'ws';
import { type LocalStack, startLocalStack } from '../../../src/local/stack.js';

export interface Harness {
  stack: LocalStack;
  logs: string[];
  /** A fresh client with the anon key (or `key`), as the app creates one. */
  client(key?: string, options?: SupabaseClientOptions<'public'>): SupabaseClient;
  /** Runs SQL as the database owner: fixtures only, never the path under test. */
  sql(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  // As root the embedded PostgreSQL runs as the postgres user, who must reach the data dir.
  const root = await mkdtemp(join(tmpdir(), 'roast-conformance-'));
  await chmod(root, 0o755);
  const logs: string[] = [];
  const clients: SupabaseClient[] = [];
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      port: 0,
      rtmpPort: 0,
      ingestHttpPort: 0,
      dbPort: 0,
      dataDir: join(root, 'postgres'),
      log: (line) => logs.push(line),
    });
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const pool = new pg.Pool({ connectionString: stack.dbUrl, max: 2 });
  pool.on('error', () => undefined);
  return {
    stack,
    logs,
    client(key, options) {
      const c = createClient(stack.apiUrl, key ?? stack.anonKey, {
        ...options,
        auth: { persistSession: false, autoRefreshToken: false },
        realtime: { transport: WebSocket as never },
      });
      clients.push(c);
      return c;
    },
    sql: (text, values) => pool.query(text, values),
    async stop() {
      await Promise.all(clients.map((c) => c.removeAllChannels().catch(() => undefined)));
      await pool.end().catch(() => undefined);
      await stack.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Subscribes and resolves on SUBSCRIBED; rejects with the status and reason otherwise. */
export function subscribe(channel: RealtimeChannel): Promise<void> {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve();
      else reject(new Error(`${status}: ${err?.message ?? ''}`));
    });
  });
}


export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { inbox } from '../helpers/inbox';
