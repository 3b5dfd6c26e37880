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
}

function describeZod(err: ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`).join('; ');
}

export class BridgeHost {
  private encoder: EncoderLike | null = null;
  /** Each encoder's own listeners: a stop still flushing must not take away those of the encoder started after it. */
  private readonly unsubscribes = new Map<EncoderLike, () => void>();
  private badMessages = 0;
  private disposed = false;

  constructor(private readonly deps: BridgeHostDeps) {}

  /** Handles an invoke; rejects with BridgeMessageError for malformed input. */
  async invoke(channel: unknown, args: unknown): Promise<unknown> {
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
        return this.startEncoder(parsed.data);
      }
      case 'encoder:stop':
        await this.stopEncoder();
        return undefined;
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

  /** Counts and logs a message that could not be used; the session goes on. */
  reportMalformed(message: string): void {
    this.badMessages += 1;
    this.deps.log?.(`bridge: dropped a malformed message (${this.badMessages} so far): ${message}`);
  }

  get malformedMessages(): number {
    return this.badMessages;
  }

  private async startEncoder(opts: EncoderStartOptions): Promise<EncoderStartResult> {
    if (this.disposed) throw new BridgeMessageError('bridge is closed');
    await this.stopEncoder();
    const { record, ...rest } = opts;
    let recordPath: string | undefined;
    if (record) {
      if (!this.deps.recordingsDir) throw new AppError('recording_unavailable', 'Recording is not available here: no recordings folder is set');
      recordPath = await newRecordingPath(this.deps.recordingsDir, record);
    }
    const encoder = this.deps.createEncoder();
    this.encoder = encoder;
    const offStats = encoder.onStats((stats) => this.deps.emit('encoder:stats', stats));
    const offKeyframe = encoder.onKeyframeNeeded(() => this.deps.emit('encoder:keyframe'));
    this.unsubscribes.set(encoder, () => {
      offStats();
      offKeyframe();
    });
    try {
      const result = await encoder.start(recordPath ? { ...rest, recordPath } : rest);
      if (recordPath) this.deps.log?.(`recording the program to ${recordPath}`);
      return { ...result, recordingPath: recordPath ?? null };
    } catch (err) {
      this.release(encoder);
      if (this.encoder === encoder) this.encoder = null;
      throw err;
    }
  }

  private release(encoder: EncoderLike): void {
    this.unsubscribes.get(encoder)?.();
    this.unsubscribes.delete(encoder);
    encoder.dispose();
  }

  private async stopEncoder(): Promise<void> {
    const encoder = this.encoder;
    if (!encoder) return;
    this.encoder = null;
    try {
      await encoder.stop();
    } finally {
      this.release(encoder);
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.stopEncoder();
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
