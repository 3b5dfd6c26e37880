/**
 * The local stand-in for Cloudflare Stream's live input: a real RTMP server
 * (npm node-media-server 4) that the encoder publishes to at
 * rtmp://<host>:<rtmpPort>/live/<streamKey>, and HLS playback of each
 * published stream at http://<host>:<httpPort>/live/<playbackId>/index.m3u8
 * (ffmpeg remuxes the RTMP stream into 2 s segments without re-encoding).
 * `authorizePublish` decides which keys may publish and the playback id each
 * is played under, so that a playback URL (public) never names a stream key
 * (which lets its holder publish); the local stack answers from stream_ingests.
 *
 * node-media-server keeps its configuration, sessions and logger in
 * process-wide singletons, so one ingest runs per process at a time.
 */
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../shared/errors';
import { BAD_REQUEST_TARGET, requestUrl } from './http.js';

export interface IngestOptions {
  /** Address both servers bind to and that the URLs name. Default 127.0.0.1. */
  host?: string;
  /** RTMP port; 0 picks a free one. Default 1935. */
  rtmpPort?: number;
  /** HTTP port of the HLS playback server; 0 picks a free one. Default 8000. */
  httpPort?: number;
  /** Package published streams as HLS for playback. Default true. */
  hls?: boolean;
  /** ffmpeg used for HLS packaging. Default env FFMPEG_PATH, else `ffmpeg` on PATH. */
  ffmpegPath?: string;
  /** Receives the RTMP server's and the HLS packager's log lines (info and above); silent by default. */
  log?: (message: string) => void;
  /**
   * Whether a stream key may publish: its playback id (the name HLS serves it under), or null to
   * refuse it (the publisher is disconnected). Without it every key publishes and plays under
   * its own name, which suits a test's or a benchmark's own ingest, never one viewers reach.
   */
  authorizePublish?: (streamKey: string) => Promise<string | null>;
  /**
   * An HLS packager whose playlist has not changed for this long (ms) is taken for stuck (a
   * blocked disk, a process that hangs) and started again: stuck, it stops reading the stream,
   * which then queues in this process without limit. Default 20 s (a segment is 2 s).
   */
  packagerStallMs?: number;
  /**
   * How often (ms) each stream publishing is asked `authorizePublish` again: a key that no longer
   * passes (its show ended, start-live gave the stream a new key) has its publisher cut off, as a
   * deleted live input is in production. A check that fails (the database away) cuts nobody.
   * Default 5 s.
   */
  reauthorizeMs?: number;
}

export interface Ingest {
  /** rtmp://<host>:<port>/live — the encoder publishes to `${rtmpBaseUrl}/${streamKey}`. */
  readonly rtmpBaseUrl: string;
  readonly rtmpPort: number;
  readonly httpPort: number;
  /**
   * HLS playlist of a playback id, playable with hls.js or any HLS player once
   * the stream is live. The id is inserted as given, so passing "{id}"
   * yields a URL template.
   */
  playbackUrl(playbackId: string): string;
  /** Whether someone is publishing to this stream key right now (and was let in). */
  isPublishing(streamKey: string): boolean;
  /** Closes both servers, ends every session and packager, removes temporary files. Idempotent. */
  stop(): Promise<void>;
}

export class IngestError extends AppError {
  constructor(reason: 'ingest_running' | 'port_in_use' | 'listen_failed', message: string, options?: { cause?: unknown }) {
    super(reason, message, options);
  }
}

/** Stream keys the RTMP server accepts (node-media-server's own rule). */
const STREAM_KEY = /^[A-Za-z0-9_-]+$/;
const SEGMENT_FILE = /^[A-Za-z0-9_-]+\.(m3u8|ts)$/;

// ---- node-media-server's CommonJS internals, typed as far as this module uses them ----
interface NmsSession {
  streamApp: string;
  streamName: string;
  streamPath: string;
  close?: () => void;
  /** The publisher's connection (node-media-server's close() only half-closes it). */
  socket?: net.Socket;
}
interface NmsBroadcast {
  publisher: NmsSession | null;
  _publishGraceTimer: ReturnType<typeof setTimeout> | null;
  getPublishStatus(): 'publishing' | 'reconnecting' | 'idle';
}
interface NmsServer {
  rtmpServer: { tcpServer?: net.Server };
  run(): Promise<void>;
  stop(): Promise<void>;
}
interface NmsContext {
  sessions: Map<string, { close?: () => void }>;
  broadcasts: Map<string, NmsBroadcast>;
  eventEmitter: NodeJS.EventEmitter;
}
interface NmsLogger {
  level: string;
  log(message: string, level?: string): void;
}

const requireCjs = createRequire(import.meta.url);
const NodeMediaServer = requireCjs('node-media-server') as new (config: object, configPath?: string) => NmsServer;
const nmsContext = requireCjs('node-media-server/src/core/context.js') as NmsContext;
const nmsLogger = requireCjs('node-media-server/src/core/logger.js') as NmsLogger;

/**
 * node-media-server's RTMP parser throws on malformed data (an AMF value cut
 * short reads past its buffer), and it runs in this process, beside the
 * gateway and the database's owner: one bad packet from anyone who reaches
 * the port would end them all. A throw becomes the parser's own error
 * return instead, on which its session logs and closes that one connection.
 */
const RtmpParser = requireCjs('node-media-server/src/protocol/rtmp.js') as { prototype: { parserData(buffer: Buffer): string | null } };
const parserData = RtmpParser.prototype.parserData;
const brokenParsers = new WeakSet<object>();
RtmpParser.prototype.parserData = function guardedParserData(this: object, buffer: Buffer): string | null {
  // The session closes a connection whose data was malformed; what the peer still sends meanwhile is dropped unread
  // (and unlogged: one line per connection).
  if (brokenParsers.has(this)) return null;
  try {
    return parserData.call(this, buffer);
  } catch (err) {
    brokenParsers.add(this);
    return `malformed RTMP data (${err instanceof Error ? err.message : String(err)})`;
  }
};

/** Where node-media-server's log lines go; it has one logger per process. */
let logSink: ((message: string) => void) | null = null;
nmsLogger.log = (message: string, level = 'info') => {
  if (level === 'info' || level === 'warn' || level === 'error') logSink?.(`ingest: [${level}] ${message}`);
};

let running = false;

export async function startIngest(options: IngestOptions = {}): Promise<Ingest> {
  if (running) {
    throw new IngestError('ingest_running', 'An RTMP ingest already runs in this process (node-media-server keeps process-wide state); stop it first.');
  }
  running = true;
  try {
    return await startIngestUnguarded(options);
  } catch (error) {
    running = false;
    throw error;
  }
}

async function startIngestUnguarded(options: IngestOptions): Promise<Ingest> {
  const host = options.host ?? '127.0.0.1';
  const sink = options.log ?? (() => undefined);
  /** The playback id of each stream key let in. */
  const playbackIds = new Map<string, string>();
  // A stream key publishes as its owner: it never reaches a log (node-media-server's lines name the
  // path it was asked for, the packager's its source URL), which a streamer may paste into a bug report.
  // A key let in is named by its playback id, any other by nothing.
  const log = (message: string): void =>
    sink(message.replace(/\/live\/([A-Za-z0-9_-]+)/g, (_, key: string) => `/live/${playbackIds.has(key) ? `<key of ${playbackIds.get(key)}>` : '<stream key>'}`));
  const hlsEnabled = options.hls ?? true;
  const ffmpegPath = options.ffmpegPath ?? (process.env.FFMPEG_PATH?.trim() || 'ffmpeg');
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'roast-ingest-'));
  const hlsRoot = path.join(workDir, 'hls');
  mkdirSync(hlsRoot);

  const httpServer = http.createServer((req, res) => serveHls(hlsRoot, req, res));
  let nms: NmsServer | null = null;
  const packagers = new Map<string, Packager>();
  /** Packagers of a stream that gave up in a row (ffmpeg missing, crashing): each retry waits twice as long, up to 30 s. */
  const packagerFailures = new Map<string, number>();
  /** Streams published and not yet ended; node-media-server ends a stream 30 s after its publisher leaves, so a reconnect resumes it. */
  const publishing = new Set<string>();
  const authorizePublish = options.authorizePublish ?? (async (streamKey: string) => streamKey);
  let stopping: Promise<void> | null = null;

  const refuse = (session: NmsSession, why: string): void => {
    log(`ingest: [warn] refused a publisher on /${session.streamApp}: ${why}`);
    // Cut off, not half-closed: a publisher that went on sending would keep the path (and fill its cache) until it hung up.
    if (session.socket) session.socket.destroy();
    else session.close?.();
  };
  const onPostPublish = (session: NmsSession): void => {
    if (session.streamApp !== 'live' || !STREAM_KEY.test(session.streamName)) return refuse(session, 'not a stream key');
    const streamKey = session.streamName;
    // node-media-server takes the publisher before this answer comes: until it does, nothing is
    // packaged or reported, and a refused publisher is disconnected.
    authorizePublish(streamKey).then(
      (playbackId) => {
        if (stopping !== null || nmsContext.broadcasts.get(session.streamPath)?.publisher !== session) return;
        if (playbackId === null) return refuse(session, 'unknown stream key');
        if (!STREAM_KEY.test(playbackId)) return refuse(session, `unusable playback id "${playbackId}"`);
        playbackIds.set(streamKey, playbackId);
        publishing.add(streamKey);
        // A packager that cannot start (a full disk, a folder it may not write) must not take the process down:
        // the stream is still taken, without viewers' HLS, and the log says why.
        if (hlsEnabled) {
          try {
            ensurePackager(streamKey);
          } catch (error) {
            log(`ingest: the HLS packager for ${playbackId} could not start: ${(error as Error).message}`);
          }
        }
      },
      (error: unknown) => refuse(session, `the stream key could not be checked: ${(error as Error).message}`),
    );
  };
  // Each stream publishing is asked again now and then: a key let in once is not let in for ever.
  const checking = new Set<string>();
  const reauthorize = setInterval(() => {
    for (const streamKey of publishing) {
      if (checking.has(streamKey)) continue;
      checking.add(streamKey);
      authorizePublish(streamKey)
        .then(
          (playbackId) => {
            const session = nmsContext.broadcasts.get(`/live/${streamKey}`)?.publisher;
            if (playbackId !== null || stopping !== null || !publishing.has(streamKey) || !session) return;
            refuse(session, 'its stream key is no longer let in (the show ended, or the stream has a new key)');
          },
          () => undefined,
        )
        .finally(() => checking.delete(streamKey));
    }
  }, options.reauthorizeMs ?? 5000);
  reauthorize.unref();
  const onDonePublish = (session: NmsSession): void => {
    if (session.streamApp !== 'live') return;
    publishing.delete(session.streamName);
    playbackIds.delete(session.streamName);
    packagerFailures.delete(session.streamName);
    packagers.get(session.streamName)?.stop();
    packagers.delete(session.streamName);
  };

  function ensurePackager(streamKey: string): void {
    const playbackId = playbackIds.get(streamKey);
    if (packagers.has(streamKey) || playbackId === undefined) return;
    const packager = startPackager({
      ffmpegPath,
      source: `rtmp://${urlHost(host)}:${rtmpPort}/live/${streamKey}`,
      dir: path.join(hlsRoot, playbackId),
      log,
      stallMs: options.packagerStallMs ?? 20_000,
      onExit: (expected) => {
        if (packagers.get(streamKey) !== packager) return;
        packagers.delete(streamKey);
        // The packager gave up while the stream is still live: start it again.
        if (!expected && publishing.has(streamKey) && stopping === null) {
          const failures = (packagerFailures.get(streamKey) ?? 0) + 1;
          packagerFailures.set(streamKey, failures);
          const delayMs = Math.min(30_000, 1000 * 2 ** (failures - 1));
          if (failures > 1) log(`ingest: the HLS packager of ${playbackIds.get(streamKey) ?? 'a stream'} stopped ${failures} times in a row; trying again in ${delayMs / 1000} s`);
          const retry = setTimeout(() => {
            if (!publishing.has(streamKey) || stopping !== null) return;
            // A packager that cannot start (mkdir, spawn) is logged: the retry runs in a timer, where a throw would end the process.
            try {
              ensurePackager(streamKey);
            } catch (err) {
              log(`ingest: [warn] the HLS packager of ${playbackIds.get(streamKey) ?? 'a stream'} could not start again: ${(err as Error).message}`);
            }
          }, delayMs);
          retry.unref();
        }
      },
    });
    packagers.set(streamKey, packager);
  }

  let rtmpPort = options.rtmpPort ?? 1935;
  let httpPort = options.httpPort ?? 8000;
  try {
    await listen(httpServer, httpPort, host, 'HTTP');
    httpPort = (httpServer.address() as net.AddressInfo).port;
    if (rtmpPort === 0) rtmpPort = await findFreePort(host);

    logSink = log;
    nms = new NodeMediaServer({
      bind: host,
      rtmp: { port: rtmpPort },
      store: { path: path.join(workDir, 'store') },
      webadmin: { enable: false },
      notify: { url: '' },
      auth: { play: false, publish: false, secret: '' },
    });
    nmsLogger.level = 'info';
    nmsContext.eventEmitter.on('postPublish', onPostPublish);
    nmsContext.eventEmitter.on('donePublish', onDonePublish);
    await startNms(nms, rtmpPort, host);
  } catch (error) {
    clearInterval(reauthorize);
    nmsContext.eventEmitter.off('postPublish', onPostPublish);
    nmsContext.eventEmitter.off('donePublish', onDonePublish);
    if (nms) await nms.stop().catch(() => undefined);
    resetNmsState();
    await closeServer(httpServer);
    rmSync(workDir, { recursive: true, force: true });
    throw error;
  }

  const rtmpBaseUrl = `rtmp://${urlHost(host)}:${rtmpPort}/live`;
  const runningNms = nms;

  async function stopAll(): Promise<void> {
    clearInterval(reauthorize);
    nmsContext.eventEmitter.off('postPublish', onPostPublish);
    nmsContext.eventEmitter.off('donePublish', onDonePublish);
    await Promise.all([...packagers.values()].map((p) => p.stop()));
    packagers.clear();
    publishing.clear();
    playbackIds.clear();
    const rtmpClosed = runningNms.rtmpServer.tcpServer ? waitForClose(runningNms.rtmpServer.tcpServer) : Promise.resolve();
    await runningNms.stop();
    await rtmpClosed;
    resetNmsState();
    await closeServer(httpServer);
    rmSync(workDir, { recursive: true, force: true });
    if (logSink === log) logSink = null;
    running = false;
  }

  return {
    rtmpBaseUrl,
    rtmpPort,
    httpPort,
    playbackUrl(playbackId: string): string {
      return `http://${urlHost(host)}:${httpPort}/live/${playbackId}/index.m3u8`;
    },
    isPublishing(streamKey: string): boolean {
      return publishing.has(streamKey) && nmsContext.broadcasts.get(`/live/${streamKey}`)?.getPublishStatus() === 'publishing';
    },
    stop(): Promise<void> {
      stopping ??= stopAll();
      return stopping;
    },
  };
}

/** node-media-server exits the process when a port is taken; listen here instead and report it as an error. */
async function startNms(nms: NmsServer, port: number, host: string): Promise<void> {
  const tcp = nms.rtmpServer.tcpServer;
  if (!tcp) throw new IngestError('listen_failed', 'node-media-server did not create its RTMP listener');
  const ready = new Promise<void>((resolve, reject) => {
    tcp.once('listening', () => {
      tcp.removeAllListeners('error');
      tcp.on('error', () => undefined);
      resolve();
    });
    tcp.prependListener('error', (error: NodeJS.ErrnoException) => {
      reject(listenError('RTMP', host, port, error));
    });
  });
  const runDone = nms.run();
  // run() has called listen() and attached its own exit-on-error handler; drop that one.
  for (const listener of tcp.listeners('error').slice(1)) tcp.off('error', listener as (...args: unknown[]) => void);
  try {
    await ready;
  } finally {
    // Let the store finish opening, so that stop() closes it even when listening failed.
    await runDone;
  }
}

function listenError(what: string, host: string, port: number, error: NodeJS.ErrnoException): IngestError {
  if (error.code === 'EADDRINUSE') {
    return new IngestError('port_in_use', `${what} port ${host}:${port} is already in use; choose another port (0 picks a free one).`, { cause: error });
  }
  return new IngestError('listen_failed', `${what} server could not listen on ${host}:${port}: ${error.message}`, { cause: error });
}

function listen(server: net.Server, port: number, host: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => reject(listenError(what, host, port, error));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function findFreePort(host: string): Promise<number> {
  const probe = net.createServer();
  return listen(probe, 0, host, 'RTMP').then(
    () =>
      new Promise<number>((resolve) => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      }),
  );
}

function waitForClose(server: net.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => server.once('close', () => resolve()));
}

function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Ends what node-media-server leaves behind in its process-wide state, so the next ingest starts clean. */
function resetNmsState(): void {
  for (const broadcast of nmsContext.broadcasts.values()) {
    if (broadcast._publishGraceTimer !== null) clearTimeout(broadcast._publishGraceTimer);
    broadcast._publishGraceTimer = null;
  }
  nmsContext.broadcasts.clear();
  for (const session of nmsContext.sessions.values()) session.close?.();
  nmsContext.sessions.clear();
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

// ---- HLS ----

interface Packager {
  stop(): Promise<void>;
}

function startPackager(args: {
  ffmpegPath: string;
  source: string;
  dir: string;
  log: (message: string) => void;
  onExit: (expected: boolean) => void;
  stallMs: number;
}): Packager {
  mkdirSync(args.dir, { recursive: true });
  const playlist = path.join(args.dir, 'index.m3u8');
  const child: ChildProcess = nodeSpawn(
    args.ffmpegPath,
    [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-i',
      args.source,
      '-c',
      'copy',
      '-f',
      'hls',
      '-hls_time',
      '2',
      '-hls_list_size',
      '6',
      '-hls_flags',
      'delete_segments+append_list+independent_segments+omit_endlist',
      '-hls_segment_filename',
      path.join(args.dir, 'segment-%d.ts'),
      playlist,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let expected = false;
  // A packager whose playlist stands still is killed: its exit (not expected) starts another, as any failure does.
  const startedAt = Date.now();
  const watchdog = setInterval(() => {
    let changedAt = startedAt;
    try {
      changedAt = Math.max(startedAt, statSync(playlist).mtimeMs);
    } catch {
      // No playlist yet: counted from the start.
    }
    if (Date.now() - changedAt <= args.stallMs || expected) return;
    args.log(`ingest: [warn] HLS packager for ${args.source} made no playlist for ${Math.round((Date.now() - changedAt) / 1000)} s; starting it again`);
    clearInterval(watchdog);
    child.kill('SIGKILL');
  }, Math.min(5000, Math.max(250, args.stallMs / 4)));
  watchdog.unref();
  const exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      args.log(`ingest: [warn] HLS packager for ${args.source} could not run ${args.ffmpegPath}: ${error.message}`);
      resolve();
    });
    child.once('exit', (code, signal) => {
      if (!expected) args.log(`ingest: [warn] HLS packager for ${args.source} exited (code ${code}, signal ${signal})`);
      resolve();
    });
  });
  void exited.then(() => {
    clearInterval(watchdog);
    args.onExit(expected);
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) args.log(`ingest: [hls] ${line.trim()}`);
  });
  return {
    async stop(): Promise<void> {
      expected = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

function serveHls(root: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
  if (req.method === 'OPTIONS') {
    res.writeHead(204).end();
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD, OPTIONS' }).end();
    return;
  }
  const url = requestUrl(req.url);
  if (!url) {
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end(BAD_REQUEST_TARGET);
    return;
  }
  const parts = url.pathname.split('/').filter(Boolean);
  const [app, playbackId, file] = parts;
  if (parts.length !== 3 || app !== 'live' || !playbackId || !file || !STREAM_KEY.test(playbackId) || !SEGMENT_FILE.test(file)) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    return;
  }
  const filePath = path.join(root, playbackId, file);
  let size: number;
  try {
    size = statSync(filePath).size;
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    return;
  }
  const playlist = file.endsWith('.m3u8');
  res.writeHead(200, {
    'Content-Type': playlist ? 'application/vnd.apple.mpegurl' : 'video/mp2t',
    'Content-Length': String(size),
    'Cache-Control': playlist ? 'no-cache' : 'max-age=60',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(filePath)
    .on('error', () => res.destroy())
    .pipe(res);
}
