/**
 * Electron entry: one sandboxed window, a strict CSP, no popups or navigation.
 * Uses a hosted Supabase project when SUPABASE_URL and SUPABASE_ANON_KEY are
 * set; otherwise starts the embedded local backend.
 */
import { app, BrowserWindow, desktopCapturer, dialog, session, shell } from 'electron';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AppConfig } from '../shared/bridge.js';
import { webAppUrlFromEnv } from '../shared/appLinks.js';
import { bindIpc } from './ipc.js';
import { createProgramOutputs } from './encoder/ProgramOutputs.js';
import { portFromEnv } from '../local/env.js';
import { startLocalStack, type LocalStack } from '../local/stack.js';
import { ffmpegForIngest } from './encoder/ffmpegPath.js';
import { contentSecurityPolicy } from './csp.js';
import { chosenSource, screenChoice } from './screenChoice.js';
import { grantsPermission } from './permissions.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const log = (message: string) => console.log(`[studio] ${message}`);
let stack: LocalStack | null = null;

async function resolveConfig(): Promise<Omit<AppConfig, 'shell'>> {
  // Checked before anything starts: a mistyped address is said at once, with no backend left to stop.
  const configuredWebApp = webAppUrlFromEnv(process.env);
  const url = process.env.SUPABASE_URL;
  const key = process.env.SUPABASE_ANON_KEY;
  if (url && key) return { supabaseUrl: url, supabaseAnonKey: key, ...configuredWebApp };
  // The same settings as the browser studio's `npm start`; the data lives with the app's other data by default.
  stack = await startLocalStack({
    dataDir: process.env.DATA_DIR || join(app.getPath('userData'), 'local-backend'),
    databaseUrl: process.env.DATABASE_URL || undefined,
    apiDatabaseUrl: process.env.API_DATABASE_URL || undefined,
    port: portFromEnv('API_PORT'),
    dbPort: portFromEnv('DB_PORT'),
    rtmpPort: portFromEnv('RTMP_PORT'),
    ingestHttpPort: portFromEnv('INGEST_HTTP_PORT'),
    denoDir: join(app.getPath('userData'), 'deno'),
    // The packaged app carries the functions' packages (npm run dist): its first start may be offline.
    ...(app.isPackaged ? { seedDenoDir: join(process.resourcesPath, 'deno-cache') } : {}),
    staticDir: join(here, '../renderer'),
    ingestUrl: process.env.LOCAL_RTMP_URL || undefined,
    playbackUrlTemplate: process.env.LOCAL_PLAYBACK_URL_TEMPLATE || undefined,
    ffmpegPath: ffmpegForIngest(log),
    log,
  });
  log(`local backend at ${stack.apiUrl}; guests join at ${stack.apiUrl}/app/#/guest`);
  return { supabaseUrl: stack.apiUrl, supabaseAnonKey: stack.anonKey, webAppUrl: configuredWebApp.webAppUrl ?? `${stack.apiUrl}/app/` };
}

async function createWindow(): Promise<void> {
  const config = await resolveConfig();
  // The development server's address, in a development run only: an installed app never loads its window from elsewhere.
  const devUrl = app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL;
  const studioFile = join(here, '../renderer/index.html');
  const studioUrl = devUrl ?? pathToFileURL(studioFile).href;
  /** The studio's window, once made: only its page gets the camera, microphone and screen. */
  let studioContents: Electron.WebContents | null = null;
  const csp = contentSecurityPolicy(config.supabaseUrl, { dev: Boolean(devUrl) });
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } });
  });
  session.defaultSession.setPermissionRequestHandler((wc, permission, callback, details) => {
    callback(grantsPermission({ permission, requestingUrl: details.requestingUrl, isMainFrame: details.isMainFrame, fromStudioWindow: wc === studioContents }, studioUrl));
  });
  session.defaultSession.setPermissionCheckHandler((wc, permission, requestingOrigin, details) => {
    if (permission !== 'media') return true;
    const requestingUrl = details.requestingUrl ?? requestingOrigin;
    return grantsPermission({ permission, requestingUrl, isMainFrame: details.isMainFrame, fromStudioWindow: wc === studioContents }, studioUrl);
  });
  // Screen sharing: the system picker where the OS has one (macOS 15+); elsewhere the streamer picks a screen or
  // a window in a dialog of the app's own. Nothing is shared without a choice.
  session.defaultSession.setDisplayMediaRequestHandler(
    (_request, callback) => {
      desktopCapturer
        .getSources({ types: ['screen', 'window'], thumbnailSize: { width: 0, height: 0 } })
        .then(async (sources) => {
          const choice = screenChoice(sources);
          const owner = BrowserWindow.getFocusedWindow() ?? BrowserWindow.getAllWindows()[0];
          const options = {
            type: 'question' as const,
            title: 'Share your screen',
            message: 'What should the stream show?',
            detail: 'Everything in it goes live, notifications included.',
            buttons: choice.labels,
            cancelId: choice.labels.length - 1,
            noLink: true,
          };
          const { response } = owner ? await dialog.showMessageBox(owner, options) : await dialog.showMessageBox(options);
          const source = chosenSource(choice, response);
          callback(source ? { video: source } : {});
        })
        .catch((err: Error) => {
          log(`screen share: ${err.message}`);
          callback({});
        });
    },
    { useSystemPicker: true },
  );

  const win = new BrowserWindow({
    width: 1440,
    height: 900,
    show: false,
    title: 'Roast Live Studio',
    webPreferences: {
      preload: join(here, '../preload/index.cjs'),
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webSecurity: true,
      // A studio minimised or behind another window is still on air: its timers and animation frames keep their pace.
      backgroundThrottling: false,
    },
  });
  studioContents = win.webContents;
  const unbind = bindIpc({
    webContents: win.webContents,
    config: () => ({ ...config, shell: 'electron' }),
    createEncoder: () => createProgramOutputs(log),
    recordingsDir: process.env.ROAST_RECORDINGS_DIR || join(app.getPath('videos'), 'Roast Live Studio'),
    log,
  });
  // The window's encoder stops when it closes (ffmpeg finishing the stream and the recording): quitting waits for it.
  win.on('closed', () => {
    const stopped = unbind().catch((err: Error) => log(`encoder stop at window close: ${err.message}`));
    unbinding.add(stopped);
    void stopped.finally(() => unbinding.delete(stopped));
  });
  win.once('ready-to-show', () => win.show());
  // Links for guests and viewers (the web app: the local backend's is http) open in the system browser.
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (event) => event.preventDefault());

  if (devUrl) await win.loadURL(`${devUrl}#/studio`);
  else await win.loadFile(studioFile, { hash: '/studio' });
}

// The app's own data folder (the local backend's data, Deno's module cache, the one-instance lock) can be put
// elsewhere: the Electron specs run beside a studio a person has open.
if (process.env.ROAST_USER_DATA) app.setPath('userData', process.env.ROAST_USER_DATA);
// One studio at a time: a second launch would find the local backend's ports taken. It brings the first one forward.
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    const win = BrowserWindow.getAllWindows()[0];
    if (!win) return;
    if (win.isMinimized()) win.restore();
    win.focus();
  });
  app
    .whenReady()
    .then(createWindow)
    .catch(async (err: Error) => {
      // Started from a launcher there is no console to read: the reason is shown in a dialog.
      console.error(`Roast Live Studio could not start: ${err.message}`);
      dialog.showErrorBox('Roast Live Studio could not start', err.message);
      await stack?.stop().catch(() => {});
      stack = null;
      app.exit(1);
    });
}
app.on('window-all-closed', () => app.quit());
/** Encoders of closed windows still stopping (ffmpeg finishing its files). */
const unbinding = new Set<Promise<void>>();
app.on('will-quit', (event) => {
  if (!stack && unbinding.size === 0) return;
  event.preventDefault();
  const s = stack;
  stack = null;
  // The encoders first (their ffmpeg publishes to the local ingest and finishes the recording), then the local backend.
  void Promise.all([...unbinding])
    .then(() => s?.stop())
    .finally(() => app.quit());
});
