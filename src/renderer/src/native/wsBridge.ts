/** The NativeBridge over a WebSocket, for the browser studio. */
import { AppError } from '../../../shared/errors';

import type { FromWorker, ToWorker } from './bridgeWorker';
import {
  type BridgeWireEvent,
  type BridgeWireReply,
  type NativeBridge,
} from '../../../shared/bridge';

export class BridgeError extends AppError {}

/** What a request gets when the bridge's socket closed under it (the studio server stopped, the network dropped). */
export const BRIDGE_CLOSED_MESSAGE = "the connection to the studio's encoder closed";

export interface WsBridge extends NativeBridge {
  /** Media messages not sent because the socket was still busy with earlier ones, or closed. */
  readonly dropped: { video: number; audio: number };
  /** Messages from the studio server this page could not read (not JSON, or not a reply or event): counted, never thrown. */
  readonly malformed: number;
  /** False from when the socket closed until a request has opened it again. */
  readonly connected: boolean;
  /** A port whose media messages go straight to the socket's worker, bypassing the page. */
  mediaPort(): MessagePort;
  /** Calls `listener` each time the socket closes (not on close()); returns its unsubscribe. */
  onClosed(listener: (error: BridgeError) => void): () => void;
  /**
   * Resolves once the socket is open, opening it again if it closed; rejects with why it
   * cannot be (`broken` is then set when no connection can ever be made again).
   */
  ensureConnected(): Promise<void>;
  /** The worker failed or close() was called: this bridge is done for. */
  readonly broken: boolean;
  close(): void;
}

/**
 * Connects the bridge through a worker that owns the socket (see bridgeWorker.ts).
 * Media buffers passed to `send` are transferred to the worker: the caller must
 * not use them afterwards.
 *
 * When the socket closes, the requests waiting on it fail with
 * BRIDGE_CLOSED_MESSAGE and onClosed listeners hear it; media is dropped
 * until the next request, which connects again first (the worker keeps its
 * media ports across connections) and fails with that error if it cannot.
 */
export function connectWsBridge(url: string): Promise<WsBridge> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./bridgeWorker.ts', import.meta.url), { type: 'module' });
    let nextId = 1;
    let open = false;
    /** The worker itself failed or close() was called: no connection can be made any more. */
    let broken: BridgeError | null = null;
    /** A connection being made: settles on the worker's open, or its error or close. */
    let connecting: { resolve: () => void; reject: (e: BridgeError) => void } | null = null;
    let reconnecting: Promise<void> | null = null;
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    const listeners = new Map<string, Set<(...args: unknown[]) => void>>();
    const closedListeners = new Set<(error: BridgeError) => void>();
    const dropped = { video: 0, audio: 0 };
    const malformed = { count: 0 };
    /** Names this bridge to the studio server on each connection: a stream it started outlives a dropped socket for a while. */
    const studio = crypto.randomUUID();
    const post = (msg: ToWorker, transfer: Transferable[] = []) => worker.postMessage(msg, transfer);

    /** The socket is gone: every request waiting on it fails, and whoever listens hears it. */
    const lost = (error: BridgeError) => {
      const wasOpen = open;
      open = false;
      for (const p of pending.values()) p.reject(error);
      pending.clear();
      connecting?.reject(error);
      connecting = null;
      if (wasOpen) for (const l of [...closedListeners]) l(error);
    };

    const connect = (): Promise<void> =>
      new Promise<void>((res, rej) => {
        connecting = { resolve: res, reject: rej };
        post({ type: 'connect', url, studio });
      });

    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const msg = event.data;
      if (msg.type === 'open') {
        open = true;
        connecting?.resolve();
        connecting = null;
      } else if (msg.type === 'error') {
        connecting?.reject(new BridgeError('bridge_unreachable', msg.message));
        connecting = null;
      } else if (msg.type === 'closed') {
        if (!open && connecting) {
          // Closed before it opened (usually told by an error first).
          connecting.reject(new BridgeError('bridge_unreachable', `the studio bridge at ${url} closed the connection before it opened`));
          connecting = null;
          return;
        }
        lost(new BridgeError('bridge_closed', `${capitalised(BRIDGE_CLOSED_MESSAGE)}${msg.code && msg.code !== 1000 && msg.code !== 1005 ? ` (code ${msg.code}${msg.reason ? `: ${msg.reason}` : ''})` : ''}.`));
      } else if (msg.type === 'dropped') {
        dropped.video = msg.video;
        dropped.audio = msg.audio;
      } else {
        const wire = readWire(msg.data);
        if ('bad' in wire) {
          // Counted and said; a request it names fails with why instead of waiting for ever.
          malformed.count += 1;
          console.warn(`[bridge] ${wire.bad}`);
          const p = wire.id === null ? undefined : pending.get(wire.id);
          if (p && wire.id !== null) {
            pending.delete(wire.id);
            p.reject(new BridgeError('bad_reply', `The studio's encoder answered with a message this page cannot read (${wire.bad}).`));
          }
          return;
        }
        if ('event' in wire) {
          for (const l of listeners.get(wire.event) ?? []) {
            try {
              l(...wire.args);
            } catch (err) {
              // One listener's failure is its own: the others still hear the event.
              console.error(`[bridge] a listener of ${wire.event} failed`, err);
            }
          }
          return;
        }
        const p = pending.get(wire.id);
        if (!p) return;
        pending.delete(wire.id);
        if (wire.ok) p.resolve(wire.result);
        else p.reject(new BridgeError(wire.error.reason, wire.error.message));
      }
    };
    worker.onerror = (event) => {
      broken = new BridgeError('bridge_worker', `The studio's encoder cannot be reached: the bridge worker failed (${event.message}).`);
      lost(broken);
      worker.terminate();
    };

    /** Opens the socket again for a request, once however many requests wait for it. */
    const reopen = (): Promise<void> => {
      reconnecting ??= connect()
        .catch((error: BridgeError) => {
          throw new BridgeError('bridge_closed', `${capitalised(BRIDGE_CLOSED_MESSAGE)}, and it could not be opened again: ${error.message}.`);
        })
        .finally(() => (reconnecting = null));
      return reconnecting;
    };

    const bridge: WsBridge = {
      dropped,
      get malformed() {
        return malformed.count;
      },
      get connected() {
        return open;
      },
      get broken() {
        return broken !== null;
      },
      async ensureConnected() {
        if (broken) throw broken;
        if (!open) await reopen();
      },
      async invoke(channel, ...args) {
        if (broken) throw broken;
        if (!open) await reopen();
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
      onClosed(listener) {
        closedListeners.add(listener);
        return () => closedListeners.delete(listener);
      },
      close() {
        closedListeners.clear();
        broken = new BridgeError('bridge_closed', 'The studio bridge was closed.');
        lost(broken);
        post({ type: 'close' });
        worker.terminate();
      },
    };

    // A page going away (closed, reloaded) closes its sockets saying so: the studio server stops the stream at once
    // instead of waiting for the page to come back, as it does for a socket that merely dropped. (Left to the browser,
    // the close code of a worker's socket torn down with its page is not to be relied on.)
    globalThis.addEventListener?.('pagehide', () => {
      if (!broken) post({ type: 'leave' });
    });

    connect().then(
      () => resolve(bridge),
      (error: BridgeError) => {
        worker.terminate();
        reject(error);
      },
    );
  });
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * A message from the studio server as the page reads it: a reply, an event,
 * or what is wrong with it (with the request id it names, when it names one).
 */
export function readWire(text: string): BridgeWireReply | BridgeWireEvent | { bad: string; id: number | null } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { bad: 'a message that is not JSON', id: null };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { bad: 'a message that is not an object', id: null };
  const m = value as Record<string, unknown>;
  if ('event' in m) {
    if (typeof m.event !== 'string' || !Array.isArray(m.args)) return { bad: 'an event without a name and a list of arguments', id: null };
    return { event: m.event as BridgeWireEvent['event'], args: m.args };
  }
  const id = typeof m.id === 'number' && Number.isInteger(m.id) ? m.id : null;
  if (id === null) return { bad: 'a reply without a request id', id: null };
  if (m.ok === true) return { id, ok: true, result: m.result };
  const error = m.error as Record<string, unknown> | undefined;
  if (m.ok === false && typeof error === 'object' && error !== null && typeof error.reason === 'string' && typeof error.message === 'string') {
    return { id, ok: false, error: { reason: error.reason, message: error.message } };
  }
  return { bad: `a reply to request ${id} that says neither its result nor its error`, id };
}
