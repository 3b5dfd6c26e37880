/**
 * The WebGL2 compositor in Debian's Chromium: its GPU RGBA→I420 output matches
 * the CPU reference (src/shared/color.ts) pixel for pixel, within rounding;
 * and the program worker behind the Broadcaster: which compositor starts,
 * what reaches the bridge while live, and what dispose leaves behind.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { bundleHarness } from '../support/bundle';
import { chromium } from 'playwright-core';
import { CHROMIUM_PATH, chromiumFlags, launchChromium } from '../support/chromium';

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

test('CPU path: I420, NV12, RGBA and canvas VideoFrames read back exactly, a BT.709 one in BT.601; the I420 compositor matches WebGL2', async () => {
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
  // A BT.709 camera's frame lands in the program's BT.601: within a step on average, where it was far off as it came.
  expect(r.bt709 as number).toBeLessThan(1);
  expect(r.bt709Before as number).toBeGreaterThan(3 * (r.bt709 as number));
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

/**
 * The program harness (the real Broadcaster and its program worker), built as
 * an ES module with the worker beside it and served from a loopback HTTP
 * server: a worker needs a URL to load from.
 */
async function serveProgramHarness(): Promise<{ url: string; close: () => Promise<void> }> {
  const result = await build({
    configFile: false,
    logLevel: 'silent',
    build: { write: false, minify: false, lib: { entry: resolve('tests/e2e/programHarness.ts'), formats: ['es'], fileName: 'harness' } },
  });
  const outputs = (Array.isArray(result) ? result : [result]) as Array<{ output: Array<{ fileName: string; type: string; code?: string; source?: string | Uint8Array }> }>;
  const files = new Map<string, string | Uint8Array>();
  for (const o of outputs[0]!.output) files.set(`/${o.fileName}`, o.type === 'chunk' ? o.code! : o.source!);
  const harness = [...files.keys()].find((f) => /^\/harness\.m?js$/.test(f));
  if (!harness) throw new Error(`the program harness build has no entry: ${[...files.keys()].join(', ')}`);
  // The audio mixer's worklet, as the studio serves it.
  files.set('/pcm-capture-worklet.js', readFileSync('src/renderer/public/pcm-capture-worklet.js'));
  files.set('/', `<!doctype html><body><script type="module">import * as h from '${harness}'; window.ProgramHarness = h;</script></body>`);
  const server = createServer((req, res) => {
    const body = files.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': req.url === '/' ? 'text/html' : 'text/javascript' }).end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((done) => server.close(() => done())) };
}

test.describe('the program worker', () => {
  let served: { url: string; close: () => Promise<void> };
  test.beforeAll(async () => {
    served = await serveProgramHarness();
  });
  test.afterAll(async () => {
    await served?.close();
  });

  /** A page with the harness loaded. */
  async function harnessPage(on: Browser = browser): Promise<Page> {
    const page = await on.newPage();
    await page.goto(served.url);
    await page.waitForFunction(() => 'ProgramHarness' in window);
    return page;
  }

  test('a GPU compositor that cannot start gives way to the CPU one; when neither can, capture fails with a clear error', async () => {
    const page = await harnessPage();
    type Start = { compositor: { mode: string } | null; error: string | null; logs: string[]; problems: string[] };
    const run = (w: number, h: number, mode: string) =>
      page.evaluate(([w, h, mode]) => (window as unknown as { ProgramHarness: { start: (w: number, h: number, m: string) => Promise<Start> } }).ProgramHarness.start(w as number, h as number, mode as string), [w, h, mode] as const);
    // 644 is no multiple of 8: the WebGL2 compositor refuses it, the CPU one takes it.
    const fallback = await run(644, 360, 'gpu');
    console.log(`GPU refused: ${JSON.stringify(fallback)}`);
    expect(fallback.error).toBeNull();
    expect(fallback.compositor?.mode).toBe('cpu');
    expect(fallback.logs.join('\n')).toMatch(/GPU compositor could not start \(program size must be a multiple of 8x4.*runs on the CPU compositor/);
    // 642x361: odd, which neither compositor takes.
    const none = await run(642, 361, 'auto');
    console.log(`nothing starts: ${JSON.stringify(none)}`);
    expect(none.compositor).toBeNull();
    expect(none.error).toMatch(/^The program could not start: program size must be even/);
    expect(none.problems).toEqual([none.error]);
  });

  test('camera streams switched and ended: every camera frame the worker received is closed', async () => {
    // A browser of its own whose pages may collect garbage when asked (gc()).
    const gcBrowser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...chromiumFlags(), '--js-flags=--expose-gc'] });
    try {
      for (const mode of ['gpu', 'cpu'] as const) {
        const page = await harnessPage(gcBrowser);
        let warnings = 0;
        page.on('console', (m) => {
          if (/VideoFrame was garbage collected/.test(m.text())) warnings += 1;
        });
        type Switches = { switched: number; gc: boolean; frames: { received: number; unclosed: number } | null };
        const r = await page.evaluate(
          (mode) => (window as unknown as { ProgramHarness: { switches: (m: string, s: number, e: number, w: number) => Promise<Switches> } }).ProgramHarness.switches(mode, 8, 300, 3_000),
          mode,
        );
        // Chromium's own warning is printed, not asserted: under load it also fires (about one run in four) for a
        // frame none of the worker's code ever received — one held inside the browser's stream transfer — and it
        // stays silent for some frames dropped unclosed. The worker's count is exact for the frames it handles.
        console.log(`${mode}: ${r.switched} camera switches; frames received ${r.frames?.received}, left unclosed ${r.frames?.unclosed}; Chromium's VideoFrame GC warnings: ${warnings}`);
        expect(r.gc).toBe(true);
        expect(r.frames, 'the worker reports its frame count when it disposes (within the page\'s dispose timeout)').not.toBeNull();
        // Frames flowed (how many depends on the machine: 300 idle, 46–65 with the GPU path starved by two busy cores).
        expect(r.frames!.received).toBeGreaterThan(0);
        expect(r.frames!.unclosed).toBe(0);
        await page.close();
      }
    } finally {
      await gcBrowser.close();
    }
  });

  test('raw pictures through a page that is busy for a second: a couple wait there, the rest are skipped, none queue', async () => {
    const page = await harnessPage();
    const r = (await page.evaluate(() => (window as unknown as { ProgramHarness: { liveBlocked: (m: string, ms: number) => Promise<unknown> } }).ProgramHarness.liveBlocked('cpu', 1000))) as {
      madeWhileBlocked: number;
      skipped: number;
      after: number;
    };
    console.log(`page busy for 1 s: ${JSON.stringify(r)}`);
    expect(r.madeWhileBlocked).toBeLessThanOrEqual(2);
    expect(r.skipped).toBeGreaterThan(5);
    // The pictures go on once the page is free again.
    expect(r.after).toBeGreaterThan(10);
    await page.close();
  });

  for (const mode of ['gpu', 'cpu'] as const) {
    test(`${mode} compositor, raw pictures of a still program (camera off): the first goes out at once, not black until something changes`, async () => {
      const page = await harnessPage();
      const r = (await page.evaluate(
        (mode) => (window as unknown as { ProgramHarness: { liveStill: (m: string, s: number) => Promise<unknown> } }).ProgramHarness.liveStill(mode, 2),
        mode,
      )) as { compositor: { mode: string }; frames: number; firstAfterMs: number | null };
      console.log(`${mode} still program: ${JSON.stringify(r)}`);
      expect(r.compositor.mode).toBe(mode);
      expect(r.frames).toBeGreaterThan(0);
      expect(r.firstAfterMs).not.toBeNull();
      await page.close();
    });
  }

  for (const mode of ['gpu', 'cpu'] as const) {
    test(`${mode} compositor, live twice: the second show sends no picture of the first`, async () => {
      const page = await harnessPage();
      const r = (await page.evaluate(
        (mode) => (window as unknown as { ProgramHarness: { liveTwice: (m: string, v: string, s: number) => Promise<unknown> } }).ProgramHarness.liveTwice(mode, 'i420', 2),
        mode,
      )) as { compositor: { mode: string }; firstShow: number; secondShow: number; earlier: number };
      console.log(`${mode} live twice: ${JSON.stringify(r)}`);
      expect(r.compositor.mode).toBe(mode);
      expect(r.firstShow).toBeGreaterThan(5);
      expect(r.secondShow).toBeGreaterThan(5);
      expect(r.earlier).toBe(0);
      await page.close();
    });
  }

  for (const mode of ['gpu', 'cpu'] as const) {
    test(`${mode} compositor, H.264 made here: increasing times and a keyframe first`, async () => {
      const page = await harnessPage();
      const r = (await page.evaluate(
        (mode) => (window as unknown as { ProgramHarness: { live: (m: string, v: string, s: number) => Promise<unknown> } }).ProgramHarness.live(mode, 'h264', 6),
        mode,
      )) as { compositor: { mode: string }; frames: number; channels: string[]; firstKey: boolean; notIncreasing: number; repeated: number; disposeMs: number; logs: string[]; problems: string[] };
      const { logs, ...figures } = r;
      console.log(`${mode} live: ${JSON.stringify(figures)}`);
      expect(r.compositor.mode).toBe(mode);
      expect(r.problems, logs.join('\n')).toEqual([]);
      expect(r.channels).toEqual(['encoder:h264']);
      expect(r.frames).toBeGreaterThan(30);
      expect(r.firstKey).toBe(true);
      expect(r.notIncreasing).toBe(0);
      await page.close();
    });
  }
});
