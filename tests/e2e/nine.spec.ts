/**
 * A full stage: the host and nine guests, each with a small camera of its own
 * colour. All ten must be on the program — at the ingest (decoded) and in
 * every guest's program view. Correctness, not speed: two cores run all ten
 * browsers, so the cameras are tiny and the waits generous.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import type { Browser, Page } from 'playwright-core';
import { gridLayout } from '../../src/shared/layout';
import type { GuestSeatRow } from '../../src/shared/domain';
import { startApp, type RunningApp } from '../support/app';
import { launchChromium } from '../support/chromium';
import { appState, guestAccepts, guestSignsIn, hostGoesLive, hostInvites, logConsole } from '../support/flows';
import { colourClip, frameRgb, patch, recordRtmp } from '../support/media';

const FIXTURES = join(process.cwd(), 'test-results', 'fixtures');
const OUT = join(process.cwd(), 'test-results', 'e2e');

type Rgb = [number, number, number];
const hex = (rgb: Rgb) => `0x${rgb.map((v) => v.toString(16).padStart(2, '0')).join('').toUpperCase()}`;
const HOST: Rgb = [224, 48, 32];
const GUESTS: Rgb[] = [
  [32, 176, 64],
  [32, 80, 224],
  [224, 192, 32],
  [224, 32, 192],
  [32, 208, 208],
  [240, 240, 240],
  [128, 128, 128],
  [96, 32, 128],
  [144, 240, 96],
];

let app: RunningApp;
const browsers: Browser[] = [];

/**
 * Ten browsers with WebRTC, software GL and the whole backend need more than
 * two cores: on the 2-core CI machine six guests connect and the rest time
 * out. It runs where ROAST_HEAVY=1 is set (a machine with 4+ cores).
 */
const HEAVY = process.env.ROAST_HEAVY === '1';
test.skip(!HEAVY, 'host + 9 guests needs 4+ cores; set ROAST_HEAVY=1 to run it (on 2 cores six of nine guests connect)');
if (!HEAVY) console.log('nine.spec: skipped — host + 9 guests needs 4+ cores; set ROAST_HEAVY=1 to run it');

test.setTimeout(15 * 60_000);

test.beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  app = await startApp();
  for (const [i, rgb] of [HOST, ...GUESTS].entries()) {
    browsers.push(await launchChromium(colourClip(FIXTURES, `nine-${i}`, hex(rgb), i === 0 ? 320 : 160, i === 0 ? 180 : 90)));
  }
});

test.afterAll(async () => {
  for (const b of browsers) await b.close();
  await app?.stop();
});

const near = (a: number[], b: number[], tolerance = 60) => a.every((v, i) => Math.abs(v - b[i]!) <= tolerance);

function tileCentres(n: number, width: number, height: number): Array<[number, number]> {
  return gridLayout(Array.from({ length: n }, (_, i) => ({ id: String(i), width: 16, height: 9 })), width, height).map((it) => [
    Math.round(it.rect.x + it.rect.width / 2),
    Math.round(it.rect.y + it.rect.height / 2),
  ]);
}

/** Mean colour of a patch around each point of a guest's program view (drawn at 1280x720). */
function viewColours(page: Page, centres: Array<[number, number]>): Promise<number[][]> {
  return page.$eval(
    '[data-testid="program-view"]',
    (el, points) => {
      const c = document.createElement('canvas');
      c.width = 1280;
      c.height = 720;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(el as HTMLVideoElement, 0, 0, 1280, 720);
      return points.map(([x, y]) => {
        const d = ctx.getImageData(x! - 6, y! - 6, 12, 12).data;
        const sum = [0, 0, 0];
        for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k]! += d[i + k]!;
        return sum.map((v) => Math.round(v / (d.length / 4)));
      });
    },
    centres,
  );
}

test('host and nine guests: everyone on the program and in every guest view', async () => {
  const host = await browsers[0]!.newPage({ viewport: { width: 1280, height: 900 } });
  logConsole(host, 'host');
  const { publishUrl } = await hostGoesLive(host, app.studioUrl, 'Nina Host');

  const hostLog: string[] = [];
  host.on('console', (m) => hostLog.push(`${new Date().toISOString().slice(11, 23)} ${m.text()}`));
  const guests: Page[] = [];
  const ids: string[] = [];
  for (let i = 0; i < GUESTS.length; i++) {
    const page = await browsers[i + 1]!.newPage({ viewport: { width: 400, height: 600 } });
    logConsole(page, `guest${i + 1}`);
    const guestLog: string[] = [];
    page.on('console', (m) => guestLog.push(`${new Date().toISOString().slice(11, 23)} ${m.text()}`));
    ids.push(await guestSignsIn(page, app.guestUrl, `Guest ${i + 1}`));
    await hostInvites(host, ids[i]!);
    const t0 = Date.now();
    await guestAccepts(page).catch(async (err: Error) => {
      const links = await appState<Record<string, string>>(host, 'links');
      throw new Error(`${err.message}\nguest ${i + 1} (${ids[i]}) did not connect; host links ${JSON.stringify(links)}\nguest log:\n${guestLog.join('\n')}\nhost log:\n${hostLog.slice(-60).join('\n')}`);
    });
    console.log(`guest ${i + 1} connected in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    guests.push(page);
  }
  for (const id of ids) await expect(host.locator(`[data-user="${id}"]`).getByTestId('link-state')).toHaveText('connected', { timeout: 120_000 });

  // Tiles follow seat order: host first, then guests by seat.
  const seats = (await appState<GuestSeatRow[]>(host, 'seats')).filter((s) => s.left_at === null).sort((a, b) => a.seat_index - b.seat_index);
  expect(seats.map((s) => s.seat_index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const expected: Rgb[] = [HOST, ...seats.map((s) => GUESTS[ids.indexOf(s.user_id)]!)];
  const centres = tileCentres(10, 1280, 720);

  // Every guest's program view shows all ten.
  for (const [i, page] of guests.entries()) {
    let seen: number[][] = [];
    await expect
      .poll(
        async () => {
          seen = await viewColours(page, centres);
          return seen.every((rgb, t) => near(rgb, expected[t]!, 70));
        },
        { timeout: 120_000, intervals: [2000] },
      )
      .toBe(true)
      .catch((err: Error) => {
        throw new Error(`${err.message}\nguest ${i + 1} sees tiles ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`);
      });
  }

  // The ingest: a decoded frame has the ten tiles in order.
  const file = join(OUT, 'nine.flv');
  await recordRtmp(publishUrl, file, 6);
  const frame = frameRgb(file, 4, 1280, 720);
  const ingest = centres.map(([x, y]) => patch(frame, 1280, x, y));
  expect(
    ingest.every((rgb, t) => near(rgb, expected[t]!)),
    `ingest tiles ${JSON.stringify(ingest)}, expected ${JSON.stringify(expected)}`,
  ).toBe(true);
  await host.screenshot({ path: join(OUT, 'studio-9-guests.png'), fullPage: true });
});
