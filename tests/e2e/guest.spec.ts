/**
 * The guest on a phone: an invitation with its countdown, the camera and
 * microphone check, joining with a tap, their own switches on stage, and the
 * host's mute, camera block, release, removal and end of stream taking effect
 * at once. Also: what a guest who refused camera access is told.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { devices, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startApp, type RunningApp } from '../support/app';
import { launchChromium } from '../support/chromium';
import { appState, callGuestService, dropFirstJoin, guestAccepts, guestLeaves, guestSignsIn, hostGoesLive, hostInvites, hostSeatOf, invitationShown, logConsole } from '../support/flows';
import { colourClip } from '../support/media';

const FIXTURES = join(process.cwd(), 'test-results', 'fixtures');
const SHOTS = join(process.cwd(), 'test-results', 'e2e');
/** A phone: 390x844 CSS pixels, touch, mobile viewport rules. */
const PHONE = { ...devices['Pixel 7'], viewport: { width: 390, height: 844 } };

let app: RunningApp;
let hostBrowser: Browser;
let guestBrowser: Browser;
let host: Page;
let streamId: string;

test.beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const hostClip = colourClip(FIXTURES, 'host', '0xE03020', 640, 360);
  const guestClip = colourClip(FIXTURES, 'guest', '0x2050E0', 640, 360);
  app = await startApp();
  [hostBrowser, guestBrowser] = await Promise.all([launchChromium(hostClip), launchChromium(guestClip)]);
  host = await hostBrowser.newPage();
  logConsole(host, 'host');
  ({ streamId } = await hostGoesLive(host, app.studioUrl, 'Hana Host'));
});

test.afterAll(async () => {
  await hostBrowser?.close();
  await guestBrowser?.close();
  await app?.stop();
});

/** A phone-sized guest page whose captured tracks the test can inspect afterwards. */
async function phoneGuest(options: { denyMedia?: boolean; noCamera?: boolean; holdMedia?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await guestBrowser.newContext(PHONE);
  await context.addInitScript(
    ({ deny, noCamera, hold }) => {
      const media = navigator.mediaDevices;
      if (!media) return;
      const original = media.getUserMedia.bind(media);
      const captured: MediaStreamTrack[] = [];
      const page = window as unknown as { __captured: MediaStreamTrack[]; __answerPrompt?: () => void };
      page.__captured = captured;
      // The browser's permission prompt stays open until the test answers it (window.__answerPrompt()).
      const prompt = hold ? new Promise<void>((resolve) => (page.__answerPrompt = resolve)) : null;
      media.getUserMedia = async (constraints) => {
        if (prompt) await prompt;
        if (deny) throw new DOMException('Permission denied', 'NotAllowedError');
        if (noCamera && constraints?.video) throw new DOMException('Requested device not found', 'NotFoundError');
        const stream = await original(constraints);
        captured.push(...stream.getTracks());
        return stream;
      };
    },
    { deny: options.denyMedia ?? false, noCamera: options.noCamera ?? false, hold: options.holdMedia ?? false },
  );
  const page = await context.newPage();
  logConsole(page, 'guest');
  return { context, page };
}

/** How many cameras and microphones the page has opened so far. */
const capturedCount = (page: Page) => page.evaluate(() => (window as unknown as { __captured: MediaStreamTrack[] }).__captured.length);

/** How many cameras and microphones the page holds open. */
const liveTracks = (page: Page) =>
  page.evaluate(() => (window as unknown as { __captured: MediaStreamTrack[] }).__captured.filter((t) => t.readyState === 'live').length);

/** The enabled flag of the track the guest sends, by kind (from the self view's stream). */
function sentTrackEnabled(guest: Page, kind: 'audio' | 'video'): Promise<boolean | null> {
  return guest.$eval(
    '[data-testid="self-view"]',
    (el, k) => {
      const stream = (el as HTMLVideoElement).srcObject as MediaStream | null;
      const track = k === 'audio' ? stream?.getAudioTracks()[0] : stream?.getVideoTracks()[0];
      return track ? track.enabled : null;
    },
    kind,
  );
}

/** The page fits the phone's width: nothing scrolls sideways. */
async function expectNoSidewaysScroll(page: Page): Promise<void> {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
  expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
}

/** A control is on screen and big enough for a thumb (44 CSS px, as the platform guidelines ask). */
async function expectThumbSized(page: Page, testId: string, screen = { width: 390, height: 844 }): Promise<void> {
  const box = await page.getByTestId(testId).boundingBox();
  expect(box, testId).not.toBeNull();
  expect(box!.width, `${testId} width`).toBeGreaterThanOrEqual(44);
  expect(box!.height, `${testId} height`).toBeGreaterThanOrEqual(44);
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(screen.width);
  expect(box!.y).toBeGreaterThanOrEqual(0);
  expect(box!.y + box!.height).toBeLessThanOrEqual(screen.height);
}

test("a guest page whose code cannot load says so, and a reload brings it", async () => {
  const context = await guestBrowser.newContext(PHONE);
  const page = await context.newPage();
  // The guest page's own part of the code fails to arrive (a dropped connection, or an update that removed it).
  await page.route(/\/assets\/Guest-[^/]+\.js$/, (route) => route.abort('connectionreset'));
  await page.goto(app.guestUrl);
  const error = page.getByTestId('page-error');
  await expect(error).toBeVisible({ timeout: 30_000 });
  await expect(error).toContainText('The guest page could not load');
  await expectNoSidewaysScroll(page);
  await page.screenshot({ path: join(SHOTS, 'guest-page-error.png') });
  await page.unroute(/\/assets\/Guest-[^/]+\.js$/);
  await error.getByRole('button', { name: 'Reload' }).tap();
  await expect(page.getByTestId('sign-in')).toBeVisible({ timeout: 30_000 });
  await context.close();
});

test('a guest who refused camera access is told so and can still answer the invitation', async () => {
  const { context, page: guest } = await phoneGuest({ denyMedia: true });
  const guestId = await guestSignsIn(guest, app.guestUrl, 'Dana Denied');
  await hostInvites(host, guestId);

  const invitation = guest.getByTestId('invitation');
  await expect(invitation).toBeVisible({ timeout: 15_000 });
  await expect(invitation.getByTestId('countdown')).toHaveText(/^\d+s$/);
  const error = invitation.getByTestId('device-error');
  await expect(error).toHaveCount(1);
  await expect(error).toHaveAttribute('data-reason', 'permission_denied');
  await expect(error).toHaveAttribute('data-kinds', 'video audio');
  await expect(error).toHaveText(/^Camera and microphone access was denied\. Allow both for this site/);
  await expect(invitation.getByTestId('device-retry')).toBeVisible();
  // Both kinds refused: another camera or microphone would be refused too, so none is offered.
  await expect(invitation.getByTestId('camera-select')).toHaveCount(0);
  await expect(invitation.getByTestId('mic-select')).toHaveCount(0);
  await expect(invitation.getByTestId('accept')).toBeEnabled();
  await expectNoSidewaysScroll(guest);
  await guest.screenshot({ path: join(SHOTS, 'guest-denied.png') });

  await invitation.getByTestId('decline').tap();
  await expect(invitation).toHaveCount(0);
  await context.close();
});

test('a guest who accepts while the permission prompt is still open keeps the card, "Joining…", until the stage opens', async () => {
  const { context, page: guest } = await phoneGuest({ holdMedia: true });
  const guestId = await guestSignsIn(guest, app.guestUrl, 'Pia Prompt');
  await hostInvites(host, guestId);
  const invitation = guest.getByTestId('invitation');
  await expect(invitation).toBeVisible({ timeout: 15_000 });
  await invitation.getByTestId('accept').tap();
  // The seat is taken (the host sees it) and the invitation's "accepted" reaches the page while the prompt is open.
  await expect.poll(() => hostSeatOf(host, guestId), { timeout: 30_000 }).not.toBeNull();
  await guest.waitForTimeout(2000);
  await expect(invitation).toBeVisible();
  await expect(invitation.getByTestId('accept')).toHaveText('Joining…');
  await expect(guest.getByText('Waiting for an invitation')).toHaveCount(0);
  await guest.evaluate(() => (window as unknown as { __answerPrompt: () => void }).__answerPrompt());
  await expect(guest.getByTestId('guest-stage')).toHaveAttribute('data-link', 'connected', { timeout: 90_000 });
  await expect(invitation).toHaveCount(0);
  await guestLeaves(guest, 'tap');
  await expect(guest.getByTestId('guest-stage')).toHaveCount(0, { timeout: 30_000 });
  await expect.poll(() => hostSeatOf(host, guestId), { timeout: 30_000 }).toBeNull();
  await context.close();
});

test('a guest without a camera lets one invitation run out, joins on the next with the microphone alone, and leaves', async () => {
  const { context, page: guest } = await phoneGuest({ noCamera: true });
  const guestId = await guestSignsIn(guest, app.guestUrl, 'Mo Mic');
  const invitation = guest.getByTestId('invitation');

  // Unanswered, the invitation runs out: it goes away with a note, and the microphone is released.
  await hostInvites(host, guestId);
  await expect(invitation).toBeVisible({ timeout: 15_000 });
  await expect(invitation.getByTestId('prejoin')).toHaveAttribute('data-status', 'ready');
  expect(await liveTracks(guest)).toBe(1);
  await expect(invitation).toHaveCount(0, { timeout: 25_000 });
  await expect(guest.getByTestId('guest-message')).toHaveText(/The invitation from Hana Host expired/);
  await expect.poll(() => liveTracks(guest)).toBe(0);
  // The studio's feed says so by itself, not only at the next invite.
  await expect(host.getByTestId('events')).toContainText("Mo Mic didn't answer the invitation in time", { timeout: 15_000 });
  await expect(host.getByTestId('invitations').locator('li').first()).toHaveAttribute('data-status', 'expired');

  await hostInvites(host, guestId);
  await expect(invitation).toBeVisible({ timeout: 15_000 });
  const error = invitation.getByTestId('device-error');
  await expect(error).toHaveAttribute('data-kinds', 'video');
  await expect(error).toHaveAttribute('data-reason', 'device_not_found');
  await expect(error).toContainText('No camera was found');
  await expect(invitation.getByTestId('prejoin-camera-toggle')).toBeDisabled();
  await expect
    .poll(async () => Number(await invitation.getByTestId('mic-meter').getAttribute('aria-valuenow')), { timeout: 5_000, intervals: [100] })
    .toBeGreaterThan(0);

  await invitation.getByTestId('accept').tap();
  const stage = guest.getByTestId('guest-stage');
  await expect(stage).toHaveAttribute('data-link', 'connected', { timeout: 60_000 });
  await expect(guest.getByTestId('camera-toggle')).toHaveAttribute('data-state', 'off');
  await expect(guest.getByTestId('mic-toggle')).toHaveAttribute('data-state', 'on');
  await expect.poll(async () => (await hostSeatOf(host, guestId))?.camera_enabled).toBe(false);
  expect((await hostSeatOf(host, guestId))?.mic_enabled).toBe(true);

  // One tap asks to be sure and lapses on its own: the guest is still on stage, seat and all.
  const leave = guest.getByTestId('leave');
  await leave.tap();
  await expect(leave).toHaveText('Sure? Leave');
  await expect(leave).toHaveAttribute('data-state', 'ready', { timeout: 10_000 });
  await expect(leave).toHaveText('Leave');
  expect((await hostSeatOf(host, guestId))?.user_id).toBe(guestId);
  await expect(stage).toHaveAttribute('data-link', 'connected');
  await guestLeaves(guest, 'tap');
  await expect(guest.getByTestId('guest-message')).toHaveText(/You left the stage/);
  await expect.poll(() => hostSeatOf(host, guestId)).toBeNull();
  await expect.poll(() => liveTracks(guest)).toBe(0);
  await context.close();
});

test('a guest whose phone clock runs 25 s fast still sees the invitation with its 20 s countdown, also after a reload', async () => {
  const { context, page: guest } = await phoneGuest();
  await guest.clock.install();
  await guestSignsIn(guest, app.guestUrl, 'Fay Fast');
  const guestId = (await guest.getByTestId('user-id').textContent())!.trim();
  await guest.clock.setSystemTime(Date.now() + 25_000);
  const invitation = await invitationShown(host, guest, guestId);
  // Reloaded, the page has no live row to learn its clock's error from: it reads the database's clock, and the
  // invitation it lists again is still open.
  await guest.reload();
  expect(await guest.evaluate(() => Date.now() - performance.timeOrigin - performance.now())).toBeGreaterThan(20_000);
  await expect(invitation).toBeVisible({ timeout: 15_000 });
  await invitation.getByTestId('decline').tap();
  await expect(invitation).toHaveCount(0);
  await context.close();
});

/** The state of the host's link to a guest, as the studio shows it (null: no call). */
const hostLinkTo = async (guestId: string) => (await appState<Record<string, string | null>>(host, 'links'))[guestId] ?? null;

/** A phone guest signed in, invited, accepted and connected to the host. */
async function phoneGuestOnStage(name: string): Promise<{ context: BrowserContext; page: Page; guestId: string }> {
  const { context, page } = await phoneGuest();
  const guestId = await guestSignsIn(page, app.guestUrl, name);
  await hostInvites(host, guestId);
  await guestAccepts(page);
  await expect.poll(() => hostLinkTo(guestId), { timeout: 30_000 }).toBe('connected');
  return { context, page, guestId };
}

test('a guest whose page reloads on stage rejoins their seat, or gives it back', async () => {
  const { context, page: guest, guestId } = await phoneGuestOnStage('Rae Reload');

  // The page reloads on stage: it says goodbye (the host drops the call), the seat stays, and the page offers it back.
  await guest.reload();
  const held = guest.getByTestId('held-seat');
  await expect(held).toBeVisible({ timeout: 30_000 });
  await expect(held).toContainText('Hana Host');
  await expect(held.getByTestId('prejoin')).toHaveAttribute('data-status', 'ready', { timeout: 15_000 });
  await expect.poll(() => hostLinkTo(guestId), { timeout: 20_000 }).not.toBe('connected');
  expect(await hostSeatOf(host, guestId)).not.toBeNull();
  await guest.screenshot({ path: join(SHOTS, 'guest-held-seat.png') });

  await held.getByTestId('rejoin').tap();
  await expect(guest.getByTestId('guest-stage')).toHaveAttribute('data-link', 'connected', { timeout: 60_000 });
  await expect.poll(() => hostLinkTo(guestId), { timeout: 30_000 }).toBe('connected');

  // Reloaded again, the guest gives the seat back instead.
  await guest.reload();
  await expect(held).toBeVisible({ timeout: 30_000 });
  await held.getByTestId('leave-seat').tap();
  await expect(guest.getByTestId('guest-message')).toHaveText(/You left the stage/);
  await expect(held).toHaveCount(0);
  await expect.poll(() => hostSeatOf(host, guestId)).toBeNull();
  await expect.poll(() => liveTracks(guest)).toBe(0);

  // On stage again, reloaded, and the host removes the guest while the page offers the seat back: the offer goes, with why.
  await hostInvites(host, guestId);
  await guestAccepts(guest);
  await expect.poll(() => hostLinkTo(guestId), { timeout: 30_000 }).toBe('connected');
  await guest.reload();
  await expect(held).toBeVisible({ timeout: 30_000 });
  await callGuestService(host, 'removeGuest', streamId, guestId);
  await expect(held).toHaveCount(0, { timeout: 15_000 });
  await expect(guest.getByTestId('guest-message')).toHaveText(/You were removed from the stage/);
  await expect.poll(() => liveTracks(guest)).toBe(0);
  await context.close();
});

test('a guest whose Leave cannot give the seat up keeps it offered with the camera off, and gives it up later', async () => {
  const { context, page: guest, guestId } = await phoneGuestOnStage('Lee Leaving');

  // The network loses the request that gives the seat up.
  const leaveRpc = /\/rest\/v1\/rpc\/leave_seat/;
  await guest.route(leaveRpc, (route) => route.abort('connectionreset'));
  await guestLeaves(guest, 'tap');
  await expect(guest.getByTestId('guest-message')).toHaveText(/You left the stage, but your seat could not be given up/);
  const held = guest.getByTestId('held-seat');
  await expect(held).toBeVisible({ timeout: 15_000 });
  await expect(held.getByTestId('held-why')).toContainText('you left the stage, but the seat could not be given up');
  await expect(held.getByTestId('held-devices-off')).toBeVisible();
  // Leaving turned the camera and microphone off, and the seat offered back does not turn them on again.
  await expect.poll(() => liveTracks(guest)).toBe(0);
  await guest.waitForTimeout(2000);
  expect(await liveTracks(guest)).toBe(0);
  expect(await hostSeatOf(host, guestId)).not.toBeNull();

  await guest.screenshot({ path: join(SHOTS, 'guest-held-after-leave.png') });

  // Back online, the guest gives the seat up, and no camera or microphone is opened for it.
  const opened = await capturedCount(guest);
  await guest.unroute(leaveRpc);
  await held.getByTestId('leave-seat').tap();
  await expect(guest.getByTestId('guest-message')).toHaveText(/You left the stage/);
  await expect(held).toHaveCount(0);
  await expect.poll(() => hostSeatOf(host, guestId)).toBeNull();
  expect(await liveTracks(guest)).toBe(0);
  expect(await capturedCount(guest)).toBe(opened);
  await context.close();
});

test('a guest whose live updates cannot start at first is told so, and still gets the invitation', async () => {
  const { context, page: guest } = await phoneGuest();
  // The first subscription to the guest's invitations never reaches the server (a weak network): it times out.
  const dropped = await dropFirstJoin(context, 'realtime:invitations:');
  const guestId = await guestSignsIn(guest, app.guestUrl, 'Tia Timeout');
  await expect(guest.getByTestId('guest-message')).toHaveText(/Invitations may arrive late: live updates are unavailable/, { timeout: 30_000 });
  expect(dropped()).toBe(true);
  await hostInvites(host, guestId);
  await expect(guest.getByTestId('invitation')).toBeVisible({ timeout: 20_000 });
  // The subscription holds again: the note goes.
  await expect(guest.getByTestId('guest-message')).toHaveCount(0, { timeout: 20_000 });
  await guest.getByTestId('decline').tap();
  await expect(guest.getByTestId('invitation')).toHaveCount(0);
  await context.close();
});

test('a phone guest checks devices, joins with a tap, switches, and follows the host', async () => {
  const { context, page: guest } = await phoneGuest();
  // Signing in takes a thumb too.
  await guest.goto(app.guestUrl);
  for (const id of ['display-name', 'sign-in']) await expectThumbSized(guest, id);
  const guestId = await guestSignsIn(guest, app.guestUrl, 'Gus Guest');
  await expectNoSidewaysScroll(guest);

  // The invitation arrives live, with its countdown and the device check.
  const invitation = await invitationShown(host, guest, guestId);
  await expect(invitation.getByTestId('prejoin')).toHaveAttribute('data-status', 'ready');
  expect(await invitation.getByTestId('camera-select').locator('option').count()).toBeGreaterThanOrEqual(1);
  expect(await invitation.getByTestId('mic-select').locator('option').count()).toBeGreaterThanOrEqual(1);
  await expect(invitation.getByTestId('camera-select')).not.toHaveValue('');
  await expect(invitation.getByTestId('mic-select')).not.toHaveValue('');
  await expect.poll(() => guest.$eval('[data-testid="prejoin-preview"]', (v) => (v as HTMLVideoElement).videoWidth)).toBeGreaterThan(0);
  // The fake microphone beeps: the meter moves.
  await expect
    .poll(async () => Number(await invitation.getByTestId('mic-meter').getAttribute('aria-valuenow')), { timeout: 5_000, intervals: [100] })
    .toBeGreaterThan(0);
  await expectNoSidewaysScroll(guest);
  await expectThumbSized(guest, 'accept');
  // A screen reader is told the invitation came, and who sent it; the keyboard is on the card.
  await expect(guest.getByTestId('announcer')).toContainText(/Hana Host invites you to go live\. \d+ seconds to answer\./);
  await guest.screenshot({ path: join(SHOTS, 'guest-prejoin.png') });

  // Join with a tap; the guest reaches the host peer to peer and sees the program.
  await invitation.getByTestId('accept').tap();
  const stage = guest.getByTestId('guest-stage');
  await expect(stage.getByTestId('announcer')).toHaveText(/^You are on stage, seat \d+, with Hana Host\.$/);
  await expect(stage).toHaveAttribute('data-link', 'connected', { timeout: 60_000 });
  await expect.poll(() => guest.$eval('[data-testid="program-view"]', (v) => (v as HTMLVideoElement).videoWidth), { timeout: 30_000 }).toBeGreaterThan(0);
  for (const id of ['mic-toggle', 'camera-toggle', 'devices-toggle', 'leave']) await expectThumbSized(guest, id);
  await expectNoSidewaysScroll(guest);
  await guest.screenshot({ path: join(SHOTS, 'guest-stage.png') });
  // Turned sideways, the controls stand in a column on the right and the program takes the height left.
  await guest.setViewportSize({ width: 844, height: 390 });
  await expectNoSidewaysScroll(guest);
  for (const id of ['mic-toggle', 'camera-toggle', 'devices-toggle', 'leave', 'fullscreen']) await expectThumbSized(guest, id, { width: 844, height: 390 });
  const leaveBox = (await guest.getByTestId('leave').boundingBox())!;
  const programBox = (await guest.getByTestId('program-view').boundingBox())!;
  expect(leaveBox.x).toBeGreaterThanOrEqual(programBox.x + programBox.width);
  expect(programBox.height).toBeGreaterThan(390 * 0.7);
  await guest.screenshot({ path: join(SHOTS, 'guest-stage-landscape.png') });
  // Full screen, and back.
  const fullscreen = guest.getByTestId('fullscreen');
  await fullscreen.tap();
  await expect(fullscreen).toHaveAttribute('data-state', 'on');
  expect(await guest.evaluate(() => document.fullscreenElement === document.documentElement)).toBe(true);
  await fullscreen.tap();
  await expect(fullscreen).toHaveAttribute('data-state', 'off');
  expect(await guest.evaluate(() => document.fullscreenElement)).toBeNull();
  await guest.setViewportSize({ width: 390, height: 844 });

  // The guest mutes and unmutes: the track and the seat row the host sees follow.
  const mic = guest.getByTestId('mic-toggle');
  await mic.tap();
  await expect(mic).toHaveAttribute('data-state', 'off');
  expect(await sentTrackEnabled(guest, 'audio')).toBe(false);
  await expect.poll(async () => (await hostSeatOf(host, guestId))?.mic_enabled).toBe(false);
  await mic.tap();
  await expect(mic).toHaveAttribute('data-state', 'on');
  expect(await sentTrackEnabled(guest, 'audio')).toBe(true);
  await expect.poll(async () => (await hostSeatOf(host, guestId))?.mic_enabled).toBe(true);

  // Camera off and on, likewise.
  const camera = guest.getByTestId('camera-toggle');
  await camera.tap();
  await expect(camera).toHaveAttribute('data-state', 'off');
  expect(await sentTrackEnabled(guest, 'video')).toBe(false);
  await expect.poll(async () => (await hostSeatOf(host, guestId))?.camera_enabled).toBe(false);
  await camera.tap();
  await expect(camera).toHaveAttribute('data-state', 'on');
  await expect.poll(async () => (await hostSeatOf(host, guestId))?.camera_enabled).toBe(true);

  // Another microphone while live: the track is replaced on the same connection.
  await guest.getByTestId('devices-toggle').tap();
  const micSelect = guest.getByTestId('device-sheet').getByTestId('mic-select');
  const micIds = await micSelect.locator('option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value).filter(Boolean));
  const currentMic = await micSelect.inputValue();
  const otherMic = micIds.find((id) => id !== currentMic);
  expect(otherMic, 'Chromium lists more than one fake microphone').toBeDefined();
  await micSelect.selectOption(otherMic!);
  await expect(micSelect).toHaveValue(otherMic!);
  await expect
    .poll(() => guest.$eval('[data-testid="self-view"]', (v) => ((v as HTMLVideoElement).srcObject as MediaStream).getAudioTracks()[0]?.getSettings().deviceId))
    .toBe(otherMic);
  await expect(stage).toHaveAttribute('data-link', 'connected');
  expect(await sentTrackEnabled(guest, 'audio')).toBe(true);
  // The old microphone is released: one camera and one microphone are live.
  await expect.poll(() => liveTracks(guest)).toBe(2);
  await guest.getByTestId('device-sheet').getByRole('button', { name: 'Done' }).tap();
  // The sheet's Done went with it: the keyboard is back on the Devices button, not at the top of the page.
  await expect(guest.getByTestId('devices-toggle')).toBeFocused();

  // The host mutes the guest: off at once, and the guest cannot undo it (the database refuses).
  await callGuestService(host, 'muteGuest', streamId, guestId);
  await expect(mic).toHaveAttribute('data-state', 'host');
  await expect(mic).toContainText('Muted by host');
  await expect(stage.getByTestId('announcer')).toHaveText('The host muted your microphone.');
  expect(await sentTrackEnabled(guest, 'audio')).toBe(false);
  await mic.tap();
  await expect(guest.getByTestId('stage-notice')).toContainText('The host muted your microphone');
  await expect(mic).toHaveAttribute('data-state', 'host');
  expect(await sentTrackEnabled(guest, 'audio')).toBe(false);
  expect((await hostSeatOf(host, guestId))?.mic_enabled).toBe(false);

  // The host turns the camera off, likewise.
  await callGuestService(host, 'disableGuestCamera', streamId, guestId);
  await expect(camera).toHaveAttribute('data-state', 'host');
  await expect(stage.getByTestId('announcer')).toHaveText('The host turned your camera off.');
  expect(await sentTrackEnabled(guest, 'video')).toBe(false);
  await guest.screenshot({ path: join(SHOTS, 'guest-stage-moderated.png') });

  // Released: the guest may turn both back on.
  await callGuestService(host, 'unmuteGuest', streamId, guestId);
  await callGuestService(host, 'enableGuestCamera', streamId, guestId);
  await expect(mic).toHaveAttribute('data-state', 'off');
  await expect(camera).toHaveAttribute('data-state', 'off');
  await mic.tap();
  await camera.tap();
  await expect(mic).toHaveAttribute('data-state', 'on');
  await expect(camera).toHaveAttribute('data-state', 'on');
  expect(await sentTrackEnabled(guest, 'audio')).toBe(true);
  expect(await sentTrackEnabled(guest, 'video')).toBe(true);
  await expect.poll(async () => (await hostSeatOf(host, guestId))?.mic_enabled).toBe(true);

  // The host removes the guest: back to waiting, told why, every camera and microphone stopped.
  await callGuestService(host, 'removeGuest', streamId, guestId);
  await expect(guest.getByTestId('guest-message')).toHaveText(/You were removed from the stage/);
  await expect(stage).toHaveCount(0);
  await expect(guest.getByTestId('user-id')).toHaveText(guestId);
  await expect.poll(() => liveTracks(guest)).toBe(0);

  // Invited again and back on stage; the host ends the stream.
  await hostInvites(host, guestId);
  await expect(invitation).toBeVisible({ timeout: 15_000 });
  await expect(invitation.getByTestId('prejoin')).toHaveAttribute('data-status', 'ready');
  await invitation.getByTestId('accept').tap();
  await expect(stage).toHaveAttribute('data-link', 'connected', { timeout: 60_000 });
  // Another guest is invited, and the host withdraws it; invited again, the host ends the stream before they answer.
  const other = await phoneGuest();
  const otherId = await guestSignsIn(other.page, app.guestUrl, 'Ola Other');
  await hostInvites(host, otherId);
  await expect(other.page.getByTestId('invitation')).toBeVisible({ timeout: 15_000 });
  await host.getByTestId('cancel-invitation').click();
  await expect(other.page.getByTestId('guest-message')).toHaveText(/Hana Host withdrew the invitation\./, { timeout: 15_000 });
  await hostInvites(host, otherId);
  await expect(other.page.getByTestId('invitation')).toBeVisible({ timeout: 15_000 });
  await host.getByTestId('end-live').click();
  await expect(guest.getByTestId('guest-message')).toHaveText(/The stream has ended/, { timeout: 30_000 });
  await expect.poll(() => liveTracks(guest)).toBe(0);
  await expect(other.page.getByTestId('guest-message')).toHaveText(/Hana Host's stream has ended: the invitation is void\./, { timeout: 15_000 });
  await expect(other.page.getByTestId('invitation')).toHaveCount(0);
  await other.context.close();
  await context.close();
});
