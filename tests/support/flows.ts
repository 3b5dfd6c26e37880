/** The app's flows as a person performs them, shared by end-to-end tests and benchmarks. */
import { writeFileSync } from 'node:fs';
import { expect } from '@playwright/test';
import type { BrowserContext, Page } from 'playwright-core';
import type { GuestSeatRow } from '../../src/shared/domain';

/** Prints a page's console errors (every console message with ROAST_LOG_ALL=1) and page errors, tagged with who. */
export function logConsole(page: Page, who: string): void {
  page.on('console', (msg) => {
    if (process.env.ROAST_LOG_ALL === '1') console.log(`${new Date().toISOString().slice(11, 23)} [${who}] ${msg.text()}`);
    else if (msg.type() === 'error') console.log(`[${who}] ${msg.text()}`);
  });
  page.on('pageerror', (err) => console.log(`[${who}] page error: ${err.message}`));
}

/** Reads a value from the app's store through its test hook. */
export async function appState<T>(page: Page, key: string): Promise<T> {
  return page.evaluate((k) => {
    const s = (window as unknown as { __roast: { getState: () => Record<string, unknown> } }).__roast.getState();
    return s[k] as never;
  }, key);
}

export async function hostGoesLive(
  page: Page,
  studioUrl: string,
  name: string,
  { outputFormat, record }: { outputFormat?: string; record?: 'mkv' | 'mp4' } = {},
): Promise<{ publishUrl: string; streamId: string }> {
  await page.goto(studioUrl);
  await page.getByTestId('display-name').fill(name);
  await page.getByTestId('sign-in').click();
  await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
  if (outputFormat) await page.getByTestId('output-format').selectOption(outputFormat);
  if (record) await page.getByTestId('record').selectOption(record);
  await page.getByTestId('go-live').click();
  await expect(page.getByTestId('phase')).toHaveText('LIVE', { timeout: 60_000 });
  const publishUrl = await appState<string>(page, 'publishTarget');
  const stream = await appState<{ id: string }>(page, 'stream');
  return { publishUrl, streamId: stream.id };
}

/** A guest signs in on the guest page and returns their user id. */
export async function guestSignsIn(page: Page, guestUrl: string, name: string): Promise<string> {
  // On a machine whose cores the pages already on stage fill, loading the app alone can take tens of seconds.
  await page.goto(guestUrl, { timeout: 90_000 });
  await page.getByTestId('display-name').fill(name);
  await page.getByTestId('sign-in').click();
  const id = (await page.getByTestId('user-id').textContent())!.trim();
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id;
}

export async function hostInvites(host: Page, guestId: string): Promise<void> {
  await host.getByTestId('invitee-id').fill(guestId);
  await host.getByTestId('invite').click();
}

/** The host invites the guest, whose page shows the invitation with a countdown of the 20 s it has left (a little less: it took a moment to arrive). */
export async function invitationShown(host: Page, guest: Page, guestId: string) {
  await hostInvites(host, guestId);
  const invitation = guest.getByTestId('invitation');
  await expect(invitation).toBeVisible({ timeout: 15_000 });
  const seconds = Number((await invitation.getByTestId('countdown').textContent())!.replace('s', ''));
  expect(seconds).toBeGreaterThan(10);
  expect(seconds).toBeLessThanOrEqual(20);
  return invitation;
}

/** The guest accepts the invitation shown to them and waits until connected to the host. */
export async function guestAccepts(guest: Page): Promise<void> {
  const invitation = guest.getByTestId('invitation');
  await expect(invitation).toBeVisible({ timeout: 20_000 });
  await invitation.getByTestId('accept').click();
  await expect(guest.getByTestId('guest-stage')).toHaveAttribute('data-link', 'connected', { timeout: 90_000 });
}

/**
 * The guest leaves the stage as a person does: a first tap on Leave asks
 * "Sure? Leave" (the guest is still on stage), the second leaves.
 */
export async function guestLeaves(guest: Page, how: 'tap' | 'click' = 'click'): Promise<void> {
  const leave = guest.getByTestId('leave');
  await leave[how]();
  await expect(leave).toHaveAttribute('data-state', 'confirm');
  await expect(leave).toHaveText('Sure? Leave');
  await expect(guest.getByTestId('guest-stage')).toBeVisible();
  await leave[how]();
}

/**
 * The host invites a guest and the guest accepts, as people do on a machine
 * too busy to answer within the invitation's 20 s: when the invitation ran
 * out before the accept reached the database (the guest page says so), the
 * host invites again, up to `attempts` times (also when the guest's page did
 * not show it before it ran out). Any other refusal fails with
 * the message the guest was shown. The guest must then connect within
 * `connectTimeoutMs`.
 */
export async function inviteUntilAccepted(host: Page, guest: Page, guestId: string, { attempts = 3, connectTimeoutMs = 90_000 } = {}): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await hostInvites(host, guestId);
    const invitation = guest.getByTestId('invitation');
    // A page starved of CPU may not show it before it runs out (20 s): then the host invites again.
    const shown = await expect(invitation)
      .toBeVisible({ timeout: 20_000 })
      .then(() => true)
      .catch((err: Error) => {
        if (attempt >= attempts) throw err;
        return false;
      });
    if (!shown) {
      console.log(`the guest's page did not show the invitation before it ran out (attempt ${attempt}); inviting again`);
      continue;
    }
    // A page that shows the invitation late may see it run out under the pointer.
    await invitation.getByTestId('accept').click({ timeout: 15_000 }).catch(() => undefined);
    const stage = guest.getByTestId('guest-stage');
    const message = guest.getByTestId('guest-message');
    await expect(stage.or(message)).toBeVisible({ timeout: 60_000 });
    if (await stage.isVisible()) break;
    const text = (await message.textContent()) ?? '';
    if (!/expired|no longer|not pending/i.test(text) || attempt >= attempts) throw new Error(`the guest could not join (attempt ${attempt}): ${text}`);
    console.log(`invitation ran out before the guest's accept (attempt ${attempt}: "${text}"); inviting again`);
    await guest.getByTestId('guest-message').getByRole('button', { name: 'Dismiss' }).click();
  }
  await expect(guest.getByTestId('guest-stage')).toHaveAttribute('data-link', 'connected', { timeout: connectTimeoutMs });
}

/** Calls a method of the page's guest service (streamGuestService) as the page's signed-in user, through the test hook. */
export async function callGuestService<T>(page: Page, method: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(
    async ([name, params]) => {
      const hook = (window as unknown as { __roast: { services: { streamGuest: Record<string, (...a: unknown[]) => Promise<unknown>> } } }).__roast;
      return (await hook.services.streamGuest[name as string]!(...(params as unknown[]))) as never;
    },
    [method, args] as const,
  );
}

/** A guest's seat as the host's studio holds it (kept live from the database). */
export async function hostSeatOf(host: Page, guestId: string): Promise<GuestSeatRow | null> {
  const seats = await appState<GuestSeatRow[]>(host, 'seats');
  return seats.find((s) => s.user_id === guestId && s.left_at === null) ?? null;
}

/**
 * Records `seconds` of the audio a page receives on a media element (its
 * srcObject's audio track, as the person hears it) into `file` (WebM/Opus).
 */
export async function recordHeard(page: Page, testId: string, seconds: number, file: string): Promise<void> {
  const base64 = await page.$eval(
    `[data-testid="${testId}"]`,
    async (el, ms) => {
      const stream = (el as HTMLMediaElement).srcObject as MediaStream | null;
      const track = stream?.getAudioTracks()[0];
      if (!track) throw new Error('the element has no audio track to record');
      const recorder = new MediaRecorder(new MediaStream([track]), { mimeType: 'audio/webm;codecs=opus' });
      const chunks: Blob[] = [];
      recorder.ondataavailable = (e) => chunks.push(e.data);
      const done = new Promise<void>((resolve) => (recorder.onstop = () => resolve()));
      recorder.start(500);
      await new Promise((resolve) => setTimeout(resolve, ms));
      recorder.stop();
      await done;
      const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(binary);
    },
    seconds * 1000,
  );
  writeFileSync(file, Buffer.from(base64, 'base64'));
}

/**
 * The first Realtime join of a channel whose topic starts with `topic` never
 * reaches the server (a weak network): the client's join times out. Returns
 * whether that join was dropped yet.
 */
export async function dropFirstJoin(target: Page | BrowserContext, topic: string): Promise<() => boolean> {
  let dropped = false;
  await target.routeWebSocket(/\/realtime\/v1\/websocket/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      if (!dropped && typeof message === 'string' && message.includes('phx_join') && message.includes(topic)) {
        dropped = true;
        return;
      }
      server.send(message);
    });
  });
  return () => dropped;
}
