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
import { programLayout, type ProgramLayoutKind } from '../../../shared/layout';
import { Compositor } from './Compositor';

export type ToProgramWorker =
  | { type: 'init'; canvas: OffscreenCanvas; width: number; height: number; fps: number; pageTimeOrigin: number }
  /** The source's video as VideoFrames; replaces whatever the source showed. */
  | { type: 'track'; id: string; frames: ReadableStream<VideoFrame> }
  /** A still picture for the source (the avatar tile of a camera-off participant). */
  | { type: 'image'; id: string; bitmap: ImageBitmap }
  | { type: 'remove'; id: string }
  | { type: 'layout'; kind: ProgramLayoutKind; order: string[]; focusId: string | null }
  /** Start (with where frames go) or stop reading the program back for the encoder. */
  | { type: 'live'; on: boolean; port?: MessagePort }
  | { type: 'dispose' };

export type FromProgramWorker =
  | { type: 'ready' }
  | { type: 'error'; reason: string; message: string }
  | { type: 'stats'; renderMs: number; framesSent: number; framesSkipped: number }
  /** A program frame, when no port was given (the page passes it to the bridge). */
  | { type: 'frame'; payload: ArrayBuffer; timestampMs: number };

/** What goes down the port: the bridge worker's media message. */
export interface PortMediaMessage {
  type: 'media';
  kind: 'video';
  payload: ArrayBuffer;
  timestampMs: number;
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (msg: FromProgramWorker, transfer: Transferable[] = []) => scope.postMessage(msg, transfer);

let compositor: Compositor | null = null;
let timer: ReturnType<typeof setInterval> | null = null;
/** Converts this worker's clock to the page's (audio chunks carry page times). */
let toPageMs = 0;
let live = false;
let port: MessagePort | null = null;
let layout: { kind: ProgramLayoutKind; order: string[]; focusId: string | null } = { kind: 'grid', order: [], focusId: null };
const readers = new Map<string, ReadableStreamDefaultReader<VideoFrame>>();
const bitmaps = new Map<string, ImageBitmap>();

function releaseBitmap(id: string): void {
  bitmaps.get(id)?.close();
  bitmaps.delete(id);
}
const stats = { renderMs: 0, framesSent: 0, framesSkipped: 0 };
let ticks = 0;

function fail(error: unknown): void {
  const err = error as { reason?: string; message?: string };
  post({ type: 'error', reason: err.reason ?? 'program_worker', message: err.message ?? String(error) });
}

function stopReading(id: string): void {
  const reader = readers.get(id);
  if (!reader) return;
  readers.delete(id);
  void reader.cancel().catch(() => {});
}

/** Reads frames as fast as they come, keeping only the newest per source. */
async function read(id: string, frames: ReadableStream<VideoFrame>): Promise<void> {
  const reader = frames.getReader();
  readers.set(id, reader);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (readers.get(id) !== reader || !compositor) {
        value.close();
        break;
      }
      compositor.pushFrame(id, value);
    }
  } catch {
    // The track ended or the stream was cancelled: the source keeps its last picture until removed.
  } finally {
    if (readers.get(id) === reader) readers.delete(id);
  }
}

function tick(): void {
  if (!compositor) return;
  const started = performance.now();
  const sources = layout.order.map((id) => ({ id, ...compositor!.sourceSize(id) }));
  compositor.setScene(programLayout(layout.kind, sources, compositor.width, compositor.height, layout.focusId));
  // Nothing new (no source has a new frame, same layout): the encoder's output repeats the last picture by itself.
  const fresh = compositor.hasChanges;
  if (fresh) compositor.compose();
  if (live) {
    for (const { frame, timestampMs } of compositor.collect((n) => new Uint8Array(n))) {
      const payload = frame.buffer as ArrayBuffer;
      if (port) port.postMessage({ type: 'media', kind: 'video', payload, timestampMs } satisfies PortMediaMessage, [payload]);
      else post({ type: 'frame', payload, timestampMs }, [payload]);
      stats.framesSent += 1;
    }
    if (fresh && !compositor.beginReadback(started + toPageMs)) {
      stats.framesSkipped += 1;
      compositor.invalidate();
    }
  }
  stats.renderMs = performance.now() - started;
  if (++ticks % 5 === 0) post({ type: 'stats', ...stats });
}

/**
 * The preview follows the page's compositor: presenting from the 30 Hz clock
 * made every commit wait for the page's frame (≈11 ticks/s on software GL);
 * on animation frames the clock that feeds the encoder never waits.
 */
function present(): void {
  if (!compositor) return;
  compositor.present();
  scope.requestAnimationFrame(present);
}

scope.onmessage = (event: MessageEvent<ToProgramWorker>) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case 'init':
        compositor = new Compositor(msg.canvas, msg.width, msg.height);
        toPageMs = performance.timeOrigin - msg.pageTimeOrigin;
        timer = setInterval(tick, 1000 / msg.fps);
        scope.requestAnimationFrame(present);
        post({ type: 'ready' });
        return;
      case 'track':
        if (!compositor) throw new Error('program worker: init first');
        stopReading(msg.id);
        compositor.setSource({ id: msg.id });
        releaseBitmap(msg.id);
        void read(msg.id, msg.frames);
        return;
      case 'image':
        if (!compositor) throw new Error('program worker: init first');
        stopReading(msg.id);
        compositor.setSource({ id: msg.id, element: msg.bitmap });
        releaseBitmap(msg.id);
        bitmaps.set(msg.id, msg.bitmap);
        return;
      case 'remove':
        stopReading(msg.id);
        compositor?.removeSource(msg.id);
        releaseBitmap(msg.id);
        return;
      case 'layout':
        layout = { kind: msg.kind, order: msg.order, focusId: msg.focusId };
        return;
      case 'live':
        live = msg.on;
        if (msg.port) port = msg.port;
        if (!msg.on) {
          port?.close();
          port = null;
        }
        return;
      case 'dispose':
        if (timer) clearInterval(timer);
        timer = null;
        for (const id of [...readers.keys()]) stopReading(id);
        compositor?.dispose();
        for (const id of [...bitmaps.keys()]) releaseBitmap(id);
        compositor = null;
        port?.close();
        port = null;
        return;
    }
  } catch (error) {
    fail(error);
  }
};
