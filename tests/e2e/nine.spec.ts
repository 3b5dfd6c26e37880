/**
 * A full stage: the host and nine guests, each with a small camera of its own
 * colour. All ten must be on the program — at the ingest (decoded) and in
 * every guest's program view. Correctness, not speed: two cores run all ten
 * pages, so the cameras are tiny and the waits generous.
 *
 * The host has its own browser; the nine guests share a second one, each in
 * its own context (ten whole browsers, each with its GPU and network
 * processes, were too many for two cores), each with a 160x90 camera of its
 * own colour at 5 fps and a microphone without processing
 * (tests/support/lightGuest.ts). The guests' browser runs at a lower
 * priority than the host's, and the guests already on stage lower still than
 * the one joining (tests/support/backstage.ts): on their own devices they
 * would not take the host's CPU.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import type { Browser, Page } from 'playwright-core';
import { gridLayout } from '../../src/shared/layout';
import type { GuestSeatRow } from '../../src/shared/domain';
import { startApp, type RunningApp } from '../support/app';
import { launchChromium } from '../support/chromium';
import { appState, guestSignsIn, hostGoesLive, hostSeatOf, inviteUntilAccepted, logConsole } from '../support/flows';
import { colourClip, frameRgb, patch, recordRtmp } from '../support/media';
import { GUEST_COLOURS, lightGuestPage, type Rgb } from '../support/lightGuest';
import { Backstage } from '../support/backstage';
import { chromiumRootByFlag } from '../support/procstat';

const FIXTURES = join(process.cwd(), 'test-results', 'fixtures');
const OUT = join(process.cwd(), 'test-results', 'e2e');

const hex = (rgb: Rgb) => `0x${rgb.map((v) => v.toString(16).padStart(2, '0')).join('').toUpperCase()}`;
const HOST: Rgb = [224, 48, 32];
const GUESTS = GUEST_COLOURS;

let app: RunningApp;
let hostBrowser: Browser;
let guestBrowser: Browser;
let backstage: Backstage;

/**
 * The heaviest spec, part of `npm test`: 38 s on an idle two-core machine, 1.2 / 2.5 / 4.0 minutes with the
 * test's processes held to 1.2 / 0.8 / 0.6 of a core (a cgroup CPU quota standing in for slower machines).
 * `ROAST_HEAVY=0` leaves it out of a local run, saying so.
 */
const SKIP = process.env.ROAST_HEAVY === '0';
const WHY = 'host + 9 guests skipped: ROAST_HEAVY=0 is set (the test takes 1–4 min on two cores)';
test.skip(SKIP, WHY);
if (SKIP) console.log(`nine.spec: ${WHY}`);

// A late guest joining a full machine has taken minutes (one 384 s, with its invitation sent again): the test gets 15.
test.setTimeout(15 * 60_000);

test.beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  app = await startApp();
  hostBrowser = await launchChromium(colourClip(FIXTURES, 'nine-host', hex(HOST), 320, 180));
  const guestClip = colourClip(FIXTURES, 'nine-guest', '0x000000', 160, 90);
  guestBrowser = await launchChromium(guestClip);
  // Guests on their own devices do not take the host's CPU; here they share it (tests/support/backstage.ts).
  backstage = new Backstage(chromiumRootByFlag(`--use-file-for-fake-video-capture=${guestClip}`));
});

test.afterAll(async () => {
  await hostBrowser?.close();
  await guestBrowser?.close();
  await app?.stop();
});

/** A guest page whose camera is a 160x90 canvas of one colour (see the note at the top). */
const guestPage = (rgb: Rgb) => lightGuestPage(guestBrowser, rgb);

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

/**
 * The video RTP counters of every open link of a page (the links register
 * themselves in `__roastPeerLinks`, which the test sets before the app
 * loads): what tells a sender that stopped from a receiver that stalled.
 */
function linkVideoStats(page: Page): Promise<unknown[]> {
  return page.evaluate(async () => {
    const links = [...((window as unknown as { __roastPeerLinks?: Set<{ peerId: string; pc: RTCPeerConnection }> }).__roastPeerLinks ?? [])];
    const keys = ['type', 'framesReceived', 'framesDecoded', 'framesDropped', 'keyFramesDecoded', 'framesSent', 'framesEncoded', 'pliCount', 'firCount', 'nackCount', 'packetsLost', 'freezeCount', 'totalFreezesDuration', 'frameWidth', 'frameHeight', 'qualityLimitationReason'];
    const out: unknown[] = [];
    for (const link of links) {
      if (link.pc.connectionState === 'closed') continue;
      const rows: Array<Record<string, unknown>> = [];
      (await link.pc.getStats()).forEach((r: Record<string, unknown>) => {
        if ((r.type === 'inbound-rtp' || r.type === 'outbound-rtp') && r.kind === 'video') rows.push(Object.fromEntries(keys.filter((k) => k in r).map((k) => [k, r[k]])));
      });
      out.push({ peer: link.peerId, state: link.pc.connectionState, video: rows });
    }
    return out;
  });
}

/** Makes the page's links register in `__roastPeerLinks` (before the app loads). */
const registerLinks = (page: Page) => page.context().addInitScript(() => ((window as unknown as { __roastPeerLinks: Set<unknown> }).__roastPeerLinks = new Set()));

test('host and nine guests: everyone on the program and in every guest view', async () => {
  // The nine guests open their page and sign in first, as an audience waiting for the show: a page loaded on a machine
  // already running the show and several guests took 30 s and more. Each page's renderer is noted, to lower it once on stage.
  const started = Date.now();
  const pages: Page[] = [];
  const ids: string[] = [];
  const renderers: number[][] = [];
  const guestLogs: string[][] = [];
  for (let i = 0; i < GUESTS.length; i++) {
    const before = new Set(backstage.renderers());
    const page = await guestPage(GUESTS[i]!);
    await registerLinks(page);
    logConsole(page, `guest${i + 1}`);
    const guestLog: string[] = [];
    guestLogs.push(guestLog);
    page.on('console', (m) => guestLog.push(`${new Date().toISOString().slice(11, 23)} ${m.text()}`));
    ids.push(await guestSignsIn(page, app.guestUrl, `Guest ${i + 1}`));
    renderers.push(backstage.renderers().filter((pid) => !before.has(pid)));
    pages.push(page);
  }
  console.log(`nine guests signed in after ${((Date.now() - started) / 1000).toFixed(1)} s; their renderers: ${JSON.stringify(renderers)}`);
  expect(renderers.every((r) => r.length > 0), 'each guest page has a renderer of its own').toBe(true);

  const host = await hostBrowser.newPage({ viewport: { width: 1280, height: 900 } });
  await registerLinks(host);
  logConsole(host, 'host');
  const { publishUrl } = await hostGoesLive(host, app.studioUrl, 'Nina Host');

  const hostLog: string[] = [];
  host.on('console', (m) => hostLog.push(`${new Date().toISOString().slice(11, 23)} ${m.text()}`));
  const guests: Page[] = [];
  for (let i = 0; i < GUESTS.length; i++) {
    const page = pages[i]!;
    const guestLog = guestLogs[i]!;
    const t0 = Date.now();
    // A late guest joins a full machine: the host's WebRTC threads wait for a CPU, and making its offer alone took 14–29 s here.
    await inviteUntilAccepted(host, page, ids[i]!, { connectTimeoutMs: 180_000 }).catch(async (err: Error) => {
      const links = await appState<Record<string, string>>(host, 'links');
      throw new Error(`${err.message}\nguest ${i + 1} (${ids[i]}) did not connect; host links ${JSON.stringify(links)}\nguest log:\n${guestLog.join('\n')}\nhost log:\n${hostLog.slice(-60).join('\n')}`);
    });
    backstage.onStage(renderers[i]);
    console.log(`guest ${i + 1} connected in ${((Date.now() - t0) / 1000).toFixed(1)} s (${backstage.describe()})`);
    // Joined with the camera and microphone on, as the pre-join check had them (else the program shows an avatar).
    await expect
      .poll(async () => {
        const seat = await hostSeatOf(host, ids[i]!);
        return seat ? { camera: seat.camera_enabled, mic: seat.mic_enabled } : null;
      }, { timeout: 30_000 })
      .toEqual({ camera: true, mic: true })
      .catch((err: Error) => {
        throw new Error(`${err.message}\nguest ${i + 1} is not on stage with camera and microphone on\nguest log:\n${guestLog.join('\n')}`);
      });
    guests.push(page);
  }
  for (const [i, id] of ids.entries()) {
    await expect(host.locator(`[data-user="${id}"]`).getByTestId('link-state'))
      .toHaveText('connected', { timeout: 120_000 })
      .catch((err: Error) => {
        throw new Error(`${err.message}\nguest ${i + 1}'s link is not connected\nguest log (last 60):\n${guestLogs[i]!.slice(-60).join('\n')}\nhost log (last 80):\n${hostLog.slice(-80).join('\n')}`);
      });
  }

  // Tiles follow seat order: host first, then guests by seat.
  const seats = (await appState<GuestSeatRow[]>(host, 'seats')).filter((s) => s.left_at === null).sort((a, b) => a.seat_index - b.seat_index);
  expect(seats.map((s) => s.seat_index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const expected: Rgb[] = [HOST, ...seats.map((s) => GUESTS[ids.indexOf(s.user_id)]!)];
  const centres = tileCentres(10, 1280, 720);

  // Every guest's program view shows all ten: all nine pages are looked at together, round after round (one look at a
  // starved page takes 10-30 s: one guest after another, the checks took 5 minutes), each until it shows the ten.
  const views = guests.map(() => ({ seen: [] as number[][], looks: 0, shownAfter: null as number | null }));
  const since = Date.now();
  await expect
    .poll(
      async () => {
        await Promise.all(
          guests.map(async (page, i) => {
            const v = views[i]!;
            if (v.shownAfter !== null) return;
            v.looks += 1;
            v.seen = await viewColours(page, centres);
            if (v.seen.every((rgb, t) => near(rgb, expected[t]!, 70))) {
              v.shownAfter = Date.now() - since;
              console.log(`guest ${i + 1}'s program view shows all ten (${(v.shownAfter / 1000).toFixed(1)} s into the check, ${v.looks} looks)`);
            }
          }),
        );
        return views.filter((v) => v.shownAfter === null).length;
      },
      // Guest 1's view, on the page starved the longest, showed the ten 102 s and 134 s after the last guest joined in two
      // runs (looked at one page after another); another run's stayed on the layout before it for more than 120 s.
      { timeout: 240_000, intervals: [2000] },
    )
    .toBe(0)
    .catch(async (err: Error) => {
      const lines: string[] = [];
      for (const [i, page] of guests.entries()) {
        const v = views[i]!;
        if (v.shownAfter !== null) continue;
        const guestSide = await linkVideoStats(page).catch((e: Error) => e.message);
        const hostSide = await linkVideoStats(host).then((links) => links.filter((l) => (l as { peer: string }).peer === ids[i]), (e: Error) => e.message);
        lines.push(
          `guest ${i + 1} sees tiles ${JSON.stringify(v.seen)} after ${v.looks} looks\nguest's video stats: ${JSON.stringify(guestSide)}\nhost's video stats for this guest: ${JSON.stringify(hostSide)}\nguest log (last 40):\n${guestLogs[i]!.slice(-40).join('\n')}`,
        );
      }
      throw new Error(`${err.message}\nexpected ${JSON.stringify(expected)}\n${lines.join('\n')}`);
    });

  console.log(`every view showed the ten ${((Date.now() - started) / 1000).toFixed(1)} s after the first guest page opened`);

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
  // What the links went through, for the run's record (a failed link is restarted or called anew by the host, or called anew by its guest).
  const restarts = hostLog.filter((l) => /restarting ICE|failed again|calling \S+ anew|not connected after/.test(l));
  const recalls = guestLogs.map((log, i) => [i + 1, log.filter((l) => /calling again|calling the host/.test(l)).length] as const).filter(([, n]) => n > 1);
  console.log(`link recovery by the host: ${restarts.length} steps${restarts.length ? `\n${restarts.join('\n')}` : ''}; guests that called more than once: ${recalls.length ? recalls.map(([g, n]) => `guest ${g} (${n} calls)`).join(', ') : 'none'}`);
});
