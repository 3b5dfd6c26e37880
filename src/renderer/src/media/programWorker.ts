/// <reference lib="webworker" />
/**
 * The program compositor off the page's main thread. It owns the WebGL2
 * Compositor on the studio canvas's OffscreenCanvas, reads each participant's
 * video as VideoFrames (streams from MediaStreamTrackProcessor, transferred
 * here), lays the sources out, renders on its own 30 Hz clock and, while live,
 * reads the program back as I420 and hands each frame on — straight to the
 * bridge's worker through a MessagePort when the bridge offers one, else to
 * the page. No <video> elements, no page jank in the frame loop.
 */
import '../zodWithoutEval';
import { programLayout, shownSourceIds, type ProgramLayoutKind } from '../../../shared/layout';
import { Compositor } from './Compositor';
import { I420Compositor } from './I420Compositor';
import { bitmapPicture, framePicture, PROGRAM_COLOR_SPACE, type FrameScratch } from './framePicture';
import type { I420Picture } from './i420';
import { ENCODER_RESTARTS, ProgramEncoder } from './ProgramEncoder';
import { OutputSlots, PresentFallback, RenderTimes } from './outputSlots';
import { FrameQueues, SourceReads } from './readFrames';
import { FrameAudit, type FrameCount } from './frameAudit';

/**
 * Where the program is composited: `gpu` — WebGL2 (RGBA textures, I420 made
 * by a shader); `cpu` — I420Compositor (frames stay I420, no GL at all);
 * `auto` — the CPU where WebGL is software-rendered (SwiftShader, llvmpipe) or
 * missing, else the GPU.
 */
export type CompositorMode = 'auto' | 'gpu' | 'cpu';

export type ToProgramWorker =
  | {
      type: 'init';
      canvas: OffscreenCanvas;
      width: number;
      height: number;
      fps: number;
      pageTimeOrigin: number;
      mode: CompositorMode;
      /** Count the camera frames received and closed (in the stats and when disposed): a check for tests and diagnostics. */
      auditFrames?: boolean;
    }
  /** The source's video as VideoFrames; replaces whatever the source showed. */
  | { type: 'track'; id: string; frames: ReadableStream<VideoFrame> }
  /** A still picture for the source (the avatar tile of a camera-off participant). */
  | { type: 'image'; id: string; bitmap: ImageBitmap }
  | { type: 'remove'; id: string }
  | { type: 'layout'; kind: ProgramLayoutKind; order: string[]; focusId: string | null }
  /** CPU compositor: show the preview by writing each new picture into this track's writable (a <video> on the page) instead of drawing it on the canvas. */
  | { type: 'preview'; writable: WritableStream<VideoFrame> }
  /** Feed the program, at most `fps` pictures a second, into this track's writable (the return to guests; each guest's sender scales it to its cap). */
  | { type: 'return'; writable: WritableStream<VideoFrame>; fps: number }
  /**
   * Start (with where frames go) or stop reading the program back for the
   * encoder: raw I420 frames, or (`h264`) H.264 encoded here at `bitrateKbps`.
   */
  | { type: 'live'; on: boolean; port?: MessagePort; video?: 'i420' | 'h264'; bitrateKbps?: number }
  /** The native side started anew: it needs a keyframe (H.264 made here), and the current picture drawn again (raw frames: a new session starts black). */
  | { type: 'keyframe' }
  /** The page handed on a raw picture the worker posted to it (the page path's credit: see PAGE_FRAMES_IN_FLIGHT). */
  | { type: 'frameSent' }
  | { type: 'dispose' };

export type FromProgramWorker =
  /**
   * The compositor in use (again, when it changed while running); `note` says
   * why it is not the one asked for (a GPU compositor that could not start).
   */
  | { type: 'ready'; mode: 'gpu' | 'cpu'; renderer: string; note?: string }
  /** No compositor could start: the program cannot run. */
  | { type: 'fatal'; message: string }
  | { type: 'error'; reason: string; message: string }
  /** The worker's counters; copyFailures: camera frames whose copy failed (lastCopyError: the last reason). */
  | { type: 'stats'; renderMs: number; framesSent: number; framesSkipped: number; readbacksSkipped: number; copyTimeouts: number; copyFailures: number; lastCopyError: string; framesRepeated: number; framesLagged: number; outputSlots: number; busyMs: WorkerBusyMs; frames?: FrameCount }
  /** A program frame (raw I420 or an H.264 unit), when no port was given (the page passes it to the bridge). */
  | { type: 'frame'; kind: 'video' | 'h264'; payload: ArrayBuffer; timestampMs: number }
  /** After 'dispose': everything is let go (GL objects, frames, the streams read), the worker may be terminated. */
  | { type: 'disposed'; frames?: FrameCount };

/**
 * Where the worker's time goes, in ms since it started (wall time of each
 * step, totals): reading camera frames (copy, including the wait for them),
 * composing, the program return, handing the picture to the encoder (and
 * encoding it here), drawing the preview.
 */
export interface WorkerBusyMs {
  copy: number;
  compose: number;
  programReturn: number;
  deliver: number;
  preview: number;
}

/** What goes down the port: the bridge worker's media message. */
export interface PortMediaMessage {
  type: 'media';
  kind: 'video' | 'h264';
  payload: ArrayBuffer;
  timestampMs: number;
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (msg: FromProgramWorker, transfer: Transferable[] = []) => scope.postMessage(msg, transfer);

let compositor: Compositor | null = null;
/** The CPU path: the compositor, the newest frame per source not yet read, and each source's buffers. */
let cpu: I420Compositor | null = null;
let preview: OffscreenCanvasRenderingContext2D | null = null;
let previewDue = false;
let cpuBusy = false;
/** The CPU tick running now (dispose waits for its frames to be closed). */
let cpuTick: Promise<void> = Promise.resolve();
/** Frames received and closed, when the page asked for the count. */
let audit: FrameAudit | null = null;
/**
 * Frames a source may have waiting for the CPU path's tick: two, so a frame
 * that arrives bunched up with the next one (within one tick) is shown on the
 * next tick rather than replaced unseen, at the cost of at most one frame of
 * extra wait.
 */
const QUEUED_FRAMES = 2;
/** Each source's frames waiting for the CPU path's tick, oldest first (see FrameQueues). */
const pending = new FrameQueues<VideoFrame>(QUEUED_FRAMES);
/** The preview as a generated track the page shows in a <video> (CPU compositor), when the page gave one. */
let previewWriter: WritableStreamDefaultWriter<VideoFrame> | null = null;
/**
 * The program return (CPU path): each new picture (a clone of its frame, shared with the encoder and the
 * preview) written into a generated track, at most `1000 / intervalMs` a second. Each guest's sender scales
 * it to its cap (scaleResolutionDownBy, SIMD code in WebRTC): scaling a 640x360 copy here took this worker
 * more time a picture than composing it, and each copy was a fresh allocation.
 */
let programReturn: { writer: WritableStreamDefaultWriter<VideoFrame>; intervalMs: number; lastMs: number } | null = null;
/**
 * Two staging areas per source, used in turn: a read may now still be under
 * way while the tick composes (SourceReads), so it never writes into the
 * buffer of the picture being composed.
 */
const scratch = new Map<string, { pair: [FrameScratch, FrameScratch]; next: 0 | 1 }>();
let timer: ReturnType<typeof setInterval> | null = null;
/** Converts this worker's clock to the page's (audio chunks carry page times). */
let toPageMs = 0;
let live = false;
/** When the current go-live began (page clock): a readback begun before it belongs to an earlier show and is not sent. */
let liveFromMs = 0;
let port: MessagePort | null = null;
/**
 * Without a port (Electron: the page hands media to IPC), raw pictures go
 * through the page, whose thread can be busy for hundreds of ms (a render, a
 * garbage collection): at most this many wait there, and a newer picture is
 * skipped (counted) rather than queued behind them — 1.4 MB each at 720p.
 */
const PAGE_FRAMES_IN_FLIGHT = 2;
let pageFramesInFlight = 0;
let layout: { kind: ProgramLayoutKind; order: string[]; focusId: string | null } = { kind: 'grid', order: [], focusId: null };
const readers = new Map<string, ReadableStreamDefaultReader<VideoFrame>>();
const bitmaps = new Map<string, ImageBitmap>();

function releaseBitmap(id: string): void {
  bitmaps.get(id)?.close();
  bitmaps.delete(id);
}
/** framesSkipped: slots with no picture for the encoder; readbacksSkipped, of those, the GPU's readbacks all in flight (rendering, not encoding, fell behind). */
const stats = { framesSent: 0, framesSkipped: 0, readbacksSkipped: 0, copyTimeouts: 0, copyFailures: 0, lastCopyError: '' };
/** Each tick's time; the stats give their average over the last second (see RenderTimes). */
let renderTimes = new RenderTimes();
/** Whether the GPU path's tick presents the canvas (animation frames stopped: a hidden page). */
const presentFallback = new PresentFallback();
const busyMs: WorkerBusyMs = { copy: 0, compose: 0, programReturn: 0, deliver: 0, preview: 0 };
/** Runs `step`, adding its time to `busyMs[key]`. */
function timed<T>(key: keyof WorkerBusyMs, step: () => T): T {
  const t0 = performance.now();
  try {
    return step();
  } finally {
    busyMs[key] += performance.now() - t0;
  }
}
/** The program's H.264 encoder, while live with `video: 'h264'`. */
let h264: ProgramEncoder | null = null;
let size = { width: 0, height: 0, fps: 30 };
const COPY_TIMEOUT_MS = 1000;
let ticks = 0;
/** The output rate's slots while live, and those no tick served in time (frames lagged by rendering). */
let slots: OutputSlots | null = null;

/** Media for the encoder: straight to the bridge's worker when it gave a port, else to the page. */
function sendMedia(kind: 'video' | 'h264', payload: ArrayBuffer, timestampMs: number): void {
  if (port) port.postMessage({ type: 'media', kind, payload, timestampMs } satisfies PortMediaMessage, [payload]);
  else post({ type: 'frame', kind, payload, timestampMs }, [payload]);
}

/**
 * A new program picture for the encoder: encoded here when H.264 is made
 * here (the encoder copies `picture`, which must stay the latest program), else
 * sent raw (`owned` is a copy the bridge may take).
 */
function deliver(picture: Uint8Array, timestampMs: number, owned: () => ArrayBuffer, frame?: VideoFrame): void {
  if (h264) {
    if (h264.push(picture, timestampMs, frame)) stats.framesSent += 1;
    else stats.framesSkipped += 1;
    return;
  }
  if (!port && pageFramesInFlight >= PAGE_FRAMES_IN_FLIGHT) {
    stats.framesSkipped += 1;
    return;
  }
  if (!port) pageFramesInFlight += 1;
  sendMedia('video', owned(), timestampMs);
  stats.framesSent += 1;
}

function startH264(bitrateKbps: number): void {
  h264?.close();
  h264 = new ProgramEncoder({
    ...size,
    bitrateKbps,
    colorSpace: PROGRAM_COLOR_SPACE,
    output: (unit, timestampMs) => sendMedia('h264', unit, timestampMs),
    // A rebuilt encoder opens on a keyframe with its avcC: the stream goes on after a short freeze.
    onRestart: (error, restarts) =>
      post({
        type: 'error',
        reason: 'program_encoder_restarted',
        message: `The program's video encoder failed and was restarted (${restarts} of ${ENCODER_RESTARTS.max} restarts allowed a minute); viewers may have seen a short freeze. ${capitalised(error.message)}.`,
      }),
    // The encoder stays closed: no raw pictures go where the native side expects H.264.
    onError: (error) =>
      post({
        type: 'error',
        reason: 'program_encoder_gave_up',
        message: `The program's video stopped: ${error.message}. End the stream and go live again.`,
      }),
  });
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

function stopH264(): void {
  h264?.close();
  h264 = null;
}

/** Every fifth tick, the worker's counters to the page (repeats: pictures the H.264 encoder made again). */
function postStatsNow(): void {
  if (++ticks % 5 === 0) post({ type: 'stats', ...stats, renderMs: renderTimes.mean(), framesRepeated: h264?.repeated ?? 0, framesLagged: slots?.lagged ?? 0, outputSlots: slots?.slots ?? 0, busyMs: { ...busyMs }, frames: audit?.summary() });
}

function fail(error: unknown): void {
  const err = error as { reason?: string; message?: string };
  post({ type: 'error', reason: err.reason ?? 'program_worker', message: err.message ?? String(error) });
}

/**
 * How long a stream no longer read from may take to end by itself before it
 * is cancelled. The page ends it (it stops the track clone it reads), and the
 * reading loop closes what still comes; cancelling at once would drop the
 * frames still on their way unclosed.
 */
const STALE_STREAM_MS = 2000;

function stopReading(id: string): void {
  const reader = readers.get(id);
  if (!reader) return;
  readers.delete(id);
  setTimeout(() => void reader.cancel().catch(() => {}), STALE_STREAM_MS);
}

/** Every reading loop still running (streams read now, and those let go but not yet ended), with its reader. */
const loops = new Map<Promise<void>, ReadableStreamDefaultReader<VideoFrame>>();

/**
 * Before the worker may go: waits for the streams to end (the page stops the
 * tracks as it disposes; each loop closes the frames still on their way),
 * then cancels any that did not within STALE_STREAM_MS. A worker terminated
 * with a frame in a stream leaves it unclosed, for the garbage collector to
 * find (and Chromium to warn about).
 */
async function endReading(): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(loops.keys()),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, STALE_STREAM_MS))),
  ]).finally(() => clearTimeout(timer));
  await Promise.all([...loops.values()].map((reader) => reader.cancel().catch(() => {})));
}

/** Reads the source's frames as fast as they come, keeping only the newest (the loop is kept in `loops` until it ends). */
function read(id: string, frames: ReadableStream<VideoFrame>): void {
  const reader = frames.getReader();
  readers.set(id, reader);
  const loop = readLoop(id, reader);
  loops.set(loop, reader);
  void loop.finally(() => loops.delete(loop));
}

async function readLoop(id: string, reader: ReadableStreamDefaultReader<VideoFrame>): Promise<void> {
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      audit?.track(value);
      if (readers.get(id) !== reader || (!compositor && !cpu)) {
        // No longer this source's stream: close what still comes until the page ends it (stopReading).
        value.close();
        continue;
      }
      try {
        if (cpu) pending.push(id, value);
        else compositor!.pushFrame(id, value);
      } catch (err) {
        // Not taken (a frame the compositor cannot use): it is closed here, the source reads on, and the page is told.
        value.close();
        fail(err);
      }
    }
  } catch {
    // The track ended or the stream was cancelled: the source keeps its last picture until removed.
  } finally {
    if (readers.get(id) === reader) readers.delete(id);
  }
}

/**
 * Reads each source's new frame into its picture (closing the frames), one
 * read per source at a time. A copy that fails or never settles (given up
 * after COPY_TIMEOUT_MS) skips only that source, which keeps the picture it
 * had; it is counted. A tick waits for its reads at most a frame interval: a
 * slower one finishes in the background and its picture is used next tick.
 */
const reads = new SourceReads<VideoFrame, I420Picture | null>(
  async (id, frame) => {
    if (!cpu?.hasSource(id)) return null;
    let slot = scratch.get(id);
    if (!slot) scratch.set(id, (slot = { pair: [{}, {}], next: 0 }));
    const s = slot.pair[slot.next];
    slot.next = slot.next === 0 ? 1 : 0;
    return framePicture(frame, s);
  },
  (id, picture, frame) => {
    if (picture) cpu?.setPicture(id, picture, frame.displayWidth, frame.displayHeight);
  },
  COPY_TIMEOUT_MS,
  (id, result) => {
    if (result.outcome === 'read') return;
    if (result.outcome === 'timeout') stats.copyTimeouts += 1;
    else {
      stats.copyFailures += 1;
      stats.lastCopyError = (result.error as Error)?.message ?? String(result.error);
    }
    // A late or broken copy may still write into (or have half-written) the staging buffers: the next frame gets new ones.
    scratch.delete(id);
  },
);

/** The CPU path's tick: read the new frames' planes, redraw what changed, hand the I420 on. */
async function tickCpu(): Promise<void> {
  if (!cpu || cpuBusy) return;
  const started = performance.now();
  // A second tick in a slot already served (the timer catching up): nothing it made would reach the output.
  if (live && slots && !slots.serve(started)) return;
  if (live && h264?.saturated) {
    // The encoder still holds as many pictures as it may: one made now would be skipped there. The frames wait for
    // the next tick instead (FrameQueues), and the time composing it would take is left to the encoder.
    stats.framesSkipped += 1;
    postStatsNow();
    return;
  }
  cpuBusy = true;
  try {
    // Every new frame's planes are read at once: one wait for all sources, not one after another, and at most a
    // frame interval long. A source still being read keeps its frames waiting for the next tick; one the layout does
    // not show (picture-in-picture, side-by-side) is not read at all: its queue keeps its two newest frames for when
    // it is shown.
    const shown = shownSourceIds(layout.kind, layout.order, layout.focusId);
    const frames = pending.take((id) => reads.busy(id) || !shown.has(id));
    const copyStarted = performance.now();
    await reads.start(frames, 1000 / size.fps);
    busyMs.copy += performance.now() - copyStarted;
    if (!cpu) return;
    const c = cpu;
    c.setScene(programLayout(layout.kind, layout.order.map((id) => ({ id, ...c.sourceSize(id) })), c.width, c.height, layout.focusId));
    if (!c.hasChanges) {
      if (live) h264?.repeat(started + toPageMs);
      return;
    }
    const out = timed('compose', () => c.compose());
    // One VideoFrame of the new picture serves the preview, the program return and the H.264 encoder (clones
    // share it): each 720p frame made from a buffer is a fresh allocation (mapped, faulted in, unmapped), and
    // making one per use kept the worker in the kernel a third of its time.
    const frame = previewWriter || programReturn || (live && h264) ? pictureFrame(out, started) : null;
    try {
      if (previewWriter) timed('preview', () => writePreview(frame!));
      else previewDue = true;
      if (frame) timed('programReturn', () => feedReturn(frame, started));
      if (live) timed('deliver', () => deliver(out.data, started + toPageMs, () => out.data.slice().buffer, frame ?? undefined));
    } finally {
      frame?.close();
    }
  } catch (error) {
    fail(error);
  } finally {
    cpuBusy = false;
    renderTimes.add(performance.now() - started);
    postStatsNow();
  }
}

/**
 * The preview as video: the new picture (a clone of the tick's frame) into
 * the preview track (the page's <video> shows it, converted for display by
 * the compositor like any video) — on a software-rendered machine drawing
 * each 720p picture on the canvas took the worker 20-40 ms. Skipped while the
 * track still holds one.
 */
function writePreview(picture: VideoFrame): void {
  const w = previewWriter;
  if (!w || (w.desiredSize ?? 1) <= 0) return;
  writeFrame(w, picture.clone(), () => {
    // The track was stopped (the studio closed): stop writing.
    if (previewWriter === w) previewWriter = null;
  });
}

/** A VideoFrame of an I420 picture (a copy) stamped `nowMs` on this worker's clock, in the page's time. */
function pictureFrame(picture: I420Picture, nowMs: number): VideoFrame {
  return new VideoFrame(picture.data, {
    format: 'I420',
    codedWidth: picture.width,
    codedHeight: picture.height,
    timestamp: Math.round((nowMs + toPageMs) * 1000),
    colorSpace: PROGRAM_COLOR_SPACE,
  });
}

/** Writes a frame (closed once written) into a generated track's writable; `gone` when the track no longer takes frames. */
function writeFrame(writer: WritableStreamDefaultWriter<VideoFrame>, frame: VideoFrame, gone: () => void): void {
  writer.write(frame).then(
    () => frame.close(),
    () => {
      frame.close();
      gone();
    },
  );
}

/** Writes the new picture into the return track, unless it is still busy or it is too soon. */
function feedReturn(picture: VideoFrame, nowMs: number): void {
  const r = programReturn;
  if (!r || nowMs - r.lastMs < r.intervalMs * 0.9 || (r.writer.desiredSize ?? 1) <= 0) return;
  r.lastMs = nowMs;
  writeFrame(r.writer, picture.clone(), () => {
    // The track was stopped (the broadcast ended): stop feeding it.
    if (programReturn === r) programReturn = null;
  });
}

/** The last error a tick threw, posted once (not thirty times a second); cleared by a tick that works. */
let tickError: string | null = null;

function tick(): void {
  try {
    tickNow();
    tickError = null;
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    if (message !== tickError) fail(err);
    tickError = message;
  }
}

function tickNow(): void {
  if (cpu) {
    if (!cpuBusy) cpuTick = tickCpu();
    return;
  }
  if (!compositor) return;
  const started = performance.now();
  if (live && slots && !slots.serve(started)) return;
  const sources = layout.order.map((id) => ({ id, ...compositor!.sourceSize(id) }));
  compositor.setScene(programLayout(layout.kind, sources, compositor.width, compositor.height, layout.focusId));
  const fresh = compositor.hasChanges;
  if (fresh) timed('compose', () => compositor!.compose());
  // A hidden page gives no animation frames: the canvas the guests' program return is captured from is presented here.
  if (fresh && presentFallback.dueAtTick(performance.now())) compositor.present();
  if (live) {
    for (const { frame, timestampMs } of compositor.collect((n) => new Uint8Array(n))) {
      if (timestampMs < liveFromMs) continue;
      deliver(frame, timestampMs, () => frame.buffer as ArrayBuffer);
    }
    if (fresh && !compositor.beginReadback(started + toPageMs)) {
      stats.framesSkipped += 1;
      stats.readbacksSkipped += 1;
      compositor.invalidate();
    }
    // Nothing new (no source has a new frame, same layout): the H.264 encoder makes the last picture again —
    // unless a newer one is still being read back, which would then come with an earlier time than the repeat.
    if (!fresh && compositor.readbacksInFlight === 0) h264?.repeat(started + toPageMs);
  }
  renderTimes.add(performance.now() - started);
  postStatsNow();
}

/**
 * The preview follows the page's compositor: presenting from the 30 Hz clock
 * made every commit wait for the page's frame (≈11 ticks/s on software GL);
 * on animation frames the clock that feeds the encoder never waits.
 */
function present(): void {
  // The preview is video (written from the tick): nothing to present on animation frames.
  if (previewWriter) return;
  if (cpu && preview) {
    if (previewDue) {
      previewDue = false;
      const p = preview;
      const out = cpu.output;
      timed('preview', () => {
        const frame = pictureFrame(out, 0);
        try {
          p.drawImage(frame, 0, 0);
        } catch (err) {
          // One preview picture lost; the next animation frame draws the next one (the program itself goes on).
          console.warn(`[program] the preview could not be drawn: ${(err as Error).message}`);
        } finally {
          frame.close();
        }
      });
    }
  } else if (compositor) {
    compositor.present();
    presentFallback.presented(performance.now());
  } else {
    return;
  }
  scope.requestAnimationFrame(present);
}

/** The WebGL renderer's name, and whether it is a software rasteriser (or there is no WebGL2). */
function probeGl(): { renderer: string; software: boolean } {
  try {
    const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
    if (!gl) return { renderer: 'no WebGL2', software: true };
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return { renderer, software: /swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer) };
  } catch (error) {
    return { renderer: `no WebGL2 (${(error as Error).message})`, software: true };
  }
}

/** The WebGL renderer seen at start, for the page's figures. */
let glRenderer = '';

/**
 * Starts the compositor the mode asks for. A GPU compositor that cannot be
 * made (no WebGL2 context, a shader the driver refuses) gives way to the CPU
 * one, which needs nothing but memory; `note` says so. Throws only when the
 * CPU compositor cannot start either.
 */
function startCompositor(canvas: OffscreenCanvas, width: number, height: number, wanted: CompositorMode): { mode: 'gpu' | 'cpu'; note?: string } {
  const gl = probeGl();
  glRenderer = gl.renderer;
  const mode = wanted === 'auto' ? (gl.software ? 'cpu' : 'gpu') : wanted;
  let note: string | undefined;
  if (mode === 'gpu') {
    try {
      compositor = new Compositor(canvas, width, height);
      canvas.addEventListener('webglcontextlost', () => onContextLost(canvas), { once: true });
      return { mode };
    } catch (error) {
      note = `the GPU compositor could not start (${(error as Error).message}): the program runs on the CPU compositor`;
    }
  }
  startCpu(canvas, width, height);
  return { mode: 'cpu', ...(note ? { note } : {}) };
}

/**
 * The CPU compositor. The preview is video when the page gives a track for it
 * ('preview'); until then, or without one, it is drawn on the canvas here, on
 * the CPU too (willReadFrequently keeps the canvas out of the software
 * rasteriser) — unless the canvas already holds a WebGL context (a GPU
 * compositor that failed or was lost), and then only the video shows it.
 */
function startCpu(canvas: OffscreenCanvas, width: number, height: number): void {
  cpu = new I420Compositor(width, height);
  canvas.width = width;
  canvas.height = height;
  preview = canvas.getContext('2d', { alpha: false, willReadFrequently: true }) as OffscreenCanvasRenderingContext2D | null;
}

/**
 * The GPU lost the compositor's context (a driver reset, the GPU process
 * gone): the program goes on with the CPU compositor rather than freezing.
 * Each source is carried over (camera streams keep being read; avatar tiles
 * are converted). The canvas stays dead, and with it whatever captures it.
 */
function onContextLost(canvas: OffscreenCanvas): void {
  const lost = compositor;
  if (!lost) return;
  compositor = null;
  lost.dispose();
  try {
    startCpu(canvas, lost.width, lost.height);
  } catch (error) {
    fail(error);
    return;
  }
  const c = cpu!;
  for (const id of readers.keys()) c.setSource(id);
  for (const [id, bitmap] of bitmaps) {
    c.setSource(id);
    c.setPicture(id, bitmapPicture(bitmap));
    releaseBitmap(id);
  }
  const note = 'the GPU lost the program compositor\'s context: the program runs on the CPU compositor';
  post({ type: 'ready', mode: 'cpu', renderer: glRenderer, note });
  post({
    type: 'error',
    reason: 'program_context_lost',
    message:
      "The graphics processor stopped drawing the program (its WebGL context was lost); the program goes on, drawn by the CPU. Guests may see the program frozen until you end the stream and go live again.",
  });
  if (live) h264?.requestKeyframe();
}

function dropSource(id: string): void {
  reads.replaced(id);
  stopReading(id);
  pending.drop(id);
  scratch.delete(id);
}

scope.onmessage = (event: MessageEvent<ToProgramWorker>) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case 'init': {
        let started: { mode: 'gpu' | 'cpu'; note?: string };
        try {
          started = startCompositor(msg.canvas, msg.width, msg.height, msg.mode);
        } catch (error) {
          // Not even the CPU compositor: the page's go-live must fail with this, not wait for ever.
          post({ type: 'fatal', message: (error as Error).message ?? String(error) });
          return;
        }
        toPageMs = performance.timeOrigin - msg.pageTimeOrigin;
        if (msg.auditFrames && !audit) audit = new FrameAudit(VideoFrame.prototype);
        size = { width: msg.width, height: msg.height, fps: msg.fps };
        timer = setInterval(tick, 1000 / msg.fps);
        scope.requestAnimationFrame(present);
        post({ type: 'ready', renderer: glRenderer, ...started });
        return;
      }
      case 'track':
        if (!compositor && !cpu) throw new Error('program worker: init first');
        dropSource(msg.id);
        if (cpu) cpu.setSource(msg.id);
        else compositor!.setSource({ id: msg.id });
        releaseBitmap(msg.id);
        read(msg.id, msg.frames);
        return;
      case 'image':
        if (!compositor && !cpu) throw new Error('program worker: init first');
        dropSource(msg.id);
        releaseBitmap(msg.id);
        if (cpu) {
          cpu.setSource(msg.id);
          cpu.setPicture(msg.id, bitmapPicture(msg.bitmap));
          msg.bitmap.close();
        } else {
          compositor!.setSource({ id: msg.id, element: msg.bitmap });
          bitmaps.set(msg.id, msg.bitmap);
        }
        return;
      case 'remove':
        dropSource(msg.id);
        compositor?.removeSource(msg.id);
        cpu?.removeSource(msg.id);
        releaseBitmap(msg.id);
        return;
      case 'layout':
        layout = { kind: msg.kind, order: msg.order, focusId: msg.focusId };
        return;
      case 'preview':
        previewWriter = msg.writable.getWriter();
        cpu?.invalidate();
        return;
      case 'return':
        // A new go-live brings a new return track: the previous one (stopped by the page) is let go.
        void programReturn?.writer.close().catch(() => {});
        programReturn = { writer: msg.writable.getWriter(), intervalMs: 1000 / msg.fps, lastMs: 0 };
        cpu?.invalidate();
        return;
      case 'live':
        if (msg.on && !live) {
          liveFromMs = performance.now() + toPageMs;
          pageFramesInFlight = 0;
          // Each show's counters start at zero, as its output slots and lagged frames do.
          Object.assign(stats, { framesSent: 0, framesSkipped: 0, readbacksSkipped: 0, copyTimeouts: 0, copyFailures: 0, lastCopyError: '' });
        }
        live = msg.on;
        slots = msg.on ? new OutputSlots(1000 / size.fps) : slots;
        if (msg.on) renderTimes = new RenderTimes();
        if (msg.port) port = msg.port;
        if (msg.on && msg.video === 'h264') startH264(msg.bitrateKbps ?? 3000);
        if (msg.on) {
          // The first picture goes out now, whatever the sources do: a program of still pictures (avatars, a camera
          // off) would otherwise send none, and the stream would stay black until something changed.
          cpu?.invalidate();
          compositor?.invalidate();
        }
        if (!msg.on) {
          stopH264();
          port?.close();
          port = null;
        }
        return;
      case 'frameSent':
        pageFramesInFlight = Math.max(0, pageFramesInFlight - 1);
        return;
      case 'keyframe':
        h264?.requestKeyframe();
        cpu?.invalidate();
        compositor?.invalidate();
        return;
      case 'dispose':
        stopH264();
        if (timer) clearInterval(timer);
        timer = null;
        for (const id of [...readers.keys(), ...pending.ids()]) dropSource(id);
        compositor?.dispose();
        for (const id of [...bitmaps.keys()]) releaseBitmap(id);
        compositor = null;
        cpu = null;
        preview = null;
        void previewWriter?.close().catch(() => {});
        previewWriter = null;
        void programReturn?.writer.close().catch(() => {});
        programReturn = null;
        port?.close();
        port = null;
        void Promise.all([endReading(), cpuTick]).finally(() => post({ type: 'disposed', frames: audit?.summary() }));
        return;
    }
  } catch (error) {
    // What the message handed over is let go: a frame stream never read would keep its frames unclosed.
    if (msg.type === 'track') void msg.frames.cancel().catch(() => {});
    if (msg.type === 'image') msg.bitmap.close();
    fail(error);
  }
};
