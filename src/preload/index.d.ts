import type { NativeBridge } from '../shared/bridge';

declare global {
  interface Window {
    /** Present in the Electron app; absent in a plain browser. */
    nativeBridge?: NativeBridge;
  }
}
export {};
