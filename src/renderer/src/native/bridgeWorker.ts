/// <reference lib="webworker" />
/**
 * Owns the browser studio's bridge WebSockets off the main thread: the
 * control socket (requests, events, audio) and the media socket (video). A busy page
 * drains a WebSocket slowly (sending resumes only between its tasks), which
 * throttled program frames to a few per second; this worker's event loop is
 * idle, so frames leave as fast as the socket takes them. Frames arrive
 * transferred (no copy on the page); back-pressure drops them here, counted.
 */
import '../zodWithoutEval';
import { encodeMediaMessage, MEDIA_KIND, type MediaKind } from '../../../shared/bridge';

export type ToWorker =
  /** `studio`: the page bridge's id, the same on every connection, under which a broadcast outlives a dropped socket. */
  | { type: 'connect'; url: string; studio: string }
  | { type: 'json'; data: string }
  | { type: 'media'; kind: MediaKind; payload: ArrayBuffer; timestampMs: number }
  /** Another worker (the program compositor) sends media messages straight here through this port. */
  | { type: 'port'; port: MessagePort }
  | { type: 'close' }
  /** The page is going away: the sockets close saying so (1000), and the studio stops the stream at once. */
  | { type: 'leave' };

export type FromWorker =
  | { type: 'open' }
  | { type: 'error'; message: string }
  /** The control socket closed (or never opened): requests on it can no longer be answered. */
  | { type: 'closed'; code: number; reason: string }
  | { type: 'json'; data: string }
  | { type: 'dropped'; video: number; audio: number };

/**
 * Video has a socket of its own (`/bridge/media`): up to about two 720p
 * frames may wait there (so the socket never idles between frames), while
 * audio and requests on the first socket never queue behind a frame. Should
 * the media socket not open, video shares the first socket and at most about
 * one frame waits. Video beyond this is dropped, counted.
 */
const VIDEO_BACKLOG_BYTES = 3 * 1024 * 1024;
const SHARED_VIDEO_BACKLOG_BYTES = 1.5 * 1024 * 1024;
/**
 * Audio waiting on a socket that does not drain beyond this is dropped,
 * counted: 1.5 s of the mix, 48,000 samples/s × 2 channels × 4 bytes (f32) ×
 * 1.5 s = 576,000 bytes (75 chunks of 20 ms). More would only let the sound
 * fall seconds behind the picture on a stalled socket (16 MiB was 43 s).
 * When video shares the control socket, what it may leave waiting there
 * (SHARED_VIDEO_BACKLOG_BYTES) comes on top.
 */
const AUDIO_BACKLOG_BYTES = 48_000 * 2 * 4 * 1.5;
/**
 * H.264 units go on the media socket too, but are never dropped here short of
 * a stalled socket: a lost delta frame spoils every picture up to the next
 * keyframe (the encoder session copes with back-pressure itself, by keyframe).
 * Sharing the control socket (no media socket), they may leave no more there
 * than raw video would: requests and audio must not wait behind seconds of
 * video. Once a unit is dropped, the units up to the next keyframe are dropped
 * too (each would decode against a picture that never came).
 */
const H264_BACKLOG_BYTES = 16 * 1024 * 1024;
/** An H.264 unit was dropped: the rest of its group of pictures goes too, up to the next keyframe. */
let h264Broken = false;

function isKeyUnit(payload: ArrayBuffer): boolean {
  // The unit's first byte holds its flags (bit 0: keyframe), see encodeH264Unit.
  return payload.byteLength > 0 && (new Uint8Array(payload, 0, 1)[0]! & 1) === 1;
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
let ws: WebSocket | null = null;
let videoWs: WebSocket | null = null;
const dropped = { video: 0, audio: 0 };
const post = (msg: FromWorker) => scope.postMessage(msg);

function sendMedia(kind: MediaKind, payload: ArrayBuffer, timestampMs: number): void {
  const video = kind !== 'audio';
  const own = video && videoWs?.readyState === WebSocket.OPEN;
  const socket = own ? videoWs! : ws;
  const drop = () => {
    dropped[kind === 'audio' ? 'audio' : 'video'] += 1;
    post({ type: 'dropped', ...dropped });
  };
  // The socket closed (the studio server went away): what comes until it opens again is lost, and counted.
  if (socket?.readyState !== WebSocket.OPEN) {
    // The next session starts from a keyframe anyway.
    if (kind === 'h264') h264Broken = true;
    drop();
    return;
  }
  const shared = !videoWs || videoWs.readyState !== WebSocket.OPEN;
  const backlog =
    kind === 'audio' ? AUDIO_BACKLOG_BYTES + (shared ? SHARED_VIDEO_BACKLOG_BYTES : 0) : kind === 'h264' && own ? H264_BACKLOG_BYTES : own ? VIDEO_BACKLOG_BYTES : SHARED_VIDEO_BACKLOG_BYTES;
  if (kind === 'h264') {
    if (h264Broken && !isKeyUnit(payload)) {
      drop();
      return;
    }
    h264Broken = false;
  }
  if (socket.bufferedAmount > backlog) {
    if (kind === 'h264') h264Broken = true;
    drop();
    return;
  }
  socket.send(encodeMediaMessage(MEDIA_KIND[kind], timestampMs, payload));
}

/** Opens the media socket beside the control socket; video falls back to the control socket without it. */
function openVideoSocket(url: string, peer: string): void {
  const media = new URL(url);
  media.pathname = `${media.pathname.replace(/\/$/, '')}/media`;
  media.searchParams.set('peer', peer);
  const socket = new WebSocket(media);
  socket.binaryType = 'arraybuffer';
  const control = ws;
  socket.onopen = () => {
    // Opened after its control socket closed (a connection since replaced): not for use.
    if (ws === control) videoWs = socket;
    else socket.close();
  };
  socket.onclose = () => {
    if (videoWs === socket) videoWs = null;
  };
}

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  switch (msg.type) {
    case 'connect': {
      // A reconnect: the sockets of the connection before (closed by now, or about to be) are let go.
      closeSockets();
      const peer = crypto.randomUUID();
      const control = new URL(msg.url);
      control.searchParams.set('peer', peer);
      control.searchParams.set('studio', msg.studio);
      const socket = new WebSocket(control);
      socket.binaryType = 'arraybuffer';
      ws = socket;
      socket.onopen = () => {
        openVideoSocket(msg.url, peer);
        post({ type: 'open' });
      };
      socket.onerror = () => {
        if (ws === socket) post({ type: 'error', message: `cannot reach the studio bridge at ${msg.url}` });
      };
      socket.onclose = (e) => {
        if (ws !== socket) return;
        ws = null;
        videoWs?.close();
        post({ type: 'closed', code: e.code, reason: e.reason });
      };
      socket.onmessage = (e) => {
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
      msg.port.onmessage = (e: MessageEvent<{ type: 'media'; kind: MediaKind; payload: ArrayBuffer; timestampMs: number }>) => {
        if (e.data?.type === 'media') sendMedia(e.data.kind, e.data.payload, e.data.timestampMs);
      };
      return;
    case 'close':
      closeSockets();
      return;
    case 'leave':
      closeSockets(1000, 'the studio page closed');
      return;
  }
};

function closeSockets(code?: number, reason?: string): void {
  const [control, media] = [ws, videoWs];
  ws = null;
  videoWs = null;
  media?.close(code, reason);
  control?.close(code, reason);
}
