/**
 * The program's H.264, made in the renderer (WebCodecs VideoEncoder) when the
 * native side chose it (no hardware encoder in ffmpeg): only ~12 KB a frame
 * then crosses the bridge instead of a 1.4 MB raw picture, ffmpeg only muxes,
 * and only new pictures are encoded, not the repeats of a constant rate.
 *
 * Cloudflare Stream's ingest settings hold here as they do in ffmpeg:
 * Constrained Baseline (no B-frames), constant bitrate, a keyframe every 2 s
 * by time (or at once when the native side asks, e.g. for a restarted ffmpeg),
 * and a picture on every tick of the compositor's clock — the last one again
 * when nothing new came (ffmpeg copies the stream, so it cannot repeat frames
 * itself), at most one per slot of the output rate. Each output unit goes out as an `encoder:h264` payload
 * (encodeH264Unit: keyframes carry the avcC record).
 *
 * An encoder that fails mid-stream (a GPU reset, a codec process that died)
 * is rebuilt, its first picture a keyframe with its avcC, a few times a
 * minute at most (ENCODER_RESTARTS); past that it gives up and says so.
 */
import { encodeH264Unit } from '../../../shared/bridge';
import { AppError } from '../../../shared/errors';

export class ProgramEncoderError extends AppError {}

/** Seconds between keyframes, as the ingest wants them. */
export const KEYFRAME_INTERVAL_MS = 2000;
/** Frames that may wait inside the encoder before a new picture is skipped (counted). */
const MAX_QUEUE = 2;
/** An encoder holding pictures that gives nothing for this long (ms) has hung, and is rebuilt. */
export const STALL_MS = 5000;
/**
 * How often a failed encoder is rebuilt before the program's video gives up:
 * an encoder that keeps failing (a broken driver) would otherwise restart
 * for ever with a freeze each time, where the streamer should rather hear
 * that the stream needs to be started again.
 */
export const ENCODER_RESTARTS = { max: 3, windowMs: 60_000 } as const;

/** Counts restarts in a sliding window: `take` says whether one more is allowed now (and counts it). */
export class RestartBudget {
  private readonly times: number[] = [];
  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  take(nowMs: number): boolean {
    while (this.times.length > 0 && nowMs - this.times[0]! >= this.windowMs) this.times.shift();
    if (this.times.length >= this.max) return false;
    this.times.push(nowMs);
    return true;
  }

  /** Restarts counted within the window as of the last `take`. */
  get used(): number {
    return this.times.length;
  }
}

/** The codec string: Constrained Baseline at the lowest level that holds the picture and rate. */
export function avcCodecFor(width: number, height: number, fps: number): string {
  const macroblocksPerSecond = Math.ceil(width / 16) * Math.ceil(height / 16) * fps;
  // H.264 Table A-1: the largest macroblock rate of levels 3.1, 3.2, 4.0, 4.2, 5.1.
  const levels: Array<[number, number]> = [
    [108_000, 0x1f],
    [216_000, 0x20],
    [245_760, 0x28],
    [522_240, 0x2a],
    [983_040, 0x33],
  ];
  const level = levels.find(([max]) => macroblocksPerSecond <= max)?.[1] ?? 0x33;
  return `avc1.42e0${level.toString(16).padStart(2, '0')}`;
}

export function h264EncoderConfig(width: number, height: number, fps: number, bitrateKbps: number): VideoEncoderConfig {
  return {
    codec: avcCodecFor(width, height, fps),
    width,
    height,
    framerate: fps,
    bitrate: bitrateKbps * 1000,
    bitrateMode: 'constant',
    latencyMode: 'realtime',
    avc: { format: 'avc' },
  };
}

/** Whether this browser can encode the program as H.264 with the stream's settings. */
export async function canEncodeH264(width: number, height: number, fps: number, bitrateKbps: number): Promise<boolean> {
  if (typeof VideoEncoder === 'undefined') return false;
  try {
    const support = await VideoEncoder.isConfigSupported(h264EncoderConfig(width, height, fps, bitrateKbps));
    return support.supported === true;
  } catch {
    return false;
  }
}

export interface ProgramEncoderOptions {
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  /** Gets each encoded unit (an `encoder:h264` payload, transferable) and its capture time on the page clock. */
  output: (unit: ArrayBuffer, timestampMs: number) => void;
  /** The encoder failed for good (it failed more often than ENCODER_RESTARTS allow): no more pictures are encoded. */
  onError: (error: Error) => void;
  /** The encoder failed and was rebuilt; `restarts` counts the rebuilds within the last window. */
  onRestart?: (error: Error, restarts: number) => void;
  colorSpace?: VideoColorSpaceInit;
  /** The clock the restart window is measured on (ms); performance.now by default. */
  now?: () => number;
}

export class ProgramEncoder {
  private encoder: VideoEncoder;
  private readonly restarts = new RestartBudget(ENCODER_RESTARTS.max, ENCODER_RESTARTS.windowMs);
  private config: Uint8Array | null = null;
  private lastKeyMs = Number.NEGATIVE_INFINITY;
  private keyNow = true;
  private lastPicture: Uint8Array | null = null;
  /** Capture time of the last picture encoded (page clock). */
  private lastEncodedMs = Number.NEGATIVE_INFINITY;
  private closed = false;
  /** When the encoder last gave a unit, or was found with nothing waiting (ms, opts.now). */
  private lastProgressAt: number;
  /** Pictures encoded again because nothing new came (frames lagged by rendering). */
  repeated = 0;
  /** Pictures not encoded because their capture time was not after the last one encoded. */
  outOfOrder = 0;

  constructor(private readonly opts: ProgramEncoderOptions) {
    this.lastProgressAt = this.now();
    this.encoder = this.makeEncoder();
  }

  private now(): number {
    return (this.opts.now ?? (() => performance.now()))();
  }

  /**
   * An encoder that holds pictures and gives nothing for STALL_MS has hung (a GPU or codec process
   * that stopped answering raises no error): it is rebuilt as a failed one would be, within the
   * same restart budget, instead of every later picture being skipped until the show is ended.
   */
  private rebuildIfStalled(): void {
    if (this.closed || this.encoder.state !== 'configured') return;
    const now = this.now();
    if (this.encoder.encodeQueueSize === 0) {
      this.lastProgressAt = now;
      return;
    }
    if (now - this.lastProgressAt > STALL_MS) {
      const waiting = this.encoder.encodeQueueSize;
      this.lastProgressAt = now;
      this.failed(new Error(`it gave nothing for ${STALL_MS / 1000} s with ${waiting} pictures waiting (hung)`));
    }
  }

  /** A configured VideoEncoder whose output and errors are heard only while it is the current one. */
  private makeEncoder(): VideoEncoder {
    const encoder: VideoEncoder = new VideoEncoder({
      output: (chunk, meta) => {
        if (this.encoder === encoder && !this.closed) this.onChunk(chunk, meta);
      },
      error: (error) => {
        if (this.encoder === encoder) this.failed(error);
      },
    });
    encoder.configure(h264EncoderConfig(this.opts.width, this.opts.height, this.opts.fps, this.opts.bitrateKbps));
    return encoder;
  }

  /**
   * The encoder died (it is closed by now, with the pictures it held): a new
   * one takes over, opening on a keyframe with its own avcC, unless it has
   * failed too often lately, and then the program's video stops for good.
   */
  private failed(error: Error): void {
    if (this.closed) return;
    const cause = `the program's H.264 encoder failed: ${error.message}`;
    if (!this.restarts.take(this.now())) {
      this.close();
      this.opts.onError(
        new ProgramEncoderError('program_encoder_gave_up', `${cause} (it failed ${ENCODER_RESTARTS.max + 1} times within ${ENCODER_RESTARTS.windowMs / 1000} s)`),
      );
      return;
    }
    this.config = null;
    this.keyNow = true;
    if (this.encoder.state !== 'closed') this.encoder.close();
    try {
      this.encoder = this.makeEncoder();
    } catch (err) {
      this.close();
      this.opts.onError(new ProgramEncoderError('program_encoder_gave_up', `${cause}, and a new one could not start: ${(err as Error).message}`));
      return;
    }
    this.opts.onRestart?.(new ProgramEncoderError('program_encoder_restarted', cause), this.restarts.used);
  }

  /** Whether a picture pushed now would be skipped because the encoder is still busy with earlier ones. */
  get saturated(): boolean {
    this.rebuildIfStalled();
    return !this.closed && this.encoder.state === 'configured' && this.encoder.encodeQueueSize > MAX_QUEUE;
  }

  /** The next picture is a keyframe (the native side asked for one). */
  requestKeyframe(): void {
    this.keyNow = true;
  }

  /**
   * Encodes one new I420 picture (width*height*3/2 bytes) captured at
   * `timestampMs` on the page clock. The encoder copies it; `data` is kept (not
   * copied) as the picture to repeat, so it must hold the latest program.
   * False when it was skipped (the encoder still busy). `frame`, when given,
   * is a VideoFrame of the same picture and time made by the caller for other
   * uses too: it is encoded instead of a copy (the caller still closes it).
   */
  push(data: Uint8Array, timestampMs: number, frame?: VideoFrame): boolean {
    this.lastPicture = data;
    return this.encode(data, timestampMs, frame);
  }

  /** A tick of the output clock with nothing new: the last picture again (frames lagged by rendering). */
  repeat(timestampMs: number): void {
    // At most the output rate: a timer that ticks a little fast must not make more pictures than the stream has slots.
    if (!this.lastPicture || timestampMs - this.lastEncodedMs < 1000 / this.opts.fps - 4) return;
    if (this.encode(this.lastPicture, timestampMs)) this.repeated += 1;
  }

  /**
   * False when the picture was skipped: closed, the encoder still busy with
   * earlier ones, or a capture time not after the last one encoded (the
   * stream's timestamps must increase: a GPU readback collected after a
   * repeat was encoded carries an earlier time).
   */
  private encode(data: Uint8Array, timestampMs: number, given?: VideoFrame): boolean {
    this.rebuildIfStalled();
    if (this.closed || this.encoder.state !== 'configured' || this.encoder.encodeQueueSize > MAX_QUEUE) return false;
    if (timestampMs <= this.lastEncodedMs) {
      this.outOfOrder += 1;
      return false;
    }
    const { width, height } = this.opts;
    const frame =
      given?.clone() ??
      new VideoFrame(data, {
        format: 'I420',
        codedWidth: width,
        codedHeight: height,
        timestamp: Math.round(timestampMs * 1000),
        ...(this.opts.colorSpace ? { colorSpace: this.opts.colorSpace } : {}),
      });
    // Half a frame early counts: a keyframe lands on the first picture at or after each 2 s mark.
    const keyFrame = this.keyNow || timestampMs - this.lastKeyMs >= KEYFRAME_INTERVAL_MS - 500 / this.opts.fps;
    if (keyFrame) {
      this.keyNow = false;
      this.lastKeyMs = timestampMs;
    }
    try {
      this.encoder.encode(frame, { keyFrame });
    } finally {
      frame.close();
    }
    this.lastEncodedMs = timestampMs;
    return true;
  }

  private onChunk(chunk: EncodedVideoChunk, meta: EncodedVideoChunkMetadata | undefined): void {
    this.lastProgressAt = this.now();
    const description = meta?.decoderConfig?.description;
    if (description) {
      const view = ArrayBuffer.isView(description)
        ? new Uint8Array(description.buffer, description.byteOffset, description.byteLength)
        : new Uint8Array(description);
      this.config = view.slice();
    }
    const key = chunk.type === 'key';
    if (key && !this.config) {
      // The stream cannot open (or go on after a restarted ffmpeg) without it: a new encoder is the way out.
      this.failed(new Error('it gave a keyframe without its decoder configuration (avcC)'));
      return;
    }
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    const unit = encodeH264Unit({ key, config: key ? this.config : null, data });
    this.opts.output(unit.buffer as ArrayBuffer, chunk.timestamp / 1000);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lastPicture = null;
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}
