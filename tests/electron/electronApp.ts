/** Finds Electron's binary and launches the built app, for the Playwright-Electron specs. */
import { execFileSync } from 'node:child_process';
import { findElectronBinary } from '../../src/main/electronBinary';
import { _electron as electron, type ElectronApplication, type Page } from 'playwright-core';

export function electronPath(): { path: string } | { why: string } {
  const found = findElectronBinary();
  return 'path' in found ? found : { why: `Electron's binary is not installed (${found.missing})` };
}

export const found = electronPath();
export const skipReason = 'why' in found ? `${found.why}; these specs need the Electron binary (WITH_ELECTRON=1 scripts/bootstrap, with internet access)` : '';
if (skipReason) console.log(`tests/electron skipped: ${skipReason}`);

let built = false;

/** Builds main, preload and renderer once, then launches the app on the embedded backend. */
export async function launchStudio(): Promise<{ app: ElectronApplication; window: Page }> {
  if (!('path' in found)) throw new Error(skipReason);
  if (!built) {
    execFileSync('npx', ['electron-vite', 'build'], { stdio: 'inherit' });
    built = true;
  }
  const app = await electron.launch({
    executablePath: found.path,
    args: ['.', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
    env: { ...process.env, SUPABASE_URL: '', SUPABASE_ANON_KEY: '' },
  });
  const window = await app.firstWindow();
  return { app, window };
}

/** The guest page of the app's local backend, as guests' browsers open it. */
export async function guestUrlOf(window: Page): Promise<string> {
  const config = await window.evaluate(() => (window as unknown as { nativeBridge: { invoke: (c: string) => Promise<{ supabaseUrl: string }> } }).nativeBridge.invoke('app:config'));
  return `${config.supabaseUrl}/app/#/guest`;
}
