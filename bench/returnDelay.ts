/**
 * How far behind the host each guest sees the program (the guest view should
 * be under a second behind). The host's camera is a canvas showing the wall
 * clock as a code of blocks (16 bits of the time in 10 ms steps and a 4-bit
 * check); every page reads the code back from what it shows: the studio's
 * preview (composite only) and each guest's program view (composite, the
 * return encode, WebRTC, decode, display). All pages run on this machine, so
 * they share one clock: the difference is the delay, read where a person would
 * see it. Readings whose check fails (a frame caught between two codes) are
 * dropped and counted. The guests have the nine-guest test's light cameras
 * (tests/support/lightGuest.ts); `--backstage` gives them its priorities too
 * (tests/support/backstage.ts: the guests' browser below the host's, the
 * guests on stage below the one joining).
 *
 *   npx tsx bench/returnDelay.ts [--guests 1] [--seconds 20] [--backstage] [--return-pace on|off] [--smoke]
 */
import type { Page } from 'playwright-core';
import { startApp } from '../tests/support/app';
import { launchChromium } from '../tests/support/chromium';
import { guestSignsIn, hostGoesLive, inviteUntilAccepted, logConsole } from '../tests/support/flows';
import { GUEST_COLOURS, lightGuestPage } from '../tests/support/lightGuest';
import { gridLayout } from '../src/shared/layout';
import { Backstage } from '../tests/support/backstage';
import { colourClip } from '../tests/support/media';
import { chromiumRootByFlag } from '../tests/support/procstat';
import { tmpdir } from 'node:os';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const smoke = args.includes('--smoke');
const backstaged = args.includes('--backstage');
// Whether the studio paces the guests' returns while the broadcast misses its slots (rtc/returnPace.ts); on by default.
const paceArg = args.indexOf('--return-pace');
const returnPace = paceArg >= 0 ? (args[paceArg + 1] ?? '') : 'on';
if (returnPace !== 'on' && returnPace !== 'off') throw new Error(`--return-pace takes on or off, got "${returnPace}"`);
const guestCount = opt('guests', 1);
const seconds = opt('seconds', smoke ? 5 : 20);
if (!Number.isInteger(guestCount) || guestCount < 1 || guestCount > 9) throw new Error(`--guests must be 1 to 9, got ${args[args.indexOf('--guests') + 1]}`);
if (!(seconds > 0 && seconds <= 600)) throw new Error(`--seconds must be in (0, 600], got ${seconds}`);

const NAME_HELPER = 'globalThis.__name = globalThis.__name || ((f) => f);';

/** The host's camera, and where the code's blocks sit in it (the centre third: a 1x2 grid's tile crops the sides). */
const CAMERA = { width: 320, height: 180 };
const CODE = { x: 110, y: 15, cols: 4, rows: 5, block: { width: 25, height: 30 } };

/**
 * Installed in every page: `__clockCode.bits(t)` — the 20 blocks (16 bits of
 * t/10 ms, MSB first, then the sum of its four nibbles mod 16) — and
 * `__clockCode.read(video, centres)`: the delay in ms behind the wall clock of
 * the code shown at those centres of the video drawn at 1280x720, or null when
 * the check fails.
 */
function installClockCode(): void {
  const bits = (tenMs: number): number[] => {
    const v = tenMs & 0xffff;
    const check = ((v >> 12) + ((v >> 8) & 15) + ((v >> 4) & 15) + (v & 15)) & 15;
    const out: number[] = [];
    for (let i = 15; i >= 0; i--) out.push((v >> i) & 1);
    for (let i = 3; i >= 0; i--) out.push((check >> i) & 1);
    return out;
  };
  let canvas: HTMLCanvasElement | null = null;
  (window as unknown as { __clockCode: unknown }).__clockCode = {
    bits,
    read(video: HTMLVideoElement | HTMLCanvasElement, centres: Array<[number, number]>): number | null {
      if (!(video instanceof HTMLVideoElement ? video.videoWidth : video.width)) return null;
      canvas ??= document.createElement('canvas');
      canvas.width = 1280;
      canvas.height = 720;
      const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
      ctx.drawImage(video, 0, 0, 1280, 720);
      const now = Date.now();
      const read = centres.map(([x, y]) => {
        const d = ctx.getImageData(x - 3, y - 3, 6, 6).data;
        let sum = 0;
        for (let i = 0; i < d.length; i += 4) sum += 0.299 * d[i]! + 0.587 * d[i + 1]! + 0.114 * d[i + 2]!;
        return sum / (d.length / 4) > 128 ? 1 : 0;
      });
      let v = 0;
      for (let i = 0; i < 16; i++) v = (v << 1) | read[i]!;
      const expected = bits(v);
      if (expected.some((b, i) => b !== read[i])) return null;
      return (((Math.floor(now / 10) - v) % 65536) + 65536) % 65536 * 10;
    },
  };
}

/** The host's camera: the code of the wall clock, repainted every 10 ms, captured at 30 fps. */
function installClockCamera(code: typeof CODE & { camera: typeof CAMERA }): void {
  const devices = navigator.mediaDevices;
  const original = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async (constraints?: MediaStreamConstraints) => {
    const stream = await original(constraints);
    if (!constraints?.video) return stream;
    const canvas = document.createElement('canvas');
    canvas.width = code.camera.width;
    canvas.height = code.camera.height;
    const ctx = canvas.getContext('2d')!;
    const bits = (window as unknown as { __clockCode: { bits: (t: number) => number[] } }).__clockCode.bits;
    const paint = () => {
      ctx.fillStyle = 'rgb(224,48,32)';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      bits(Math.floor(Date.now() / 10)).forEach((bit, i) => {
        ctx.fillStyle = bit ? '#fff' : '#000';
        ctx.fillRect(code.x + (i % code.cols) * code.block.width, code.y + Math.floor(i / code.cols) * code.block.height, code.block.width, code.block.height);
      });
    };
    paint();
    setInterval(paint, 10);
    const track = canvas.captureStream(30).getVideoTracks()[0]!;
    for (const t of stream.getVideoTracks()) {
      stream.removeTrack(t);
      t.stop();
    }
    stream.addTrack(track);
    return stream;
  };
}

/** Where the code's blocks land in the 1280x720 program when the host is the first of `people` in the grid. */
function blockCentres(people: number): Array<[number, number]> {
  const sources = Array.from({ length: people }, (_, i) => ({ id: String(i), ...(i === 0 ? CAMERA : { width: 160, height: 90 }) }));
  const { rect, crop } = gridLayout(sources, 1280, 720)[0]!;
  const centres: Array<[number, number]> = [];
  for (let i = 0; i < CODE.cols * CODE.rows; i++) {
    const sx = (CODE.x + ((i % CODE.cols) + 0.5) * CODE.block.width) / CAMERA.width;
    const sy = (CODE.y + (Math.floor(i / CODE.cols) + 0.5) * CODE.block.height) / CAMERA.height;
    centres.push([Math.round(rect.x + ((sx - crop.x) / crop.width) * rect.width), Math.round(rect.y + ((sy - crop.y) / crop.height) * rect.height)]);
  }
  return centres;
}

/** Reads the code from the page's video every 250 ms for `ms`: the delays, and how many readings failed their check. */
function sample(page: Page, selector: string, centres: Array<[number, number]>, ms: number): Promise<{ delays: number[]; failed: number }> {
  return page.evaluate(
    async ([sel, points, duration]) => {
      const code = (window as unknown as { __clockCode: { read: (v: HTMLVideoElement | HTMLCanvasElement, c: Array<[number, number]>) => number | null } }).__clockCode;
      const delays: number[] = [];
      let failed = 0;
      const end = Date.now() + duration;
      while (Date.now() < end) {
        const video = document.querySelector(sel) as HTMLVideoElement | HTMLCanvasElement | null;
        const delay = video ? code.read(video, points) : null;
        if (delay === null || delay > 60_000) failed += 1;
        else delays.push(delay);
        await new Promise((r) => setTimeout(r, 250));
      }
      return { delays, failed };
    },
    [selector, centres, ms] as const,
  );
}

/**
 * The program's receiver on a guest page, by WebRTC's own counters: the time
 * frames spent in the jitter buffer and decoding on average, frames dropped and
 * freezes — where a late picture waited, if it waited on the page.
 */
function receiverFigures(page: Page): Promise<string> {
  return page.evaluate(async () => {
    const links = [...((window as unknown as { __roastPeerLinks?: Set<{ pc: RTCPeerConnection }> }).__roastPeerLinks ?? [])];
    const link = links.find((l) => l.pc.connectionState !== 'closed');
    if (!link) return 'no open link';
    let out = 'no inbound video';
    (await link.pc.getStats()).forEach((r: Record<string, number | string>) => {
      if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
      const n = (k: string) => Number(r[k] ?? 0);
      const perFrame = (total: string, count: string) => (n(count) > 0 ? `${Math.round((n(total) / n(count)) * 1000)} ms` : 'n/a');
      out = `jitter buffer ${perFrame('jitterBufferDelay', 'jitterBufferEmittedCount')}/frame, decode ${perFrame('totalDecodeTime', 'framesDecoded')}/frame, received ${n('framesReceived')}, decoded ${n('framesDecoded')}, dropped ${n('framesDropped')}, freezes ${n('freezeCount')} (${n('totalFreezesDuration').toFixed(1)} s), ${n('frameWidth')}x${n('frameHeight')}`;
    });
    return out;
  });
}

/** The program return as the host sends it, per guest link: temporal layers, frames encoded and the encoder's size. */
function senderFigures(host: Page): Promise<string[]> {
  return host.evaluate(async () => {
    const links = [...((window as unknown as { __roastPeerLinks?: Set<{ pc: RTCPeerConnection }> }).__roastPeerLinks ?? [])].filter((l) => l.pc.connectionState !== 'closed');
    return Promise.all(
      links.map(async (link) => {
        let out = 'no outbound video';
        (await link.pc.getStats()).forEach((r: Record<string, number | string>) => {
          if (r.type !== 'outbound-rtp' || r.kind !== 'video') return;
          out = `${String(r.scalabilityMode ?? 'no layers')}, ${String(r.encoderImplementation ?? '?')}, encoded ${Number(r.framesEncoded ?? 0)}, ${Number(r.frameWidth ?? 0)}x${Number(r.frameHeight ?? 0)}`;
        });
        return out;
      }),
    );
  });
}

/** What the app itself tells of the lag: the guest page's banner, and the host's grade of that guest's link. */
async function lagShown(host: Page, guest: Page, id: string): Promise<string> {
  const banner = guest.getByTestId('view-behind');
  const grade = host.locator(`[data-user="${id}"]`).getByTestId('link-quality');
  const guestSays = (await banner.count()) ? `guest page "${(await banner.innerText()).split(':')[0]}"` : 'guest page shows no lag';
  const hostSays = (await grade.count()) ? `host tile ${await grade.getAttribute('data-grade')} (${await grade.getAttribute('title')})` : 'host tile has no grade';
  return `${guestSays}; ${hostSays}`;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
function describe(who: string, { delays, failed }: { delays: number[]; failed: number }): string {
  const s = [...delays].sort((a, b) => a - b);
  const figures = s.length ? { medianMs: quantile(s, 0.5), p90Ms: quantile(s, 0.9), minMs: s[0], maxMs: s[s.length - 1] } : {};
  console.log(JSON.stringify({ bench: 'return-delay', guests: guestCount, backstage: backstaged, seconds, who, readings: s.length, failed, ...figures }));
  if (s.length === 0) return `${who}: no reading (${failed} failed their check)`;
  return `${who}: median ${quantile(s, 0.5)} ms, p90 ${quantile(s, 0.9)} ms, min ${s[0]} ms, max ${s[s.length - 1]} ms (${s.length} readings, ${failed} failed their check)`;
}

async function main(): Promise<void> {
  const app = await startApp();
  const hostBrowser = await launchChromium();
  // The guests' browser is told apart from the host's by its (unused) fake camera file.
  const marker = colourClip(tmpdir(), 'return-delay-guests', '0x000000', 160, 90);
  const guestBrowser = await launchChromium(marker);
  const backstage = backstaged ? new Backstage(chromiumRootByFlag(`--use-file-for-fake-video-capture=${marker}`)) : null;
  try {
    const hostContext = await hostBrowser.newContext({ viewport: { width: 1280, height: 900 } });
    // tsx names functions through a helper of its own (`__name`), which page scripts must find.
    await hostContext.addInitScript({ content: NAME_HELPER });
    await hostContext.addInitScript(installClockCode);
    await hostContext.addInitScript(installClockCamera, { ...CODE, camera: CAMERA });
    await hostContext.addInitScript({ content: 'globalThis.__roastPeerLinks = new Set();' });
    const host = await hostContext.newPage();
    logConsole(host, 'host');
    host.setDefaultTimeout(120_000);
    const studioUrl = new URL(app.studioUrl);
    studioUrl.searchParams.set('returnPace', returnPace);
    await hostGoesLive(host, studioUrl.toString(), 'Clock Host');
    const guests: Page[] = [];
    const ids: string[] = [];
    for (let i = 0; i < guestCount; i++) {
      const guest = await lightGuestPage(guestBrowser, GUEST_COLOURS[i]!);
      await guest.context().addInitScript({ content: NAME_HELPER });
      await guest.context().addInitScript(installClockCode);
      // The page's links register themselves here (PeerLink), for the receiver's own figures below.
      await guest.context().addInitScript({ content: 'globalThis.__roastPeerLinks = new Set();' });
      logConsole(guest, `guest${i + 1}`);
      const id = await guestSignsIn(guest, app.guestUrl, `Guest ${i + 1}`);
      await inviteUntilAccepted(host, guest, id, { connectTimeoutMs: 180_000 });
      guests.push(guest);
      ids.push(id);
      backstage?.onStage();
      console.log(`guest ${i + 1} on stage${backstage ? ` (${backstage.describe()})` : ''}`);
    }
    const centres = blockCentres(guestCount + 1);
    // Settle: the return feed's first seconds (keyframes, bitrate ramp) are not the steady state.
    await host.waitForTimeout(smoke ? 3000 : 8000);
    const ms = seconds * 1000;
    const [preview, ...views] = await Promise.all([
      sample(host, '[data-testid="program-preview"]', centres, ms),
      ...guests.map((g) => sample(g, '[data-testid="program-view"]', centres, ms)),
    ]);
    const receivers = await Promise.all(guests.map((g) => receiverFigures(g).catch((e: Error) => `receiver figures unavailable: ${e.message}`)));
    const shown = await Promise.all(guests.map((g, i) => lagShown(host, g, ids[i]!)));
    const senders = await senderFigures(host).catch((e: Error) => [`sender figures unavailable: ${e.message}`]);
    const summary = [
      describe('studio preview (the composite alone)', preview!),
      ...views.map((v, i) => `${describe(`guest ${i + 1}'s program view`, v)}\n    receiver: ${receivers[i]}\n    shown: ${shown[i]}`),
    ];
    console.log(`\nreturn delay, host + ${guestCount}${backstage ? ', guests backstage' : ', equal priority'}, return pace ${returnPace} (${seconds} s, readings every 250 ms; goal: the guest view under a second behind)`);
    for (const line of summary) console.log(line);
    console.log(`program return as sent: ${senders.join(' | ')}`);
    const all = views.flatMap((v) => v.delays);
    if (all.length === 0) throw new Error('no guest view could be read: the code was not found in any program view');
    const s = [...all].sort((a, b) => a - b);
    console.log(`all guest views: median ${quantile(s, 0.5)} ms, p90 ${quantile(s, 0.9)} ms`);
  } finally {
    await hostBrowser.close();
    await guestBrowser.close();
    await app.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
