/** Binds the NativeBridge to ipcMain. Every message is validated by BridgeHost. */
import { ipcMain, type WebContents } from 'electron';
import { INVOKE_CHANNELS, SEND_CHANNELS, type AppConfig } from '../shared/bridge.js';
import { BridgeHost, errorReply, type EncoderLike } from './bridgeHost.js';

export interface IpcDeps {
  webContents: WebContents;
  config: () => AppConfig;
  createEncoder: () => EncoderLike;
  /** Where recordings of the program go (encoder/recordings.ts). */
  recordingsDir?: string;
  log: (message: string) => void;
}

/** Registers the handlers for one window; returns the undo. */
export function bindIpc(deps: IpcDeps): () => Promise<void> {
  const host = new BridgeHost({
    config: deps.config,
    createEncoder: deps.createEncoder,
    emit: (channel, ...args) => {
      if (!deps.webContents.isDestroyed()) deps.webContents.send(channel, ...args);
    },
    log: deps.log,
    ...(deps.recordingsDir ? { recordingsDir: deps.recordingsDir } : {}),
  });
  // A renderer that crashed or reloaded no longer feeds the stream, and the page that comes
  // back knows nothing of it: stop it (flushing the recording) rather than broadcast a frozen picture.
  const stopStream = (why: string) => {
    deps.log(`${why}: stopping the stream`);
    host.invoke('encoder:stop', []).catch((err: Error) => deps.log(`stopping the stream: ${err.message}`));
  };
  deps.webContents.on('render-process-gone', (_event, details) => stopStream(`the studio's renderer is gone (${details.reason})`));
  deps.webContents.on('did-start-navigation', (details) => {
    if (details.isMainFrame && !details.isSameDocument) stopStream('the studio is loading again');
  });
  const fromOurWindow = (sender: WebContents) => sender.id === deps.webContents.id;

  for (const channel of INVOKE_CHANNELS) {
    ipcMain.handle(channel, async (event, ...args: unknown[]) => {
      if (!fromOurWindow(event.sender)) throw new Error('ipc: message from an unknown window');
      try {
        return { ok: true, result: await host.invoke(channel, args) };
      } catch (err) {
        return { ok: false, error: errorReply(err) };
      }
    });
  }
  const listeners = SEND_CHANNELS.map((channel) => {
    const listener = (event: Electron.IpcMainEvent, payload: unknown, timestampMs: unknown) => {
      if (fromOurWindow(event.sender)) host.send(channel, payload, timestampMs);
    };
    ipcMain.on(channel, listener);
    return () => ipcMain.removeListener(channel, listener);
  });

  let undone = false;
  return async () => {
    if (undone) return;
    undone = true;
    for (const channel of INVOKE_CHANNELS) ipcMain.removeHandler(channel);
    for (const off of listeners) off();
    await host.dispose();
  };
}
