/// <reference lib="webworker" />
/**
 * Owns the browser studio's bridge WebSocket off the main thread. A busy page
 * drains a WebSocket slowly (sending resumes only between its tasks), which
 * throttled program frames to a few per second; this worker's event loop is
 * idle, so frames leave as fast as the socket takes them. Frames arrive
 * transferred (no copy on the page); back-pressure drops them here, counted.
 */
import { encodeMediaMessage, MEDIA_KIND } from '../../../shared/bridge';

export type ToWorker =
  | { type: 'connect'; url: string }
  | { type: 'json'; data: string }
  | { type: 'media'; kind: 'video' | 'audio'; payload: ArrayBuffer; timestampMs: number }
  /** Another worker (the program compositor) sends media messages straight here through this port. */
  | { type: 'port'; port: MessagePort }
  | { type: 'close' };

export type FromWorker =
  | { type: 'open' }
  | { type: 'error'; message: string }
  | { type: 'closed' }
  | { type: 'json'; data: string }
  | { type: 'dropped'; video: number; audio: number };

/**
 * Audio shares the socket with video: keep at most about one 720p frame
 * queued, so a chunk of sound never waits behind several frames (late audio
 * is replaced by silence in the encoder). Video beyond this is dropped, counted.
 */
const VIDEO_BACKLOG_BYTES = 1.5 * 1024 * 1024;
const AUDIO_BACKLOG_BYTES = 16 * 1024 * 1024;

const scope = self as unknown as DedicatedWorkerGlobalScope;
let ws: WebSocket | null = null;
const dropped = { video: 0, audio: 0 };
const post = (msg: FromWorker) => scope.postMessage(msg);

function sendMedia(kind: 'video' | 'audio', payload: ArrayBuffer, timestampMs: number): void {
  if (ws?.readyState !== WebSocket.OPEN) return;
  const video = kind === 'video';
  if (ws.bufferedAmount > (video ? VIDEO_BACKLOG_BYTES : AUDIO_BACKLOG_BYTES)) {
    dropped[kind] += 1;
    post({ type: 'dropped', ...dropped });
    return;
  }
  ws.send(encodeMediaMessage(video ? MEDIA_KIND.video : MEDIA_KIND.audio, timestampMs, payload));
}

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  switch (msg.type) {
    case 'connect': {
      ws = new WebSocket(msg.url);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => post({ type: 'open' });
      ws.onerror = () => post({ type: 'error', message: `cannot reach the studio bridge at ${msg.url}` });
      ws.onclose = () => post({ type: 'closed' });
      ws.onmessage = (e) => {
        if (typeof e.data === 'string') post({ type: 'json', data: e.data });
      };
      return;
    }
    case 'json':
      if (ws?.readyState === WebSocket.OPEN) ws.send(msg.data);
      return;
    case 'media':
      sendMedia(msg.kind, msg.payload, msg.timestampMs);
      return;
    case 'port':
      msg.port.onmessage = (e: MessageEvent<{ type: 'media'; kind: 'video' | 'audio'; payload: ArrayBuffer; timestampMs: number }>) => {
        if (e.data?.type === 'media') sendMedia(e.data.kind, e.data.payload, e.data.timestampMs);
      };
      return;
    case 'close':
      ws?.close();
      return;
  }
};
