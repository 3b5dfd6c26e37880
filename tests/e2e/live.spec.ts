/**
 * The walking skeleton end to end: a host and one guest go live through the
 * browser studio, the local backend and a real RTMP server; the ingested
 * stream is decoded and checked.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import type { Browser, Page } from 'playwright-core';
import { startApp, type RunningApp } from '../support/app';
import { launchChromium } from '../support/chromium';
import { appState, dropFirstJoin, invitationShown, logConsole } from '../support/flows';
import { execFileSync } from 'node:child_process';
import { FFMPEG, FFPROBE, colourClip, frameRate, frameRgb, pixel, probe, recordRtmp, volumeStats } from '../support/media';

const FIXTURES = join(process.cwd(), 'test-results', 'fixtures');
// Host camera orange-red, guest camera blue: the program's halves must show each.
const HOST_COLOUR = '0xE03020';
const GUEST_COLOUR = '0x2050E0';

let app: RunningApp;
let hostBrowser: Browser;
let guestBrowser: Browser;

test.beforeAll(async () => {
  const hostClip = colourClip(FIXTURES, 'host', HOST_COLOUR, 640, 360);
  const guestClip = colourClip(FIXTURES, 'guest', GUEST_COLOUR, 640, 360);
  app = await startApp();
  [hostBrowser, guestBrowser] = await Promise.all([launchChromium(hostClip), launchChromium(guestClip)]);
});

test.afterAll(async () => {
  await hostBrowser?.close();
  await guestBrowser?.close();
  await app?.stop();
});

/** Average colour of a 16x16 patch of a video element's current frame, in page coordinates of the frame. */
async function videoPatch(page: Page, selector: string, fx: number, fy: number): Promise<[number, number, number]> {
  return page.$eval(
    selector,
    (el, [x, y]) => {
      const video = el as HTMLVideoElement;
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(video, 0, 0);
      const px = ctx.getImageData(Math.floor(x! * canvas.width) - 8, Math.floor(y! * canvas.height) - 8, 16, 16).data;
      const sum = [0, 0, 0];
      for (let i = 0; i < px.length; i += 4) for (let c = 0; c < 3; c++) sum[c]! += px[i + c]!;
      const n = px.length / 4;
      return [sum[0]! / n, sum[1]! / n, sum[2]! / n] as [number, number, number];
    },
    [fx, fy],
  );
}

const isHostColour = ([r, g, b]: number[]) => r! > 150 && g! < 110 && b! < 100;
const isGuestColour = ([r, g, b]: number[]) => b! > 150 && r! < 100 && g! < 130;

test('host and guest go live end to end', async () => {
  const host = await hostBrowser.newPage();
  const guest = await guestBrowser.newPage({ viewport: { width: 390, height: 844 } });
  logConsole(host, 'host');
  logConsole(guest, 'guest');

  // The host signs in and goes live.
  await host.goto(app.studioUrl);
  await host.getByTestId('display-name').fill('Hana Host');
  await host.getByTestId('sign-in').click();
  await expect(host.getByTestId('studio')).toBeVisible();
  // A copy of the program on this computer too: the app names the file in its recordings folder.
  await host.getByTestId('record').selectOption('mkv');
  await host.getByTestId('go-live').click();
  await expect(host.getByTestId('phase')).toHaveText('LIVE', { timeout: 60_000 });
  // Go live went with the click: the keyboard is on End live, which took its place.
  await expect(host.getByTestId('end-live')).toBeFocused();
  await expect(host.getByTestId('recording')).toContainText(/Recording to .*recordings\/Roast Live [\d -]+\.mkv/);
  const recordingPath = (await host.getByTestId('recording').locator('code').textContent())!;
  const publishUrl = await appState<string>(host, 'publishTarget');
  expect(publishUrl).toMatch(/^rtmp:\/\/127\.0\.0\.1:\d+\/live\/.+/);

  // The guest signs in on the guest page served by the local backend.
  await guest.goto(app.guestUrl);
  await guest.getByTestId('display-name').fill('Gus Guest');
  await guest.getByTestId('sign-in').click();
  const guestId = (await guest.getByTestId('user-id').textContent())!.trim();
  expect(guestId).toMatch(/^[0-9a-f-]{36}$/);

  // By name: a name nobody has is said so; the guest's name finds them, and a double click invites once. Cancelled, it
  // shows as such.
  await host.getByTestId('invitee-id').fill('Nobody Here');
  await host.getByTestId('invite').click();
  await expect(host.getByRole('alert')).toContainText('Nobody called “Nobody Here” was found');
  await host.getByTestId('invitee-id').fill('Gus Gu');
  await host.getByRole('button', { name: 'Invite Gus Guest' }).dblclick();
  const rows = host.getByTestId('invitations').locator('li');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-status', 'pending');
  await host.getByRole('button', { name: 'Cancel the invitation to Gus Guest' }).click();
  await expect(rows.first()).toHaveAttribute('data-status', 'cancelled');

  // The host invites the guest by id; the guest sees it live with its countdown.
  const invitation = await invitationShown(host, guest, guestId);
  await invitation.getByTestId('accept').click();

  // Both sides connect peer to peer.
  await expect(guest.getByTestId('guest-stage')).toHaveAttribute('data-link', 'connected', { timeout: 60_000 });
  const seat = host.locator(`[data-testid^="seat-"][data-user="${guestId}"]`);
  await expect(seat).toHaveCount(1);
  await expect(seat.getByTestId('link-state')).toHaveText('connected', { timeout: 30_000 });

  /** Host on the left, guest on the right, in a video element showing the program. */
  const showsBoth = (page: Page, selector: string, timeout: number) =>
    expect
      .poll(async () => {
        const left = await videoPatch(page, selector, 0.25, 0.5);
        const right = await videoPatch(page, selector, 0.75, 0.5);
        return isHostColour(left) && isGuestColour(right);
      }, { timeout, intervals: [1000] })
      .toBe(true);

  // The guest sees the host's composite live: host on the left, themselves on the right.
  await showsBoth(guest, '[data-testid="program-view"]', 60_000);
  // The host sends the 720p program scaled to the return cap (640x360 up to four people), or smaller if WebRTC adapts.
  const returned = await guest.$eval('[data-testid="program-view"]', (v) => [(v as HTMLVideoElement).videoWidth, (v as HTMLVideoElement).videoHeight]);
  expect(returned[0]).toBeGreaterThan(0);
  expect(returned[0]).toBeLessThanOrEqual(640);
  expect(returned[1]).toBeLessThanOrEqual(360);

  // So does the studio's preview: a video of the program where the CPU compositor runs (software GL, as in headless
  // Chromium here); the GPU compositor draws it on a canvas the page cannot read back, which is said, not passed over.
  const compositor = await expect
    .poll(async () => (await appState<{ compositor?: string | null }>(host, 'pipeline')).compositor ?? null)
    .not.toBeNull()
    .then(async () => (await appState<{ compositor: string }>(host, 'pipeline')).compositor);
  if (compositor === 'cpu') await showsBoth(host, '[data-testid="program-preview"]', 30_000);
  else {
    expect(compositor).toBe('gpu');
    test.info().annotations.push({ type: 'not checked', description: 'the studio preview: the GPU compositor draws it on a canvas this test cannot read' });
    console.log('[live.spec] studio preview not checked: the GPU compositor draws it on a canvas this test cannot read');
  }

  // The ingest receives H.264 1280x720 ~30 fps + AAC 48 kHz with both sources side by side.
  const dir = join(process.cwd(), 'test-results', 'e2e');
  mkdirSync(dir, { recursive: true });
  const recording = join(dir, 'program.flv');
  await recordRtmp(publishUrl, recording, 6);
  const streams = probe(recording);
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  expect(video).toMatchObject({ codec_name: 'h264', width: 1280, height: 720 });
  expect(frameRate(video!.avg_frame_rate ?? video!.r_frame_rate)).toBeGreaterThan(25);
  expect(frameRate(video!.avg_frame_rate ?? video!.r_frame_rate)).toBeLessThan(35);
  expect(audio).toMatchObject({ codec_name: 'aac', sample_rate: '48000' });

  // Screenshots and a decoded frame for people to look at (kept with the test results).
  await host.screenshot({ path: join(dir, 'studio.png') });
  await guest.screenshot({ path: join(dir, 'guest.png') });
  execFileSync(FFMPEG, ['-v', 'error', '-y', '-ss', '4', '-i', recording, '-frames:v', '1', join(dir, 'program-frame.png')]);

  const rgb = frameRgb(recording, 4, 1280, 720);
  expect(isHostColour(pixel(rgb, 1280, 320, 360))).toBe(true);
  expect(isGuestColour(pixel(rgb, 1280, 960, 360))).toBe(true);
  const volume = volumeStats(recording);
  expect(volume.max).toBeGreaterThan(-50);

  // A viewer plays the ingest over HLS and sees the guest events.
  const streamRow = await appState<{ id: string }>(host, 'stream');
  const viewer = await guestBrowser.newPage();
  logConsole(viewer, 'viewer');
  // The studio's links are the web app's own addresses (they open from the desktop app too, and can be shared).
  const watchUrl = app.guestUrl.replace('#/guest', `#/watch?stream=${streamRow.id}`);
  expect(await host.getByTestId('watch-link').getAttribute('href')).toBe(watchUrl);
  expect(await host.getByTestId('guest-link').getAttribute('href')).toBe(app.guestUrl);
  await viewer.goto(watchUrl);
  await expect(viewer.getByTestId('events')).toContainText('Gus Guest joined the stage');
  await expect(viewer.getByTestId('stream-status')).toHaveText('LIVE');
  await expect
    .poll(() => viewer.$eval('[data-testid="player"]', (v) => (v as HTMLVideoElement).currentTime), { timeout: 60_000, intervals: [1000] })
    .toBeGreaterThan(0.5);
  expect(await viewer.$eval('[data-testid="player"]', (v) => (v as HTMLVideoElement).videoWidth)).toBe(1280);
  // It starts muted, as browsers let autoplay start; one tap turns the sound on.
  expect(await viewer.$eval('[data-testid="player"]', (v) => (v as HTMLVideoElement).muted)).toBe(true);
  await viewer.getByTestId('player-unmute').click();
  await expect.poll(() => viewer.$eval('[data-testid="player"]', (v) => (v as HTMLVideoElement).muted)).toBe(false);
  await expect(viewer.getByTestId('player-unmute')).toHaveCount(0);
  // Whether the page plays the show's last seconds after it ends, in the same player, sound on (seen below).
  await viewer.evaluate(() => {
    const seen = { finishing: false };
    (window as unknown as { __seen: typeof seen }).__seen = seen;
    const before = document.querySelector<HTMLVideoElement>('[data-testid="player"]');
    new MutationObserver(() => {
      const ending = document.querySelector<HTMLVideoElement>('[data-testid="player"][data-ending="yes"]');
      if (document.querySelector('[data-testid="watch-finishing"]') && ending !== null && ending === before && !ending.muted) seen.finishing = true;
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });

  // The host shares a screen: it becomes a program source, spotlighted; stopping restores the grid.
  await host.getByTestId('share-screen').click();
  await expect(host.getByTestId('share-screen')).toHaveAttribute('data-state', 'on');
  expect(await appState<string>(host, 'layout')).toBe('spotlight');
  await expect(host.getByTestId('layout-spotlight')).toHaveAttribute('aria-checked', 'true');
  // At the ingest: the shared screen fills the left three quarters; host and guest stack in the strip.
  await host.waitForTimeout(2000);
  const shared = join(dir, 'program-screen-share.flv');
  await recordRtmp(publishUrl, shared, 5);
  execFileSync(FFMPEG, ['-v', 'error', '-y', '-ss', '3', '-i', shared, '-frames:v', '1', join(dir, 'program-screen-share.png')]);
  const spot = frameRgb(shared, 3, 1280, 720);
  const screenCentre = pixel(spot, 1280, 480, 360);
  if (!(screenCentre[1]! > 100 && screenCentre[0]! < 120)) {
    // Say what the pipeline was doing, and what the studio's preview shows.
    const state = await host.evaluate(() => {
      const s = (window as unknown as { __roast: { getState: () => Record<string, unknown> } }).__roast.getState();
      return { pipeline: s.pipeline, stats: s.stats, layout: s.layout, focusId: s.focusId, renderMs: s.renderMs };
    });
    console.log(`screen share not at the ingest; studio state: ${JSON.stringify(state)}`);
    await host.screenshot({ path: join(dir, 'studio-screen-share.png'), fullPage: true });
  }
  // Chromium's fake screen is green (a green disc on dark green), unlike either camera.
  expect(screenCentre[1]! > 100 && screenCentre[0]! < 120 && screenCentre[2]! < 100, `screen area ${screenCentre}`).toBe(true);
  expect(isHostColour(pixel(spot, 1280, 1120, 180))).toBe(true);
  expect(isGuestColour(pixel(spot, 1280, 1120, 540))).toBe(true);
  await host.getByTestId('share-screen').click();
  await expect(host.getByTestId('share-screen')).toHaveAttribute('data-state', 'off');
  expect(await appState<string>(host, 'layout')).toBe('grid');

  // The host ends the stream cleanly.
  await host.getByTestId('end-live').click();
  await expect(host.getByTestId('phase')).toHaveText('ended', { timeout: 30_000 });
  // The viewer hears it live: the player plays the seconds it is behind, then goes; the page says the stream has
  // ended, the feed has the last word.
  await expect(viewer.getByTestId('watch-waiting')).toHaveText('This stream has ended.', { timeout: 75_000 });
  await expect(viewer.getByTestId('player')).toHaveCount(0);
  expect(await viewer.evaluate(() => (window as unknown as { __seen: { finishing: boolean } }).__seen.finishing)).toBe(true);
  await expect(viewer.getByTestId('events')).toContainText('ended the stream');
  // Another stream in the same tab's link is another page: nothing of this one's status or feed stays.
  await viewer.evaluate(() => (window.location.hash = '#/watch?stream=00000000-0000-4000-8000-000000000000'));
  await expect(viewer.getByTestId('watch-error')).toContainText('This stream does not exist');
  await expect(viewer.getByTestId('stream-status')).toHaveCount(0);
  await expect(viewer.getByTestId('events')).not.toContainText('Gus Guest');
  await viewer.evaluate((id) => (window.location.hash = `#/watch?stream=${id}`), streamRow.id);
  await expect(viewer.getByTestId('watch-waiting')).toHaveText('This stream has ended.');
  await expect(viewer.getByTestId('watch-error')).toHaveCount(0);
  // The network fails as the page opens, for longer than the client's own three retries of a read (1, 2 and 4 s): the
  // reads of the stream and its events fail, the page says so, and reads again until it works.
  const reads = /\/rest\/v1\/(streams|stream_guest_events)\?/;
  let failed = 0;
  await viewer.route(reads, (route) => (failed++ < 8 ? route.abort('connectionreset') : route.fallback()));
  await viewer.reload();
  await expect(viewer.getByTestId('watch-error')).toBeVisible({ timeout: 15_000 });
  await expect(viewer.getByTestId('watch-waiting')).toHaveText('This stream has ended.', { timeout: 15_000 });
  await expect(viewer.getByTestId('events')).toContainText('ended the stream');
  await expect(viewer.getByTestId('watch-error')).toHaveCount(0);
  expect(failed).toBeGreaterThan(8);
  await viewer.unroute(reads);
  // Live updates of the stream cannot start as a page opens (its first join never reaches the server): the page says
  // so, still shows the stream and its feed, and the note goes once they hold (a viewer who came early sees the start).
  const lateViewer = await guestBrowser.newPage();
  logConsole(lateViewer, 'late viewer');
  const joinDropped = await dropFirstJoin(lateViewer, 'realtime:stream:');
  await lateViewer.goto(watchUrl);
  await expect(lateViewer.getByTestId('watch-error')).toContainText('looks again every few seconds', { timeout: 30_000 });
  await expect(lateViewer.getByTestId('watch-waiting')).toHaveText('This stream has ended.');
  await expect(lateViewer.getByTestId('events')).toContainText('ended the stream');
  await expect(lateViewer.getByTestId('watch-error')).toHaveCount(0, { timeout: 30_000 });
  expect(joinDropped()).toBe(true);
  await lateViewer.close();
  // The recording was flushed with the stop: the whole show, H.264 and AAC as the ingest got it.
  await expect(host.getByTestId('recording')).toContainText('Recording saved to');
  const recorded = probe(recordingPath);
  expect(recorded.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
  const recordedSeconds = Number(execFileSync(FFPROBE, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', recordingPath]).toString());
  expect(recordedSeconds).toBeGreaterThan(10);
});

test('a browser that cannot composite the program says so, and its camera and microphone are let go, also after Try again', async () => {
  const page = await hostBrowser.newPage();
  logConsole(page, 'host');
  // As Firefox or Safari: no MediaStreamTrackProcessor. Every track the page opens is kept to look at.
  await page.addInitScript(() => {
    delete (window as { MediaStreamTrackProcessor?: unknown }).MediaStreamTrackProcessor;
    const opened: MediaStreamTrack[] = [];
    (window as unknown as { openedTracks: MediaStreamTrack[] }).openedTracks = opened;
    const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = async (constraints) => {
      const stream = await getUserMedia(constraints);
      opened.push(...stream.getTracks());
      return stream;
    };
  });
  await page.goto(app.studioUrl);
  await page.getByTestId('display-name').fill('Firefox Fan');
  await page.getByTestId('sign-in').click();
  const liveTracks = () => page.evaluate(() => (window as unknown as { openedTracks: MediaStreamTrack[] }).openedTracks.map((t) => t.readyState));
  for (let attempt = 0; attempt < 2; attempt++) {
    await expect(page.getByTestId('device-error')).toContainText('This browser cannot composite the program');
    await expect.poll(liveTracks).toContain('ended');
    expect(await liveTracks()).not.toContain('live');
    await page.getByTestId('device-retry').click();
  }
  await page.close();
});
