/**
 * The host's program: participants → compositor (video, in a worker) and
 * mixer (audio, on the page) → NativeBridge → encoder.
 *
 * Video never goes through <video> elements: each participant's track is read
 * as VideoFrames (MediaStreamTrackProcessor) and the frame stream is handed to
 * the program worker (programWorker.ts), which composites on the studio
 * canvas's OffscreenCanvas on its own 30 Hz clock and, while live, sends I420
 * frames to the bridge — directly to the bridge's worker when it offers a
 * port. The page only tells the worker what changed.
 */
import type { EncoderChoice, EncoderStartInput, EncoderStartResult, EncoderStats, NativeBridge } from '../../../shared/bridge';
import { AppError } from '../../../shared/errors';
import type { ProgramLayoutKind } from '../../../shared/layout';
import { AudioMixer } from './AudioMixer';
import { drawAvatarTile } from './avatarTile';
import { reconnectEncoder } from './encoderReconnect';
import { canEncodeH264 } from './ProgramEncoder';
import type { FrameCount } from './frameAudit';
import type { CompositorMode, FromProgramWorker, ToProgramWorker, WorkerBusyMs } from './programWorker';

/** Chromium's MediaStreamTrackGenerator: a track fed with VideoFrames (its writable can go to a worker). */
declare const MediaStreamTrackGenerator: { new (init: { kind: 'video' }): MediaStreamTrack & { writable: WritableStream<VideoFrame> } } | undefined;

/** Chromium's MediaStreamTrackProcessor (not in TypeScript's DOM types). */
declare const MediaStreamTrackProcessor: {
  new (init: { track: MediaStreamTrack; maxBufferSize?: number }): { readable: ReadableStream<VideoFrame> };
} | undefined;

export class ProgramError extends AppError {}

const COMPOSITOR_MODES: readonly CompositorMode[] = ['auto', 'gpu', 'cpu'];
/** The same problem is told to the session again only after this long (a worker may fail on every tick). */
const PROBLEM_REPEAT_MS = 30_000;
/** How long dispose waits for the worker to let go (it waits up to 2 s for its camera streams to end). */
const DISPOSE_TIMEOUT_MS = 3000;

/** The studio's `?compositor=` choice (absent → auto); anything else is a clear error. */
export function parseCompositorMode(value: string | null | undefined): CompositorMode {
  if (value === null || value === undefined || value === '') return 'auto';
  if ((COMPOSITOR_MODES as readonly string[]).includes(value)) return value as CompositorMode;
  throw new ProgramError('compositor_mode', `unknown compositor "${value}": use ${COMPOSITOR_MODES.join(', ')}`);
}

export interface Participant {
  id: string;
  label: string;
  stream: MediaStream;
  /** Camera off (by the guest or the host): the avatar tile is shown instead. */
  cameraOn?: boolean;
  /** Mic off: the participant is left out of the program audio. */
  micOn?: boolean;
  /** Gain in the program mix, 0..2. */
  volume?: number;
}

export interface BroadcastOptions {
  publishUrl: string;
  width: number;
  height: number;
  fps: number;
  videoBitrateKbps?: number;
  /** A copy of the program on this computer too, in this container. */
  record?: 'mkv' | 'mp4' | null;
}

/** A bridge that can take media straight from a worker (the browser studio's WebSocket bridge). */
interface PortBridge extends NativeBridge {
  mediaPort(): MessagePort;
}
const hasMediaPort = (bridge: NativeBridge): bridge is PortBridge => typeof (bridge as Partial<PortBridge>).mediaPort === 'function';

/** A bridge whose connection can close under a show and be opened again by the next request (the browser studio's WebSocket). */
interface ClosableBridge extends NativeBridge {
  onClosed(listener: (error: Error) => void): () => void;
}
const isClosable = (bridge: NativeBridge): bridge is ClosableBridge => typeof (bridge as Partial<ClosableBridge>).onClosed === 'function';

/** Attempts to start the encoder again after its connection closed mid-show, and the pause before each (the first at once). */

export class Broadcaster {
  /** The program preview; the worker draws into it (GPU compositor). */
  readonly canvas: HTMLCanvasElement;
  /** The program preview as video (CPU compositor): the worker writes each new picture into its track. */
  private previewVideo: HTMLVideoElement | null = null;
  private previewTrack: MediaStreamTrack | null = null;
  private readonly worker: Worker;
  private mixer: AudioMixer | null = null;
  /** What each participant's source shows now: `track:<id>`, `avatar:<label>` or '' (nothing yet). */
  private readonly feeds = new Map<string, string>();
  /**
   * The clone of each participant's camera track the worker reads. Stopping it
   * when the source changes ends the worker's frame stream, which then closes
   * the frames still on their way (cancelling the stream would drop them
   * unclosed, for the garbage collector to find).
   */
  private readonly readTracks = new Map<string, MediaStreamTrack>();

  private stopReadTrack(id: string): void {
    this.readTracks.get(id)?.stop();
    this.readTracks.delete(id);
  }
  private readonly avatarCanvas = document.createElement('canvas');
  /** Audio track ids fed to the mixer per participant (a remote stream gains its audio track after its video). */
  private readonly mixed = new Map<string, string>();
  /** Streams whose track changes re-run setParticipants. */
  private readonly watched = new WeakSet<MediaStream>();
  /** Ends the track listeners on the streams watched (a disposed broadcaster is not kept alive by a camera stream). */
  private readonly unwatch = new AbortController();
  private participants: Participant[] = [];
  private layout: { kind: ProgramLayoutKind; focusId: string | null } = { kind: 'grid', focusId: null };
  private unsubscribeStats: (() => void) | null = null;
  private live = false;
  private disposed = false;
  framesSent = 0;
  framesSkipped = 0;
  /** Of framesSkipped, the slots whose GPU readback could not start (rendering fell behind, not the encoder). */
  readbacksSkipped = 0;
  /** Pictures the renderer's H.264 encoder sent again because nothing new came (frames lagged by rendering). */
  framesRepeated = 0;
  /** framesRepeated when the native encoder of the moment started (a restarted one counts from 0). */
  private repeatsBefore = 0;
  /** The repeats sent to the native encoder of the moment, whose own counters started with it. */
  get framesRepeatedThisEncoder(): number {
    return Math.max(0, this.framesRepeated - this.repeatsBefore);
  }
  /** Slots of the output rate since going live, and those the program's clock did not serve in time (frames lagged by rendering). */
  outputSlots = 0;
  framesLagged = 0;
  /** Where the program's H.264 is made, once live. */
  encoderChoice: EncoderChoice | null = null;
  private unsubscribeKeyframe: (() => void) | null = null;
  /** Frames the CPU compositor gave up reading (a copy that did not settle). */
  copyTimeouts = 0;
  /** Frames the CPU compositor could not read (the copy failed): that source kept its previous picture. */
  copyFailures = 0;
  lastRenderMs = 0;
  /** Where the program worker's time went (totals, ms). */
  busyMs: WorkerBusyMs | null = null;
  /** The last error the program worker reported, if any. */
  lastError: string | null = null;
  /**
   * Hears what went wrong with the program while the studio runs, in words
   * for the streamer (an encoder that was restarted, a program's video that
   * stopped, a compositor that changed): the session shows it. The same
   * message again within PROBLEM_REPEAT_MS is not repeated.
   */
  onProblem: ((message: string) => void) | null = null;
  /** The recording goes on in another file (the encoder was started again after its connection closed). */
  onRecordingFile: ((file: string) => void) | null = null;
  private lastProblem = { message: '', atMs: Number.NEGATIVE_INFINITY };
  /** Where the program is composited, once the worker has chosen, and the WebGL renderer it saw. */
  compositor: { mode: 'gpu' | 'cpu'; renderer: string } | null = null;
  /** Settles once the worker has a compositor running, or rejects when it could not start one. */
  private readonly ready: Promise<{ mode: 'gpu' | 'cpu'; renderer: string }>;
  private onReady: (c: { mode: 'gpu' | 'cpu'; renderer: string }) => void = () => {};
  private onFailed: (error: Error) => void = () => {};
  private started = false;
  private disposeDone: Promise<void> | null = null;
  /** With `auditFrames`: the camera frames the worker received and those not closed (yet while it runs; left unclosed once it disposed). */
  frameAudit: FrameCount | null = null;
  private onWorkerDisposed: () => void = () => {};

  constructor(
    container: HTMLElement,
    private readonly bridge: NativeBridge,
    readonly width = 1280,
    readonly height = 720,
    readonly fps = 30,
    private readonly log: (message: string) => void = console.error,
    mode: CompositorMode = 'auto',
    options: { auditFrames?: boolean } = {},
  ) {
    if (typeof MediaStreamTrackProcessor === 'undefined' || typeof HTMLCanvasElement.prototype.transferControlToOffscreen !== 'function') {
      throw new ProgramError(
        'program_unsupported',
        'This browser cannot composite the program (it lacks MediaStreamTrackProcessor or OffscreenCanvas). Use the desktop app or a current Chromium-based browser.',
      );
    }
    this.ready = new Promise((resolve, reject) => {
      this.onReady = resolve;
      this.onFailed = reject;
    });
    // Whoever waits on it hears the failure; the studio does not need to wait to be told.
    this.ready.catch(() => {});
    this.canvas = document.createElement('canvas');
    this.canvas.dataset.testid = 'program';
    this.canvas.width = width;
    this.canvas.height = height;
    container.append(this.canvas);
    const offscreen = this.canvas.transferControlToOffscreen();
    this.worker = new Worker(new URL('./programWorker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (event: MessageEvent<FromProgramWorker>) => this.onWorkerMessage(event.data);
    this.worker.onerror = (event) => {
      this.lastError = `the program worker failed: ${event.message}`;
      this.log(this.lastError);
      if (this.disposed) return;
      if (!this.started) this.failStart(event.message);
      else this.problem(`The program's compositor failed (${event.message}); the program may be frozen. End the stream and go live again.`);
    };
    this.post({ type: 'init', canvas: offscreen, width, height, fps, pageTimeOrigin: performance.timeOrigin, mode, auditFrames: options.auditFrames }, [offscreen]);
  }

  private post(msg: ToProgramWorker, transfer: Transferable[] = []): void {
    if (!this.disposed) this.worker.postMessage(msg, transfer);
  }

  private onWorkerMessage(msg: FromProgramWorker): void {
    switch (msg.type) {
      case 'stats':
        this.framesSent = msg.framesSent;
        this.framesSkipped = msg.framesSkipped;
        this.readbacksSkipped = msg.readbacksSkipped;
        this.framesRepeated = msg.framesRepeated;
        this.framesLagged = msg.framesLagged;
        this.outputSlots = msg.outputSlots;
        this.lastRenderMs = msg.renderMs;
        this.busyMs = msg.busyMs;
        if (msg.frames) this.frameAudit = msg.frames;
        if (msg.copyTimeouts > this.copyTimeouts) this.log(`program: ${msg.copyTimeouts - this.copyTimeouts} camera frame(s) could not be read in time and were skipped`);
        this.copyTimeouts = msg.copyTimeouts;
        if (msg.copyFailures > this.copyFailures) this.log(`program: ${msg.copyFailures - this.copyFailures} camera frame(s) could not be read (${msg.lastCopyError}) and were skipped`);
        this.copyFailures = msg.copyFailures;
        return;
      case 'frame':
        if (this.live) this.bridge.send(msg.kind === 'h264' ? 'encoder:h264' : 'encoder:video', msg.payload, msg.timestampMs);
        // The worker keeps only a couple of raw pictures waiting on this page: this one has gone on.
        if (msg.kind === 'video') this.post({ type: 'frameSent' });
        return;
      case 'error':
        this.lastError = msg.message;
        this.log(`program: ${msg.message}`);
        this.problem(msg.message);
        return;
      case 'ready': {
        // Again when the compositor changed while running (a GPU context that was lost).
        const changed = this.started && this.compositor !== null && this.compositor.mode !== msg.mode;
        this.started = true;
        this.compositor = { mode: msg.mode, renderer: msg.renderer };
        // A track captured from the old compositor (the GPU one's canvas) gets no more pictures: its users take a new one.
        if (changed) this.onCompositorChanged?.(this.compositor);
        if (msg.mode === 'cpu' && !this.previewVideo) this.showPreviewAsVideo();
        this.onReady(this.compositor);
        this.log(`program compositor: ${msg.mode === 'cpu' ? 'CPU (I420)' : 'GPU (WebGL2)'} — WebGL renderer: ${msg.renderer}${msg.note ? ` (${msg.note})` : ''}`);
        return;
      }
      case 'fatal':
        this.failStart(msg.message);
        return;
      case 'disposed':
        this.frameAudit = msg.frames ?? null;
        this.onWorkerDisposed();
        return;
    }
  }

  /** The worker could not start a compositor: whoever waits for the program (capture, go-live) gets this error. */
  private failStart(cause: string): void {
    const error = new ProgramError('program_unavailable', `The program could not start: ${cause}. Reload the studio; if it happens again, restart the app.`);
    this.lastError = error.message;
    this.log(`program: ${error.message}`);
    this.onFailed(error);
    this.problem(error.message);
  }

  /** Tells the session (onProblem), once for a run of the same message (a failure every tick is one problem). */
  private problem(message: string): void {
    const now = performance.now();
    if (message === this.lastProblem.message && now - this.lastProblem.atMs < PROBLEM_REPEAT_MS) return;
    this.lastProblem = { message, atMs: now };
    this.onProblem?.(message);
  }

  /** The compositor changed while running (a lost GPU context): a program track captured before shows nothing new (see captureProgram). */
  onCompositorChanged?: (compositor: { mode: 'gpu' | 'cpu'; renderer: string }) => void;

  /** Program audio level per participant (dBFS), empty until live. */
  audioLevels(): Record<string, number> {
    return this.mixer?.levels() ?? {};
  }

  /**
   * The program picture as a track, sent back to guests. With the CPU
   * compositor the worker writes each new picture (the frame it also encodes
   * and previews) straight into a generated track: no canvas capture, no
   * colour conversion, no copy; each guest's sender scales it to its cap.
   * Otherwise the canvas is captured. Throws the worker's ProgramError when
   * no compositor could start.
   */
  async captureProgram(fps = 30): Promise<MediaStreamTrack | null> {
    await this.ready;
    // The compositor now running: a GPU one whose context was lost has given way to the CPU one.
    const mode = this.compositor?.mode ?? 'cpu';
    if (mode === 'cpu' && typeof MediaStreamTrackGenerator === 'function') {
      const track = new MediaStreamTrackGenerator({ kind: 'video' });
      this.post({ type: 'return', writable: track.writable, fps }, [track.writable as unknown as Transferable]);
      return track;
    }
    return this.canvas.captureStream(fps).getVideoTracks()[0] ?? null;
  }

  /**
   * With the CPU compositor the preview is a <video> of a generated track the
   * worker writes each picture into (in the canvas's place): the page's
   * compositor converts it for display as it does any video, which costs far
   * less than drawing each picture on a canvas where GL is software-rendered.
   * Without MediaStreamTrackGenerator the worker keeps drawing on the canvas.
   */
  private showPreviewAsVideo(): void {
    if (this.disposed || typeof MediaStreamTrackGenerator !== 'function') return;
    const track = new MediaStreamTrackGenerator({ kind: 'video' });
    const video = document.createElement('video');
    video.dataset.testid = 'program-preview';
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.srcObject = new MediaStream([track]);
    this.canvas.after(video);
    this.canvas.hidden = true;
    this.previewVideo = video;
    this.previewTrack = track;
    this.post({ type: 'preview', writable: track.writable }, [track.writable as unknown as Transferable]);
    void video.play().catch((err: Error) => this.log(`program preview: ${err.message}`));
  }

  /** Sets who is on the program, in order (host first), with their camera, mic and volume. */
  setParticipants(participants: Participant[]): void {
    const ids = new Set(participants.map((p) => p.id));
    for (const id of [...this.feeds.keys()]) {
      if (ids.has(id)) continue;
      this.post({ type: 'remove', id });
      this.stopReadTrack(id);
      this.mixer?.removeInput(id);
      this.feeds.delete(id);
      this.mixed.delete(id);
    }
    for (const p of participants) {
      this.watch(p.stream);
      this.feedVideo(p);
      this.feedMixer(p);
    }
    this.participants = participants;
    this.sendLayout();
  }

  /** A remote stream gains its tracks one by one, a device switch replaces one: follow them. */
  private watch(stream: MediaStream): void {
    if (this.watched.has(stream)) return;
    this.watched.add(stream);
    const refresh = () => {
      if (!this.disposed && this.participants.some((p) => p.stream === stream)) this.setParticipants(this.participants);
    };
    stream.addEventListener('addtrack', refresh, { signal: this.unwatch.signal });
    stream.addEventListener('removetrack', refresh, { signal: this.unwatch.signal });
  }

  /** Points the participant's source at their camera's frames, or at their avatar tile when the camera is off. */
  private feedVideo(p: Participant): void {
    const track = p.stream.getVideoTracks().find((t) => t.readyState === 'live');
    const want = p.cameraOn === false ? `avatar:${p.label}` : track ? `track:${track.id}` : '';
    if (this.feeds.get(p.id) === want) return;
    this.feeds.set(p.id, want);
    this.stopReadTrack(p.id);
    if (want === '') {
      this.post({ type: 'remove', id: p.id });
    } else if (want.startsWith('track:')) {
      const read = track!.clone();
      // A copy keeps the original's enabled flag: one made from a camera switched off a moment ago would read black frames.
      // The program shows the avatar while a camera is off, so the copy it reads is always on.
      read.enabled = true;
      this.readTracks.set(p.id, read);
      const frames = new MediaStreamTrackProcessor!({ track: read, maxBufferSize: 1 }).readable;
      this.post({ type: 'track', id: p.id, frames }, [frames as unknown as Transferable]);
    } else {
      drawAvatarTile(this.avatarCanvas, p.label);
      void createImageBitmap(this.avatarCanvas).then(
        (bitmap) => {
          if (!this.disposed && this.feeds.get(p.id) === want) this.post({ type: 'image', id: p.id, bitmap }, [bitmap]);
          else bitmap.close();
        },
        (e: Error) => this.log(`avatar tile for ${p.label} could not be made: ${e.message}`),
      );
    }
  }

  /** (Re)connects a participant's audio to the mix when its track changed, and applies mic and volume. */
  private feedMixer(p: Participant): void {
    if (!this.mixer) return;
    const trackIds = p.stream
      .getAudioTracks()
      .map((t) => t.id)
      .join(',');
    if (this.mixed.get(p.id) !== trackIds) {
      this.mixer.setInput(p.id, p.stream);
      this.mixed.set(p.id, trackIds);
    }
    this.mixer.setGain(p.id, p.micOn === false ? 0 : (p.volume ?? 1));
  }

  /** Chooses the program layout live; `focusId` is the spotlighted participant. */
  setLayout(kind: ProgramLayoutKind, focusId: string | null = null): void {
    this.layout = { kind, focusId };
    this.sendLayout();
  }

  private sendLayout(): void {
    this.post({ type: 'layout', kind: this.layout.kind, focusId: this.layout.focusId, order: this.participants.map((p) => p.id) });
  }

  /**
   * Starts the stream. The native side first chooses where the H.264 is made
   * (its hardware encoder, else this renderer's when it can, else libx264);
   * when it is made here the worker starts encoding before the encoder starts,
   * since the stream opens on the first keyframe.
   */
  async goLive(opts: BroadcastOptions, onStats: (stats: EncoderStats) => void): Promise<EncoderStartResult> {
    // A program that could not start fails the go-live here, before anything goes on air.
    await this.ready;
    const videoBitrateKbps = opts.videoBitrateKbps ?? 3000;
    const rendererH264 = await canEncodeH264(opts.width, opts.height, opts.fps, videoBitrateKbps);
    const choice = await this.bridge.invoke('encoder:choose', { rendererH264 });
    this.encoderChoice = choice;
    this.log(`program encoder: ${choice.encoder} (${choice.note})`);
    if (choice.video === 'h264') {
      this.unsubscribeKeyframe = this.bridge.on('encoder:keyframe', () => this.post({ type: 'keyframe' }));
      this.live = true;
      this.startWorkerOutput('h264', videoBitrateKbps);
    }
    const startOptions: EncoderStartInput = {
      url: opts.publishUrl,
      width: opts.width,
      height: opts.height,
      fps: opts.fps,
      videoBitrateKbps,
      audioBitrateKbps: 128,
      video: choice.video,
      ...(opts.record ? { record: opts.record } : {}),
    };
    let result: EncoderStartResult;
    try {
      result = await this.bridge.invoke('encoder:start', startOptions);
    } catch (err) {
      this.live = false;
      this.post({ type: 'live', on: false });
      this.unsubscribeKeyframe?.();
      this.unsubscribeKeyframe = null;
      throw err;
    }
    this.unsubscribeStats = this.bridge.on('encoder:stats', onStats);
    this.startOptions = startOptions;
    this.repeatsBefore = this.framesRepeated;
    this.unsubscribeClosed?.();
    this.unsubscribeClosed = isClosable(this.bridge) ? this.bridge.onClosed((error) => void this.restartAfterBridgeLoss(error)) : null;
    try {
      const mixer = new AudioMixer();
      this.mixer = mixer;
      this.mixed.clear();
      for (const p of this.participants) this.feedMixer(p);
      // The mix goes from the audio worklet straight to the bridge's worker where the bridge has one.
      await mixer.start(
        (chunk) => {
          if (this.live) this.bridge.send('encoder:audio', chunk.pcm, chunk.timestampMs);
        },
        undefined,
        hasMediaPort(this.bridge) ? this.bridge.mediaPort() : undefined,
      );
    } catch (err) {
      // ffmpeg is running by now: it must not go on publishing a program with no sound.
      await this.stop().catch((e: Error) => this.log(`encoder stop after a failed start: ${e.message}`));
      throw new ProgramError('program_audio', `The program's sound could not start: ${(err as Error).message}`);
    }
    if (choice.video === 'i420') {
      this.live = true;
      this.startWorkerOutput('i420', videoBitrateKbps);
    }
    return result;
  }

  /** Tells the worker to hand program frames on (raw, or encoded there), straight to the bridge's worker where it can. */
  private startWorkerOutput(video: 'i420' | 'h264', bitrateKbps: number): void {
    if (hasMediaPort(this.bridge)) {
      const port = this.bridge.mediaPort();
      this.post({ type: 'live', on: true, port, video, bitrateKbps }, [port]);
    } else {
      this.post({ type: 'live', on: true, video, bitrateKbps });
    }
  }

  /** What the encoder was started with, while live (the same start is made again after a bridge loss). */
  private startOptions: EncoderStartInput | null = null;
  private unsubscribeClosed: (() => void) | null = null;
  /** The show whose encoder is being started again (one restart loop a show: a loop left from the last show does not block this one's). */
  private restarting: EncoderStartInput | null = null;

  /**
   * The bridge's connection closed mid-show (the browser studio's socket).
   * The studio server keeps the broadcast for a few seconds for this page to
   * come back: the first request reopens the connection, and when the
   * encoder this page started still runs there (`encoder:resume`), the show
   * goes on with it: the same ingest connection, the same recording. Else
   * (the server stopped it, or it is another server) the encoder is started
   * again with the same options, a few times with growing pauses
   * (encoderReconnect.ts). The program, its audio and the media ports are all still here; the
   * streamer is told either way. With the renderer encoding, the encoder
   * gets a keyframe first (what it had of the group of pictures was lost).
   */
  private async restartAfterBridgeLoss(error: Error): Promise<void> {
    // A show under way, also before its media flows (the socket may close while the sound starts): not only once live.
    if (!this.startOptions || this.restarting === this.startOptions) return;
    const options = this.startOptions;
    this.restarting = options;
    this.problem(`${error.message.replace(/\.$/, '')}: connecting to it again`);
    try {
      const outcome = await reconnectEncoder({
        bridge: this.bridge,
        options,
        wanted: () => this.startOptions === options,
        log: (m) => this.log(m),
      });
      if (outcome.kind === 'cancelled') return;
      if (outcome.kind === 'failed') {
        this.problem(`The stream could not be started again after the connection to the encoder closed (${outcome.last}). End live, then go live again`);
        return;
      }
      // The encoder has no usable picture from before (a new run, or H.264 units lost on the way): a still program
      // would stay black or broken there until something changed.
      this.post({ type: 'keyframe' });
      if (outcome.kind === 'resumed') {
        this.log(`the connection to the encoder came back; its stream went on (${outcome.result.encoder})`);
        this.problem('The connection to the encoder came back: the stream went on');
        return;
      }
      this.log(`encoder started again after its connection closed (${outcome.result.encoder})`);
      // Its counters start at 0: so do the repeats held against them.
      this.repeatsBefore = this.framesRepeated;
      const file = outcome.result.recordingPath ?? null;
      if (file) this.onRecordingFile?.(file);
      this.problem(`The connection to the encoder came back: the stream started again${file ? `; the recording goes on in ${file}` : ''}`);
    } finally {
      if (this.restarting === options) this.restarting = null;
    }
  }

  async stop(): Promise<void> {
    this.startOptions = null;
    this.unsubscribeClosed?.();
    this.unsubscribeClosed = null;
    this.live = false;
    this.post({ type: 'live', on: false });
    this.unsubscribeKeyframe?.();
    this.unsubscribeKeyframe = null;
    const mixer = this.mixer;
    this.mixer = null;
    // The sound's end failing (its AudioContext would not close) must not keep ffmpeg publishing.
    await mixer?.dispose().catch((e: Error) => this.log(`program sound did not close: ${e.message}`));
    try {
      await this.bridge.invoke('encoder:stop');
    } finally {
      // Heard until the encoder has stopped: its last stats say so (the studio would otherwise keep showing it live).
      this.unsubscribeStats?.();
      this.unsubscribeStats = null;
    }
  }

  /**
   * Ends the program. The worker is terminated once it says it has let
   * everything go (its GL objects, and the camera streams it reads, which end
   * as their tracks are stopped here: a worker terminated while a frame waits
   * in one leaves that frame to the garbage collector), or after
   * DISPOSE_TIMEOUT_MS when it does not answer. Resolves once it is gone.
   */
  dispose(): Promise<void> {
    if (this.disposeDone) return this.disposeDone;
    this.post({ type: 'dispose' });
    this.disposed = true;
    this.unwatch.abort();
    this.live = false;
    this.startOptions = null;
    this.unsubscribeClosed?.();
    this.unsubscribeClosed = null;
    void this.mixer?.dispose();
    this.mixer = null;
    const worker = this.worker;
    this.disposeDone = new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.onWorkerDisposed(), DISPOSE_TIMEOUT_MS);
      this.onWorkerDisposed = () => {
        clearTimeout(timer);
        this.onWorkerDisposed = () => {};
        worker.terminate();
        resolve();
      };
    });
    this.canvas.remove();
    this.previewTrack?.stop();
    this.previewVideo?.remove();
    for (const id of [...this.readTracks.keys()]) this.stopReadTrack(id);
    return this.disposeDone;
  }
}
