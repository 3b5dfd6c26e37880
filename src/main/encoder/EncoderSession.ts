/**
 * One broadcast: ffmpeg fed with the program's I420 frames on stdin and its
 * f32le stereo PCM on fd 3, pushing H.264/AAC to the RTMP(S) ingest.
 *
 * - One clock: each ffmpeg run has a media clock (ms since it was spawned) on
 *   which both inputs start at 0. The renderer's capture timestamps map onto it
 *   through the audio's SenderClock: audio learns the mapping (its shortest
 *   delivery), video is placed with it. Video may travel faster than audio
 *   (its own socket, straight from a worker, while audio passes the page's
 *   main thread): had video taught the clock, every audio chunk would look
 *   late, be replaced by silence and then skipped. Video that came sooner
 *   than audio is thus placed ahead of the clock's present (by at most
 *   MAX_VIDEO_AHEAD_MS), where the audio captured with it will go. Before any
 *   audio, video uses a clock of its own.
 * - Video: only new frames cross the pipe, each stamped with its capture time
 *   (a Matroska stream, see matroska.ts); ffmpeg makes the constant output
 *   rate itself (`-fps_mode cfr`), repeating a frame when no new one came in
 *   time. The run starts with a frame at time 0 (black before the first real
 *   one) so audio and video begin together; when no frame comes for
 *   `idleRepeatMs` the latest is written again so the stream never stalls.
 *   At most one frame is in flight: while stdin is back-pressured, a newer
 *   frame replaces the waiting one (the replaced one is dropped and counted).
 * - Every frame that came in and will not reach the output is counted: as
 *   skipped by encoding lag while the run is live, as dropped by the network
 *   while it is not (see countLost).
 * - Audio: written to fd 3 as it comes, never waiting on video. Its place on the
 *   media clock comes from AudioTimeline; silence fills in when none arrives.
 *   Audio that ffmpeg leaves unread for over MAX_AUDIO_BACKLOG_S is dropped,
 *   counted while live (`audioDroppedMs`) and logged once at the start and once at the
 *   end of each such stretch. Once audio has started, the silence written for
 *   audio that came late or not at all, and the audio trimmed because it came
 *   after its place was written, are counted too (`audioFilledMs`,
 *   `audioTrimmedMs`): each is a click or a gap a viewer hears.
 * - A clean stop hands ffmpeg the video still waiting for its stdin before
 *   closing it (at most flushTimeoutMs; what is left then is counted), so the
 *   stream and the recording end with video as long as their audio.
 * - Stats from ffmpeg's -progress output plus the counters, about once a second.
 * - Encoder: chosen by detectEncoder (ROAST_ENCODER, else the platform's
 *   hardware encoders by trial encode, else libx264); the choice and why the
 *   others were skipped are logged and carried in the start result and stats.
 *   A hardware encoder that passed its trial but fails to open in a run that
 *   has not gone live (its error lines name it: an NVENC session limit used
 *   up by another program, a driver updated meanwhile) is marked failed for
 *   the process and the encoder is chosen again without it: at once while
 *   starting, before the next attempt while reconnecting.
 * - If ffmpeg exits after the stream went live (the ingest dropped it, it
 *   crashed or was killed), the session restarts it with backoff (1 s, 2 s,
 *   4 s … 10 s) and says so in the log and stats (`state` reconnecting, then
 *   live; `restarts`, `lastExit`); a recording continues in a new part file.
 * - A recording ffmpeg gives up (the tee's onfail=ignore: a full disk…) does
 *   not stop the stream; the stats say why in `recordingError`.
 *   After maxReconnectAttempts restarts in a row that never stayed live for
 *   healthyAfterMs, it gives up with state "error".
 * - A live ffmpeg that reports no progress for stallTimeoutMs is stuck on its
 *   output (an ingest that hangs with the connection open: ffmpeg's own
 *   network timeout only starts once the kernel's buffers are full, and the
 *   trailer waits for it again); the session ends it and reconnects as above.
 * - H.264 from the renderer that stops coming (its encoder gave up) for
 *   stallTimeoutMs stops the stream too (a copied stream cannot be padded, and
 *   the muxer holds audio back for it): that is not the ingest's fault, so
 *   the session finishes ffmpeg (its files closed), says so in the stats'
 *   `error` ("no video from the renderer's encoder for N s"), and starts a
 *   new run when video comes again, without spending reconnect attempts.
 * - A keyframe from the renderer whose decoder configuration (avcC) differs
 *   from the run's (its encoder was rebuilt with other settings) cannot go
 *   into the running ffmpeg: the header with the avcC is read once. The run
 *   is finished (its files closed) and a new one starts as soon as it has
 *   exited, opened by the next keyframe, without spending reconnect attempts.
 */
import { NO_VIDEO_FROM_RENDERER } from '../../shared/bridge';
import { spawn as nodeSpawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import pidusage from 'pidusage';
import {
  encoderStartSchema,
  type EncoderStartInput,
  type EncoderStartOptions,
  type EncoderStartResult,
  type EncoderState,
  type EncoderStats,
} from '../../shared/bridge';
import { decodeH264Unit } from '../../shared/bridge';
import { ValidationError } from '../../shared/errors';
import { RENDERER_ENCODER } from './chooseEncoder';
import { buildFfmpegArgs, recordPathForPart, teeOutputFailure, type H264Encoder } from './args';
import { AudioTimeline } from './audioTimeline';
import {
  describeSelection,
  detectEncoderOnce,
  hardwareEncoderFailure,
  markEncoderFailed,
  type EncoderSelection,
  type SkippedEncoder,
} from './detectEncoder';
import { describeIngestFailure } from './ingestErrors';
import { LineBuffer } from './lineBuffer';
import { EncoderInputError, EncoderStartError, EncoderStateError } from './errors';
import { resolveFfmpeg as defaultResolveFfmpeg, type ResolvedFfmpeg } from './ffmpegPath';
import { matroskaFrameHeader, matroskaH264Header, matroskaVideoHeader } from './matroska';
import { OutputRate, ProgressParser, type ProgressUpdate } from './progress';
import { SenderClock } from './senderClock';

/** The part of a child process the session uses; node's ChildProcess fits. */
export interface EncoderProcess {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly stdio: ReadonlyArray<Readable | Writable | null | undefined>;
  /** The OS process id, when there is one. */
  readonly pid?: number | undefined;
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
  /**
   * A run stopped before it went live (ffmpeg still connecting, or a restart
   * under way) has nothing to finish: it gets SIGTERM at once, and SIGKILL
   * when it is still there after this long (ms).
   */
  killGraceMs: number;
  /** With no new frame for this long, the latest one is written again so ffmpeg's output keeps moving (ms). */
  idleRepeatMs: number;
  /** How often the session checks for idle video and missing audio (ms). */
  tickMs: number;
  /** A run live for this long resets the reconnect backoff (ms). */
  healthyAfterMs: number;
  /**
   * A live run whose ffmpeg reports no progress for this long is stuck (its
   * output blocked: an ingest that hangs without closing the connection) and
   * is ended, so the session reconnects instead of waiting for ffmpeg's own
   * network timeouts (ms).
   */
  stallTimeoutMs: number;
  /**
   * A clean stop (or a run finished for a new one) waits at most this long
   * for ffmpeg's stdin to take the video still waiting for it before closing
   * it; what it has not taken by then is dropped and counted (ms).
   */
  flushTimeoutMs: number;
}

export interface EncoderSessionDeps {
  spawn?: SpawnEncoder;
  /** CPU of a process since the previous sample, in % of one core (default: pidusage); null when unknown. */
  sampleCpu?: (pid: number) => Promise<number | null>;
  /** Monotonic milliseconds. */
  now?: () => number;
  /** The size of a file in bytes, or null when it cannot be read (default: fs.stat). */
  fileSize?: (path: string) => Promise<number | null>;
  setInterval?: (fn: () => void, ms: number) => TimerHandle;
  clearInterval?: (handle: TimerHandle) => void;
  setTimeout?: (fn: () => void, ms: number) => TimerHandle;
  clearTimeout?: (handle: TimerHandle) => void;
  resolveFfmpeg?: () => ResolvedFfmpeg;
  /**
   * Chooses the H.264 encoder for an ffmpeg binary; default: detectEncoderOnce
   * (ROAST_ENCODER, else trial encodes of this platform's candidates). A bare
   * encoder name is taken as given.
   */
  selectEncoder?: (ffmpegPath: string) => Promise<H264Encoder | EncoderSelection>;
  /** Delay before reconnect attempt `attempt` (0-based). */
  reconnectDelayMs?: (attempt: number) => number;
  /**
   * Marks a hardware encoder that failed to open in a run, so the next
   * selectEncoder passes over it; default: markEncoderFailed (for the process).
   */
  markEncoderFailed?: (ffmpegPath: string, encoder: H264Encoder, why: string) => void;
  /** Restarts in a row (none staying live for healthyAfterMs) before the session gives up. Default 20. */
  maxReconnectAttempts?: number;
  timing?: Partial<EncoderTiming>;
  log?: (message: string) => void;
  /**
   * "stream" (the default): the run publishes to the options' url, teed into
   * the recording when there is one. "recording": the run writes only the
   * options' recordPath (required then), on the same clock and with the same
   * restarts (a new part file each), so that a stream that stalls or
   * reconnects never holds the file back (see ProgramOutputs).
   */
  output?: 'stream' | 'recording';
  /**
   * For output "stream" with a recordPath: whether a run with this encoder
   * tees into the recording (default: every run). ProgramOutputs uses it to
   * record through the stream's ffmpeg only when the encoder that opened is
   * not a hardware one (a hardware encoder's recording gets its own session).
   */
  teeRecording?: (encoder: string) => boolean;
}

/**
 * The bridge's stats plus what the native side knows about its ffmpeg. The
 * extra fields travel with the stats; the renderer may show them.
 */
export interface EncoderSessionStats extends EncoderStats {
  /** Process id of the running ffmpeg; null while none runs. */
  pid: number | null;
}

export interface EncoderSessionStartResult extends EncoderStartResult {
  /** See EncoderSessionStats.encoderNote. */
  encoderNote: string | null;
  /** The candidates left out before the chosen encoder, each with why. */
  encoderSkipped: SkippedEncoder[];
}

export const DEFAULT_MAX_RECONNECT_ATTEMPTS = 20;

/** How the stats' error begins while the renderer's H.264 has stopped coming (the run is finished until it comes again). */
export { NO_VIDEO_FROM_RENDERER };

const DEFAULT_TIMING: EncoderTiming = {
  statsIntervalMs: 1000,
  liveTimeoutMs: 20_000,
  stopTimeoutMs: 10_000,
  killGraceMs: 1000,
  idleRepeatMs: 250,
  tickMs: 20,
  healthyAfterMs: 10_000,
  stallTimeoutMs: 6_000,
  flushTimeoutMs: 1000,
};

/** 1 s, 2 s, 4 s, 8 s, then 10 s. */
export function defaultReconnectDelayMs(attempt: number): number {
  return Math.min(10_000, 1000 * 2 ** Math.max(0, attempt));
}

const STDERR_LINES_KEPT = 20;
/**
 * H.264 units that may wait for ffmpeg's stdin (about half a second). A delta
 * frame cannot be dropped alone (the ones after it would not decode), so past
 * this the queue goes, the rest up to the next keyframe is skipped, and the
 * renderer is asked for that keyframe at once.
 */
const H264_QUEUE_UNITS = 15;
/**
 * How far ahead of the media clock's present a frame may be placed (ms). With
 * the mapping learnt from audio, video that travels faster than audio belongs
 * in the future by the difference (audio is placed when it arrives): clamping
 * it to the present would make it lead audio by that much. Past this bound a
 * time is not believed (a sender clock that jumped) and the frame goes at the bound.
 */
const MAX_VIDEO_AHEAD_MS = 1000;
/** Audio held in Node's buffer for fd 3 beyond this (seconds of it) means ffmpeg stopped reading it: further audio is dropped. */
const MAX_AUDIO_BACKLOG_S = 2;

/** A frame waiting for stdin to drain, with its capture time on the run's media clock. */
interface PendingFrame {
  frame: Uint8Array;
  mediaMs: number;
}

interface PendingUnit {
  data: Uint8Array;
  mediaMs: number;
  key: boolean;
}

/** A run's state when the renderer sends H.264 (video "h264"). */
interface H264Run {
  /** The stream's header went out, with the first keyframe's avcC. */
  headerWritten: boolean;
  /** That avcC: a keyframe with another one needs a new run. */
  config: Uint8Array | null;
  /** Units lost (back-pressure, a restart): nothing is written until the next keyframe. */
  waitingForKey: boolean;
  queue: PendingUnit[];
}

interface Run {
  readonly child: EncoderProcess;
  readonly video: Writable;
  readonly audio: Writable;
  readonly parser: ProgressParser;
  /** Frames a second put out now, from the progress reports of this run. */
  readonly outputRate: OutputRate;
  /** Renderer clock → this run's media clock, learnt from audio, used for video too. */
  readonly clock: SenderClock;
  /** The same for video until the first audio arrives. */
  readonly videoClock: SenderClock;
  readonly audioTimeline: AudioTimeline;
  readonly stderrTail: string[];
  /** now() at media time 0. */
  readonly t0: number;
  /** Timestamp (ms) of the last frame written; -1 before the first. */
  lastPtsMs: number;
  /** Media time at which a frame was last written. */
  lastWriteMs: number;
  awaitingDrain: boolean;
  /** The newest frame that came while stdin was back-pressured. */
  pending: PendingFrame | null;
  /** Set when the renderer sends H.264. */
  h264: H264Run | null;
  /** ffmpeg's dup_frames and drop_frames of this run. */
  ffmpegRepeated: number;
  ffmpegDropped: number;
  live: boolean;
  liveSince: number | null;
  ended: boolean;
  liveTimer: TimerHandle | null;
  exited: Promise<void>;
  /** now() of ffmpeg's latest progress report (of the spawn before the first). */
  lastProgressAt: number;
  /** Set when the session ended the run because it stopped making progress: why. */
  stalled: string | null;
  /** Set when the session finished the run because the renderer's H.264 stopped coming. */
  noVideo: boolean;
  /** Set when the session finished the run for a new one (the renderer's H.264 changed its avcC): why. */
  superseded: string | null;
  /** Called by the drain handler once no video waits for stdin any more (set while a stop hands it the rest). */
  onFlushed: (() => void) | null;
  /** The handing over of the video still waiting, before stdin is closed (see flushVideo). */
  flushing: Promise<void> | null;
  /** Audio frames dropped since ffmpeg stopped reading fd 3 (0 while it reads). */
  audioDropped: number;
  /** A chunk of audio came in this run: silence written after that fills a gap (before it, there is no audio yet). */
  audioSeen: boolean;
  /** The file this run records to, if it records (a new part after a restart). */
  readonly recordPath: string | null;
  /** The output's average bitrate from the recording's size, where ffmpeg gives none (it tees); null until read. */
  teeBitrateKbps: number | null;
  /** The highest frame count and output time ffmpeg reported in this run. */
  lastFrame: number;
  lastOutTimeMs: number;
}

/** How a run ended: the full sentence, and the short form for "ffmpeg exited unexpectedly (…)". */
interface RunEnd {
  description: string;
  short: string;
}

interface StartWaiter {
  resolve: (result: EncoderSessionStartResult) => void;
  reject: (error: Error) => void;
}

const defaultSpawn: SpawnEncoder = (command, args, options) => nodeSpawn(command, [...args], options);

/** Samples beyond this are not audio (int16 values read as f32, garbage): ±256 is +48 dBFS, past any mix's gain. */
export const MAX_SAMPLE_MAGNITUDE = 256;

/** The first f32 sample of `pcm` (little-endian, any alignment) that is not finite or is beyond MAX_SAMPLE_MAGNITUDE. */
export function firstBadSample(pcm: Uint8Array): { index: number; what: string } | null {
  const view = new DataView(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  for (let i = 0, offset = 0; offset + 4 <= pcm.byteLength; i++, offset += 4) {
    const v = view.getFloat32(offset, true);
    if (Number.isNaN(v)) return { index: i, what: 'not a number' };
    if (!Number.isFinite(v)) return { index: i, what: 'infinite' };
    if (Math.abs(v) > MAX_SAMPLE_MAGNITUDE) return { index: i, what: `out of range (${v.toExponential(2)})` };
  }
  return null;
}

export class EncoderSession {
  private readonly spawn: SpawnEncoder;
  private readonly now: () => number;
  private readonly setIntervalFn: (fn: () => void, ms: number) => TimerHandle;
  private readonly clearIntervalFn: (handle: TimerHandle) => void;
  private readonly setTimeoutFn: (fn: () => void, ms: number) => TimerHandle;
  private readonly clearTimeoutFn: (handle: TimerHandle) => void;
  private readonly resolveFfmpegFn: () => ResolvedFfmpeg;
  private readonly selectEncoder: (ffmpegPath: string) => Promise<H264Encoder | EncoderSelection>;
  private readonly markEncoderFailed: (ffmpegPath: string, encoder: H264Encoder, why: string) => void;
  private readonly reconnectDelayMs: (attempt: number) => number;
  private readonly maxReconnectAttempts: number;
  private readonly timing: EncoderTiming;
  private readonly log: (message: string) => void;
  private readonly output: 'stream' | 'recording';
  private readonly teeRecording: (encoder: string) => boolean;
  /** The recording files runs were given, in order (a run that did not record gave none). */
  private recordFiles: string[] = [];
  /** Of those, the ones a run wrote to (it went live): what the stats name. A run that never went live may have made no file. */
  private recordFilesWritten: string[] = [];

  private readonly sampleCpu: (pid: number) => Promise<number | null>;
  private readonly fileSize: (path: string) => Promise<number | null>;
  private encoderCpuPercent: number | null = null;
  private readonly listeners = new Set<(stats: EncoderSessionStats) => void>();
  private readonly keyframeListeners = new Set<() => void>();
  private state: EncoderState = 'idle';
  private opts: EncoderStartOptions | null = null;
  private ffmpeg: ResolvedFfmpeg | null = null;
  private encoder: H264Encoder | typeof RENDERER_ENCODER | null = null;
  private encoderNote: string | null = null;
  private startResult: EncoderSessionStartResult | null = null;
  /** Set when the encoder failed to open in a run: the next attempt chooses again first. */
  private chooseEncoderAgain = false;
  /** now() when the renderer's last H.264 unit came (the start, before the first). */
  private lastVideoAt = 0;
  /** Set while no run is kept because the renderer's H.264 stopped: the next unit starts one. */
  private awaitingVideo = false;
  private run: Run | null = null;
  private part = 0;
  private reconnectAttempt = 0;
  private reconnectTimer: TimerHandle | null = null;
  private tickTimer: TimerHandle | null = null;
  private statsTimer: TimerHandle | null = null;
  private startWaiter: StartWaiter | null = null;
  private stopping: Promise<void> | null = null;
  private disposed = false;

  private latestFrame: Uint8Array | null = null;
  private latestWritten = false;
  private blackFrame: Uint8Array | null = null;
  private silence: Uint8Array = new Uint8Array(0);

  private framesIn = 0;
  private framesWritten = 0;
  /** Repeats the session wrote itself (idle video, the first frame of a new run). */
  private repeatsWritten = 0;
  /** Frames replaced while waiting for stdin to drain. */
  private framesSkipped = 0;
  /** ffmpeg's dup_frames and drop_frames of the runs that ended. */
  private ffmpegRepeatedBefore = 0;
  private ffmpegDroppedBefore = 0;
  private framesDroppedNetwork = 0;
  /** A CPU sample of ffmpeg is under way. */
  private sampling = false;
  /** Audio frames (samples per channel) dropped because ffmpeg left fd 3 unread. */
  private audioDroppedFrames = 0;
  /** Audio frames of silence written where the program's audio came late or not at all (after it had started). */
  private audioFilledFrames = 0;
  /** Audio frames trimmed because they overlapped what was already written (they came too late). */
  private audioTrimmedFrames = 0;
  private restarts = 0;
  private lastExit: string | null = null;
  private bitrateKbps: number | null = 0;
  private speed = 0;
  private outTimeMs = 0;
  private error: string | null = null;
  /** Why the recording stopped while the stream went on (EncoderStats.recordingError). */
  private recordingError: string | null = null;

  constructor(deps: EncoderSessionDeps = {}) {
    this.spawn = deps.spawn ?? defaultSpawn;
    this.now = deps.now ?? (() => performance.now());
    this.setIntervalFn = deps.setInterval ?? ((fn, ms) => setInterval(fn, ms));
    this.clearIntervalFn = deps.clearInterval ?? ((handle) => clearInterval(handle as NodeJS.Timeout));
    this.setTimeoutFn = deps.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimeoutFn = deps.clearTimeout ?? ((handle) => clearTimeout(handle as NodeJS.Timeout));
    this.resolveFfmpegFn = deps.resolveFfmpeg ?? (() => defaultResolveFfmpeg());
    this.selectEncoder = deps.selectEncoder ?? ((ffmpegPath) => detectEncoderOnce({ ffmpegPath }));
    this.markEncoderFailed = deps.markEncoderFailed ?? markEncoderFailed;
    this.reconnectDelayMs = deps.reconnectDelayMs ?? defaultReconnectDelayMs;
    this.maxReconnectAttempts = deps.maxReconnectAttempts ?? DEFAULT_MAX_RECONNECT_ATTEMPTS;
    this.timing = { ...DEFAULT_TIMING, ...deps.timing };
    this.log = deps.log ?? (() => undefined);
    this.sampleCpu = deps.sampleCpu ?? sampleProcessCpu;
    this.fileSize = deps.fileSize ?? ((path) => stat(path).then((st) => st.size, () => null));
    this.output = deps.output ?? 'stream';
    this.teeRecording = deps.teeRecording ?? (() => true);
  }

  /**
   * Starts ffmpeg and resolves once the ingest accepts the stream (ffmpeg
   * reports progress). Rejects with ffmpeg's last error lines if it exits first.
   * The options are validated (and defaulted) with the bridge's schema;
   * `recordPath` is the native side's own (the bridge names the file).
   */
  async start(input: EncoderStartInput & { recordPath?: string }): Promise<EncoderSessionStartResult> {
    if (this.disposed) throw new EncoderStateError('disposed', 'this encoder session was disposed; create a new one');
    if (this.state === 'starting' || this.state === 'live' || this.state === 'reconnecting' || this.state === 'stopping') {
      throw new EncoderStateError('already_started', `the encoder is already ${this.state}; stop it first`);
    }
    const { recordPath, ...wire } = input;
    if (recordPath !== undefined && (typeof recordPath !== 'string' || recordPath.length === 0)) {
      throw new ValidationError('encoder options: recordPath must be a file path');
    }
    const parsed = encoderStartSchema.safeParse(wire);
    if (!parsed.success) {
      throw new ValidationError(`encoder options: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')}`);
    }
    const opts: EncoderStartOptions = recordPath ? { ...parsed.data, recordPath } : parsed.data;
    if (this.output === 'recording' && !recordPath) throw new ValidationError('encoder options: a recording session needs recordPath');
    this.resetForStart(opts);
    this.setState('starting');
    this.statsTimer = this.setIntervalFn(() => {
      this.emitStats();
      void this.measureCpu();
    }, this.timing.statsIntervalMs);

    let ffmpeg: ResolvedFfmpeg;
    let selection: EncoderSelection | null = null;
    let encoder: H264Encoder | typeof RENDERER_ENCODER = RENDERER_ENCODER;
    try {
      ffmpeg = this.resolveFfmpegFn();
      // H.264 from the renderer is only muxed: no ffmpeg encoder to choose.
      if (opts.video === 'i420') {
        const selected = await this.selectEncoder(ffmpeg.path);
        selection = typeof selected === 'string' ? null : selected;
        encoder = typeof selected === 'string' ? selected : selected.encoder;
      }
    } catch (error) {
      this.fail((error as Error).message);
      throw error;
    }
    // stop() may have run while the encoder was being chosen.
    if (this.currentState() !== 'starting') throw new EncoderStartError('stopped', 'the encoder was stopped before it started');
    this.ffmpeg = ffmpeg;
    this.encoder = encoder;
    this.encoderNote = selection ? describeSelection(selection) : opts.video === 'h264' ? 'the renderer encodes (WebCodecs), ffmpeg muxes' : null;
    this.log(`encoder: ${ffmpeg.path} (from ${ffmpeg.source}), ${encoder}, ${opts.width}x${opts.height}@${opts.fps} → ${redactUrl(opts.url)}`);
    if (this.encoderNote !== null) this.log(`encoder: chose ${encoder}: ${this.encoderNote}`);

    const result: EncoderSessionStartResult = {
      encoder,
      ffmpegPath: ffmpeg.path,
      ffmpegSource: ffmpeg.source,
      encoderNote: this.encoderNote,
      encoderSkipped: selection?.skipped ?? [],
    };
    this.startResult = result;
    const started = new Promise<EncoderSessionStartResult>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    this.spawnRun();
    // The encoder may have been chosen again on the way (the first one failed to open).
    return started;
  }

  /** The recording files this session's runs were given so far (part 0, then "-2", "-3"…); none without a recording. */
  recordedParts(): string[] {
    return [...this.recordFiles];
  }

  /** Process id of the running ffmpeg; null while none runs (before the start, between restarts, after the stop). */
  get pid(): number | null {
    const run = this.run;
    return run && !run.ended ? (run.child.pid ?? null) : null;
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
    if (opts.video === 'h264') throw new EncoderInputError('invalid_video_frame', 'this stream takes H.264 from the renderer (encoder:h264), not raw frames');
    const expected = (opts.width * opts.height * 3) / 2;
    if (i420.byteLength !== expected) {
      throw new EncoderInputError(
        'invalid_video_frame',
        `video frame has ${i420.byteLength} bytes; a ${opts.width}x${opts.height} I420 frame has ${expected} bytes`,
      );
    }
    if (!Number.isFinite(timestampMs)) throw new EncoderInputError('invalid_video_frame', 'video frame timestamp must be a finite number');
    this.framesIn += 1;
    const run = this.run;
    if (!run || run.ended) {
      // No ffmpeg to take it: the stream is down (reconnecting) or not up yet. The latest frame opens the next run.
      if (this.latestFrame !== null && !this.latestWritten) this.countLost(null, 1);
      this.latestFrame = i420;
      this.latestWritten = false;
      return;
    }
    const offset = run.clock.offsetMs;
    const mediaMs = offset !== null ? timestampMs + offset : run.videoClock.place(timestampMs, 0, this.mediaNow(run));
    this.latestFrame = i420;
    this.latestWritten = false;
    if (run.awaitingDrain) {
      if (run.pending) this.countLost(run, 1);
      run.pending = { frame: i420, mediaMs };
      return;
    }
    this.writeFrame(run, i420, mediaMs, 'new');
  }

  /**
   * Hands the session one H.264 access unit the renderer encoded (an
   * `encoder:h264` payload, see decodeH264Unit) captured at `timestampMs`.
   * A run starts with a keyframe (its avcC makes the stream's header); units
   * wait at most briefly for ffmpeg's stdin, past that the session skips to the
   * next keyframe and asks for it. A malformed unit, or H.264 to a session that
   * takes raw frames, throws EncoderInputError.
   */
  pushH264(bytes: Uint8Array, timestampMs: number): void {
    const opts = this.opts;
    if (!opts || !this.isRunning()) return;
    if (opts.video !== 'h264') throw new EncoderInputError('invalid_video_frame', 'this stream takes raw I420 frames (encoder:video), not H.264');
    let unit;
    try {
      unit = decodeH264Unit(bytes);
    } catch (error) {
      throw new EncoderInputError('invalid_video_frame', (error as Error).message);
    }
    if (!Number.isFinite(timestampMs)) throw new EncoderInputError('invalid_video_frame', 'video frame timestamp must be a finite number');
    this.framesIn += 1;
    this.lastVideoAt = this.now();
    if (this.awaitingVideo && this.run === null && this.state === 'reconnecting') this.resumeWithVideo();
    const run = this.run;
    if (!run || run.ended || !run.h264 || run.noVideo || run.superseded !== null) {
      this.countLost(null, 1);
      return;
    }
    const h = run.h264;
    if (!h.headerWritten) {
      // Nothing decodes before a keyframe: the run waits for one (it asked for it when it started); what comes before it is lost.
      if (!unit.key) {
        this.countLost(run, 1);
        return;
      }
      run.video.write(matroskaH264Header(opts.width, opts.height, unit.config!, opts.fps));
      h.headerWritten = true;
      h.config = unit.config;
      h.waitingForKey = false;
      // The first picture opens the stream at media time 0, with the audio.
      this.writeUnit(run, { data: unit.data, mediaMs: 0, key: true });
      return;
    }
    if (unit.key && h.config !== null && unit.config !== null && !sameBytes(unit.config, h.config)) {
      // The renderer rebuilt its encoder with other settings: ffmpeg reads the avcC once, with the header, and would
      // go on decoding the new pictures with the old one. This unit is lost with what comes until the new run is up,
      // as in a reconnect (the new run asks for a keyframe: the deltas after this one have no run to go to).
      this.supersedeRun(run, "the renderer's H.264 encoder changed its decoder configuration (avcC)");
      this.countLost(null, 1);
      return;
    }
    const offset = run.clock.offsetMs;
    const mediaMs = offset !== null ? timestampMs + offset : run.videoClock.place(timestampMs, 0, this.mediaNow(run));
    if (h.waitingForKey) {
      if (!unit.key) {
        this.countLost(run, 1);
        return;
      }
      h.waitingForKey = false;
    }
    const pending: PendingUnit = { data: unit.data, mediaMs, key: unit.key };
    if (!run.awaitingDrain) {
      this.writeUnit(run, pending);
      return;
    }
    h.queue.push(pending);
    if (h.queue.length > H264_QUEUE_UNITS) {
      this.countLost(run, h.queue.length);
      h.queue = [];
      h.waitingForKey = true;
      this.requestKeyframe();
    }
  }

  /** Registers a listener for keyframe requests (the renderer's encoder makes one); returns its unsubscribe. */
  onKeyframeNeeded(listener: () => void): () => void {
    this.keyframeListeners.add(listener);
    return () => {
      this.keyframeListeners.delete(listener);
    };
  }

  private requestKeyframe(): void {
    for (const listener of [...this.keyframeListeners]) {
      try {
        listener();
      } catch (error) {
        this.log(`encoder: a keyframe listener threw: ${(error as Error).message}`);
      }
    }
  }

  /**
   * Counts `frames` video frames that came in and will never reach the
   * output. A run that is live (publishing) and does not take them is not
   * keeping up: skipped by encoding lag. Without a live run after the
   * stream went up, the ingest or ffmpeg died and a restarted ffmpeg is
   * still connecting (or none runs yet between restarts): dropped by the
   * network; counting them as encoding lag would send the streamer looking
   * at the encoder. Before the first go-live connected, the stream has not
   * begun and nothing of it is lost: frames then are not counted (as OBS
   * counts an output's frames from its start).
   */
  private countLost(run: Run | null, frames: number): void {
    if (run !== null && run.live) this.framesSkipped += frames;
    else if (this.state !== 'starting') this.framesDroppedNetwork += frames;
  }

  /**
   * The run cannot take what comes next (`why`): it is finished (its files
   * closed, the video already waiting for it handed over first) and a new
   * run starts as soon as it has exited (see onRunEnded): one ffmpeg at a
   * time, since an ingest may refuse a second publisher on the same key.
   * While it finishes, nothing goes out: the state says reconnecting.
   */
  private supersedeRun(run: Run, why: string): void {
    run.superseded = why;
    this.log(`encoder: ${why}; finishing ffmpeg and starting a new one with it`);
    if (this.state === 'live') this.setState('reconnecting');
    this.finishRun(run, this.timing.stopTimeoutMs);
  }

  /** Video waiting for the run's stdin: H.264 units queued, or the raw frame that came last. */
  private waitingVideo(run: Run): number {
    return run.h264 ? run.h264.queue.length : run.pending ? 1 : 0;
  }

  /**
   * Writes the video waiting for stdin (queued units in order, until stdin
   * pushes back again; or the raw frame that came last), also while a stop
   * hands ffmpeg the rest; never once stdin is closed.
   */
  private writeWaitingVideo(run: Run): void {
    if (this.run !== run || run.ended || run.video.writableEnded) return;
    if (run.h264) {
      const queue = run.h264.queue;
      while (queue.length > 0 && !run.awaitingDrain) this.writeUnit(run, queue.shift()!);
    } else if (run.pending && !run.awaitingDrain) {
      const pending = run.pending;
      run.pending = null;
      this.writeFrame(run, pending.frame, pending.mediaMs, 'new');
    }
    if (run.onFlushed && this.waitingVideo(run) === 0) run.onFlushed();
  }

  /**
   * Before ffmpeg's stdin is closed (a clean stop, a run finished for a new
   * one): the video still waiting for it goes in as stdin takes it, so the
   * stream and the recording end with video as long as their audio, which
   * never waits. Bounded by flushTimeoutMs (an ffmpeg that does not read:
   * a hung ingest); what it did not take by then is dropped and counted.
   * One flush a run: a stop while the run is being finished waits for the same.
   */
  private flushVideo(run: Run): Promise<void> {
    run.flushing ??= this.handOverWaitingVideo(run);
    return run.flushing;
  }

  private async handOverWaitingVideo(run: Run): Promise<void> {
    this.writeWaitingVideo(run);
    if (run.ended || this.waitingVideo(run) === 0) return;
    await new Promise<void>((resolve) => {
      let timer: TimerHandle | null = null;
      const done = (): void => {
        if (timer !== null) this.clearTimeoutFn(timer);
        timer = null;
        run.onFlushed = null;
        resolve();
      };
      timer = this.setTimeoutFn(() => {
        timer = null;
        done();
      }, this.timing.flushTimeoutMs);
      run.onFlushed = done;
      void run.exited.then(done);
    });
    // An ffmpeg that exited meanwhile took the rest with it: onRunEnded counted that.
    const left = run.ended ? 0 : this.waitingVideo(run);
    if (left === 0) return;
    this.framesSkipped += left;
    run.pending = null;
    if (run.h264) run.h264.queue = [];
    this.log(`encoder: ffmpeg did not take the last ${left} video frame${left === 1 ? '' : 's'} within ${this.timing.flushTimeoutMs} ms; dropped`);
  }

  /**
   * Writes one H.264 unit; the first of a run is at 0, the rest at their own
   * time on the media clock (never before the last; at most MAX_VIDEO_AHEAD_MS ahead). Not moved onto a grid of
   * the output rate: a sender a little faster than the rate (a 33 ms timer
   * makes 30.3 a second) would push every unit into the next free slot, and
   * video would fall further behind audio by the minute.
   */
  private writeUnit(run: Run, unit: PendingUnit): void {
    const pts = run.lastPtsMs < 0 ? 0 : Math.max(run.lastPtsMs + 1, Math.round(Math.min(unit.mediaMs, this.mediaNow(run) + MAX_VIDEO_AHEAD_MS)));
    run.lastPtsMs = pts;
    run.lastWriteMs = this.mediaNow(run);
    run.video.write(matroskaFrameHeader(pts, unit.data.byteLength, unit.key));
    if (!run.video.write(unit.data)) run.awaitingDrain = true;
    this.framesWritten += 1;
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
    const bad = firstBadSample(pcm);
    if (bad !== null) {
      // ffmpeg's AAC encoder stops at such input ("Input contains (near) NaN/+-Inf"): the chunk goes, the stream stays.
      throw new EncoderInputError(
        'invalid_audio_chunk',
        `audio chunk has a sample that is ${bad.what} (sample ${bad.index}); the program's audio is f32 PCM around [-1, 1] (at most ±${MAX_SAMPLE_MAGNITUDE})`,
      );
    }
    const run = this.run;
    // A run whose inputs were closed (being finished) takes no more audio.
    if (!run || run.ended || run.audio.writableEnded || pcm.byteLength === 0) return;
    const frames = pcm.byteLength / bytesPerFrame;
    const placement = run.audioTimeline.place(timestampMs, frames, this.mediaNow(run));
    if (placement.silenceFrames > 0) this.writeSilence(run, placement.silenceFrames);
    this.audioTrimmedFrames += placement.skipFrames;
    run.audioSeen = true;
    const keep = frames - placement.skipFrames;
    if (keep > 0 && !this.writeAudio(run, placement.skipFrames === 0 ? pcm : pcm.subarray(placement.skipFrames * bytesPerFrame), keep)) {
      this.dropAudio(run, keep);
    }
  }

  /**
   * Counts audio that ffmpeg left unread; the log says so when it starts (once, not each chunk) and when it ends.
   * Before a run is live (ffmpeg connecting to the ingest reads no input) nothing is on air to lose: the audio
   * dropped then is not counted against the stream, and the log says why.
   */
  private dropAudio(run: Run, frames: number): void {
    const live = this.state === 'live';
    if (run.audioDropped === 0) {
      this.log(
        live
          ? `encoder: ffmpeg has left over ${MAX_AUDIO_BACKLOG_S} s of audio unread; dropping audio until it reads again`
          : `encoder: ffmpeg reads no audio while it connects; the oldest is dropped past ${MAX_AUDIO_BACKLOG_S} s`,
      );
    }
    run.audioDropped += frames;
    if (live) this.audioDroppedFrames += frames;
  }

  /** The end of a stretch of dropped audio (ffmpeg reads again, or it ended): how much of it went, in the log. */
  private endAudioDrop(run: Run, how: string): void {
    if (run.audioDropped === 0) return;
    const ms = Math.round((run.audioDropped * 1000) / (this.opts?.sampleRate ?? 48_000));
    run.audioDropped = 0;
    this.log(`encoder: ${how}; ${ms} ms of audio were dropped since it stopped reading`);
  }

  /** Registers a stats listener; returns its unsubscribe. */
  onStats(listener: (stats: EncoderSessionStats) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  getStats(): EncoderSessionStats {
    const run = this.run;
    return {
      state: this.state,
      encoder: this.encoder,
      encoderNote: this.encoderNote,
      pid: this.pid,
      lastExit: this.lastExit,
      framesIn: this.framesIn,
      framesWritten: this.framesWritten,
      framesRepeated: this.repeatsWritten + this.ffmpegRepeatedBefore + (run?.ffmpegRepeated ?? 0),
      framesDropped: this.framesSkipped + this.ffmpegDroppedBefore + (run?.ffmpegDropped ?? 0),
      framesDroppedInFfmpeg: this.ffmpegDroppedBefore + (run?.ffmpegDropped ?? 0),
      framesDroppedNetwork: this.framesDroppedNetwork,
      audioDroppedMs: this.framesToMs(this.audioDroppedFrames),
      audioFilledMs: this.framesToMs(this.audioFilledFrames),
      audioTrimmedMs: this.framesToMs(this.audioTrimmedFrames),
      fps: this.currentFps(),
      bitrateKbps: this.bitrateKbps,
      speed: this.speed,
      outTimeMs: this.outTimeMs,
      restarts: this.restarts,
      encoderCpuPercent: this.encoderCpuPercent,
      error: this.awaitingVideo ? this.noVideoMessage() : this.error,
      recordingError: this.recordingError,
      recordingFiles: [...this.recordFilesWritten],
    };
  }

  private framesToMs(frames: number): number {
    return Math.round((frames * 1000) / (this.opts?.sampleRate ?? 48_000));
  }

  /**
   * Frames a second put out over the last seconds, as of now (0 while ffmpeg
   * stopped reporting); null until a running ffmpeg's reports span a second.
   */
  private currentFps(): number | null {
    return this.run ? this.run.outputRate.perSecond(this.now()) : 0;
  }

  /**
   * Samples ffmpeg's CPU for the next stats (never throws: unknown stays null). One sample at a
   * time: where a sample starts a program (Windows) and takes over a second on a busy machine,
   * the next tick skips instead of piling samples up beside the encoder.
   */
  private async measureCpu(): Promise<void> {
    if (this.sampling) return;
    const pid = this.pid;
    if (pid === null) {
      this.encoderCpuPercent = null;
      return;
    }
    this.sampling = true;
    // A sample that never answers (a helper program hung) is given up after two ticks: the figure says unknown,
    // and the next tick samples again.
    let timer: TimerHandle | null = null;
    const givenUp = new Promise<'timeout'>((resolve) => {
      timer = this.setTimeoutFn(() => resolve('timeout'), 2 * this.timing.statsIntervalMs);
    });
    try {
      const percent = await Promise.race([this.sampleCpu(pid), givenUp]);
      // A sample of an ffmpeg that has since been replaced says nothing of the one running.
      if (this.pid !== pid) return;
      this.encoderCpuPercent = percent === 'timeout' || percent === null ? null : Math.round(percent);
    } catch {
      this.encoderCpuPercent = null;
    } finally {
      if (timer !== null) this.clearTimeoutFn(timer);
      this.sampling = false;
    }
  }

  /**
   * Ends the stream: closes ffmpeg's inputs so it finishes the stream and the
   * recording, waits for it (kills it after stopTimeoutMs). A run that is not
   * live yet (connecting, or a restart under way) has nothing to finish and
   * is ended at once (SIGTERM, SIGKILL after killGraceMs). Idempotent.
   */
  stop({ now = false }: { now?: boolean } = {}): Promise<void> {
    this.stopping ??= this.stopNow(now);
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
    this.recordFiles = [];
    this.recordFilesWritten = [];
    this.reconnectAttempt = 0;
    this.framesIn = 0;
    this.framesWritten = 0;
    this.repeatsWritten = 0;
    this.framesSkipped = 0;
    this.ffmpegRepeatedBefore = 0;
    this.ffmpegDroppedBefore = 0;
    this.framesDroppedNetwork = 0;
    this.audioDroppedFrames = 0;
    this.audioFilledFrames = 0;
    this.audioTrimmedFrames = 0;
    this.restarts = 0;
    this.lastExit = null;
    this.encoderNote = null;
    this.startResult = null;
    this.chooseEncoderAgain = false;
    this.lastVideoAt = this.now();
    this.awaitingVideo = false;
    this.bitrateKbps = 0;
    this.speed = 0;
    this.outTimeMs = 0;
    this.error = null;
    this.recordingError = null;
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
    const records = opts.recordPath !== undefined && (this.output === 'recording' || this.teeRecording(encoder));
    const recordPath = records && opts.recordPath ? recordPathForPart(opts.recordPath, this.part) : null;
    if (recordPath !== null && !this.recordFiles.includes(recordPath)) this.recordFiles.push(recordPath);
    const args = buildFfmpegArgs(opts, {
      encoder: encoder === RENDERER_ENCODER ? null : encoder,
      recordPath,
      target: this.output === 'recording' ? 'file' : 'stream',
    });
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
    const clock = new SenderClock();
    const run: Run = {
      child,
      video,
      audio,
      parser: new ProgressParser(),
      outputRate: new OutputRate(),
      clock,
      videoClock: new SenderClock(),
      audioTimeline: new AudioTimeline({ sampleRate: opts.sampleRate, clock }),
      stderrTail: [],
      t0: this.now(),
      lastPtsMs: -1,
      lastWriteMs: 0,
      awaitingDrain: false,
      pending: null,
      h264: opts.video === 'h264' ? { headerWritten: false, config: null, waitingForKey: true, queue: [] } : null,
      ffmpegRepeated: 0,
      ffmpegDropped: 0,
      live: false,
      liveSince: null,
      ended: false,
      liveTimer: null,
      exited: new Promise<void>((resolve) => {
        markExited = resolve;
      }),
      lastProgressAt: this.now(),
      stalled: null,
      noVideo: false,
      superseded: null,
      onFlushed: null,
      flushing: null,
      audioDropped: 0,
      audioSeen: false,
      recordPath,
      teeBitrateKbps: null,
      lastFrame: -1,
      lastOutTimeMs: -1,
    };
    this.run = run;

    // ffmpeg closing a pipe (it exited) surfaces as EPIPE on our side: the exit handler reports it.
    video.on('error', () => undefined);
    audio.on('error', () => undefined);
    video.on('drain', () => {
      run.awaitingDrain = false;
      this.writeWaitingVideo(run);
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      for (const update of run.parser.push(chunk)) this.onProgress(run, update);
    });
    // ffmpeg writes a line's "[ctx @ 0x…] " prefix and its message separately: only whole lines are read.
    const stderrLines = new LineBuffer();
    const onStderrLines = (lines: readonly string[]): void => {
      for (const line of lines) {
        const text = redactKey(line.trim(), opts.url);
        if (!text) continue;
        run.stderrTail.push(text);
        if (run.stderrTail.length > STDERR_LINES_KEPT) run.stderrTail.shift();
        this.log(`ffmpeg: ${text}`);
        const recordingFailure = recordPath !== null && this.output === 'stream' ? teeOutputFailure(text) : null;
        if (recordingFailure !== null) this.onRecordingFailed(recordPath!, recordingFailure);
      }
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => onStderrLines(stderrLines.push(chunk)));
    let exitedOnce = false;
    const onEnd = (end: RunEnd): void => {
      if (exitedOnce) return;
      exitedOnce = true;
      onStderrLines(stderrLines.flush());
      run.ended = true;
      markExited();
      this.onRunEnded(run, end);
    };
    child.on('error', (error) => onEnd({ description: `could not run ${ffmpeg.path}: ${error.message}`, short: `could not run: ${error.message}` }));
    child.on('close', (code, signal) =>
      onEnd(
        run.stalled !== null
          ? { description: `ffmpeg ${run.stalled}`, short: run.stalled }
          : signal
            ? { description: `ffmpeg was killed by ${signal}`, short: `killed by ${signal}` }
            : { description: `ffmpeg exited with code ${code}`, short: `exit code ${code}` },
      ),
    );

    run.liveTimer = this.setTimeoutFn(() => {
      run.liveTimer = null;
      if (!run.live && !run.ended) {
        // Name the likely cause: the renderer's encoder never gave a keyframe, or the ingest never took the stream.
        run.stderrTail.push(
          run.h264 && !run.h264.headerWritten
            ? `no keyframe came from the renderer's H.264 encoder within ${this.timing.liveTimeoutMs} ms`
            : this.output === 'recording'
              ? `ffmpeg did not start writing the recording within ${this.timing.liveTimeoutMs} ms`
              : `the ingest did not accept the stream within ${this.timing.liveTimeoutMs} ms (no progress from ffmpeg: is the RTMP address reachable?)`,
        );
        child.kill('SIGKILL');
      }
    }, this.timing.liveTimeoutMs);

    if (run.h264) {
      // The renderer's next keyframe opens the stream (header and first picture at media time 0).
      this.startTicker();
      this.requestKeyframe();
      return;
    }
    // Both inputs start at media time 0: the stream header and a first frame now (the latest one, or black).
    video.write(matroskaVideoHeader(opts.width, opts.height));
    const first = this.latestFrame;
    if (first === null) this.writeFrame(run, this.blackFrame ?? new Uint8Array(0), 0, 'black');
    else this.writeFrame(run, first, 0, this.latestWritten ? 'repeat' : 'new');
    this.startTicker();
  }

  /**
   * ffmpeg gave up the recording and streams on (the tee's onfail=ignore):
   * the stream is fine, the file stops here, and the studio is told so.
   */
  private onRecordingFailed(file: string, reason: string): void {
    this.recordingError = `the recording stopped (${file}): ${reason}; the stream goes on`;
    this.log(`encoder: ${this.recordingError}`);
    this.emitStats();
  }

  private onProgress(run: Run, update: ProgressUpdate): void {
    if (this.run !== run) return;
    // Progress is output moving on (ffmpeg 7 keeps printing reports while its muxer is blocked).
    const frame = update.frame ?? -1;
    const outTime = update.outTimeMs ?? -1;
    if (frame > run.lastFrame || outTime > run.lastOutTimeMs) run.lastProgressAt = this.now();
    run.lastFrame = Math.max(run.lastFrame, frame);
    run.lastOutTimeMs = Math.max(run.lastOutTimeMs, outTime);
    if (update.frame !== null) run.outputRate.add(this.now(), update.frame);
    // N/A before the first packet stays null: there is no figure. ffmpeg says N/A for the whole run when it tees
    // into a recording: the file gets the same packets the stream does, so its size over the output's time is
    // the same average ffmpeg would give (total size / out time), container overhead aside.
    this.bitrateKbps = update.bitrateKbps;
    const outMs = update.outTimeMs;
    // A recording that stopped (its file no longer grows) tells nothing of the stream: its bitrate is then unknown.
    if (update.bitrateKbps === null && run.recordPath !== null && this.recordingError === null && this.output === 'stream' && outMs !== null && outMs > 0) {
      this.bitrateKbps = run.teeBitrateKbps;
      void this.fileSize(run.recordPath).then((bytes) => {
        if (this.run !== run || bytes === null || bytes <= 0) return;
        // bits per millisecond are kilobits per second.
        run.teeBitrateKbps = Math.round((bytes * 8) / outMs);
      });
    }
    if (update.dupFrames !== null) run.ffmpegRepeated = update.dupFrames;
    if (update.dropFrames !== null) run.ffmpegDropped = update.dropFrames;
    if (update.speed !== null) this.speed = update.speed;
    if (update.outTimeMs !== null) this.outTimeMs = update.outTimeMs;
    if (!run.live && update.progress === 'continue' && (update.frame ?? 0) > 0) {
      run.live = true;
      if (run.recordPath !== null && !this.recordFilesWritten.includes(run.recordPath)) this.recordFilesWritten.push(run.recordPath);
      run.liveSince = this.now();
      if (run.liveTimer !== null) this.clearTimeoutFn(run.liveTimer);
      run.liveTimer = null;
      this.error = null;
      if (this.state === 'reconnecting') {
        const what = this.output === 'recording' ? 'the recording is being written again' : 'the stream is live again';
        this.log(`encoder: ffmpeg was restarted and ${what} (restart ${this.restarts}; before it: ${this.lastExit ?? 'unknown'})`);
      }
      // A run that records again (a new part after a restart) ends what a failed recording said: the file goes on.
      if (run.recordPath !== null && this.recordingError !== null) {
        this.log(`encoder: recording again, in ${run.recordPath}`);
        this.recordingError = null;
      }
      if (this.state === 'starting' || this.state === 'reconnecting') this.setState('live');
      const waiter = this.startWaiter;
      this.startWaiter = null;
      if (waiter && this.startResult) waiter.resolve(this.startResult);
    }
  }

  private onRunEnded(run: Run, end: RunEnd): void {
    if (run.liveTimer !== null) this.clearTimeoutFn(run.liveTimer);
    run.liveTimer = null;
    if (this.run !== run) return;
    this.run = null;
    this.ffmpegRepeatedBefore += run.ffmpegRepeated;
    this.ffmpegDroppedBefore += run.ffmpegDropped;
    // Video ffmpeg never took is lost with it: with the stream (it goes down), or at a stop that was handing it over.
    // A raw frame that waited is the latest, which opens the next run: lost only when there is none.
    const lost = (run.h264 ? run.h264.queue.length : 0) + (run.pending && this.state === 'stopping' ? 1 : 0);
    if (this.state === 'stopping') this.framesSkipped += lost;
    else this.framesDroppedNetwork += lost;
    run.pending = null;
    if (run.h264) run.h264.queue = [];
    this.endAudioDrop(run, 'ffmpeg ended');
    this.stopTicker();
    this.bitrateKbps = 0;
    this.speed = 0;
    const tail = run.stderrTail.length > 0 ? `: ${run.stderrTail.slice(-5).join(' | ')}` : '';
    if (this.state === 'stopping') return;
    if (run.live && run.liveSince !== null && this.now() - run.liveSince >= this.timing.healthyAfterMs) this.reconnectAttempt = 0;
    if (run.superseded !== null && (this.state === 'starting' || this.state === 'live' || this.state === 'reconnecting')) {
      // Finished on purpose, for a new run: started at once, without spending a reconnect attempt.
      this.lastExit = `ffmpeg was finished: ${run.superseded}`;
      this.restarts += 1;
      this.part += 1;
      this.spawnRun();
      return;
    }
    if (run.noVideo && (this.state === 'live' || this.state === 'reconnecting')) {
      // Not the ingest's failure: no attempt is spent; the renderer's next unit starts a run.
      if (run.live) this.lastExit = `ffmpeg was finished: ${this.noVideoFor()}`;
      this.awaitingVideo = true;
      this.setState('reconnecting');
      this.emitStats();
      return;
    }
    const encoder = this.encoder;
    const encoderFailed = !run.live && encoder !== null && encoder !== RENDERER_ENCODER ? hardwareEncoderFailure(encoder, run.stderrTail) : null;
    if (encoderFailed !== null && encoder !== null && encoder !== RENDERER_ENCODER && this.ffmpeg) {
      this.markEncoderFailed(this.ffmpeg.path, encoder, encoderFailed);
      this.chooseEncoderAgain = true;
      this.log(`encoder: ${encoder} failed to open (${encoderFailed}); it is left out from now on and the encoder is chosen again`);
      if (this.state === 'starting') {
        void this.retryStartWithoutEncoder(encoder, `${end.description}${tail}`);
        return;
      }
    }
    if (this.state === 'starting') {
      // The sentence a streamer can act on first; ffmpeg's own lines after it, on the next line.
      const why = this.output === 'stream' ? describeIngestFailure(run.stderrTail) : null;
      this.fail(`${why ? `${why}.
` : ''}${end.description}${tail}`);
      return;
    }
    if (this.state === 'live' || this.state === 'reconnecting') {
      // The run that was streaming ended: that is the exit to report. A restart that ended before going live is a failed attempt.
      const what =
        run.stalled !== null
          ? `ffmpeg ${run.stalled}`
          : run.live
            ? `ffmpeg exited unexpectedly (${end.short})`
            : `the restarted ffmpeg exited before going live (${end.short})`;
      if (run.live) this.lastExit = what;
      this.restartAfter(what, tail);
    }
  }

  /**
   * The start's run failed because `failed` would not open: chooses again
   * (without it) and starts a new run; a choice that comes back with the
   * same encoder, or none, fails the start with why.
   */
  private async retryStartWithoutEncoder(failed: H264Encoder, runEnd: string): Promise<void> {
    const chosen = await this.chooseEncoder();
    if (this.state !== 'starting') return;
    if (typeof chosen !== 'string') this.fail(`${runEnd}\n${failed} failed to open, and no other encoder could be chosen: ${chosen.error}`);
    else if (chosen === failed) this.fail(`${runEnd}\n${failed} failed to open, and it is the only encoder that may be used`);
    else this.spawnRun();
  }

  /**
   * Chooses the encoder again (after one failed to open): the new choice goes
   * into the stats, the note and the start result, and the log. Returns the
   * encoder, or why none could be chosen.
   */
  private async chooseEncoder(): Promise<H264Encoder | { error: string }> {
    this.chooseEncoderAgain = false;
    const ffmpeg = this.ffmpeg;
    if (!ffmpeg) return { error: 'no ffmpeg' };
    let selected: H264Encoder | EncoderSelection;
    try {
      selected = await this.selectEncoder(ffmpeg.path);
    } catch (error) {
      this.chooseEncoderAgain = true;
      return { error: (error as Error).message };
    }
    const encoder = typeof selected === 'string' ? selected : selected.encoder;
    if (this.state !== 'starting' && this.state !== 'reconnecting') return encoder;
    const previous = this.encoder;
    this.encoder = encoder;
    this.encoderNote = typeof selected === 'string' ? `chosen again after ${previous ?? 'the encoder'} failed to open` : describeSelection(selected);
    if (this.startResult) this.startResult = { ...this.startResult, encoder, encoderNote: this.encoderNote, encoderSkipped: typeof selected === 'string' ? [] : selected.skipped };
    this.log(`encoder: chose ${encoder}: ${this.encoderNote}`);
    this.emitStats();
    return encoder;
  }

  /** "no video from the renderer's encoder for N s", N counted from its last unit. */
  private noVideoFor(): string {
    return `${NO_VIDEO_FROM_RENDERER} for ${Math.round((this.now() - this.lastVideoAt) / 1000)} s`;
  }

  private noVideoMessage(): string {
    return `${this.noVideoFor()}; the ${this.output} goes on when it sends video again`;
  }

  /**
   * The renderer's H.264 stopped coming: ffmpeg gets the end of its inputs,
   * so it finishes the stream and the recording with what it has (killed
   * when it has not exited after stopTimeoutMs), and the session waits for video.
   */
  private finishForMissingVideo(run: Run): void {
    run.noVideo = true;
    this.log(`encoder: ${this.noVideoMessage()}; finishing ffmpeg until then`);
    this.error = this.noVideoMessage();
    this.finishRun(run, this.timing.stopTimeoutMs);
  }

  /**
   * Closes ffmpeg's inputs (after handing it the video still waiting, see
   * flushVideo) so it finishes its files and exits; SIGKILL when it is still
   * there after waitMs.
   */
  private finishRun(run: Run, waitMs: number): void {
    const close = (): void => {
      run.video.end();
      run.audio.end();
      const killTimer = this.setTimeoutFn(() => {
        if (run.ended) return;
        this.log(`encoder: ffmpeg did not finish within ${waitMs} ms; killing it`);
        run.child.kill('SIGKILL');
      }, waitMs);
      void run.exited.then(() => this.clearTimeoutFn(killTimer));
    };
    this.writeWaitingVideo(run);
    if (this.waitingVideo(run) === 0 && run.flushing === null) close();
    else void this.flushVideo(run).then(close);
  }

  /** The renderer sends video again after it stopped: a new run (which asks for a keyframe to open with). */
  private resumeWithVideo(): void {
    this.awaitingVideo = false;
    this.error = null;
    this.log("encoder: video from the renderer's encoder came again; starting ffmpeg");
    this.restarts += 1;
    this.part += 1;
    this.spawnRun();
  }

  private onRunFailed(message: string): void {
    if (this.state === 'starting') this.fail(message);
    else if (this.state === 'live' || this.state === 'reconnecting') this.restartAfter('ffmpeg could not be restarted', `: ${message}`);
  }

  /**
   * ffmpeg ended while the session should be streaming: restart it after the
   * backoff delay, or give up (state "error") once maxReconnectAttempts
   * restarts in a row have not brought a run that stays live.
   */
  private restartAfter(what: string, tail: string): void {
    if (this.reconnectAttempt >= this.maxReconnectAttempts) {
      const message = `${what}${tail}; gave up after ${this.reconnectAttempt} restarts in a row that did not stay live for ${this.timing.healthyAfterMs / 1000} s`;
      this.log(`encoder: ${message}`);
      this.fail(message);
      return;
    }
    this.error = `${what}${tail}`;
    const delay = this.reconnectDelayMs(this.reconnectAttempt);
    this.log(`encoder: ${what}${tail}; restarting it in ${delay} ms (attempt ${this.reconnectAttempt + 1} of ${this.maxReconnectAttempts})`);
    this.setState('reconnecting');
    this.scheduleReconnect(delay);
  }

  private scheduleReconnect(delay: number): void {
    this.reconnectAttempt += 1;
    this.reconnectTimer = this.setTimeoutFn(() => {
      this.reconnectTimer = null;
      if (this.state !== 'reconnecting') return;
      this.restarts += 1;
      this.part += 1;
      if (!this.chooseEncoderAgain) {
        this.spawnRun();
        return;
      }
      void this.chooseEncoder().then((chosen) => {
        if (this.state !== 'reconnecting') return;
        if (typeof chosen === 'string') this.spawnRun();
        else this.restartAfter('the encoder could not be chosen again', `: ${chosen.error}`);
      });
    }, delay);
  }

  private fail(message: string): void {
    this.error = message;
    this.stopTicker();
    this.clearStatsTimer();
    this.setState('error');
    const waiter = this.startWaiter;
    this.startWaiter = null;
    waiter?.reject(new EncoderStartError('ffmpeg_exited', `The ${this.output} did not start: ${message}`));
  }

  /** `now`: what ffmpeg wrote is not wanted (a recording being discarded), so it is not waited for. */
  private async stopNow(now: boolean): Promise<void> {
    if (this.state === 'idle' || this.state === 'stopped' || this.state === 'error') {
      this.clearStatsTimer();
      if (this.state !== 'idle') this.setState('stopped');
      return;
    }
    this.awaitingVideo = false;
    this.setState('stopping');
    if (this.reconnectTimer !== null) this.clearTimeoutFn(this.reconnectTimer);
    this.reconnectTimer = null;
    const waiter = this.startWaiter;
    this.startWaiter = null;
    waiter?.reject(new EncoderStartError('stopped', 'the encoder was stopped before the stream went live'));
    this.stopTicker();
    const run = this.run;
    if (run && !run.ended) {
      // A run that never went live may sit in connect() to an unreachable ingest for its whole network timeout:
      // nothing of it is on air, nor in a recording (the tee opens the stream first), so it is not waited for.
      const graceful = !now && (run.live || (this.opts?.recordPath !== undefined && (run.lastFrame > 0 || run.lastOutTimeMs > 0)));
      // What ffmpeg is to finish with includes the video still waiting for its stdin.
      if (graceful && (this.waitingVideo(run) > 0 || run.flushing !== null)) await this.flushVideo(run);
      run.video.end();
      run.audio.end();
      if (!graceful) run.child.kill('SIGTERM');
      const waitMs = graceful ? this.timing.stopTimeoutMs : this.timing.killGraceMs;
      let killTimer: TimerHandle | null = this.setTimeoutFn(() => {
        killTimer = null;
        this.log(`encoder: ffmpeg did not finish within ${waitMs} ms; killing it`);
        run.child.kill('SIGKILL');
      }, waitMs);
      await run.exited;
      if (killTimer !== null) this.clearTimeoutFn(killTimer);
    }
    this.run = null;
    this.clearStatsTimer();
    this.setState('stopped');
  }

  // ---- timing ----

  private startTicker(): void {
    this.stopTicker();
    this.tickTimer = this.setIntervalFn(() => {
      if (this.run) this.tick(this.run);
    }, this.timing.tickMs);
  }

  private stopTicker(): void {
    if (this.tickTimer !== null) this.clearIntervalFn(this.tickTimer);
    this.tickTimer = null;
  }

  private mediaNow(run: Run): number {
    return this.now() - run.t0;
  }

  /** Keeps video from standing still and audio from falling behind the media clock. */
  private tick(run: Run): void {
    if (run.ended || run.noVideo || run.superseded !== null || this.state === 'stopping') return;
    if (run.h264 && this.state !== 'starting' && this.now() - this.lastVideoAt >= this.timing.stallTimeoutMs) {
      this.finishForMissingVideo(run);
      return;
    }
    if (run.live && run.stalled === null && this.now() - run.lastProgressAt >= this.timing.stallTimeoutMs) {
      const blocked = this.output === 'recording' ? 'the recording stopped being written' : 'the ingest stopped taking the stream';
      run.stalled = `stalled: no progress for ${Math.round((this.now() - run.lastProgressAt) / 1000)} s (${blocked})`;
      this.log(`encoder: ffmpeg ${run.stalled}; ending it to reconnect`);
      run.child.kill('SIGKILL');
      return;
    }
    const mediaNow = this.mediaNow(run);
    // The renderer's encoder repeats its last picture itself (a copied stream cannot repeat a delta frame).
    if (!run.h264 && !run.awaitingDrain && mediaNow - run.lastWriteMs >= this.timing.idleRepeatMs) {
      // In an output slot after the last frame's, which may lie ahead of now (video that travels faster than audio):
      // in the same slot ffmpeg would drop one of the two, and the output would not move on.
      const latest = this.latestFrame;
      if (latest === null) this.writeFrame(run, this.blackFrame ?? new Uint8Array(0), mediaNow, 'black', true);
      else this.writeFrame(run, latest, mediaNow, this.latestWritten ? 'repeat' : 'new', true);
    }
    const silence = run.audioTimeline.fill(mediaNow);
    if (silence > 0) this.writeSilence(run, silence);
  }

  /**
   * Writes one frame shown from `mediaMs` on. The first frame of a run is at 0;
   * later ones get half an output frame added: ffmpeg's constant-rate output
   * shows a frame from the last output slot that starts at or before its
   * timestamp, and the half frame makes that the nearest slot (measured with
   * ffmpeg 5.1: placement error −18…+14 ms instead of −36…0 ms). A frame
   * may lie ahead of now (up to MAX_VIDEO_AHEAD_MS): see there. `nextSlot`
   * puts it in an output slot after the last frame's.
   */
  private writeFrame(run: Run, frame: Uint8Array, mediaMs: number, kind: 'new' | 'repeat' | 'black', nextSlot = false): void {
    const opts = this.opts;
    if (!opts) return;
    const mediaNow = this.mediaNow(run);
    const halfSlotMs = 500 / opts.fps;
    const after = nextSlot ? Math.ceil(1000 / opts.fps) : 1;
    const pts = run.lastPtsMs < 0 ? 0 : Math.max(run.lastPtsMs + after, Math.round(Math.min(mediaMs, mediaNow + MAX_VIDEO_AHEAD_MS) + halfSlotMs));
    run.lastPtsMs = pts;
    run.lastWriteMs = mediaNow;
    run.video.write(matroskaFrameHeader(pts, frame.byteLength));
    if (!run.video.write(frame)) run.awaitingDrain = true;
    if (kind === 'new') this.framesWritten += 1;
    else if (kind === 'repeat') this.repeatsWritten += 1;
    if (frame === this.latestFrame) this.latestWritten = true;
  }

  private writeSilence(run: Run, frames: number): void {
    const bytesPerFrame = this.opts ? 4 * this.opts.channels : 8;
    let left = frames;
    while (left > 0) {
      const n = Math.min(left, this.silence.byteLength / bytesPerFrame);
      if (!this.writeAudio(run, this.silence.subarray(0, n * bytesPerFrame), n)) return;
      // Once the program's audio has started, silence stands in for audio that did not come in time.
      if (run.audioSeen) this.audioFilledFrames += n;
      left -= n;
    }
  }

  /** Writes PCM to fd 3 without waiting; returns false when ffmpeg has stopped reading audio and the chunk was dropped. */
  private writeAudio(run: Run, bytes: Uint8Array, frames: number): boolean {
    const opts = this.opts;
    if (!opts) return false;
    if (run.audio.writableLength > MAX_AUDIO_BACKLOG_S * opts.sampleRate * 4 * opts.channels) return false;
    this.endAudioDrop(run, 'ffmpeg reads audio again');
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

/** CPU of a process (any platform) since pidusage's previous sample of it. */
async function sampleProcessCpu(pid: number): Promise<number | null> {
  const stat = await pidusage(pid);
  return Number.isFinite(stat.cpu) ? stat.cpu : null;
}

function isWritable(stream: Readable | Writable | null | undefined): stream is Writable {
  return stream !== null && stream !== undefined && typeof (stream as Writable).write === 'function' && typeof (stream as Writable).end === 'function';
}

/** Whether two byte arrays hold the same bytes (an avcC against the run's). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
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
