/**
 * The host side of the live flows in the Electron app itself. Runs wherever
 * Electron's binary is installed; elsewhere it is skipped with the reason.
 */
import { expect, test } from '@playwright/test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { appState, guestAccepts, guestSignsIn, hostInvites } from '../support/flows';
import { guestUrlOf, launchStudio, skipReason } from './electronApp';

test.describe('Electron studio', () => {
  test.skip(skipReason !== '', skipReason);
  // A first launch waits up to 3 minutes for the local backend (see launchStudio), then goes live.
  test.setTimeout(360_000);

  test('opens a sandboxed studio window, signs in and goes live', async () => {
    const { app, window } = await launchStudio();
    try {
      const prefs = await app.evaluate(({ BrowserWindow }) => {
        const w = BrowserWindow.getAllWindows()[0]!;
        const p = (w.webContents as unknown as { getLastWebPreferences(): Record<string, unknown> | null }).getLastWebPreferences();
        return { sandbox: p?.sandbox, contextIsolation: p?.contextIsolation, nodeIntegration: p?.nodeIntegration };
      });
      expect(prefs).toEqual({ sandbox: true, contextIsolation: true, nodeIntegration: false });
      expect(await window.evaluate(() => typeof (window as unknown as { require?: unknown }).require)).toBe('undefined');
      expect(await window.evaluate(() => Object.keys((window as unknown as { nativeBridge: object }).nativeBridge).sort())).toEqual(['invoke', 'on', 'send']);
      // Links go to the user's own browser (recorded here instead), never into a window of the app.
      await app.evaluate(({ shell }) => {
        const opened: string[] = [];
        Object.assign(globalThis, { __roastOpened: opened });
        shell.openExternal = async (url: string) => {
          opened.push(url);
        };
      });
      const opened = () => app.evaluate(() => (globalThis as unknown as { __roastOpened: string[] }).__roastOpened);
      // window.open never makes a window; what is not a web address is not opened at all.
      expect(await window.evaluate(() => globalThis.open('file:///etc/passwd') === null)).toBe(true);
      expect(await window.evaluate(() => globalThis.open('https://example.invalid/') === null)).toBe(true);
      await expect.poll(opened).toEqual(['https://example.invalid/']);
      await window.getByTestId('display-name').fill('Electron Host');
      await window.getByTestId('sign-in').click();
      await expect(window.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
      await window.getByTestId('go-live').click();
      await expect(window.getByTestId('phase')).toHaveText('LIVE', { timeout: 60_000 });
      // The studio's links point at the web app the local backend serves, and open in the browser.
      const watch = await window.getByTestId('watch-link').getAttribute('href');
      expect(watch).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/app\/#\/watch\?stream=[0-9a-f-]{36}$/);
      const guestPage = await window.getByTestId('guest-link').getAttribute('href');
      expect(guestPage).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/app\/#\/guest$/);
      await window.getByTestId('watch-link').click();
      await window.getByTestId('guest-link').click();
      await expect.poll(opened).toEqual(['https://example.invalid/', watch, guestPage]);
      expect(app.windows()).toHaveLength(1);
      await window.getByTestId('end-live').click();
      await expect(window.getByTestId('phase')).toHaveText('ended', { timeout: 30_000 });
    } finally {
      await app.close();
    }
  });

  test('host invites a browser guest, mutes, locks a seat and removes the guest', async () => {
    const { app, window } = await launchStudio();
    let guestBrowser: Browser | null = null;
    try {
      await window.getByTestId('display-name').fill('Electron Host');
      await window.getByTestId('sign-in').click();
      await expect(window.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
      await window.getByTestId('go-live').click();
      await expect(window.getByTestId('phase')).toHaveText('LIVE', { timeout: 60_000 });

      guestBrowser = await launchChromium();
      const guest = await guestBrowser.newPage();
      const guestId = await guestSignsIn(guest, await guestUrlOf(window), 'Browser Guest');
      await hostInvites(window, guestId);
      await guestAccepts(guest);
      const seat = window.locator(`[data-testid^="seat-"][data-user="${guestId}"]`);
      await expect(seat.getByTestId('link-state')).toHaveText('connected', { timeout: 60_000 });

      await seat.click();
      await window.getByTestId('seat-menu').getByRole('menuitem', { name: 'Mute mic' }).click();
      await expect(seat.getByTestId('mic-state')).toHaveText('muted by host');
      await window.getByTestId('seat-8').click();
      await window.getByTestId('seat-menu').getByRole('menuitem', { name: 'Lock seat' }).click();
      await expect(window.getByTestId('seat-8')).toHaveAttribute('data-locked', 'true');
      await seat.click();
      await window.getByTestId('seat-menu').getByRole('menuitem', { name: 'Remove from stage' }).click();
      await window.getByTestId('seat-menu').getByRole('menuitem', { name: /^Sure\? Remove/ }).click();
      await expect(seat).toHaveCount(0);
      const seats = await appState<Array<{ user_id: string; left_at: string | null }>>(window, 'seats');
      expect(seats.find((s) => s.user_id === guestId)).toMatchObject({ left_at: expect.any(String) });
      await window.getByTestId('end-live').click();
      await expect(window.getByTestId('phase')).toHaveText('ended', { timeout: 30_000 });
    } finally {
      await guestBrowser?.close();
      await app.close();
    }
  });
});
