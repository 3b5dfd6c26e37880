/**
 * The output format a streamer picks before going live is what the ingest
 * gets: 1080p at 30 fps, then (after ending) 720p at 60 fps, read back from
 * the RTMP stream with ffprobe; the choice is remembered on reload and cannot
 * change while live. The host switches microphone while live and is heard.
 * A host without a camera goes live on the microphone with the avatar tile,
 * and a camera connected mid-show is taken ("Try again") and shown.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import type { Browser } from 'playwright-core';
import { startApp, type RunningApp } from '../support/app';
import { launchChromium } from '../support/chromium';
import { hostGoesLive, logConsole } from '../support/flows';
import { colourClip, frameRate, frameRgb, pixel, probe, recordRtmp, volumeStats } from '../support/media';

const FIXTURES = join(process.cwd(), 'test-results', 'fixtures');
const OUT = join(process.cwd(), 'test-results', 'e2e');

let app: RunningApp;
let browser: Browser;

test.beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  app = await startApp();
  browser = await launchChromium(colourClip(FIXTURES, 'output-host', '0x20A040', 640, 360));
});

test.afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

const isGreen = ([r, g, b]: [number, number, number]) => r < 100 && g > 120 && b < 110;

/** What the ingest gets: size, frame rate, and whether the host's camera (green) fills the middle of the picture. */
async function ingested(publishUrl: string, name: string) {
  const file = join(OUT, `output-${name}.flv`);
  await recordRtmp(publishUrl, file, 4);
  const video = probe(file).find((s) => s.codec_type === 'video');
  const width = video?.width ?? 0;
  const height = video?.height ?? 0;
  const rgb = frameRgb(file, 3, width, height);
  return {
    width,
    height,
    fps: frameRate(video?.avg_frame_rate),
    hostCamera: isGreen(pixel(rgb, width, width / 2, height / 2)),
    /** Near the corner: the camera's green, or the avatar tile's dark background. */
    corner: pixel(rgb, width, 40, 40),
  };
}

test('the chosen output format reaches the ingest, is remembered, and is locked while live', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  logConsole(page, 'host');
  // Every camera and microphone the studio opens, to see which it holds.
  await page.addInitScript(() => {
    const media = navigator.mediaDevices;
    const original = media.getUserMedia.bind(media);
    const captured: MediaStreamTrack[] = [];
    (window as unknown as { __captured: MediaStreamTrack[] }).__captured = captured;
    media.getUserMedia = async (constraints) => {
      const stream = await original(constraints);
      captured.push(...stream.getTracks());
      return stream;
    };
  });
  const liveMicrophones = () =>
    page.evaluate(() =>
      (window as unknown as { __captured: MediaStreamTrack[] }).__captured.filter((t) => t.kind === 'audio' && t.readyState === 'live').map((t) => t.getSettings().deviceId),
    );

  const first = await hostGoesLive(page, app.studioUrl, 'Olive Output', { outputFormat: '1080p30' });
  await expect(page.getByTestId('output-format')).toHaveCount(0);
  // Another microphone while live: the program's voice comes from it, the old one is let go.
  const micSelect = page.getByTestId('host-devices').getByTestId('mic-select');
  await expect(micSelect).not.toHaveValue('');
  const micIds = await micSelect.locator('option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value).filter(Boolean));
  const currentMic = await micSelect.inputValue();
  const target = micIds.find((id) => id !== currentMic);
  expect(target, 'Chromium lists more than one fake microphone').toBeDefined();
  expect(await liveMicrophones()).toEqual([currentMic]);
  await micSelect.selectOption(target!);
  await expect(micSelect).toHaveValue(target!);
  await expect(page.getByTestId('action-error')).toHaveCount(0);
  // The studio holds the new microphone alone: the old one is let go.
  await expect.poll(liveMicrophones).toEqual([target]);
  expect(await ingested(first.publishUrl, '1080p30')).toMatchObject({ width: 1920, height: 1080, fps: 30, hostCamera: true });
  expect(volumeStats(join(OUT, 'output-1080p30.flv')).max, 'the new microphone is heard in the program').toBeGreaterThan(-50);
  await page.getByTestId('end-live').click();
  await expect(page.getByTestId('phase')).toHaveText('ended', { timeout: 30_000 });

  // The encoder's last word is that it stopped.
  await expect(page.getByTestId('encoder-state')).toHaveText('stopped');
  await page.getByTestId('output-format').selectOption('720p60');
  await page.waitForTimeout(2000);
  await page.screenshot({ path: join(OUT, 'studio-output-format.png') });
  await page.getByTestId('go-live').click();
  await expect(page.getByTestId('phase')).toHaveText('LIVE', { timeout: 60_000 });
  const publishUrl = await page.evaluate(() => (window as unknown as { __roast: { getState: () => { publishTarget: string } } }).__roast.getState().publishTarget);
  expect(await ingested(publishUrl, '720p60')).toMatchObject({ width: 1280, height: 720, fps: 60, hostCamera: true });
  await page.getByTestId('end-live').click();
  await expect(page.getByTestId('phase')).toHaveText('ended', { timeout: 30_000 });

  // Remembered on this computer.
  await page.reload();
  await expect(page.getByTestId('output-format')).toHaveValue('720p60', { timeout: 30_000 });
});

test('a host without a camera goes live on the microphone with the avatar tile, and takes a camera connected mid-show', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // No camera until the test "connects" one: getUserMedia finds no video device while the flag is set.
  await context.addInitScript(() => {
    const w = window as unknown as { __noCamera: boolean };
    w.__noCamera = true;
    const media = navigator.mediaDevices;
    if (!media) return;
    const original = media.getUserMedia.bind(media);
    media.getUserMedia = async (constraints) => {
      if (w.__noCamera && constraints?.video) throw new DOMException('Requested device not found', 'NotFoundError');
      return original(constraints);
    };
  });
  const page = await context.newPage();
  logConsole(page, 'host');
  try {
    const { publishUrl } = await hostGoesLive(page, app.studioUrl, 'Nadia Nocam');
    const missing = page.getByTestId('host-device-missing');
    await expect(missing).toHaveAttribute('data-kind', 'video');
    await expect(missing.getByTestId('host-device-message')).toHaveText('No camera was found: your tile shows your name instead. Connect one, then try again or pick it below.');
    await expect(page.getByTestId('host-camera')).toBeDisabled();
    await expect(page.getByTestId('host-mic')).toBeEnabled();
    await expect(page.getByTestId('seat-host').locator('.icons')).toHaveText('miccam off');
    await page.screenshot({ path: join(OUT, 'studio-no-camera.png') });

    const without = await ingested(publishUrl, 'no-camera');
    expect(without.hostCamera, 'no camera picture in the program').toBe(false);
    expect(Math.max(...without.corner), "the avatar tile's dark background").toBeLessThan(70);
    expect(volumeStats(join(OUT, 'output-no-camera.flv')).max, "the host's microphone is heard").toBeGreaterThan(-50);

    // "Try again" while there is still no camera: it says why, the show goes on.
    await missing.getByTestId('host-device-retry').click();
    await expect(page.getByTestId('action-error')).toHaveText(/No camera was found/);
    await expect(page.getByTestId('phase')).toHaveText('LIVE');

    // A camera is connected: "Try again" takes it, the notice goes, the picker shows it, the program shows it.
    await page.evaluate(() => ((window as unknown as { __noCamera: boolean }).__noCamera = false));
    await missing.getByTestId('host-device-retry').click();
    await expect(missing).toHaveCount(0);
    await expect(page.getByTestId('host-devices').getByTestId('camera-select')).not.toHaveValue('');
    await expect(page.getByTestId('host-camera')).toBeEnabled();
    await expect(page.getByTestId('seat-host').locator('.icons')).toHaveText('miccam');
    await expect(page.getByTestId('action-error')).toHaveCount(0);
    const withCamera = await ingested(publishUrl, 'camera-connected');
    expect(withCamera.hostCamera, 'the camera picked mid-show is in the program').toBe(true);
    expect(isGreen(withCamera.corner)).toBe(true);

    // Camera off shows the avatar; on again, the camera's picture comes back (not a black tile).
    await page.getByTestId('host-camera').click();
    await expect(page.getByTestId('seat-host').locator('.icons')).toHaveText('miccam off');
    expect((await ingested(publishUrl, 'camera-off')).hostCamera, 'camera off: the avatar').toBe(false);
    await page.getByTestId('host-camera').click();
    await expect(page.getByTestId('seat-host').locator('.icons')).toHaveText('miccam');
    const onAgain = await ingested(publishUrl, 'camera-on-again');
    expect(onAgain.hostCamera, 'camera on again: its picture is back in the program').toBe(true);

    await page.getByTestId('end-live').click();
    await expect(page.getByTestId('phase')).toHaveText('ended', { timeout: 30_000 });
  } finally {
    await context.close();
  }
});
