/**
 * The local Supabase Realtime server: Phoenix channels over WebSocket (vsn
 * 1.0.0 and 2.0.0) at /realtime/v1/websocket, broadcast (also over REST),
 * presence, private channels decided by `public.realtime_topic_allowed(topic)`
 * run as the caller, and postgres_changes from the triggers of
 * `src/local/sql/realtime_local.sql` filtered by each subscriber's RLS.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { WebSocketServer } from 'ws';
import { BAD_REQUEST_TARGET, refuseUpgrade, requestUrl, withoutTrailingSlashes } from '../http.js';
import { verifyToken, type JwtClaims } from './auth.js';
import { ChannelRegistry } from './channels.js';
import { ChangesHub } from './changes.js';
import { Connection, type ConnectionContext } from './connection.js';
import { RealtimeError } from './errors.js';
import { handleBroadcastHttp } from './http.js';
import { SUPPORTED_VSNS, type Vsn } from './serializer.js';

export { installRealtimeTriggers, readRealtimeSql } from './triggers.js';
export { RealtimeError, type RealtimeErrorReason } from './errors.js';

export const WEBSOCKET_PATH = '/realtime/v1/websocket';

export interface RealtimeServerOptions {
  /** The change feed's connections: they read every changed row (the database superuser's). */
  pool: pg.Pool;
  /**
   * Where the checks run as the caller (private topics, each subscriber's RLS on a change):
   * connections that can only become the caller's role, the authenticator's. `pool` by default.
   */
  callerPool?: pg.Pool;
  jwtSecret: string;
  anonKey: string;
  log?: (msg: string) => void;
  /** A connection that sends nothing for this long is closed (clients heartbeat every 25 s). Default 60 s. */
  idleTimeoutMs?: number;
  /**
   * Largest message a client may send. Default 1 MiB. A bigger one (up to four times this) is
   * refused with a reply naming the limit, and the connection goes on; past that, the socket
   * cannot take the frame and closes (1009).
   */
  maxPayloadBytes?: number;
  /** Channels one connection may have joined at once. Default 100, as hosted Realtime. */
  maxChannelsPerConnection?: number;
  /** postgres_changes bindings one join may carry. Default 100. */
  maxBindingsPerJoin?: number;
  /** A connection with more frames than this received and not yet handled is closed. Default 1000. */
  maxWaitingFrames?: number;
}

export interface RealtimeServer {
  /** For `upgrade` requests to /realtime/v1/websocket?apikey=…&vsn=…; refuses others with an HTTP error. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** REST broadcast; resolves false when the path is not a Realtime one. */
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Closes every connection and stops listening for changes. Idempotent. */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 1000;

export function createRealtimeServer(opts: RealtimeServerOptions): RealtimeServer {
  const log = opts.log ?? (() => undefined);
  const maxMessageBytes = opts.maxPayloadBytes ?? 1024 * 1024;
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxMessageBytes * 4, perMessageDeflate: false });
  const registry = new ChannelRegistry(log);
  const callerPool = opts.callerPool ?? opts.pool;
  const changes = new ChangesHub({ pool: opts.pool, callerPool, log });
  const connections = new Set<Connection>();
  let closing: Promise<void> | null = null;

  // The anon key comes with most connections and requests: its claims are kept until it expires.
  let anonClaims: JwtClaims | null = null;
  const verify = async (token: string): Promise<JwtClaims> => {
    if (token === opts.anonKey && anonClaims && (anonClaims.exp === undefined || anonClaims.exp * 1000 > Date.now())) return anonClaims;
    const claims = await verifyToken(token, opts.jwtSecret);
    if (token === opts.anonKey) anonClaims = claims;
    return claims;
  };

  const ctx: ConnectionContext = {
    pool: callerPool,
    registry,
    changes,
    verify,
    log,
    idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
    maxBufferedBytes: 16 * 1024 * 1024,
    maxMessageBytes,
    maxChannels: opts.maxChannelsPerConnection ?? 100,
    maxBindingsPerJoin: opts.maxBindingsPerJoin ?? 100,
    maxWaitingFrames: opts.maxWaitingFrames ?? 1000,
  };

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const onSocketError = (err: Error): void => log(`realtime: upgrade socket: ${err.message}`);
    socket.on('error', onSocketError);
    const url = requestUrl(req.url);
    if (!url) return refuseUpgrade(socket, 400, 'invalid_request', BAD_REQUEST_TARGET);
    if (closing) return refuseUpgrade(socket, 503, 'closing', 'the realtime server is shutting down');
    if (withoutTrailingSlashes(url.pathname) !== WEBSOCKET_PATH) return refuseUpgrade(socket, 404, 'not_found', `no WebSocket at ${url.pathname}`);
    const vsnParam = url.searchParams.get('vsn') ?? '1.0.0';
    if (!(SUPPORTED_VSNS as readonly string[]).includes(vsnParam)) {
      return refuseUpgrade(socket, 400, 'invalid_request', `unsupported vsn "${vsnParam}" (supported: ${SUPPORTED_VSNS.join(', ')})`);
    }
    const vsn = vsnParam as Vsn;
    const headerKey = req.headers.apikey;
    const apikey = url.searchParams.get('apikey') ?? (Array.isArray(headerKey) ? headerKey[0] : headerKey) ?? '';
    const accept = (): void => {
      if (closing || socket.destroyed) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        socket.removeListener('error', onSocketError);
        const conn = new Connection(ws, vsn, apikey, ctx);
        connections.add(conn);
        ws.on('close', () => connections.delete(conn));
      });
    };
    const refuse = (err: unknown): void => {
      const reason = err instanceof RealtimeError ? err.reason : 'invalid_token';
      log(`realtime: connection refused: ${(err as Error).message}`);
      refuseUpgrade(socket, 401, reason, `apikey: ${(err as Error).message}`);
    };
    verify(apikey)
      .then(accept, refuse)
      .catch((err: unknown) => {
        log(`realtime: upgrade failed: ${(err as Error).message}`);
        socket.destroy();
      });
  }

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    return handleBroadcastHttp(req, res, { pool: callerPool, registry, verify, log });
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      const open = [...connections];
      connections.clear();
      await Promise.all(open.map((c) => c.closeGracefully(1001, 'server shutting down', CLOSE_GRACE_MS)));
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await changes.close();
    })();
    return closing;
  }

  return { handleUpgrade, handleHttp, close };
}
