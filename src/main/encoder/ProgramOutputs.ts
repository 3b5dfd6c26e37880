/**
 * The program's outputs: the stream, and the local recording when one is asked for.
 *
 * When the renderer encodes the H.264 (video "h264"), ffmpeg only muxes, so
 * the recording gets an ffmpeg of its own (an EncoderSession whose output is
 * the file): the same units and PCM go to both, from the start. An ingest
 * that stalls, refuses the stream or is gone for minutes then costs the
 * recording nothing: the stream's ffmpeg reconnects on its own while the file
 * goes on. With one ffmpeg teeing both, a blocked network write held the
 * recording too, and nothing was recorded while the stream was down.
 *
 * When ffmpeg encodes raw frames (video "i420") with a hardware encoder
 * (NVENC, Quick Sync, VideoToolbox…), the recording gets its own session as
 * well: the GPU encodes the picture a second time at little cost, and the
 * raw frames cross one more pipe. It starts once the stream is live, with the
 * encoder the stream opened (never choosing again, never marking one failed
 * for the process: a hardware encoder with one session left goes to the
 * stream; should it then not open for the recording, the recording is
 * encoded with libx264, the picture still encoded only once on the CPU; the
 * same when it stops opening in a restart mid-show: the next parts are
 * libx264's).
 * With libx264 a second encode would double the heaviest work on
 * the machine, so the stream's ffmpeg tees into the recording instead
 * (EncoderSession does that by itself), and the recording shares the
 * stream's reconnects. A hardware encoder that passed its trial but would
 * not open for the stream leaves the stream on libx264: the stream's ffmpeg
 * was given the recording too, and tees it from its first run whose
 * encoder is not a hardware one (EncoderSession's teeRecording), so the
 * picture is still encoded once.
 *
 * What the studio sees: the stream's stats, with `recordingError` saying when
 * the recording's own ffmpeg failed or is restarting (its next part file), and
 * `encoderCpuPercent` counting both processes. A recording that cannot start
 * does not stop the stream from going live; a stream that cannot go live ends
 * the recording at once, and its files are removed.
 */
import { unlink } from 'node:fs/promises';
import type { EncoderStartInput, EncoderStats } from '../../shared/bridge';
import { EncoderSession, NO_VIDEO_FROM_RENDERER, type EncoderSessionDeps, type EncoderSessionStartResult } from './EncoderSession';
import { isH264Encoder, type H264Encoder } from './args';
import { detectEncoderOnce } from './detectEncoder';
import { EncoderStartError } from './errors';
import { resolveFfmpeg } from './ffmpegPath';

/** What ProgramOutputs needs of each of its sessions (EncoderSession fits). */
export interface OutputSession {
  start(opts: EncoderStartInput & { recordPath?: string }): Promise<EncoderSessionStartResult>;
  pushVideo(i420: Uint8Array, timestampMs: number): void;
  pushAudio(pcm: Uint8Array, timestampMs: number): void;
  pushH264(unit: Uint8Array, timestampMs: number): void;
  /** `now`: what ffmpeg wrote is not wanted, so it is ended without finishing its files. */
  stop(opts?: { now?: boolean }): Promise<void>;
  onStats(listener: (stats: EncoderStats) => void): () => void;
  getStats(): EncoderStats;
  onKeyframeNeeded(listener: () => void): () => void;
  /** The recording files the session's runs were given so far. */
  recordedParts(): string[];
  dispose(): void;
}

export interface ProgramOutputsDeps {
  /**
   * Makes the stream's session, or the recording's own (output "recording":
   * it writes only opts.recordPath). `encoder`, for the recording of raw
   * frames: the encoder the stream opened, to be used as it is.
   * `teeRecording`, for the stream: which of its runs record (by the run's
   * encoder), when it is given the recording and a hardware encoder may take it over.
   */
  createSession: (output: 'stream' | 'recording', encoder?: H264Encoder, teeRecording?: (encoder: string) => boolean) => OutputSession;
  /**
   * Whether raw frames (video "i420") are encoded on hardware, so that the
   * recording may have an encoder of its own; false when unknown. Default: never.
   */
  rawEncodedOnHardware?: () => Promise<boolean>;
  /** Whether an encoder the stream opened runs on hardware; default isHardwareEncoder (every one but libx264). */
  isHardware?: (encoder: string) => boolean;
  log?: (message: string) => void;
  /** Removes a file (the recording of a start that failed); default fs.unlink. */
  removeFile?: (file: string) => Promise<void>;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  now?: () => number;
}

/**
 * Keyframe requests reach the renderer at most this often (ms); one that
 * comes sooner is kept until then. A stream whose ingest blocks asks again
 * each time its queue overflows, and every keyframe lands in the recording too.
 */
export const KEYFRAME_REQUEST_GAP_MS = 1000;

export class ProgramOutputs {
  private stream: OutputSession | null = null;
  private recording: OutputSession | null = null;
  private recordPath: string | null = null;
  private stopped = false;
  private readonly listeners = new Set<(stats: EncoderStats) => void>();
  private readonly keyframeListeners = new Set<() => void>();
  private readonly unsubscribes: Array<() => void> = [];
  /** The recording's problem as last emitted: the recording's own stats go out only when it changes. */
  private lastRecordingProblem: string | null = null;
  private lastKeyframeRequestAt = -Infinity;
  private keyframeTimer: unknown = null;
  private readonly log: (message: string) => void;
  private readonly removeFile: (file: string) => Promise<void>;
  private readonly setTimeoutFn: (fn: () => void, ms: number) => unknown;
  private readonly clearTimeoutFn: (handle: unknown) => void;
  private readonly now: () => number;

  constructor(private readonly deps: ProgramOutputsDeps) {
    this.log = deps.log ?? (() => undefined);
    this.removeFile = deps.removeFile ?? ((file) => unlink(file));
    this.setTimeoutFn = deps.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimeoutFn = deps.clearTimeout ?? ((handle) => clearTimeout(handle as NodeJS.Timeout));
    this.now = deps.now ?? (() => performance.now());
  }

  async start(opts: EncoderStartInput & { recordPath?: string }): Promise<EncoderSessionStartResult> {
    if (this.stream || this.stopped) throw new Error('these outputs were started already; make new ones');
    const { recordPath, ...streamOpts } = opts;
    const separate = recordPath ? (opts.video === 'h264' ? 'from-start' : (await this.rawOnHardware()) ? 'once-live' : null) : null;
    // stop() or dispose() may have come while the encoder was being looked at.
    if (this.stopped) throw new EncoderStartError('stopped', 'the encoder was stopped before it started');
    // Once a recording session of its own exists, the stream's runs never record (their part files would clash).
    const isHardware = this.deps.isHardware ?? isHardwareEncoder;
    const teeRecording = separate === 'once-live' ? (encoder: string) => this.recording === null && !isHardware(encoder) : undefined;
    const stream = this.deps.createSession('stream', undefined, teeRecording);
    this.stream = stream;
    this.watch(stream, () => this.emitStats());
    if (!separate || !recordPath) return this.startStream(stream, opts);
    this.recordPath = recordPath;
    if (separate === 'once-live') {
      const result = await this.startStream(stream, opts);
      if (this.stopped) return result;
      if (isH264Encoder(result.encoder) && isHardware(result.encoder)) void this.startRecording({ ...streamOpts, recordPath }, result.encoder);
      else this.log(`recording: ${result.encoder} opened for the stream instead of a hardware encoder; the stream's ffmpeg records (one encode)`);
      return result;
    }
    const recordingStarted = this.startRecording({ ...streamOpts, recordPath });
    try {
      return await stream.start(streamOpts);
    } catch (error) {
      // A start the streamer stopped keeps what was recorded (stop() finishes the recording), as the teed one does.
      if (!(error instanceof EncoderStartError && error.reason === 'stopped')) await this.discardRecording(recordingStarted);
      throw error;
    }
  }

  pushVideo(i420: Uint8Array, timestampMs: number): void {
    this.stream?.pushVideo(i420, timestampMs);
    // Neither session changes the bytes it keeps: one frame serves both.
    this.quietly(() => this.recording?.pushVideo(i420, timestampMs));
  }

  pushAudio(pcm: Uint8Array, timestampMs: number): void {
    this.stream?.pushAudio(pcm, timestampMs);
    // The same chunk was checked by the stream's session: a second error would say the same.
    this.quietly(() => this.recording?.pushAudio(pcm, timestampMs));
  }

  pushH264(unit: Uint8Array, timestampMs: number): void {
    this.stream?.pushH264(unit, timestampMs);
    this.quietly(() => this.recording?.pushH264(unit, timestampMs));
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.clearKeyframeTimer();
    return Promise.all([this.stream?.stop(), this.recording?.stop()]).then(() => undefined);
  }

  dispose(): void {
    this.stopped = true;
    this.clearKeyframeTimer();
    this.stream?.dispose();
    this.recording?.dispose();
    for (const off of this.unsubscribes.splice(0)) off();
    this.listeners.clear();
    this.keyframeListeners.clear();
  }

  onStats(listener: (stats: EncoderStats) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Either session asking for a keyframe asks the renderer (one encoder feeds both), at most every KEYFRAME_REQUEST_GAP_MS. */
  onKeyframeNeeded(listener: () => void): () => void {
    this.keyframeListeners.add(listener);
    return () => {
      this.keyframeListeners.delete(listener);
    };
  }

  getStats(): EncoderStats | null {
    const stream = this.stream?.getStats();
    if (!stream) return null;
    const session = this.recording;
    const recording = session?.getStats();
    if (!session || !recording) return stream;
    const cpu = stream.encoderCpuPercent !== null && recording.encoderCpuPercent !== null ? stream.encoderCpuPercent + recording.encoderCpuPercent : stream.encoderCpuPercent;
    // The recording's own session names its files (the stream's records none).
    return { ...stream, encoderCpuPercent: cpu, recordingError: this.recordingProblem(recording), recordingFiles: session.recordedParts() };
  }

  /**
   * Starts the stream's session. When it fails to go live by itself, its ffmpeg is ended first
   * and the recording it was teeing is removed; a start the streamer stopped keeps what the
   * session finished (it lets a run that recorded frames close its file).
   */
  private async startStream(stream: OutputSession, opts: EncoderStartInput & { recordPath?: string }): Promise<EncoderSessionStartResult> {
    try {
      return await stream.start(opts);
    } catch (error) {
      if (!(error instanceof EncoderStartError && error.reason === 'stopped')) {
        await stream.stop({ now: true }).catch(() => undefined);
        for (const file of stream.recordedParts()) await this.removeFile(file).catch(() => undefined);
      }
      throw error;
    }
  }

  /** Starts the recording's own session; a failure leaves the stream alone (the stats say it). */
  private startRecording(opts: EncoderStartInput & { recordPath: string }, encoder?: H264Encoder): Promise<void> {
    const recording = this.deps.createSession('recording', encoder);
    this.recording = recording;
    this.watch(recording, () => {
      const stats = recording.getStats();
      const problem = this.recordingProblem(stats);
      if (problem === this.lastRecordingProblem) return;
      const recovered = this.lastRecordingProblem !== null && stats.state === 'live';
      this.lastRecordingProblem = problem;
      if (problem !== null) this.log(`recording: ${problem}`);
      else if (recovered) this.log(`recording: ${opts.recordPath} goes on, in its next part file`);
      this.emitStats();
    });
    return recording.start(opts).then(
      () => undefined,
      (error: unknown) => {
        this.log(`recording: ${(error as Error).message}`);
        // The stream's hardware encoder would not open a second time (a GPU with its sessions used up): the recording
        // is encoded with libx264 instead, once. The stream stays on its hardware, so the picture is still encoded on
        // the CPU only once.
        const stopped = error instanceof EncoderStartError && error.reason === 'stopped';
        if (!encoder || encoder === 'libx264' || stopped || this.stopped || this.recording !== recording) return undefined;
        this.log(`recording: ${encoder} did not open for the recording; it records with libx264 instead`);
        // ffmpeg made the file before its encoder failed to open: empty, and in the way of the same path (ffmpeg
        // overwrites nothing), so it goes before libx264 writes there.
        const leftovers = recording.recordedParts();
        recording.dispose();
        return Promise.all(leftovers.map((file) => this.removeFile(file).catch(() => undefined))).then(() =>
          this.stopped || this.recording !== recording ? undefined : this.startRecording(opts, 'libx264'),
        );
      },
    );
  }

  /** The stream did not go live: the recording is ended without finishing its files, and they are removed. */
  private async discardRecording(started: Promise<void>): Promise<void> {
    const recording = this.recording;
    if (!recording) return;
    await recording.stop({ now: true }).catch(() => undefined);
    await started;
    for (const file of recording.recordedParts()) {
      await this.removeFile(file).catch(() => undefined);
    }
  }

  private recordingProblem(recording: EncoderStats): string | null {
    const file = this.recordPath ?? 'the recording';
    // No video from the renderer stops both alike: the stream's own error says so.
    if (recording.error?.startsWith(NO_VIDEO_FROM_RENDERER)) return null;
    if (recording.state === 'error') return `the recording stopped (${file}): ${recording.error ?? 'its ffmpeg gave up'}; the stream goes on`;
    if (recording.state === 'reconnecting' && recording.error !== null) {
      return `the recording's ffmpeg is restarting (${file}, the next part in a new file): ${recording.error}`;
    }
    return null;
  }

  private watch(session: OutputSession, onStats: () => void): void {
    this.unsubscribes.push(
      session.onStats(onStats),
      session.onKeyframeNeeded(() => this.requestKeyframe()),
    );
  }

  private requestKeyframe(): void {
    if (this.keyframeTimer !== null || this.stopped) return;
    const wait = this.lastKeyframeRequestAt + KEYFRAME_REQUEST_GAP_MS - this.now();
    if (wait <= 0) {
      this.sendKeyframeRequest();
      return;
    }
    this.keyframeTimer = this.setTimeoutFn(() => {
      this.keyframeTimer = null;
      if (!this.stopped) this.sendKeyframeRequest();
    }, wait);
  }

  private sendKeyframeRequest(): void {
    this.lastKeyframeRequestAt = this.now();
    for (const listener of [...this.keyframeListeners]) {
      try {
        listener();
      } catch (error) {
        this.log(`encoder: a keyframe listener threw: ${(error as Error).message}`);
      }
    }
  }

  private clearKeyframeTimer(): void {
    if (this.keyframeTimer !== null) this.clearTimeoutFn(this.keyframeTimer);
    this.keyframeTimer = null;
  }

  private emitStats(): void {
    const stats = this.getStats();
    if (!stats) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(stats);
      } catch (error) {
        this.log(`encoder: a stats listener threw: ${(error as Error).message}`);
      }
    }
  }

  private async rawOnHardware(): Promise<boolean> {
    try {
      return (await this.deps.rawEncodedOnHardware?.()) ?? false;
    } catch (error) {
      this.log(`recording: could not tell whether the encoder is hardware (${(error as Error).message}); the stream's ffmpeg records`);
      return false;
    }
  }

  private quietly(push: () => void): void {
    try {
      push();
    } catch {
      // The stream's session threw for the same input already (or will not: a recording-only problem shows in its stats).
    }
  }
}

/** Restarts in a row of the recording's own ffmpeg before it gives up (a full disk fails every new part at once). */
export const RECORDING_MAX_RESTARTS = 5;

/** An ffmpeg encoder that runs on a GPU or media engine (every H.264 encoder but libx264). */
export function isHardwareEncoder(encoder: string): encoder is H264Encoder {
  return isH264Encoder(encoder) && encoder !== 'libx264';
}

/**
 * The encoder of a recording's own session, given the stream's hardware one:
 * that encoder as it is (the recording neither runs the detection again nor
 * marks an encoder failed for the process). Should it fail to open in a
 * restart after the recording was written (the GPU's sessions taken by
 * another program meanwhile), the next parts are encoded with libx264
 * instead of the recording spending its restarts on it and giving up. At the
 * start the session fails instead: ProgramOutputs removes the file that run
 * left in the way and records with libx264 in a new session.
 */
export function recordingEncoderChoice(encoder: H264Encoder): {
  selectEncoder: () => Promise<H264Encoder>;
  markEncoderFailed: (ffmpegPath: string, failed: H264Encoder) => void;
  /** The session went live: what it wrote is a recording now. */
  onLive: () => void;
} {
  let written = false;
  let onCpu = false;
  return {
    selectEncoder: async () => (onCpu ? 'libx264' : encoder),
    markEncoderFailed: (_ffmpegPath, failed) => {
      if (written && failed === encoder) onCpu = true;
    },
    onLive: () => {
      written = true;
    },
  };
}

/** The recording's own session (output "recording"), on the stream's hardware encoder when one is given (recordingEncoderChoice). */
export function createRecordingSession(deps: Omit<EncoderSessionDeps, 'output' | 'maxReconnectAttempts' | 'selectEncoder' | 'markEncoderFailed'>, encoder?: H264Encoder): EncoderSession {
  const base: EncoderSessionDeps = { ...deps, output: 'recording', maxReconnectAttempts: RECORDING_MAX_RESTARTS };
  if (!encoder) return new EncoderSession(base);
  const { onLive, ...choice } = recordingEncoderChoice(encoder);
  const session = new EncoderSession({ ...base, ...choice });
  session.onStats((stats) => {
    if (stats.state === 'live') onLive();
  });
  return session;
}

/** The outputs as the app runs them: EncoderSessions with ffmpeg, the recording's lines marked in the log. */
export function createProgramOutputs(log: (message: string) => void): ProgramOutputs {
  return new ProgramOutputs({
    createSession: (output, encoder, teeRecording) =>
      output === 'stream'
        ? new EncoderSession({ log, ...(teeRecording ? { teeRecording } : {}) })
        : createRecordingSession({ log: (message) => log(`recording ${message}`) }, encoder),
    // The same choice the stream's session makes (detectEncoderOnce keeps it for the process).
    rawEncodedOnHardware: async () => (await detectEncoderOnce({ ffmpegPath: resolveFfmpeg().path })).encoder !== 'libx264',
    log,
  });
}
