/**
 * The native side of the NativeBridge, independent of its transport. Electron's
 * ipc.ts and the browser studio's WebSocket server both hand it raw messages;
 * it validates every one and drives one encoder session.
 */
import { ZodError } from 'zod';
import {
  type AppConfig,
  type EncoderStartResult,
  type EncoderStats,
  type EventChannel,
  type BridgeEventMap,
  type EncoderStartOptions,
  type EncoderChoice,
  type EncoderChooseInput,
  encoderChooseSchema,
  encoderStartSchema,
  INVOKE_CHANNELS,
  SEND_CHANNELS,
} from '../shared/bridge.js';
import { AppError } from '../shared/errors.js';
import { chooseProgramEncoder } from './encoder/chooseEncoder.js';
import { newRecordingPath } from './encoder/recordings.js';

/** What the bridge needs of an encoder session (src/main/encoder/EncoderSession.ts). */
export interface EncoderLike {
  start(opts: EncoderStartOptions): Promise<EncoderStartResult>;
  pushVideo(i420: Uint8Array, timestampMs: number): void;
  pushAudio(pcm: Uint8Array, timestampMs: number): void;
  /** One `encoder:h264` payload (see decodeH264Unit). */
  pushH264(unit: Uint8Array, timestampMs: number): void;
  stop(): Promise<void>;
  onStats(listener: (stats: EncoderStats) => void): () => void;
  /** The session needs a keyframe from the renderer's encoder; returns the unsubscribe. */
  onKeyframeNeeded(listener: () => void): () => void;
  dispose(): void;
}

export class BridgeMessageError extends AppError {
  constructor(message: string) {
    super('bridge_invalid_message', message);
  }
}

export interface BridgeHostDeps {
  config: () => AppConfig;
  createEncoder: () => EncoderLike;
  /** Chooses where the program's H.264 is made (see EncoderChoice); chooseProgramEncoder by default. */
  chooseEncoder?: (opts: EncoderChooseInput) => Promise<EncoderChoice>;
  emit: <C extends EventChannel>(channel: C, ...args: BridgeEventMap[C]) => void;
  /** Where recordings go (see encoder/recordings.ts); without it a recording is refused with a clear error. */
  recordingsDir?: string;
  log?: (message: string) => void;
  /** Monotonic milliseconds (default performance.now), for spacing out the log of malformed messages. */
  now?: () => number;
  /**
   * Resolves once the encoders of bridges that closed before this one have stopped. A page whose
   * socket dropped reconnects at once with a new bridge: its ffmpeg must not publish to the stream
   * key while the old one (finishing its files, up to its stop timeout) still does, since an ingest
   * may refuse a second publisher.
   */
  previousStopped?: () => Promise<void>;
}

/** The first malformed messages are logged one by one; after these, one summary line per MALFORMED_LOG_EVERY_MS. */
const MALFORMED_LOGGED_IN_FULL = 3;
const MALFORMED_LOG_EVERY_MS = 10_000;

/**
 * A count of rejected messages of one kind, logged without flooding: the
 * first few in full, then one line per MALFORMED_LOG_EVERY_MS saying how many
 * more came and the latest reason; `flush` writes what is still unlogged.
 */
class RejectLog {
  count = 0;
  last: string | null = null;
  private unlogged = 0;
  private loggedAt = -Infinity;

  constructor(
    private readonly what: string,
    private readonly log: ((message: string) => void) | undefined,
  ) {}

  add(reason: string, now: number): void {
    this.count += 1;
    this.last = reason;
    if (this.count <= MALFORMED_LOGGED_IN_FULL) {
      this.loggedAt = now;
      this.log?.(`bridge: dropped a malformed ${this.what} (${this.count} so far): ${reason}`);
      return;
    }
    this.unlogged += 1;
    if (now - this.loggedAt >= MALFORMED_LOG_EVERY_MS) this.flush(now);
  }

  flush(now: number): void {
    if (this.unlogged === 0) return;
    this.log?.(
      `bridge: dropped ${this.unlogged} more malformed ${this.what}${this.unlogged === 1 ? '' : 's'} since the last report (${this.count} so far); the latest: ${this.last}`,
    );
    this.unlogged = 0;
    this.loggedAt = now;
  }

  /** Writes what is unlogged, then starts counting from zero. */
  reset(now: number): void {
    this.flush(now);
    this.count = 0;
    this.last = null;
    this.loggedAt = -Infinity;
  }
}

function describeZod(err: ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`).join('; ');
}

export class BridgeHost {
  private encoder: EncoderLike | null = null;
  /** Each encoder's own listeners: a stop still flushing must not take away those of the encoder started after it. */
  private readonly unsubscribes = new Map<EncoderLike, () => void>();
  /** Media messages rejected since the current encoder started (they go with its stats). */
  private readonly badMedia: RejectLog;
  /** Requests rejected over the bridge's life (a page's bug, not the broadcast's). */
  private readonly badRequests: RejectLog;
  private disposed = false;
  private disposing: Promise<void> | null = null;
  /**
   * Starts, stops and dispose run one after another on this chain, so two
   * overlapping requests never each leave an ffmpeg running.
   */
  private lifecycle: Promise<unknown> = Promise.resolve();
  /** Counts encoder:start, encoder:stop and dispose: a start whose number is no longer the latest gives way. */
  private generation = 0;
  /** The encoder whose start is under way (not yet live). */
  private starting: EncoderLike | null = null;
  /** The encoder that started and has not been stopped since, with what its start answered. */
  private running: { encoder: EncoderLike; result: EncoderStartResult } | null = null;
  /** The latest stats the current encoder emitted (what they go out as), for a page that comes back to it. */
  private lastStats: { encoder: EncoderLike; stats: EncoderStats } | null = null;

  constructor(private readonly deps: BridgeHostDeps) {
    this.badMedia = new RejectLog('media message', deps.log);
    this.badRequests = new RejectLog('request', deps.log);
  }

  private now(): number {
    return (this.deps.now ?? (() => performance.now()))();
  }

  /** Handles an invoke; rejects with BridgeMessageError for malformed input, which is counted and logged as a bad request. */
  async invoke(channel: unknown, args: unknown): Promise<unknown> {
    try {
      return await this.handle(channel, args);
    } catch (err) {
      if (err instanceof BridgeMessageError) this.reportBadRequest(err.message);
      throw err;
    }
  }

  private async handle(channel: unknown, args: unknown): Promise<unknown> {
    if (typeof channel !== 'string' || !(INVOKE_CHANNELS as readonly string[]).includes(channel)) {
      throw new BridgeMessageError(`unknown channel ${JSON.stringify(channel)}`);
    }
    if (!Array.isArray(args)) throw new BridgeMessageError(`${channel}: arguments must be an array`);
    switch (channel) {
      case 'app:config':
        return this.deps.config();
      case 'encoder:choose': {
        if (args.length !== 1) throw new BridgeMessageError('encoder:choose takes one options object');
        const parsed = encoderChooseSchema.safeParse(args[0]);
        if (!parsed.success) throw new BridgeMessageError(`encoder:choose: ${describeZod(parsed.error)}`);
        return (this.deps.chooseEncoder ?? chooseProgramEncoder)(parsed.data);
      }
      case 'encoder:start': {
        if (args.length !== 1) throw new BridgeMessageError('encoder:start takes one options object');
        const parsed = encoderStartSchema.safeParse(args[0]);
        if (!parsed.success) throw new BridgeMessageError(`encoder:start: ${describeZod(parsed.error)}`);
        if (this.disposed) throw new BridgeMessageError('bridge is closed');
        const generation = this.supersede();
        return this.serialize(() => this.startEncoder(parsed.data, generation));
      }
      case 'encoder:stop':
        this.supersede();
        await this.serialize(() => this.stopEncoder());
        return undefined;
      case 'encoder:resume':
        if (args.length !== 0) throw new BridgeMessageError('encoder:resume takes no arguments');
        // After the starts and stops asked before it: a start under way answers with its result once live.
        return this.serialize(async () => {
          if (!this.live || !this.running) return null;
          // The page missed what the encoder said while it was away: the latest stats go to it again.
          if (this.lastStats?.encoder === this.running.encoder) this.deps.emit('encoder:stats', this.lastStats.stats);
          return this.running.result;
        });
      default:
        throw new BridgeMessageError(`unhandled channel ${channel}`);
    }
  }

  /**
   * Handles a fire-and-forget media message. Malformed ones are counted and
   * reported, never thrown back into the transport: the session goes on.
   */
  send(channel: unknown, payload: unknown, timestampMs: unknown): void {
    try {
      if (typeof channel !== 'string' || !(SEND_CHANNELS as readonly string[]).includes(channel)) {
        throw new BridgeMessageError(`unknown channel ${JSON.stringify(channel)}`);
      }
      const bytes = toBytes(payload);
      if (!bytes) throw new BridgeMessageError(`${channel}: payload must be binary`);
      if (typeof timestampMs !== 'number' || !Number.isFinite(timestampMs) || timestampMs < 0) {
        throw new BridgeMessageError(`${channel}: timestamp must be a finite, non-negative number`);
      }
      if (!this.encoder) return; // Not live: frames before start are ignored by design.
      if (channel === 'encoder:video') this.encoder.pushVideo(bytes, timestampMs);
      else if (channel === 'encoder:h264') this.encoder.pushH264(bytes, timestampMs);
      else this.encoder.pushAudio(bytes, timestampMs);
    } catch (err) {
      this.reportMalformed((err as Error).message);
    }
  }

  /**
   * Counts and logs a media message that could not be used; the session goes
   * on. A renderer that keeps sending bad media (30 a second) would flood the
   * log: after the first few, one line every 10 s says how many more came and
   * the latest reason. The count since the encoder started and the latest
   * reason travel with the encoder's stats, so the studio shows them.
   */
  reportMalformed(message: string): void {
    this.badMedia.add(message, this.now());
  }

  /** Counts and logs a request that could not be handled (logged like media, but not counted with the broadcast's media). */
  reportBadRequest(message: string): void {
    this.badRequests.add(message, this.now());
  }

  /**
   * An encoder started by this bridge runs: started, not stopped since, the bridge not disposed,
   * and not given up by itself (its latest stats say 'error' or 'stopped': a page coming back to
   * it starts a new one instead).
   */
  get live(): boolean {
    if (this.disposed || this.running === null || this.running.encoder !== this.encoder) return false;
    const state = this.lastStats?.encoder === this.running.encoder ? this.lastStats.stats.state : null;
    return state !== 'error' && state !== 'stopped';
  }

  /** Media messages rejected since the current (or last) encoder started. */
  get malformedMessages(): number {
    return this.badMedia.count;
  }

  /** Requests rejected over the bridge's life. */
  get malformedRequests(): number {
    return this.badRequests.count;
  }

  /**
   * A newer start, a stop or dispose takes over: the start under way (if any)
   * is stopped now rather than left to go live or time out, and gives way.
   */
  private supersede(): number {
    this.generation += 1;
    const starting = this.starting;
    if (starting) {
      starting.stop().catch((err: unknown) => this.deps.log?.(`bridge: stopping a superseded encoder failed: ${(err as Error).message}`));
    }
    return this.generation;
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const result = this.lifecycle.then(task);
    this.lifecycle = result.catch(() => undefined);
    return result;
  }

  private async startEncoder(opts: EncoderStartOptions, generation: number): Promise<EncoderStartResult> {
    const superseded = (): boolean => this.disposed || generation !== this.generation;
    const supersededError = (): AppError =>
      new AppError('encoder_superseded', this.disposed ? 'the bridge closed before the stream started' : 'a later encoder:start or encoder:stop replaced this start');
    if (superseded()) throw supersededError();
    await this.stopEncoder();
    if (superseded()) throw supersededError();
    if (this.deps.previousStopped) {
      await this.deps.previousStopped();
      if (superseded()) throw supersededError();
    }
    const { record, ...rest } = opts;
    let recordPath: string | undefined;
    if (record) {
      if (!this.deps.recordingsDir) throw new AppError('recording_unavailable', 'Recording is not available here: no recordings folder is set');
      recordPath = await newRecordingPath(this.deps.recordingsDir, record);
      if (superseded()) throw supersededError();
    }
    const encoder = this.deps.createEncoder();
    this.encoder = encoder;
    this.starting = encoder;
    // Each broadcast counts its own rejected media; what the last one left unlogged is written first.
    this.badMedia.reset(this.now());
    const offStats = encoder.onStats((stats) => {
      const out = { ...stats, mediaRejected: this.badMedia.count, mediaRejectedLast: this.badMedia.last };
      this.lastStats = { encoder, stats: out };
      this.deps.emit('encoder:stats', out);
    });
    const offKeyframe = encoder.onKeyframeNeeded(() => this.deps.emit('encoder:keyframe'));
    this.unsubscribes.set(encoder, () => {
      offStats();
      offKeyframe();
    });
    try {
      const result = await encoder.start(recordPath ? { ...rest, recordPath } : rest);
      if (superseded()) throw supersededError();
      if (recordPath) this.deps.log?.(`recording the program to ${recordPath}`);
      const started = { ...result, recordingPath: recordPath ?? null };
      this.running = { encoder, result: started };
      return started;
    } catch (err) {
      // Nothing of a start that failed or gave way keeps running: its ffmpeg has ended before the next request runs.
      if (this.encoder === encoder) this.encoder = null;
      try {
        await encoder.stop();
      } catch (stopErr) {
        this.deps.log?.(`bridge: stopping an encoder that did not start failed: ${(stopErr as Error).message}`);
      } finally {
        this.release(encoder);
      }
      throw superseded() ? supersededError() : err;
    } finally {
      if (this.starting === encoder) this.starting = null;
    }
  }

  private release(encoder: EncoderLike): void {
    this.unsubscribes.get(encoder)?.();
    this.unsubscribes.delete(encoder);
    encoder.dispose();
  }

  private async stopEncoder(): Promise<void> {
    const encoder = this.encoder;
    this.encoder = null;
    this.running = null;
    try {
      if (encoder) await encoder.stop();
    } finally {
      if (encoder) this.release(encoder);
      // The summary of rejected messages (those that came while stopping too) is not left waiting for a next bad message that may never come.
      this.badMedia.flush(this.now());
      this.badRequests.flush(this.now());
    }
  }

  /** Stops the encoder (and any start under way); later starts are refused. Idempotent. */
  dispose(): Promise<void> {
    if (!this.disposing) {
      this.disposed = true;
      this.supersede();
      this.disposing = this.serialize(() => this.stopEncoder());
    }
    return this.disposing;
  }
}

function toBytes(payload: unknown): Uint8Array | null {
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  return null;
}

/** Serialises an error for a reply across the bridge. */
export function errorReply(err: unknown): { reason: string; message: string } {
  if (err instanceof AppError) return { reason: err.reason, message: err.message };
  if (err instanceof Error) return { reason: 'internal', message: err.message };
  return { reason: 'internal', message: String(err) };
}
