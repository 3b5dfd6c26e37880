/**
 * The whole embedded backend on one machine: PostgreSQL + the Supabase-compatible
 * gateway (Auth, REST, Realtime, Functions in Deno) + a local RTMP ingest that
 * stands in for Cloudflare Stream.
 */
import { join } from 'node:path';
import type pg from 'pg';
import { randomBytes } from 'node:crypto';
import { REPO_ROOT } from './db.js';
import { startLocalBackend } from './gateway.js';
import { createRealtimeServer, installRealtimeTriggers } from './realtime/index.js';
import { createFunctionsRuntime } from './functions.js';
import { startIngest } from './ingest.js';
import { AppError } from '../shared/errors.js';

export interface LocalStackOptions {
  port?: number;
  host?: string;
  /** PostgreSQL data folder (embedded server). */
  dataDir?: string;
  /** Deno's cache for the edge functions (`.data/deno` in the repository by default; the packaged app's own folder is read-only). */
  denoDir?: string;
  /** The Deno cache packaged with the app (denoSeed.ts): copied into `denoDir`, and nothing is fetched. */
  seedDenoDir?: string;
  /** Port of the embedded PostgreSQL (default 54322; 0 picks a free one). */
  dbPort?: number;
  databaseUrl?: string;
  /** How REST and Realtime's checks log in as the authenticator role, when its password is not this backend's (API_DATABASE_URL). */
  apiDatabaseUrl?: string;
  jwtSecret?: string;
  /** The ffmpeg the ingest's HLS packager runs (the app passes the one its encoder resolved); FFMPEG_PATH or `ffmpeg` otherwise. */
  ffmpegPath?: string;
  /** Built renderer served at /app/ for guests and viewers. */
  staticDir?: string;
  rtmpPort?: number;
  ingestHttpPort?: number;
  /**
   * An RTMP(S) server of your own that the studio publishes to
   * (`rtmp://host:port/app`; the stream key is appended) instead of the
   * embedded ingest, which then does not start.
   */
  ingestUrl?: string;
  /**
   * That server's playback URL, with `{id}` for the stream's playback id (viewers get none
   * without it). Never the stream key: playback URLs are public.
   */
  playbackUrlTemplate?: string;
  /** Extra environment for the edge functions (e.g. Cloudflare secrets). */
  functionsEnv?: Record<string, string>;
  log?: (message: string) => void;
}

export interface LocalStack {
  apiUrl: string;
  anonKey: string;
  serviceRoleKey: string;
  dbUrl: string;
  jwtSecret: string;
  rtmpBaseUrl: string;
  /** Where viewers play a playback id (stream_ingests.playback_id), or null when the ingest has no known playback. */
  playbackUrl(playbackId: string): string | null;
  stop(): Promise<void>;
}

/** The RTMP(S) server given in place of the embedded ingest, checked: a clear error for anything else. */
export function externalIngest(url: string, playbackUrlTemplate?: string): { rtmpBaseUrl: string; playbackUrl: (playbackId: string) => string | null } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AppError('invalid_ingest_url', `the ingest URL "${url}" is not a URL; give rtmp://host:port/app or rtmps://…`);
  }
  if (parsed.protocol !== 'rtmp:' && parsed.protocol !== 'rtmps:') {
    throw new AppError('invalid_ingest_url', `the ingest URL "${url}" is not RTMP: give rtmp://host:port/app or rtmps://…`);
  }
  if (playbackUrlTemplate !== undefined && (playbackUrlTemplate.includes('{key}') || !playbackUrlTemplate.includes('{id}'))) {
    throw new AppError(
      'invalid_playback_template',
      `the playback URL template "${playbackUrlTemplate}" must name the stream's playback id as {id}, and never the stream key ({key}): playback URLs are public`,
    );
  }
  return {
    rtmpBaseUrl: url.replace(/\/+$/, ''),
    playbackUrl: (playbackId) => (playbackUrlTemplate ? playbackUrlTemplate.replaceAll('{id}', playbackId) : null),
  };
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const log = opts.log ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 54321;
  const external = opts.ingestUrl ? externalIngest(opts.ingestUrl, opts.playbackUrlTemplate) : null;
  // The embedded ingest lets in only the keys start-live stored for a live stream, and plays each
  // under its playback id. Until the database is up, nothing publishes.
  let pool: pg.Pool | null = null;
  const authorizePublish = async (streamKey: string): Promise<string | null> => {
    if (!pool) return null;
    const { rows } = await pool.query<{ playback_id: string }>(
      `select i.playback_id from public.stream_ingests i join public.streams s on s.id = i.stream_id
        where i.stream_key = $1 and s.status = 'live' and i.playback_id is not null limit 1`,
      [streamKey],
    );
    return rows[0]?.playback_id ?? null;
  };
  const ingest =
    external ??
    (await startIngest({
      host,
      rtmpPort: opts.rtmpPort ?? 1935,
      httpPort: opts.ingestHttpPort ?? 8000,
      authorizePublish,
      ...(opts.ffmpegPath ? { ffmpegPath: opts.ffmpegPath } : {}),
    }));
  const cleanups: Array<() => Promise<void>> = 'stop' in ingest ? [() => ingest.stop()] : [];
  try {
    // The functions need the gateway's URL and keys, and the gateway needs the
    // functions mount: the mount forwards to a runtime created once both exist.
    let functions: ReturnType<typeof createFunctionsRuntime> | null = null;
    let realtime: ReturnType<typeof createRealtimeServer> | null = null;
    const backend = await startLocalBackend({
      port,
      host,
      dataDir: opts.dataDir,
      dbPort: opts.dbPort,
      databaseUrl: opts.databaseUrl,
      ...(opts.apiDatabaseUrl ? { apiDatabaseUrl: opts.apiDatabaseUrl } : {}),
      log,
      ...(opts.jwtSecret ? { jwtSecret: opts.jwtSecret } : {}),
      staticDir: opts.staticDir,
      mounts: {
        realtime: {
          handleUpgrade: (req, socket, head) => (realtime ? realtime.handleUpgrade(req, socket, head) : socket.destroy()),
          handleHttp: async (req, res) => (realtime ? realtime.handleHttp(req, res) : false),
          close: async () => realtime?.close(),
        },
        functions: {
          handle: async (req, res, name) => {
            if (!functions) {
              res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'functions are starting' }));
              return;
            }
            await functions.handle(req, res, name);
          },
          stop: async () => functions?.stop(),
        },
      },
    });
    cleanups.unshift(() => backend.stop());
    pool = backend.pool;
    const jwtSecret = backend.jwtSecret;
    await installRealtimeTriggers(backend.pool);
    realtime = createRealtimeServer({ pool: backend.pool, callerPool: backend.realtimePool, jwtSecret, anonKey: backend.anonKey, log });
    functions = createFunctionsRuntime({
      functionsDir: join(REPO_ROOT, 'supabase', 'functions'),
      // As hosted: a function with verify_jwt on (config.toml) is reached only with a JWT of this project.
      verifyJwt: { secret: jwtSecret, configPath: join(REPO_ROOT, 'supabase', 'config.toml') },
      ...(opts.denoDir ? { denoDir: opts.denoDir } : {}),
      ...(opts.seedDenoDir ? { seedDenoDir: opts.seedDenoDir } : {}),
      env: {
        SUPABASE_URL: backend.apiUrl,
        SUPABASE_ANON_KEY: backend.anonKey,
        SUPABASE_SERVICE_ROLE_KEY: backend.serviceRoleKey,
        SUPABASE_JWT_SECRET: jwtSecret,
        // Call tokens get a key of their own, as on hosted Supabase: none of them can pass for a session's token.
        CALL_TOKEN_SECRET: randomBytes(32).toString('hex'),
        LOCAL_RTMP_URL: ingest.rtmpBaseUrl,
        ...(ingest.playbackUrl('{id}') ? { LOCAL_PLAYBACK_URL_TEMPLATE: ingest.playbackUrl('{id}')! } : {}),
        ...opts.functionsEnv,
      },
      log,
    });
    await functions.start();
    return {
      apiUrl: backend.apiUrl,
      anonKey: backend.anonKey,
      serviceRoleKey: backend.serviceRoleKey,
      dbUrl: backend.dbUrl,
      jwtSecret,
      rtmpBaseUrl: ingest.rtmpBaseUrl,
      playbackUrl: (playbackId) => ingest.playbackUrl(playbackId),
      async stop() {
        for (const cleanup of cleanups.splice(0)) await cleanup().catch((err: Error) => log(`stop: ${err.message}`));
      },
    };
  } catch (err) {
    for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => {});
    throw err;
  }
}
