/**
 * The browser studio: the renderer served over HTTP and the NativeBridge over
 * a WebSocket at /bridge, backed by the same BridgeHost and encoder as the
 * Electron app. Used where no Electron binary exists, and by the tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import {
  type AppConfig,
  type BridgeWireEvent,
  type BridgeWireReply,
  decodeMediaMessage,
  MEDIA_CHANNEL,
} from '../shared/bridge.js';
import { BridgeHost, errorReply, type EncoderLike } from './bridgeHost.js';
import { serveStatic } from './staticFiles.js';

export interface StudioServerOptions {
  rendererDir: string;
  config: Omit<AppConfig, 'shell'>;
  createEncoder: () => EncoderLike;
  host?: string;
  port?: number;
  log?: (message: string) => void;
  /** Largest binary message accepted (by default a 2160p I420 frame plus header, the schema's largest). */
  maxPayloadBytes?: number;
  /** Where recordings of the program go (encoder/recordings.ts); none: recording is refused. */
  recordingsDir?: string;
  /**
   * How long a studio page's broadcast outlives its bridge socket when that socket drops mid-show
   * (REATTACH_GRACE_MS by default): the page's bridge comes back under the same studio id within it
   * and goes on with the same encoder (the same ingest connection and recording).
   */
  reattachGraceMs?: number;
}

export interface StudioServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The largest frame the bridge's schema allows (3840x2160 I420) with room for its header: a socket that carries it. */
const MAX_MEDIA_MESSAGE_BYTES = 3840 * 2160 * 1.5 + 64 * 1024;

/**
 * A broadcast whose bridge socket dropped without the page closing it (the server refused a message
 * on it, the connection broke) is kept this long for the page to come back. The page's bridge
 * reconnects at once (milliseconds); an encoder fed nothing meanwhile repeats its last picture (raw
 * video), and one fed the renderer's H.264 ends its ffmpeg run after its stall timeout (6 s), so the
 * wait stays below that: a page that comes back finds the same run, or none.
 */
export const REATTACH_GRACE_MS = 5_000;

/** Close codes by which a page let its bridge go on purpose (a close without a code, a page unloaded): its broadcast ends at once. */
const DELIBERATE_CLOSE_CODES = new Set([1000, 1001, 1005]);

/** A studio id is the page bridge's random UUID; anything else is not one (and gets no reattach). */
const STUDIO_ID = /^[A-Za-z0-9-]{8,64}$/;

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Why a bridge socket may not open, or null. The bridge starts the encoder
 * (ffmpeg, publishing anywhere) and takes media, so only the studio's own
 * page may use it: a browser sends every socket's Origin, and a page from
 * another site (or a name of its own rebound to 127.0.0.1) is refused — the
 * Host must be this machine by a loopback name (or the address the studio
 * was told to listen on) and the Origin, when there is one, this very
 * server. Programs on the machine itself send no Origin and may connect.
 */
export function bridgeRefusal(host: string | undefined, origin: string | undefined, listenHost?: string): string | null {
  const refused = hostRefusal(host, listenHost);
  if (refused) return refused;
  if (origin !== undefined && origin !== `http://${host}`) return `only the studio's own page may use the bridge (Origin "${origin}")`;
  return null;
}

/**
 * Why a request may not be answered, by its Host, or null: the studio (its
 * page, and its config with the backend's address and key) answers to this
 * machine's loopback names, or the address it was told to listen on — never
 * to a name of another site rebound to 127.0.0.1 (DNS rebinding), whose page
 * would read it as its own.
 */
export function hostRefusal(host: string | undefined, listenHost?: string): string | null {
  if (!host) return 'no Host header';
  let hostname: string;
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    return `bad Host header "${host}"`;
  }
  if (!LOOPBACK_NAMES.has(hostname) && hostname !== listenHost) return `the studio answers on this machine only, not as "${hostname}"`;
  return null;
}

/** On every answer: the studio is never shown inside another site's page (where a click could be taken for the streamer's). */
const STUDIO_HEADERS: Record<string, string> = {
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
};

export async function startStudioServer(opts: StudioServerOptions): Promise<StudioServer> {
  const log = opts.log ?? (() => {});
  const config: AppConfig = { ...opts.config, shell: 'browser' };
  const server = createServer((req, res) => {
    for (const [name, value] of Object.entries(STUDIO_HEADERS)) res.setHeader(name, value);
    const refused = hostRefusal(req.headers.host, opts.host);
    if (refused) {
      log(`studio: request refused: ${refused}`);
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`${refused}\n`);
      return;
    }
    const url = requestUrl(req.url);
    if (!url) {
      log(`studio: bad request target ${JSON.stringify(req.url)}`);
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request target\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (url.pathname === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(config));
      return;
    }
    serveStatic(opts.rendererDir, url.pathname, req, res).catch((err: Error) => {
      log(`studio: ${err.message}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });

  /** Set by close(): no new bridge socket is taken after it. */
  let closed = false;
  // Text that is not UTF-8 is not a reason to close the page's bridge (and stop its stream): it reaches the request
  // parser as bytes, which refuses it as a malformed request (parseRequest), and the socket goes on.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayloadBytes ?? MAX_MEDIA_MESSAGE_BYTES, skipUTF8Validation: true });
  wss.on('error', (err: Error) => log(`studio: bridge server: ${err.message}`));
  server.on('upgrade', (req, socket, head) => {
    // Past the upgrade the HTTP server no longer hears this socket's errors: a reset would end the process.
    socket.on('error', () => socket.destroy());
    if (closed) {
      socket.destroy();
      return;
    }
    const url = requestUrl(req.url);
    if (!url) {
      log(`studio: bridge socket refused: bad request target ${JSON.stringify(req.url)}`);
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\ncontent-type: text/plain\r\n\r\nbad request target\n', () => socket.destroy());
      return;
    }
    const refusal = bridgeRefusal(req.headers.host, req.headers.origin, opts.host);
    if (refusal) {
      log(`studio: bridge socket refused: ${refusal}`);
      socket.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\ncontent-type: text/plain\r\n\r\n${refusal}\n`, () => socket.destroy());
      return;
    }
    if (url.pathname === '/bridge') {
      const studio = url.searchParams.get('studio');
      wss.handleUpgrade(req, socket, head, (ws) => bindSocket(ws, url.searchParams.get('peer'), studio && STUDIO_ID.test(studio) ? studio : null));
      return;
    }
    if (url.pathname === '/bridge/media') {
      // A second socket of the same studio page that carries only media (the program's video), so
      // audio and requests on the first socket never wait behind large frames.
      const host = byPeer.get(url.searchParams.get('peer') ?? '');
      if (!host) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n', () => socket.destroy());
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => bindMediaSocket(ws, host));
      return;
    }
    socket.destroy();
  });

  const hosts = new Set<BridgeHost>();
  /** Control sockets by the page's peer id, for its media socket to find. */
  const byPeer = new Map<string, BridgeHost>();

  function onMedia(host: BridgeHost, data: RawData): void {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    try {
      const msg = decodeMediaMessage(bytes);
      host.send(MEDIA_CHANNEL[msg.kind], msg.payload, msg.timestampMs);
    } catch (err) {
      host.reportMalformed((err as Error).message);
    }
  }

  /**
   * A frame ws cannot take (a message over the size limit, an unknown
   * opcode) makes the socket emit 'error', then ws closes
   * it with the matching code. Counted as a bad request; the process and the
   * other sockets go on.
   */
  function onSocketError(ws: WebSocket, host: BridgeHost, which: string): void {
    ws.on('error', (err: Error & { code?: string }) => {
      host.reportBadRequest(`the ${which} socket was closed: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    });
  }

  function bindMediaSocket(ws: WebSocket, host: BridgeHost): void {
    onSocketError(ws, host, 'media');
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) onMedia(host, data);
      else host.reportMalformed('the media socket carries binary media messages only');
    });
  }

  /** Bridges whose socket closed, while their encoder stops (see BridgeHostDeps.previousStopped). */
  const closing = new Set<Promise<void>>();
  const graceMs = opts.reattachGraceMs ?? REATTACH_GRACE_MS;

  /**
   * One studio page's bridge: its BridgeHost (and encoder) and the control socket that carries it
   * now. A page's bridge names itself with a studio id; a socket that opens under the id of an
   * attachment takes it over, so a page whose socket dropped mid-show goes on with its encoder.
   */
  interface Attachment {
    studio: string | null;
    host: BridgeHost;
    ws: WebSocket | null;
    peer: string | null;
    /** Set while the broadcast waits for its page to come back. */
    grace: ReturnType<typeof setTimeout> | null;
  }
  const byStudio = new Map<string, Attachment>();
  /** Sockets another socket of the same page took over: their close ends nothing. */
  const replaced = new WeakSet<WebSocket>();

  /** The attachment's page is gone for good: its encoder stops (flushing its files). */
  function finish(att: Attachment): void {
    if (att.grace) clearTimeout(att.grace);
    att.grace = null;
    if (att.studio && byStudio.get(att.studio) === att) byStudio.delete(att.studio);
    if (att.peer && byPeer.get(att.peer) === att.host) byPeer.delete(att.peer);
    hosts.delete(att.host);
    const stopped = att.host.dispose().catch((err: Error) => log(`studio: ${err.message}`));
    closing.add(stopped);
    void stopped.finally(() => closing.delete(stopped));
  }

  function bindSocket(ws: WebSocket, peer: string | null, studio: string | null): void {
    const send = (msg: BridgeWireReply | BridgeWireEvent) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    let att = studio ? byStudio.get(studio) : undefined;
    if (att) {
      if (att.grace) {
        clearTimeout(att.grace);
        att.grace = null;
        log(`studio: the studio page came back to its bridge${att.host.live ? ': its stream goes on' : ''}`);
      }
      const before = att.ws;
      if (before) {
        // The same page opened a new connection: it takes over from the old one.
        replaced.add(before);
        before.terminate();
      }
      if (att.peer && byPeer.get(att.peer) === att.host) byPeer.delete(att.peer);
    } else {
      const made: Attachment = { studio, host: undefined as unknown as BridgeHost, ws: null, peer: null, grace: null };
      made.host = new BridgeHost({
        config: () => config,
        createEncoder: opts.createEncoder,
        // Events go to whichever socket carries the page now.
        emit: (channel, ...args) => {
          const to = made.ws;
          if (to && to.readyState === to.OPEN) to.send(JSON.stringify({ event: channel, args } satisfies BridgeWireEvent));
        },
        log,
        previousStopped: () => {
          // A page starting a stream is not coming back to another's: a broadcast waiting for its page ends now,
          // so two ffmpegs never publish at once (an ingest may refuse a second publisher).
          for (const other of [...byStudio.values()]) if (other !== made && other.ws === null) finish(other);
          return Promise.all([...closing]).then(() => undefined);
        },
        ...(opts.recordingsDir ? { recordingsDir: opts.recordingsDir } : {}),
      });
      att = made;
      hosts.add(made.host);
      if (studio) byStudio.set(studio, made);
    }
    const current = att;
    const host = current.host;
    current.ws = ws;
    current.peer = peer;
    if (peer) byPeer.set(peer, host);
    onSocketError(ws, host, 'bridge');
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        onMedia(host, data);
        return;
      }
      try {
        onRequest(data);
      } catch (err) {
        // Nothing a page sends may take the process down.
        host.reportBadRequest(`a request could not be handled: ${(err as Error).message}`);
      }
    });
    function onRequest(data: RawData): void {
      const request = parseRequest(data);
      if ('error' in request) {
        host.reportBadRequest(request.error);
        send({ id: request.id, ok: false, error: { reason: 'bridge_invalid_message', message: request.error } });
        return;
      }
      const { id, channel, args } = request;
      host.invoke(channel, args).then(
        (result) => send({ id, ok: true, result }),
        (err) => send({ id, ok: false, error: errorReply(err) }),
      );
    }
    ws.on('close', (code: number) => {
      if (replaced.has(ws) || current.ws !== ws) return;
      current.ws = null;
      if (peer && byPeer.get(peer) === host) byPeer.delete(peer);
      if (!closed && current.studio && host.live && !DELIBERATE_CLOSE_CODES.has(code)) {
        log(`studio: the studio page's bridge socket closed during its broadcast (code ${code}): the stream goes on for up to ${Math.round(graceMs / 1000)} s for the page to come back`);
        current.grace = setTimeout(() => {
          current.grace = null;
          log(`studio: the studio page did not come back to its bridge within ${Math.round(graceMs / 1000)} s: its stream stops`);
          finish(current);
        }, graceMs);
        return;
      }
      finish(current);
    });
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  return {
    url,
    server,
    async close() {
      if (closed) return;
      closed = true;
      // Broadcasts waiting for their page end now.
      for (const att of [...byStudio.values()]) if (att.ws === null) finish(att);
      // Bridges whose socket closed just before are still stopping their encoder (ffmpeg finishing the files): waited for too.
      await Promise.all([...[...hosts].map((h) => h.dispose()), ...closing]);
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * A request's target as a URL, or null when it is not one (`//[` and the
 * like): anything a client sends is answered, never thrown out of the
 * server's event handlers, which would end the process mid-show.
 */
export function requestUrl(target: string | undefined): URL | null {
  try {
    return new URL(target ?? '/', 'http://studio.local');
  } catch {
    return null;
  }
}

/**
 * A text message on the bridge socket as a request `{ id, channel, args }`
 * (the channel and arguments are checked by BridgeHost.invoke), or why it is
 * not one, with its id when it had a usable one (else -1) for the reply.
 */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function parseRequest(data: RawData | string): { id: number; channel: string; args: unknown } | { id: number; error: string } {
  let text: string;
  try {
    // ws leaves the UTF-8 check to this (skipUTF8Validation): bad bytes are refused here, not turned into U+FFFD.
    text = typeof data === 'string' ? data : strictUtf8.decode(Array.isArray(data) ? Buffer.concat(data) : new Uint8Array(data));
  } catch {
    return { id: -1, error: 'message is not UTF-8 text' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { id: -1, error: 'message is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { id: -1, error: 'a request is a JSON object { id, channel, args }' };
  const { id, channel, args } = parsed as Record<string, unknown>;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return { id: -1, error: 'a request needs a non-negative integer id' };
  if (typeof channel !== 'string') return { id, error: 'a request needs a channel name' };
  return { id, channel, args };
}
