/** The NativeBridge over a WebSocket, for the browser studio. */
import { AppError } from '../../../shared/errors';

import {
  MEDIA_KIND,
  encodeMediaMessage,
  type BridgeWireEvent,
  type BridgeWireReply,
  type NativeBridge,
} from '../../../shared/bridge';

export class BridgeError extends AppError {}

export interface WsBridge extends NativeBridge {
  /** Media messages not sent because the socket was still busy with earlier ones. */
  readonly dropped: { video: number; audio: number };
  close(): void;
}

/** Video frames are dropped, never queued, once this much is waiting to be sent. */
const VIDEO_BACKLOG_BYTES = 4 * 1024 * 1024;
const AUDIO_BACKLOG_BYTES = 16 * 1024 * 1024;

export function connectWsBridge(url: string): Promise<WsBridge> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    let nextId = 1;
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    const listeners = new Map<string, Set<(...args: unknown[]) => void>>();
    const dropped = { video: 0, audio: 0 };

    ws.onopen = () => resolve(bridge);
    ws.onerror = () => reject(new BridgeError('bridge_unreachable', `cannot reach the studio bridge at ${url}`));
    ws.onclose = () => {
      for (const p of pending.values()) p.reject(new BridgeError('bridge_closed', 'the studio bridge closed'));
      pending.clear();
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      const msg = JSON.parse(event.data) as BridgeWireReply | BridgeWireEvent;
      if ('event' in msg) {
        for (const l of listeners.get(msg.event) ?? []) l(...msg.args);
        return;
      }
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new BridgeError(msg.error.reason, msg.error.message));
    };

    const bridge: WsBridge = {
      dropped,
      invoke(channel, ...args) {
        if (ws.readyState !== WebSocket.OPEN) return Promise.reject(new BridgeError('bridge_closed', 'the studio bridge is not connected'));
        const id = nextId++;
        return new Promise((res, rej) => {
          pending.set(id, { resolve: res as (v: unknown) => void, reject: rej });
          ws.send(JSON.stringify({ id, channel, args }));
        });
      },
      send(channel, payload, timestampMs) {
        if (ws.readyState !== WebSocket.OPEN) return;
        const video = channel === 'encoder:video';
        if (ws.bufferedAmount > (video ? VIDEO_BACKLOG_BYTES : AUDIO_BACKLOG_BYTES)) {
          dropped[video ? 'video' : 'audio'] += 1;
          return;
        }
        ws.send(encodeMediaMessage(video ? MEDIA_KIND.video : MEDIA_KIND.audio, timestampMs, payload));
      },
      on(channel, listener) {
        let set = listeners.get(channel);
        if (!set) listeners.set(channel, (set = new Set()));
        const l = listener as (...args: unknown[]) => void;
        set.add(l);
        return () => set.delete(l);
      },
      close() {
        ws.close();
      },
    };
  });
}
