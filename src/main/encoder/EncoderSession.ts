/**
 * One broadcast: ffmpeg fed with the program's I420 frames on stdin and its
 * f32le stereo PCM on fd 3, pushing H.264/AAC to the RTMP(S) ingest.
 *
 * - Video: only the latest frame is kept. A pacer writes exactly `fps` frames
 *   per second on a steady clock: the latest frame, a repeat of it when none
 *   came (framesRepeated), black before the first one. At most one frame is in
 *   flight: while stdin is back-pressured the pacer waits, catches up once
 *   ffmpeg drains, and drops what it cannot catch up within `maxLagMs`
 *   (framesDropped); dropping moves the media clock back so audio stays in sync.
 * - Audio: written to fd 3 as it comes, never waiting on video. Its place on the
 *   media clock comes from AudioTimeline; silence fills in when none arrives.
 * - Stats from ffmpeg's -progress output plus the counters, about once a second.
 * - If ffmpeg exits after the stream went live, the session reconnects with
 *   backoff (1 s, 2 s, 4 s … 10 s); a recording continues in a new part file.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import {
  encoderStartSchema,
  type EncoderStartInput,
  type EncoderStartOptions,
  type EncoderStartResult,
  type EncoderState,
  type EncoderStats,
} from '../../shared/bridge';
import { ValidationError } from '../../shared/errors';
import { buildFfmpegArgs, recordPathForPart, type H264Encoder } from './args';
import { AudioTimeline } from './audioTimeline';
import { detectEncoder } from './detectEncoder';
import { EncoderInputError, EncoderStartError, EncoderStateError } from './errors';
import { resolveFfmpeg as defaultResolveFfmpeg, type ResolvedFfmpeg } from './ffmpegPath';
import { ProgressParser, type ProgressUpdate } from './progress';

/** The part of a child process the session uses; node's ChildProcess fits. */
export interface EncoderProcess {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly stdio: ReadonlyArray<Readable | Writable | null | undefined>;
  kill(signal?: NodeJS.Signals): boolean;
  /** After the process ended and its output pipes closed (so all of stderr has been read). */
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export type SpawnEncoder = (command: string, args: readonly string[], options: { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] }) => EncoderProcess;

export type TimerHandle = unknown;

export interface EncoderTiming {
  /** Stats are emitted this often (ms). */
  statsIntervalMs: number;
  /** A run that shows no progress for this long after spawning is ended (ms). */
  liveTimeoutMs: number;
  /** stop() waits this long for ffmpeg to finish the files before killing it (ms). */
  stopTimeoutMs: number;
  /** Video may fall this far behind the clock (waiting on back-pressure) before frames are dropped (ms). */
  maxLagMs: number;
  /** A run live for this long resets the reconnect backoff (ms). */
  healthyAfterMs: number;
}

export interface EncoderSessionDeps {
  spawn?: SpawnEncoder;
  /** Monotonic milliseconds. */
  now?: () => number;
  setInterval?: (fn: () => void, ms: number) => TimerHandle;
  clearInterval?: (handle: TimerHandle) => void;
  setTimeout?: (fn: () => void, ms: number) => TimerHandle;
  clearTimeout?: (handle: TimerHandle) => void;
  resolveFfmpeg?: () => ResolvedFfmpeg;
  /** Chooses the H.264 encoder for an ffmpeg binary; default: trial encode with libx264. */
  selectEncoder?: (ffmpegPath: string) => Promise<H264Encoder>;
  /** Delay before reconnect attempt `attempt` (0-based). */
  reconnectDelayMs?: (attempt: number) => number;
  timing?: Partial<EncoderTiming>;
  log?: (message: string) => void;
}

const DEFAULT_TIMING: EncoderTiming = {
  statsIntervalMs: 1000,
  liveTimeoutMs: 20_000,
  stopTimeoutMs: 10_000,
  maxLagMs: 500,
  healthyAfterMs: 10_000,
};

/** 1 s, 2 s, 4 s, 8 s, then 10 s. */
export function defaultReconnectDelayMs(attempt: number): number {
  return Math.min(10_000, 1000 * 2 ** Math.max(0, attempt));
}

const STDERR_LINES_KEPT = 20;
/** Audio held in Node's buffer for fd 3 beyond this (bytes) means ffmpeg stopped reading it: further audio is dropped. */
const MAX_AUDIO_BACKLOG_S = 2;

interface Run {
  readonly child: EncoderProcess;
  readonly video: Writable;
  readonly audio: Writable;
  readonly parser: ProgressParser;
  readonly audioTimeline: AudioTimeline;
  readonly stderrTail: string[];
  /** now() at media time 0; moves forward when frames are dropped. */
  t0: number;
  /** Frame slots written since t0. */
  videoSlots: number;
  awaitingDrain: boolean;
  live: boolean;
  liveSince: number | null;
  ended: boolean;
  liveTimer: TimerHandle | null;
  exited: Promise<void>;
}

interface StartWaiter {
  resolve: (result: EncoderStartResult) => void;
  reject: (error: Error) => void;
}

const defaultSpawn: SpawnEncoder = (command, args, options) => nodeSpawn(command, [...args], options);

export class EncoderSession {
  private readonly spawn: SpawnEncoder;
  private readonly now: () => number;
  private readonly setIntervalFn: (fn: () => void, ms: number) => TimerHandle;
  private readonly clearIntervalFn: (handle: TimerHandle) => void;
  private readonly setTimeoutFn: (fn: () => void, ms: number) => TimerHandle;
  private readonly clearTimeoutFn: (handle: TimerHandle) => void;
  private readonly resolveFfmpegFn: () => ResolvedFfmpeg;
  private readonly selectEncoder: (ffmpegPath: string) => Promise<H264Encoder>;
  private readonly reconnectDelayMs: (attempt: number) => number;
  private readonly timing: EncoderTiming;
  private readonly log: (message: string) => void;

  private readonly listeners = new Set<(stats: EncoderStats) => void>();
  private state: EncoderState = 'idle';
  private opts: EncoderStartOptions | null = null;
  private ffmpeg: ResolvedFfmpeg | null = null;
  private encoder: H264Encoder | null = null;
  private run: Run | null = null;
  private part = 0;
  private reconnectAttempt = 0;
  private reconnectTimer: TimerHandle | null = null;
  private pacerTimer: TimerHandle | null = null;
  private statsTimer: TimerHandle | null = null;
  private startWaiter: StartWaiter | null = null;
  private stopping: Promise<void> | null = null;
  private disposed = false;

  private latestFrame: Uint8Array | null = null;
  private latestWritten = false;
  private blackFrame: Uint8Array | null = null;
  private silence: Uint8Array = new Uint8Array(0);

  private framesIn = 0;
  private framesRepeated = 0;
  private framesDropped = 0;
  private restarts = 0;
  private fps = 0;
  private bitrateKbps = 0;
  private speed = 0;
  private outTimeMs = 0;
  private error: string | null = null;

  constructor(deps: EncoderSessionDeps = {}) {
    this.spawn = deps.spawn ?? defaultSpawn;
    this.now = deps.now ?? (() => performance.now());
    this.setIntervalFn = deps.setInterval ?? ((fn, ms) => setInterval(fn, ms));
    this.clearIntervalFn = deps.clearInterval ?? ((handle) => clearInterval(handle as NodeJS.Timeout));
    this.setTimeoutFn = deps.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimeoutFn = deps.clearTimeout ?? ((handle) => clearTimeout(handle as NodeJS.Timeout));
    this.resolveFfmpegFn = deps.resolveFfmpeg ?? (() => defaultResolveFfmpeg());
    this.selectEncoder = deps.selectEncoder ?? ((ffmpegPath) => detectEncoder({ ffmpegPath }));
    this.reconnectDelayMs = deps.reconnectDelayMs ?? defaultReconnectDelayMs;
    this.timing = { ...DEFAULT_TIMING, ...deps.timing };
    this.log = deps.log ?? (() => undefined);
  }

  /**
   * Starts ffmpeg and resolves once the ingest accepts the stream (ffmpeg
   * reports progress). Rejects with ffmpeg's last error lines if it exits first.
   * The options are validated (and defaulted) with the bridge's schema.
   */
  async start(input: EncoderStartInput): Promise<EncoderStartResult> {
    if (this.disposed) throw new EncoderStateError('disposed', 'this encoder session was disposed; create a new one');
    if (this.state === 'starting' || this.state === 'live' || this.state === 'reconnecting' || this.state === 'stopping') {
      throw new EncoderStateError('already_started', `the encoder is already ${this.state}; stop it first`);
    }
    const parsed = encoderStartSchema.safeParse(input);
    if (!parsed.success) {
      throw new ValidationError(`encoder options: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')}`);
    }
    const opts = parsed.data;
    this.resetForStart(opts);
    this.setState('starting');
    this.statsTimer = this.setIntervalFn(() => this.emitStats(), this.timing.statsIntervalMs);

    let ffmpeg: ResolvedFfmpeg;
    let encoder: H264Encoder;
    try {
      ffmpeg = this.resolveFfmpegFn();
      encoder = await this.selectEncoder(ffmpeg.path);
    } catch (error) {
      this.fail((error as Error).message);
      throw error;
    }
    // stop() may have run while the encoder was being chosen.
    if (this.currentState() !== 'starting') throw new EncoderStartError('stopped', 'the encoder was stopped before it started');
    this.ffmpeg = ffmpeg;
    this.encoder = encoder;
    this.log(`encoder: ${ffmpeg.path} (from ${ffmpeg.source}), ${encoder}, ${opts.width}x${opts.height}@${opts.fps} → ${redactUrl(opts.url)}`);

    const result: EncoderStartResult = { encoder, ffmpegPath: ffmpeg.path, ffmpegSource: ffmpeg.source };
    const started = new Promise<EncoderStartResult>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    this.spawnRun();
    await started;
    return result;
  }

  /**
   * Hands the session the latest program frame (I420, width*height*3/2 bytes).
   * The session keeps a reference (do not modify the bytes afterwards) and
   * replaces it with the next one; frames are never queued. Ignored while the
   * session is not running; a frame of the wrong size throws EncoderInputError.
   */
  pushVideo(i420: Uint8Array, timestampMs: number): void {
    const opts = this.opts;
    if (!opts || !this.isRunning()) return;
    const expected = (opts.width * opts.height * 3) / 2;
    if (i420.byteLength !== expected) {
      throw new EncoderInputError(
        'invalid_video_frame',
        `video frame has ${i420.byteLength} bytes; a ${opts.width}x${opts.height} I420 frame has ${expected} bytes`,
      );
    }
    if (!Number.isFinite(timestampMs)) throw new EncoderInputError('invalid_video_frame', 'video frame timestamp must be a finite number');
    this.latestFrame = i420;
    this.latestWritten = false;
    this.framesIn += 1;
  }

  /**
   * Writes interleaved stereo f32le PCM (48 kHz) captured at `timestampMs` to
   * ffmpeg right away. Ignored while not running or reconnecting; a chunk
   * whose length is not a whole number of stereo frames throws EncoderInputError.
   */
  pushAudio(pcm: Uint8Array, timestampMs: number): void {
    const opts = this.opts;
    if (!opts || !this.isRunning()) return;
    const bytesPerFrame = 4 * opts.channels;
    if (pcm.byteLength % bytesPerFrame !== 0) {
      throw new EncoderInputError(
        'invalid_audio_chunk',
        `audio chunk has ${pcm.byteLength} bytes; interleaved stereo f32 PCM comes in multiples of ${bytesPerFrame} bytes`,
      );
    }
    if (!Number.isFinite(timestampMs)) throw new EncoderInputError('invalid_audio_chunk', 'audio timestamp must be a finite number');
    const run = this.run;
    if (!run || run.ended || pcm.byteLength === 0) return;
    const frames = pcm.byteLength / bytesPerFrame;
    const placement = run.audioTimeline.place(timestampMs, frames, this.mediaNow(run));
    if (placement.silenceFrames > 0) this.writeSilence(run, placement.silenceFrames);
    const keep = frames - placement.skipFrames;
    if (keep > 0) this.writeAudio(run, placement.skipFrames === 0 ? pcm : pcm.subarray(placement.skipFrames * bytesPerFrame), keep);
  }

  /** Registers a stats listener; returns its unsubscribe. */
  onStats(listener: (stats: EncoderStats) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  getStats(): EncoderStats {
    return {
      state: this.state,
      encoder: this.encoder,
      framesIn: this.framesIn,
      framesRepeated: this.framesRepeated,
      framesDropped: this.framesDropped,
      fps: this.fps,
      bitrateKbps: this.bitrateKbps,
      speed: this.speed,
      outTimeMs: this.outTimeMs,
      restarts: this.restarts,
      error: this.error,
    };
  }

  /**
   * Ends the stream: closes ffmpeg's inputs so it finishes the stream and the
   * recording, waits for it (kills it after stopTimeoutMs). Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  /** Stops (in the background) and drops every listener. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    void this.stop().finally(() => this.listeners.clear());
  }

  // ---- lifecycle ----

  private resetForStart(opts: EncoderStartOptions): void {
    this.opts = opts;
    this.stopping = null;
    this.part = 0;
    this.reconnectAttempt = 0;
    this.framesIn = 0;
    this.framesRepeated = 0;
    this.framesDropped = 0;
    this.restarts = 0;
    this.fps = 0;
    this.bitrateKbps = 0;
    this.speed = 0;
    this.outTimeMs = 0;
    this.error = null;
    this.latestFrame = null;
    this.latestWritten = false;
    const ySize = opts.width * opts.height;
    const black = new Uint8Array((ySize * 3) / 2);
    black.fill(16, 0, ySize); // limited-range black
    black.fill(128, ySize);
    this.blackFrame = black;
    this.silence = new Uint8Array(Math.round(opts.sampleRate / 4) * 4 * opts.channels);
  }

  private currentState(): EncoderState {
    return this.state;
  }

  private isRunning(): boolean {
    return this.state === 'starting' || this.state === 'live' || this.state === 'reconnecting';
  }

  private spawnRun(): void {
    const opts = this.opts;
    const ffmpeg = this.ffmpeg;
    const encoder = this.encoder;
    if (!opts || !ffmpeg || !encoder) return;
    const recordPath = opts.recordPath ? recordPathForPart(opts.recordPath, this.part) : null;
    const args = buildFfmpegArgs(opts, { encoder, recordPath });
    let child: EncoderProcess;
    try {
      child = this.spawn(ffmpeg.path, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    } catch (error) {
      this.onRunFailed(`could not start ${ffmpeg.path}: ${(error as Error).message}`);
      return;
    }
    const video = child.stdin;
    const audio = child.stdio[3];
    if (!video || !isWritable(audio)) {
      child.kill('SIGKILL');
      this.onRunFailed('ffmpeg was started without its stdin and fd 3 pipes');
      return;
    }
    let markExited: () => void = () => undefined;
    const run: Run = {
      child,
      video,
      audio,
      parser: new ProgressParser(),
      audioTimeline: new AudioTimeline({ sampleRate: opts.sampleRate }),
      stderrTail: [],
      t0: this.now(),
      videoSlots: 0,
      awaitingDrain: false,
      live: false,
      liveSince: null,
      ended: false,
      liveTimer: null,
      exited: new Promise<void>((resolve) => {
        markExited = resolve;
      }),
    };
    this.run = run;

    // ffmpeg closing a pipe (it exited) surfaces as EPIPE on our side: the exit handler reports it.
    video.on('error', () => undefined);
    audio.on('error', () => undefined);
    video.on('drain', () => {
      run.awaitingDrain = false;
      if (this.run === run) this.pace(run);
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      for (const update of run.parser.push(chunk)) this.onProgress(run, update);
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split(/\r?\n/)) {
        const text = redactKey(line.trim(), opts.url);
        if (!text) continue;
        run.stderrTail.push(text);
        if (run.stderrTail.length > STDERR_LINES_KEPT) run.stderrTail.shift();
        this.log(`ffmpeg: ${text}`);
      }
    });
    let exitedOnce = false;
    const onEnd = (description: string): void => {
      if (exitedOnce) return;
      exitedOnce = true;
      run.ended = true;
      markExited();
      this.onRunEnded(run, description);
    };
    child.on('error', (error) => onEnd(`could not run ${ffmpeg.path}: ${error.message}`));
    child.on('close', (code, signal) => onEnd(signal ? `ffmpeg was ended by ${signal}` : `ffmpeg exited with code ${code}`));

    run.liveTimer = this.setTimeoutFn(() => {
      run.liveTimer = null;
      if (!run.live && !run.ended) {
        run.stderrTail.push(`no progress from ffmpeg within ${this.timing.liveTimeoutMs} ms`);
        child.kill('SIGKILL');
      }
    }, this.timing.liveTimeoutMs);

    this.startPacer(opts.fps);
    this.pace(run);
  }

  private onProgress(run: Run, update: ProgressUpdate): void {
    if (this.run !== run) return;
    if (update.fps !== null) this.fps = update.fps;
    if (update.bitrateKbps !== null) this.bitrateKbps = update.bitrateKbps;
    if (update.speed !== null) this.speed = update.speed;
    if (update.outTimeMs !== null) this.outTimeMs = update.outTimeMs;
    if (!run.live && update.progress === 'continue' && (update.frame ?? 0) > 0) {
      run.live = true;
      run.liveSince = this.now();
      if (run.liveTimer !== null) this.clearTimeoutFn(run.liveTimer);
      run.liveTimer = null;
      this.error = null;
      if (this.state === 'starting' || this.state === 'reconnecting') this.setState('live');
      const waiter = this.startWaiter;
      this.startWaiter = null;
      if (waiter && this.opts && this.encoder && this.ffmpeg) {
        waiter.resolve({ encoder: this.encoder, ffmpegPath: this.ffmpeg.path, ffmpegSource: this.ffmpeg.source });
      }
    }
  }

  private onRunEnded(run: Run, description: string): void {
    if (run.liveTimer !== null) this.clearTimeoutFn(run.liveTimer);
    run.liveTimer = null;
    if (this.run !== run) return;
    this.run = null;
    this.stopPacer();
    this.fps = 0;
    this.bitrateKbps = 0;
    this.speed = 0;
    const message = run.stderrTail.length > 0 ? `${description}: ${run.stderrTail.slice(-5).join(' | ')}` : description;
    if (this.state === 'stopping') return;
    if (run.live && run.liveSince !== null && this.now() - run.liveSince >= this.timing.healthyAfterMs) this.reconnectAttempt = 0;
    if (this.state === 'starting') {
      this.fail(message);
      return;
    }
    if (this.state === 'live' || this.state === 'reconnecting') {
      this.error = message;
      this.log(`encoder: stream interrupted (${message}); reconnecting`);
      this.setState('reconnecting');
      this.scheduleReconnect();
    }
  }

  private onRunFailed(message: string): void {
    if (this.state === 'starting') this.fail(message);
    else if (this.state === 'live' || this.state === 'reconnecting') {
      this.error = message;
      this.setState('reconnecting');
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    const delay = this.reconnectDelayMs(this.reconnectAttempt);
    this.reconnectAttempt += 1;
    this.reconnectTimer = this.setTimeoutFn(() => {
      this.reconnectTimer = null;
      if (this.state !== 'reconnecting') return;
      this.restarts += 1;
      this.part += 1;
      this.spawnRun();
    }, delay);
  }

  private fail(message: string): void {
    this.error = message;
    this.stopPacer();
    this.clearStatsTimer();
    this.setState('error');
    const waiter = this.startWaiter;
    this.startWaiter = null;
    waiter?.reject(new EncoderStartError('ffmpeg_exited', `The stream did not start: ${message}`));
  }

  private async stopNow(): Promise<void> {
    if (this.state === 'idle' || this.state === 'stopped' || this.state === 'error') {
      this.clearStatsTimer();
      if (this.state !== 'idle') this.setState('stopped');
      return;
    }
    this.setState('stopping');
    if (this.reconnectTimer !== null) this.clearTimeoutFn(this.reconnectTimer);
    this.reconnectTimer = null;
    const waiter = this.startWaiter;
    this.startWaiter = null;
    waiter?.reject(new EncoderStartError('stopped', 'the encoder was stopped before the stream went live'));
    this.stopPacer();
    const run = this.run;
    if (run && !run.ended) {
      run.video.end();
      run.audio.end();
      let killTimer: TimerHandle | null = this.setTimeoutFn(() => {
        killTimer = null;
        this.log(`encoder: ffmpeg did not finish within ${this.timing.stopTimeoutMs} ms; killing it`);
        run.child.kill('SIGKILL');
      }, this.timing.stopTimeoutMs);
      await run.exited;
      if (killTimer !== null) this.clearTimeoutFn(killTimer);
    }
    this.run = null;
    this.clearStatsTimer();
    this.setState('stopped');
  }

  // ---- pacing ----

  private startPacer(fps: number): void {
    this.stopPacer();
    const tickMs = Math.max(4, Math.floor(1000 / fps / 4));
    this.pacerTimer = this.setIntervalFn(() => {
      if (this.run) this.pace(this.run);
    }, tickMs);
  }

  private stopPacer(): void {
    if (this.pacerTimer !== null) this.clearIntervalFn(this.pacerTimer);
    this.pacerTimer = null;
  }

  private mediaNow(run: Run): number {
    return this.now() - run.t0;
  }

  /** Writes the video frames that are due, drops what is too late, and keeps audio from falling behind. */
  private pace(run: Run): void {
    const opts = this.opts;
    if (!opts || run.ended || this.state === 'stopping') return;
    const frameMs = 1000 / opts.fps;
    const due = () => Math.floor(this.mediaNow(run) / frameMs) + 1 - run.videoSlots;
    while (due() > 0 && !run.awaitingDrain) this.writeFrame(run);
    const lagFrames = due();
    const maxLagFrames = Math.floor(this.timing.maxLagMs / frameMs);
    if (lagFrames > maxLagFrames) {
      const dropped = lagFrames - maxLagFrames;
      run.t0 += dropped * frameMs;
      run.audioTimeline.shift(dropped * frameMs);
      this.framesDropped += dropped;
    }
    const silence = run.audioTimeline.fill(this.mediaNow(run));
    if (silence > 0) this.writeSilence(run, silence);
  }

  private writeFrame(run: Run): void {
    let frame = this.latestFrame;
    if (frame === null) frame = this.blackFrame;
    else if (this.latestWritten) this.framesRepeated += 1;
    if (frame === null) return;
    this.latestWritten = this.latestFrame !== null;
    run.videoSlots += 1;
    if (!run.video.write(frame)) run.awaitingDrain = true;
  }

  private writeSilence(run: Run, frames: number): void {
    const bytesPerFrame = this.opts ? 4 * this.opts.channels : 8;
    let left = frames;
    while (left > 0) {
      const n = Math.min(left, this.silence.byteLength / bytesPerFrame);
      if (!this.writeAudio(run, this.silence.subarray(0, n * bytesPerFrame), n)) return;
      left -= n;
    }
  }

  /** Writes PCM to fd 3 without waiting; returns false when ffmpeg has stopped reading audio and the chunk was dropped. */
  private writeAudio(run: Run, bytes: Uint8Array, frames: number): boolean {
    const opts = this.opts;
    if (!opts) return false;
    if (run.audio.writableLength > MAX_AUDIO_BACKLOG_S * opts.sampleRate * 4 * opts.channels) return false;
    run.audio.write(bytes);
    run.audioTimeline.commit(frames);
    return true;
  }

  // ---- stats ----

  private setState(state: EncoderState): void {
    if (this.state === state) return;
    this.state = state;
    this.emitStats();
  }

  private emitStats(): void {
    const stats = this.getStats();
    for (const listener of [...this.listeners]) {
      try {
        listener(stats);
      } catch (error) {
        this.log(`encoder: a stats listener threw: ${(error as Error).message}`);
      }
    }
  }

  private clearStatsTimer(): void {
    if (this.statsTimer !== null) this.clearIntervalFn(this.statsTimer);
    this.statsTimer = null;
  }
}

function isWritable(stream: Readable | Writable | null | undefined): stream is Writable {
  return stream !== null && stream !== undefined && typeof (stream as Writable).write === 'function' && typeof (stream as Writable).end === 'function';
}

/** The URL without its last path segment (the stream key is a secret). */
export function redactUrl(url: string): string {
  const slash = url.lastIndexOf('/');
  return slash > url.indexOf('://') + 2 ? `${url.slice(0, slash + 1)}***` : url;
}

/** `text` with the stream key of `url` replaced by "***" (ffmpeg names the URL in its errors). */
export function redactKey(text: string, url: string): string {
  const key = url.slice(url.lastIndexOf('/') + 1);
  return key.length >= 4 ? text.split(key).join('***') : text;
}
