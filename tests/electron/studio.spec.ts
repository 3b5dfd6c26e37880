/**
 * The host side of the live flow in the Electron app itself. Runs wherever
 * Electron's binary is installed; elsewhere it is skipped with the reason.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect, test } from '@playwright/test';
import { _electron as electron } from 'playwright-core';

const require = createRequire(import.meta.url);

function electronPath(): { path: string } | { why: string } {
  try {
    const path = require('electron') as unknown as string;
    if (existsSync(path)) return { path };
    return { why: `Electron's binary is missing at ${path}` };
  } catch (err) {
    return { why: `Electron's binary is not installed (${(err as Error).message.split('\n')[0]})` };
  }
}

const found = electronPath();
if ('why' in found) console.log(`tests/electron skipped: ${found.why}. Install it with internet access (WITH_ELECTRON=1 scripts/bootstrap) to run them.`);

test.describe('Electron studio', () => {
  test.skip('why' in found, 'why' in found ? `${found.why}; these specs need the Electron binary` : '');

  test('opens a sandboxed studio window, signs in and goes live', async () => {
    if (!('path' in found)) return;
    const app = await electron.launch({ executablePath: found.path, args: ['.'], env: { ...process.env, SUPABASE_URL: '', SUPABASE_ANON_KEY: '' } });
    try {
      const window = await app.firstWindow();
      const prefs = await app.evaluate(({ BrowserWindow }) => {
        const w = BrowserWindow.getAllWindows()[0]!;
        const p = (w.webContents as unknown as { getLastWebPreferences(): Record<string, unknown> | null }).getLastWebPreferences();
        return { sandbox: p?.sandbox, contextIsolation: p?.contextIsolation, nodeIntegration: p?.nodeIntegration };
      });
      expect(prefs).toEqual({ sandbox: true, contextIsolation: true, nodeIntegration: false });
      expect(await window.evaluate(() => typeof (window as unknown as { require?: unknown }).require)).toBe('undefined');
      expect(await window.evaluate(() => Object.keys((window as unknown as { nativeBridge: object }).nativeBridge).sort())).toEqual(['invoke', 'on', 'send']);
      await window.getByTestId('display-name').fill('Electron Host');
      await window.getByTestId('sign-in').click();
      await window.getByTestId('go-live').click();
      await expect(window.getByTestId('phase')).toHaveText('LIVE', { timeout: 60_000 });
      await window.getByTestId('end-live').click();
      await expect(window.getByTestId('phase')).toHaveText('ended', { timeout: 30_000 });
    } finally {
      await app.close();
    }
  });
});
