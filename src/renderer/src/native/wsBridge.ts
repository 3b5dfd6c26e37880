/** The NativeBridge over a WebSocket, for the browser studio. */
import { AppError } from '../../../shared/errors';

import type { FromWorker, ToWorker } from './bridgeWorker';
import {
  type BridgeWireEvent,
  type BridgeWireReply,
  type NativeBridge,
} from '../../../shared/bridge';

export class BridgeError extends AppError {}

export interface WsBridge extends NativeBridge {
  /** Media messages not sent because the socket was still busy with earlier ones. */
  readonly dropped: { video: number; audio: number };
  /** A port whose media messages go straight to the socket's worker, bypassing the page. */
  mediaPort(): MessagePort;
  close(): void;
}

/**
 * Connects the bridge through a worker that owns the socket (see bridgeWorker.ts).
 * Media buffers passed to `send` are transferred to the worker: the caller must
 * not use them afterwards.
 */
export function connectWsBridge(url: string): Promise<WsBridge> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./bridgeWorker.ts', import.meta.url), { type: 'module' });
    let nextId = 1;
    let open = false;
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    const listeners = new Map<string, Set<(...args: unknown[]) => void>>();
    const dropped = { video: 0, audio: 0 };
    const post = (msg: ToWorker, transfer: Transferable[] = []) => worker.postMessage(msg, transfer);

    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const msg = event.data;
      if (msg.type === 'open') {
        open = true;
        resolve(bridge);
      } else if (msg.type === 'error') {
        reject(new BridgeError('bridge_unreachable', msg.message));
      } else if (msg.type === 'closed') {
        open = false;
        for (const p of pending.values()) p.reject(new BridgeError('bridge_closed', 'the studio bridge closed'));
        pending.clear();
      } else if (msg.type === 'dropped') {
        dropped.video = msg.video;
        dropped.audio = msg.audio;
      } else {
        const wire = JSON.parse(msg.data) as BridgeWireReply | BridgeWireEvent;
        if ('event' in wire) {
          for (const l of listeners.get(wire.event) ?? []) l(...wire.args);
          return;
        }
        const p = pending.get(wire.id);
        if (!p) return;
        pending.delete(wire.id);
        if (wire.ok) p.resolve(wire.result);
        else p.reject(new BridgeError(wire.error.reason, wire.error.message));
      }
    };
    worker.onerror = (event) => reject(new BridgeError('bridge_worker', `the bridge worker failed: ${event.message}`));
    post({ type: 'connect', url });

    const bridge: WsBridge = {
      dropped,
      invoke(channel, ...args) {
        if (!open) return Promise.reject(new BridgeError('bridge_closed', 'the studio bridge is not connected'));
        const id = nextId++;
        return new Promise((res, rej) => {
          pending.set(id, { resolve: res as (v: unknown) => void, reject: rej });
          post({ type: 'json', data: JSON.stringify({ id, channel, args }) });
        });
      },
      send(channel, payload, timestampMs) {
        if (!open) return;
        post({ type: 'media', kind: channel === 'encoder:video' ? 'video' : channel === 'encoder:h264' ? 'h264' : 'audio', payload, timestampMs }, [payload]);
      },
      mediaPort() {
        const channel = new MessageChannel();
        post({ type: 'port', port: channel.port2 }, [channel.port2]);
        return channel.port1;
      },
      on(channel, listener) {
        let set = listeners.get(channel);
        if (!set) listeners.set(channel, (set = new Set()));
        const l = listener as (...args: unknown[]) => void;
        set.add(l);
        return () => set.delete(l);
      },
      close() {
        post({ type: 'close' });
        worker.terminate();
      },
    };
  });
}
