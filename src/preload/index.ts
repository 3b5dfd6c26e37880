/** Exposes the NativeBridge, and nothing else, to the sandboxed renderer. */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { NativeBridge, InvokeChannel, SendChannel, EventChannel } from '../shared/bridge';

const INVOKE: readonly InvokeChannel[] = ['app:config', 'encoder:choose', 'encoder:start', 'encoder:stop', 'encoder:resume'];
const SEND: readonly SendChannel[] = ['encoder:video', 'encoder:audio', 'encoder:h264'];
const EVENTS: readonly EventChannel[] = ['encoder:stats', 'encoder:keyframe'];

const bridge: NativeBridge = {
  async invoke(channel, ...args) {
    if (!INVOKE.includes(channel)) throw new Error(`unknown channel ${channel}`);
    const reply = (await ipcRenderer.invoke(channel, ...args)) as
      | { ok: true; result: never }
      | { ok: false; error: { reason: string; message: string } };
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), { reason: reply.error.reason });
    return reply.result;
  },
  send(channel, ...args) {
    if (!SEND.includes(channel)) throw new Error(`unknown channel ${channel}`);
    ipcRenderer.send(channel, ...args);
  },
  on(channel, listener) {
    if (!EVENTS.includes(channel)) throw new Error(`unknown channel ${channel}`);
    const wrapped = (_event: IpcRendererEvent, ...args: unknown[]) => (listener as (...a: unknown[]) => void)(...args);
    ipcRenderer.on(channel, wrapped);
    return () => ipcRenderer.removeListener(channel, wrapped);
  },
};

contextBridge.exposeInMainWorld('nativeBridge', bridge);
