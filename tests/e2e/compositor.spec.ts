/**
 * The WebGL2 compositor in Debian's Chromium: its GPU RGBA→I420 output matches
 * the CPU reference (src/shared/color.ts) pixel for pixel, within rounding.
 */
import { expect, test } from '@playwright/test';
import type { Browser } from 'playwright-core';
import { bundleHarness } from '../support/bundle';
import { launchChromium } from '../support/chromium';

let browser: Browser;
let bundle: string;

test.beforeAll(async () => {
  bundle = await bundleHarness('tests/e2e/compositorHarness.ts', 'CompositorHarness');
  browser = await launchChromium();
});

test.afterAll(async () => {
  await browser?.close();
});

test('GPU I420 conversion matches the CPU reference', async () => {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><body></body>');
  await page.addScriptTag({ content: bundle });
  const result = await page.evaluate(() =>
    (window as unknown as { CompositorHarness: { compareI420: (w: number, h: number) => Promise<unknown> } }).CompositorHarness.compareI420(1280, 720),
  );
  const { bytes, maxDiff, over2, ySample } = result as { bytes: number; maxDiff: number; over2: number; ySample: number[] };
  console.log(`I420 vs reference: max difference ${maxDiff}, bytes off by more than 2: ${over2} of ${bytes}`);
  expect(bytes).toBe(1280 * 720 * 1.5);
  // Rounding on the GPU may differ by one step; colour edges by a little more.
  expect(over2 / bytes).toBeLessThan(0.001);
  expect(maxDiff).toBeLessThanOrEqual(8);
  // Top-left quadrant is pure red: Y = 81 in BT.601 limited range.
  expect(ySample[0]).toBeGreaterThanOrEqual(80);
  expect(ySample[0]).toBeLessThanOrEqual(82);
});

test('VideoFrames on an OffscreenCanvas (the worker path): same picture, only the newest frame kept, no needless recompose', async () => {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><body></body>');
  await page.addScriptTag({ content: bundle });
  const r = (await page.evaluate(() =>
    (window as unknown as { CompositorHarness: { videoFrames: (w: number, h: number) => Promise<unknown> } }).CompositorHarness.videoFrames(640, 360),
  )) as { maxDiff: number; size: { width: number; height: number }; staleClosed: boolean; uploadedClosed: boolean; changedBefore: boolean; changedAfter: boolean; orphanClosed: boolean };
  expect(r.size).toEqual({ width: 640, height: 360 });
  expect(r.staleClosed).toBe(true);
  expect(r.uploadedClosed).toBe(true);
  expect(r.changedBefore).toBe(true);
  expect(r.changedAfter).toBe(false);
  expect(r.orphanClosed).toBe(true);
  expect(r.maxDiff).toBeLessThanOrEqual(8);
});

test('CPU path: I420, NV12, RGBA and canvas VideoFrames read back exactly; the I420 compositor matches WebGL2', async () => {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><body></body>');
  await page.addScriptTag({ content: bundle });
  const r = (await page.evaluate(() =>
    (window as unknown as { CompositorHarness: { cpuPath: (w: number, h: number) => Promise<unknown> } }).CompositorHarness.cpuPath(640, 360),
  )) as Record<string, number | string>;
  console.log(`CPU path: ${JSON.stringify(r)}`);
  expect(r.i420Format).toBe('I420');
  expect(r.i420).toBe(0);
  expect(r.nv12).toBe(0);
  expect(r.rgba).toBeLessThanOrEqual(1);
  expect(r.canvas).toBeLessThanOrEqual(2);
  // Scaling filters differ a little at the quadrant edges; elsewhere the same picture.
  expect(r.cpuVsGpuOver8 as number).toBeLessThan(0.02);
  expect(Math.abs((r.cpuRedY as number) - (r.gpuRedY as number))).toBeLessThanOrEqual(2);
});

test('shader and size errors are clear, and dispose frees everything', async () => {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><body></body>');
  await page.addScriptTag({ content: bundle });
  const messages = await page.evaluate(() =>
    (window as unknown as { CompositorHarness: { errors: () => Promise<string[]> } }).CompositorHarness.errors(),
  );
  expect(messages[0]).toMatch(/multiple of 8x4/);
  expect(messages[1]).toMatch(/failed to compile/);
  expect(messages[2]).toBe('disposed twice without error');
});
