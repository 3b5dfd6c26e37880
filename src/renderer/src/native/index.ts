import type { NativeBridge } from '../../../shared/bridge';
import { connectWsBridge, type WsBridge } from './wsBridge';

let bridge: Promise<NativeBridge> | null = null;
/** The WebSocket bridge once connected: one worker for the page's life, whatever mounts and unmounts. */
let kept: WsBridge | null = null;

/**
 * The Electron bridge when present, else the browser studio's WebSocket bridge
 * on this origin. The WebSocket bridge is made once per page: a socket that
 * closed since is opened again by the same bridge (its worker and media ports
 * stay), and a call rejects when that cannot be done, so a studio opened again
 * hears at once that its encoder is out of reach. Only a bridge whose worker
 * failed, or one whose first connection failed, is replaced by a new one.
 */
export function getNativeBridge(): Promise<NativeBridge> {
  if (window.nativeBridge) return (bridge ??= Promise.resolve(window.nativeBridge));
  const ws = kept;
  if (ws && !ws.broken) return ws.connected ? Promise.resolve(ws) : ws.ensureConnected().then(() => ws);
  if (!bridge || ws) {
    kept = null;
    const url = new URL('bridge', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';
    const connecting = connectWsBridge(url.toString());
    bridge = connecting;
    connecting.then(
      (made) => {
        if (bridge === connecting) kept = made;
      },
      () => {
        if (bridge === connecting) bridge = null;
      },
    );
  }
  return bridge;
}
