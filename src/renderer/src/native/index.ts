import type { NativeBridge } from '../../../shared/bridge';
import { connectWsBridge } from './wsBridge';

let bridge: Promise<NativeBridge> | null = null;

/** The Electron bridge when present, else the browser studio's WebSocket bridge on this origin. */
export function getNativeBridge(): Promise<NativeBridge> {
  if (!bridge) {
    if (window.nativeBridge) bridge = Promise.resolve(window.nativeBridge);
    else {
      const url = new URL('bridge', window.location.href);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.hash = '';
      bridge = connectWsBridge(url.toString());
      bridge.catch(() => (bridge = null));
    }
  }
  return bridge;
}
