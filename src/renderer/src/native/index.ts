import type { NativeBridge } from '../../../shared/bridge';
import { connectWsBridge } from './wsBridge';

let bridge: Promise<NativeBridge> | null = null;

/**
 * The Electron bridge when present, else the browser studio's WebSocket bridge
 * on this origin. A WebSocket bridge that could not connect, or whose socket
 * closed since, is not kept: the next call connects anew (whoever still holds
 * the old one has it reconnect on its next request).
 */
export function getNativeBridge(): Promise<NativeBridge> {
  if (!bridge) {
    if (window.nativeBridge) bridge = Promise.resolve(window.nativeBridge);
    else {
      const url = new URL('bridge', window.location.href);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.hash = '';
      const connecting = connectWsBridge(url.toString());
      bridge = connecting;
      connecting.then(
        (ws) => {
          const forget = ws.onClosed(() => {
            forget();
            if (bridge === connecting) bridge = null;
          });
        },
        () => {
          if (bridge === connecting) bridge = null;
        },
      );
    }
  }
  return bridge;
}
