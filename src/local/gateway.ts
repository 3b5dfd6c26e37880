/**
 * The local Supabase-compatible gateway: one node:http server in front of
 * PostgreSQL with `/auth/v1`, `/rest/v1`, `/realtime/v1` and `/functions/v1`
 * as supabase-js expects them, plus the built app under `/app/`.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { extname, join, resolve, sep } from 'node:path';
import type pg from 'pg';
import { AppError } from '../shared/errors.js';
import { createAuthHandler } from './auth.js';
import { DEFAULT_DATA_DIR, startDatabase } from './db.js';
import { applyCors, BAD_REQUEST_TARGET, refuseUpgrade, requestUrl, sendEmpty, sendJson } from './http.js';
import { makeApiKeys, storedJwtSecret } from './jwt.js';
import { createRestHandler } from './rest.js';

export const DEFAULT_API_PORT = 54321;

export interface RealtimeMount {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Serves `/realtime/v1/*` HTTP requests; resolves false when the path is not its own. */
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  close(): Promise<void>;
}

export interface FunctionsMount {
  handle(req: IncomingMessage, res: ServerResponse, name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface LocalBackendOptions {
  /** Default 54321; 0 picks a free port. */
  port?: number;
  host?: string;
  /** Embedded PostgreSQL data directory (default `.data/postgres`). */
  dataDir?: string;
  /** Embedded PostgreSQL port (default 54322, 0 picks a free one). */
  dbPort?: number;
  /** Throwaway embedded cluster (temporary directory, deleted on stop). */
  ephemeralDb?: boolean;
  /** Use this PostgreSQL server instead of the embedded one. */
  databaseUrl?: string;
  /** How REST and Realtime's checks log in when the server's authenticator role has a password of its own (API_DATABASE_URL). */
  apiDatabaseUrl?: string;
  migrationsDir?: string;
  jwtSecret?: string;
  /** Built web app served under `/app/`. */
  staticDir?: string;
  mounts?: { realtime?: RealtimeMount; functions?: FunctionsMount };
  log?: (message: string) => void;
}

export interface LocalBackend {
  apiUrl: string;
  anonKey: string;
  serviceRoleKey: string;
  dbUrl: string;
  jwtSecret: string;
  /** The database superuser's connections. */
  pool: pg.Pool;
  /** The authenticator role's connections, for what runs as an API caller (Database.apiPool). */
  apiPool: pg.Pool;
  /** The authenticator role's connections for Realtime's checks as each subscriber (Database.realtimePool). */
  realtimePool: pg.Pool;
  server: Server;
  stop(): Promise<void>;
}

export class GatewayError extends AppError {
  declare readonly reason: 'listen_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super('listen_failed', message, options);
  }
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.webm': 'video/webm',
  '.mp4': 'video/mp4',
  '.m3u8': 'application/vnd.apple.mpegurl',
};

async function serveStatic(req: IncomingMessage, res: ServerResponse, root: string | undefined, relPath: string): Promise<void> {
  if (!root) {
    sendJson(res, 404, { error: 'no web app is served by this backend' });
    return;
  }
  const base = resolve(root);
  let decoded: string;
  try {
    decoded = decodeURIComponent(relPath);
  } catch {
    sendJson(res, 400, { error: 'bad path' });
    return;
  }
  const target = resolve(join(base, decoded));
  if (target !== base && !target.startsWith(base + sep)) {
    sendJson(res, 403, { error: 'forbidden' });
    return;
  }
  const fileFor = async (path: string): Promise<string | null> => {
    try {
      const s = await stat(path);
      if (s.isFile()) return path;
      if (s.isDirectory()) return fileFor(join(path, 'index.html'));
    } catch {
      return null;
    }
    return null;
  };
  // Client-side routes (no file extension) fall back to the app's index.html.
  const file = (await fileFor(target)) ?? (extname(target) === '' ? await fileFor(join(base, 'index.html')) : null);
  if (!file) {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  const s = await stat(file);
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  const cache = file.endsWith('index.html') ? 'no-cache' : 'public, max-age=300';
  res.writeHead(200, { 'content-type': type, 'content-length': s.size, 'cache-control': cache });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

export async function startLocalBackend(opts: LocalBackendOptions = {}): Promise<LocalBackend> {
  const log = opts.log ?? (() => undefined);
  const host = opts.host ?? '127.0.0.1';
  const db = await startDatabase({
    databaseUrl: opts.databaseUrl,
    ...(opts.apiDatabaseUrl ? { apiDatabaseUrl: opts.apiDatabaseUrl } : {}),
    dataDir: opts.dataDir ?? (opts.ephemeralDb ? undefined : DEFAULT_DATA_DIR),
    port: opts.dbPort,
    ephemeral: opts.ephemeralDb,
    migrationsDir: opts.migrationsDir,
  });
  // A connection lost by the pool (idle, or while a request held it) is discarded; it is said here.
  db.pool.on('error', (err) => log(`database: connection lost: ${err.message}`));
  db.apiPool.on('error', (err) => log(`database: connection lost (API): ${err.message}`));
  const jwtSecret = opts.jwtSecret ?? (await storedJwtSecret(db.pool).catch(async (err: Error) => {
    await db.stop();
    throw new AppError('jwt_secret', `could not read or make the backend's JWT secret: ${err.message}`);
  }));
  const { anonKey, serviceRoleKey } = await makeApiKeys(jwtSecret);
  let apiUrl = '';
  const auth = createAuthHandler({ pool: db.pool, jwtSecret, issuer: () => `${apiUrl}/auth/v1` });
  // As hosted PostgREST: connections of the authenticator role, which can only become the caller's role.
  const rest = createRestHandler({ pool: db.apiPool, jwtSecret });
  const realtime = opts.mounts?.realtime;
  const functions = opts.mounts?.functions;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    applyCors(req, res);
    if (req.method === 'OPTIONS') {
      sendEmpty(res, 204);
      return;
    }
    const url = requestUrl(req.url);
    if (!url) {
      sendJson(res, 400, { message: BAD_REQUEST_TARGET });
      return;
    }
    const path = url.pathname;
    const under = (prefix: string): string | null => (path === prefix ? '' : path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : null);

    let sub: string | null;
    if ((sub = under('/auth/v1')) !== null) {
      await auth.handle(req, res, sub, url.searchParams);
    } else if ((sub = under('/rest/v1')) !== null) {
      await rest.handle(req, res, sub, url.searchParams);
    } else if (under('/realtime/v1') !== null) {
      if (!realtime || !(await realtime.handleHttp(req, res))) sendJson(res, 404, { message: 'not found' });
    } else if ((sub = under('/functions/v1')) !== null) {
      const name = sub.split('/').filter(Boolean)[0];
      if (!functions) sendJson(res, 404, { error: 'edge functions are not running' });
      else if (!name) sendJson(res, 404, { error: 'function name missing' });
      else await functions.handle(req, res, name);
    } else if (path === '/app/config.json' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, { supabaseUrl: apiUrl, supabaseAnonKey: anonKey, shell: 'browser' }, { 'cache-control': 'no-store' });
    } else if (path === '/app' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendEmpty(res, 302, { location: `/app/${url.search}` });
    } else if ((sub = under('/app')) !== null && (req.method === 'GET' || req.method === 'HEAD')) {
      await serveStatic(req, res, opts.staticDir, sub);
    } else if (path === '/' || path === '/health') {
      sendJson(res, 200, { name: 'roast-live-studio local backend', apiUrl, services: ['auth', 'rest', ...(realtime ? ['realtime'] : []), ...(functions ? ['functions'] : [])] });
    } else {
      sendJson(res, 404, { message: 'no route matched with those values' });
    }
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      log(`gateway: ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) sendJson(res, 500, { message: 'internal error' });
      else res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // node:http drops its own error handler from an upgraded socket: without one, a client that
    // resets the connection before its answer is written kills the process.
    socket.on('error', () => socket.destroy());
    const url = requestUrl(req.url);
    if (!url) {
      refuseUpgrade(socket, 400, 'invalid_request', BAD_REQUEST_TARGET);
      return;
    }
    const path = url.pathname;
    if (realtime && (path === '/realtime/v1/websocket' || path.startsWith('/realtime/v1/websocket/'))) {
      realtime.handleUpgrade(req, socket, head);
    } else {
      refuseUpgrade(socket, 404, 'not_found', `no WebSocket at ${path}`);
    }
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? DEFAULT_API_PORT, host, () => {
        server.off('error', reject);
        resolveListen();
      });
    });
  } catch (err) {
    await db.stop().catch(() => undefined);
    throw new GatewayError(`gateway cannot listen on ${host}:${opts.port ?? DEFAULT_API_PORT}: ${(err as Error).message}`, { cause: err });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? DEFAULT_API_PORT);
  apiUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log(`gateway listening on ${apiUrl}`);

  let stopping: Promise<void> | null = null;
  return {
    apiUrl,
    anonKey,
    serviceRoleKey,
    dbUrl: db.url,
    jwtSecret,
    pool: db.pool,
    apiPool: db.apiPool,
    realtimePool: db.realtimePool,
    server,
    stop() {
      stopping ??= (async () => {
        // Mounts first: upgraded WebSocket connections are theirs, not the server's.
        await Promise.allSettled([realtime?.close(), functions?.stop()]);
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections();
        await closed;
        await db.stop();
      })();
      return stopping;
    },
  };
}
