/** Finds Electron's binary and launches the built app, for the Playwright-Electron specs. */
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findElectronBinary } from '../../src/main/electronBinary';
import { runPackageBin } from '../../src/main/packageBin';
import { freePort } from '../support/app';
import { _electron as electron, type ElectronApplication, type Page } from 'playwright-core';

export function electronPath(): { path: string } | { why: string } {
  const found = findElectronBinary();
  return 'path' in found ? found : { why: `Electron's binary is not installed (${found.missing})` };
}

export const found = electronPath();
export const skipReason = 'why' in found ? `${found.why}; these specs need the Electron binary (WITH_ELECTRON=1 scripts/bootstrap, with internet access)` : '';
if (skipReason) console.log(`tests/electron skipped: ${skipReason}`);

let built = false;

/**
 * Builds main, preload and renderer once, then launches the app on an embedded backend of its own: free ports and
 * a fresh data folder, never the machine's own app data or a studio already running.
 */
export async function launchStudio(): Promise<{ app: ElectronApplication; window: Page }> {
  if (!('path' in found)) throw new Error(skipReason);
  if (!built) {
    runPackageBin('electron-vite', ['build']);
    built = true;
  }
  const [api, rtmp, ingestHttp, db] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const dataDir = mkdtempSync(join(tmpdir(), 'roast-electron-'));
  // The embedded PostgreSQL runs as its own user when we are root: let it in.
  chmodSync(dataDir, 0o755);
  const app = await electron.launch({
    executablePath: found.path,
    args: ['.', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
    env: {
      ...process.env,
      SUPABASE_URL: '',
      SUPABASE_ANON_KEY: '',
      API_PORT: String(api),
      RTMP_PORT: String(rtmp),
      INGEST_HTTP_PORT: String(ingestHttp),
      DB_PORT: String(db),
      DATA_DIR: dataDir,
      ROAST_RECORDINGS_DIR: join(dataDir, 'recordings'),
      // Its own app data too: its one-instance lock and Deno's cache are not those of a studio a person has open.
      ROAST_USER_DATA: join(dataDir, 'user-data'),
    },
  });
  // The window opens once the local backend is up: its first start (Deno fetching the functions' modules) takes a while.
  const window = await app.firstWindow({ timeout: 180_000 });
  return { app, window };
}

/** The guest page of the app's local backend, as guests' browsers open it. */
export async function guestUrlOf(window: Page): Promise<string> {
  const config = await window.evaluate(() => (window as unknown as { nativeBridge: { invoke: (c: string) => Promise<{ supabaseUrl: string }> } }).nativeBridge.invoke('app:config'));
  return `${config.supabaseUrl}/app/#/guest`;
}
