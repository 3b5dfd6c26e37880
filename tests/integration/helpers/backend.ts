/**
 * A throwaway local backend for integration tests (embedded PostgreSQL on a free
 * port, the gateway on a free port, optionally the Realtime server mounted as
 * `npm run backend` mounts it) and real users signed in through the unmodified
 * supabase-js client.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type pg from 'pg';
import WebSocket from 'ws';
import { type LocalBackend, startLocalBackend } from '../../../src/local/gateway.js';
import { createRealtimeServer, installRealtimeTriggers, type RealtimeServer } from '../../../src/local/realtime/index.js';

export interface TestUser {
  sb: SupabaseClient;
  id: string;
  name: string;
}

export interface TestBackend {
  backend: LocalBackend;
  /** Service-role access to the database: superuser, bypasses row level security. */
  pool: pg.Pool;
  apiUrl: string;
  anonKey: string;
  /** A supabase-js client with only the anon key (the audience). */
  anon(): SupabaseClient;
  /** A supabase-js client with the service role key, as the edge functions hold it. */
  service(): SupabaseClient;
  /** A new anonymous user whose profile carries `name` as display name. */
  signIn(name: string): Promise<TestUser>;
  stop(): Promise<void>;
}

export interface TestBackendOptions {
  /** Mount the local Realtime server (WebSocket and REST broadcast). */
  realtime?: boolean;
}

export async function startTestBackend(opts: TestBackendOptions = {}): Promise<TestBackend> {
  let realtime: RealtimeServer | null = null;
  const backend = await startLocalBackend({
    port: 0,
    ephemeralDb: true,
    dbPort: 0,
    ...(opts.realtime
      ? {
          mounts: {
            realtime: {
              handleUpgrade: (req, socket, head) => (realtime ? realtime.handleUpgrade(req, socket, head) : socket.destroy()),
              handleHttp: async (req, res) => (realtime ? realtime.handleHttp(req, res) : false),
              close: async () => realtime?.close(),
            },
          },
        }
      : {}),
  });
  if (opts.realtime) {
    try {
      await installRealtimeTriggers(backend.pool);
      realtime = createRealtimeServer({ pool: backend.pool, callerPool: backend.realtimePool, jwtSecret: backend.jwtSecret, anonKey: backend.anonKey });
    } catch (err) {
      await backend.stop();
      throw err;
    }
  }

  const clients: SupabaseClient[] = [];
  const client = (key = backend.anonKey): SupabaseClient => {
    const sb = createClient(backend.apiUrl, key, {
      auth: { persistSession: false, autoRefreshToken: false },
      realtime: { transport: WebSocket as never },
    });
    clients.push(sb);
    return sb;
  };

  return {
    backend,
    pool: backend.pool,
    apiUrl: backend.apiUrl,
    anonKey: backend.anonKey,
    anon: () => client(),
    service: () => client(backend.serviceRoleKey),
    async signIn(name: string): Promise<TestUser> {
      const sb = client();
      const { data, error } = await sb.auth.signInAnonymously({ options: { data: { display_name: name } } });
      if (error || !data.user) throw new Error(`sign-in of ${name} failed: ${error?.message}`);
      return { sb, id: data.user.id, name };
    },
    async stop(): Promise<void> {
      await Promise.allSettled(clients.map((c) => c.removeAllChannels()));
      await backend.stop();
    },
  };
}
