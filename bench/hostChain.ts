/**
 * Benchmark 3: new (non-repeated) frames per second reaching the ingest for
 * host + N guests, with the CPU split per process. The host's camera is a
 * test pattern whose every frame differs, so a repeat in the output shows as
 * a host tile that did not change (counted with ffmpeg's mpdecimate).
 * Also reports the host browser's memory (PSS) per added guest (benchmark 5).
 *
 * Runs once per compositor and encoder (`--compositor cpu,gpu` by default: the
 * CPU I420 compositor and WebGL2 side by side; `--encoder auto` by default, or
 * e.g. `libx264,webcodecs`: ffmpeg encoding raw frames against the renderer
 * encoding H.264 that ffmpeg only muxes; the smoke run uses `auto` for both).
 *
 * `--guest-nice 10` lowers the guests' browser's priority (its autogroup before the guests join,
 * and every thread once they are on): a streamer's guests run on their own devices, not on the
 * host's cores, and this shows what the host's pipeline does when it is not
 * sharing them evenly with its guests' pages. The default (equal priority) is
 * the figure held against the goal.
 *
 * `--guest-nice backstage` sets the nine-guest test's priorities instead
 * (tests/support/backstage.ts): the guests' browser at nice 5, and the pages of
 * guests already on stage at nice 10 within it, below the guest joining.
 *
 * `--light-guests` gives each guest the nine-guest test's light camera (a 160x90
 * canvas of one colour at 5 fps) and a microphone without processing
 * (tests/support/lightGuest.ts) instead of the 320x180 15 fps test clip: what
 * lets nine guests' pages join on two cores at all; the host then decodes less.
 *
 * `--profile` records the studio page's main thread during the measurement (a
 * .cpuprofile next to the recording, for DevTools) and prints the functions
 * that took the most of it; build the renderer unminified to read their names
 * (`npx vite build --config vite.renderer.config.ts --minify false`).
 *
 *   npx tsx bench/hostChain.ts [--guests 3] [--seconds 20] [--compositor cpu,gpu] [--encoder auto|libx264|webcodecs,...] [--guest-nice 0,10,backstage] [--return-pace on,off] [--light-guests] [--profile] [--smoke]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp } from '../tests/support/app';
import { launchChromium } from '../tests/support/chromium';
import { guestSignsIn, hostGoesLive, inviteUntilAccepted, logConsole } from '../tests/support/flows';
import { FFMPEG, recordRtmp } from '../tests/support/media';
import { chromiumRenderers, chromiumRole, chromiumRootByFlag, cpuSplit, reniceTree, snapshot, threadRunQueue, threadSplit, threadTicks, treePss, type RunQueueTimes } from '../tests/support/procstat';
import { gridLayout } from '../src/shared/layout';
import { selfTimes, startProfile, stopProfile } from './cpuProfile';
import { lightGuestPage, type Rgb } from '../tests/support/lightGuest';
import { Backstage } from '../tests/support/backstage';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const smoke = args.includes('--smoke');
const profile = args.includes('--profile');
const lightGuests = args.includes('--light-guests');
const niceArg = args.indexOf('--guest-nice');
/** A nice value for the whole guests' browser, or 'backstage' (tests/support/backstage.ts: the guests on stage below the one joining). */
type GuestPriority = number | 'backstage';
const nices: GuestPriority[] = (niceArg >= 0 ? args[niceArg + 1]! : '0').split(',').map((v) => (v === 'backstage' ? v : Number(v)));
for (const n of nices) if (n !== 'backstage' && (!Number.isInteger(n) || n < 0 || n > 19)) throw new Error(`--guest-nice takes nice values from 0 to 19 or "backstage" (comma-separated), got "${args[niceArg + 1]}"`);
const guests = opt('guests', smoke ? 1 : 3);
const seconds = opt('seconds', smoke ? 4 : 20);
const modesArg = args.indexOf('--compositor');
const modes = (modesArg >= 0 ? args[modesArg + 1]! : smoke ? 'auto' : 'cpu,gpu').split(',');
for (const m of modes) if (!['auto', 'cpu', 'gpu'].includes(m)) throw new Error(`--compositor takes auto, cpu or gpu (comma-separated), got "${m}"`);
const paceArg = args.indexOf('--return-pace');
const paces = (paceArg >= 0 ? args[paceArg + 1]! : 'on').split(',');
for (const p of paces) if (!['on', 'off'].includes(p)) throw new Error(`--return-pace takes on or off (comma-separated), got "${p}"`);
const encodersArg = args.indexOf('--encoder');
const encoders = (encodersArg >= 0 ? args[encodersArg + 1]! : 'auto').split(',');
for (const e of encoders) if (!['auto', 'libx264', 'webcodecs'].includes(e)) throw new Error(`--encoder takes auto, libx264 or webcodecs (comma-separated), got "${e}"`);
/** Outside test-results/, which every Playwright run empties (possibly during this one). */
const dir = join(tmpdir(), 'roast-bench-host-chain');
mkdirSync(dir, { recursive: true });

function clip(name: string, source: string): string {
  const file = join(dir, `${name}.y4m`);
  execFileSync(FFMPEG, ['-v', 'error', '-y', '-f', 'lavfi', '-i', source, '-pix_fmt', 'yuv420p', file]);
  return file;
}

/** Frames ffmpeg outputs for the recording through a filter chain. */
function countFrames(file: string, filter: string): number {
  const out = execFileSync(FFMPEG, ['-v', 'error', '-i', file, '-vf', filter, '-an', '-progress', 'pipe:1', '-f', 'null', '-']).toString();
  const frames = [...out.matchAll(/^frame=(\d+)$/gm)].map((m) => Number(m[1]));
  return frames.at(-1) ?? 0;
}

const hostClip = clip('host-pattern', 'testsrc2=s=640x360:r=30:d=4');
const guestClip = clip('guest-pattern', 'testsrc=s=320x180:r=15:d=4');
const summary: string[] = [];
for (const mode of modes) for (const encoder of encoders) for (const nice of nices) for (const pace of paces) await run(mode, encoder, nice, pace);
if (summary.length > 1) console.log(`\nside by side:\n${summary.join('\n')}`);

async function run(mode: string, encoder: string, guestNice: GuestPriority, returnPace: string): Promise<void> {
// The app reads ROAST_ENCODER when the host goes live (auto: unset).
if (encoder === 'auto') delete process.env.ROAST_ENCODER;
else process.env.ROAST_ENCODER = encoder;
const app = await startApp();
const hostBrowser = await launchChromium(hostClip);
const guestBrowser = await launchChromium(guestClip);
try {
  const host = await hostBrowser.newPage({ viewport: { width: 1280, height: 800 } });
  // The host's camera tracks, kept for their counters (MediaStreamTrack.stats: frames the camera delivered and discarded).
  await host.addInitScript(() => {
    const devices = navigator.mediaDevices;
    const original = devices.getUserMedia.bind(devices);
    const kept: MediaStreamTrack[] = [];
    (window as unknown as { __benchCameras: MediaStreamTrack[] }).__benchCameras = kept;
    devices.getUserMedia = async (constraints?: MediaStreamConstraints) => {
      const stream = await original(constraints);
      kept.push(...stream.getVideoTracks());
      return stream;
    };
  });
  logConsole(host, 'host');
  // When the studio gives the guests' returns fewer frames so the broadcast keeps its pictures (rtc/returnPace.ts).
  const paceSteps: string[] = [];
  host.on('console', (m) => {
    if (!m.text().startsWith('program returns:')) return;
    paceSteps.push(`${new Date().toISOString().slice(11, 19)} ${m.text()}`);
    console.log(`[host] ${m.text()}`);
  });
  // The studio page on a full machine answers slowly too (with six guests on, an invitation waited > 30 s for it).
  host.setDefaultTimeout(120_000);
  const studio = new URL(app.studioUrl);
  studio.searchParams.set('compositor', mode);
  studio.searchParams.set('returnPace', returnPace);
  const { publishUrl } = await hostGoesLive(host, studio.toString(), 'Bench Host');
  const hostTree = chromiumRootByFlag(`--use-file-for-fake-video-capture=${hostClip}`);
  // Memory after the page's garbage is collected (garbage is not what a guest costs), by process type.
  const cdp = await host.context().newCDPSession(host);
  const measureMemory = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    await new Promise((r) => setTimeout(r, 500));
    return treePss(hostTree);
  };
  const memorySteps = [await measureMemory()];
  const guestRoot = chromiumRootByFlag(`--use-file-for-fake-video-capture=${guestClip}`);
  // The guests join in the setting they are measured in (the group's nice value covers the pages opened later).
  const backstage = guestNice === 'backstage' ? new Backstage(guestRoot) : null;
  if (typeof guestNice === 'number' && guestNice > 0) reniceTree(guestRoot, guestNice);
  for (let i = 0; i < guests; i++) {
    const guest = lightGuests
      ? await lightGuestPage(guestBrowser, [40 + 20 * i, 200 - 15 * i, 120] as Rgb, { width: 480, height: 360 })
      : await (await guestBrowser.newContext({ viewport: { width: 480, height: 360 } })).newPage();
    logConsole(guest, `guest${i + 1}`);
    // A full machine answers slowly: a guest page gets two minutes to load and to react.
    guest.setDefaultTimeout(120_000);
    const joinStarted = Date.now();
    const id = await guestSignsIn(guest, app.guestUrl, `Guest ${i + 1}`);
    // As people do on a machine too busy to answer within 20 s: invited again when the invitation ran out.
    await inviteUntilAccepted(host, guest, id, { connectTimeoutMs: 180_000 });
    backstage?.onStage();
    console.log(`guest ${i + 1} on stage and connected ${((Date.now() - joinStarted) / 1000).toFixed(1)} s after opening the guest page`);
    await new Promise((r) => setTimeout(r, 3000));
    memorySteps.push(await measureMemory());
  }
  await new Promise((r) => setTimeout(r, smoke ? 1000 : 5000));

  const pipelineNow = () =>
    host.evaluate(() => {
      const s = (window as unknown as { __roast: { getState: () => { pipeline: Record<string, number>; renderMs: number; stats: Record<string, unknown> | null } } }).__roast.getState();
      return { framesSent: 0, framesSkipped: 0, bridgeDropped: 0, ...(s.pipeline as Record<string, number>), compositor: String(s.pipeline.compositor), encoder: String(s.stats?.encoder), renderMs: s.renderMs, framesIn: Number(s.stats?.framesIn ?? 0), framesWritten: Number(s.stats?.framesWritten ?? 0), workerBusyMs: (s.pipeline.workerBusyMs ?? {}) as unknown as Record<string, number> };
    });
  if (backstage) console.log(backstage.describe());
  if (typeof guestNice === 'number' && guestNice > 0) {
    const { threads, autogroup } = reniceTree(guestRoot, guestNice);
    console.log(`guests' browser: ${threads} threads${autogroup ? ' and its autogroup' : ' (not its autogroup: the nice value of the session does not change here)'} at nice ${guestNice}`);
    await new Promise((r) => setTimeout(r, 3000));
  }
  /** Threads of the renderers (host page; all guest pages together), to see where a renderer's CPU goes. */
  const rendererThreads = { host: chromiumRenderers(hostTree), guests: chromiumRenderers(guestRoot) };
  const threadsBefore = Object.fromEntries(Object.entries(rendererThreads).map(([k, pids]) => [k, pids.map(threadTicks)]));
  const before = snapshot();
  const recording = join(dir, `host+${guests}.flv`);
  if (profile) await startProfile(cdp);
  // Read right before the recording: the per-second rates cover the recording alone (read before the 3 s of
  // renicing, they counted 18 s of frames over 15 s: 37 frames a second at 30 fps).
  /** The live host camera's counters (the newest track: the one the program shows), or null where the browser has none. */
  const cameraFrames = () =>
    host.evaluate(() => {
      const tracks = (window as unknown as { __benchCameras?: MediaStreamTrack[] }).__benchCameras ?? [];
      const live = tracks.filter((t) => t.readyState === 'live').at(-1) as (MediaStreamTrack & { stats?: { deliveredFrames: number; discardedFrames: number } }) | undefined;
      return live?.stats ? { delivered: live.stats.deliveredFrames, discarded: live.stats.discardedFrames } : null;
    });
  const pipelineBefore = await pipelineNow();
  const cameraBefore = await cameraFrames();
  const started = Date.now();
  await recordRtmp(publishUrl, recording, seconds);
  const elapsed = (Date.now() - started) / 1000;
  const mainThread = profile ? await stopProfile(cdp) : null;
  const after = snapshot();
  const threads = Object.fromEntries(
    Object.entries(rendererThreads).map(([k, pids]) => {
      const merged: Record<string, number> = {};
      pids.forEach((pid, i) => {
        for (const [name, v] of Object.entries(threadSplit(threadsBefore[k]![i]!, threadTicks(pid), elapsed))) merged[name] = (merged[name] ?? 0) + v;
      });
      return [k, Object.fromEntries(Object.entries(merged).sort((a, b) => b[1] - a[1]))];
    }),
  );
  /** The host renderer's threads: on a CPU vs waiting for one (ms per second), to tell a starved thread from a blocked one. */
  const hostRunQueue: Record<string, RunQueueTimes> = {};
  rendererThreads.host.forEach((pid, i) => {
    for (const [name, v] of Object.entries(threadRunQueue(threadsBefore.host![i]!, threadTicks(pid), elapsed))) {
      const e = (hostRunQueue[name] ??= { onCpu: 0, waiting: 0, inKernel: 0 });
      e.onCpu += v.onCpu;
      e.inKernel += v.inKernel;
      e.waiting += v.waiting;
    }
  });
  const pipelineAfter = await pipelineNow();
  const cameraAfter = await cameraFrames();
  /** The host's camera during the recording, frames a second: delivered to the page, and discarded by the browser. */
  const hostCamera =
    cameraBefore && cameraAfter
      ? { delivered: +((cameraAfter.delivered - cameraBefore.delivered) / elapsed).toFixed(1), discarded: +((cameraAfter.discarded - cameraBefore.discarded) / elapsed).toFixed(1) }
      : null;
  const pipelineRate = Object.fromEntries(
    (['framesSent', 'framesSkipped', 'bridgeDropped', 'framesIn', 'framesWritten'] as const).map((k) => [k, +((pipelineAfter[k]! - pipelineBefore[k]!) / elapsed).toFixed(1)]),
  );
  /** The program worker's time per step during the recording, in ms per second (10 = 1 % of a core, wall time). */
  const workerBusy = Object.fromEntries(
    Object.entries(pipelineAfter.workerBusyMs).map(([k, v]) => [k, +((v - (pipelineBefore.workerBusyMs[k] ?? 0)) / elapsed).toFixed(1)]),
  );
  const hostRoot = hostTree;
  const split = cpuSplit(before, after, elapsed, (p, procs) => {
    if (/\bffmpeg\b/.test(p.args) && p.args.includes('pipe:0')) return 'ffmpeg encoder';
    if (/\bffmpeg\b/.test(p.args) && p.args.includes('hls')) return 'ffmpeg hls packager';
    if (/\bffmpeg\b/.test(p.args) && p.args.includes('-c copy')) return null; // this benchmark's own recorder
    if (p.args.includes('src/main/start.ts')) return 'node (backend + bridge)';
    if (p.args.includes('deno') && p.args.includes('functions-host')) return 'deno functions';
    if (p.args.includes('postgres')) return 'postgres';
    return chromiumRole(p, procs, hostRoot, 'host') ?? chromiumRole(p, procs, guestRoot, 'guests');
  });

  // Count distinct host tiles frame to frame in the ingested stream.
  const participants = guests + 1;
  const tile = gridLayout(Array.from({ length: participants }, (_, i) => ({ id: String(i), width: 640, height: 360 })), 1280, 720)[0]!.rect;
  const crop = `crop=${tile.width - 8}:${tile.height - 8}:${tile.x + 4}:${tile.y + 4}`;
  // mpdecimate keeps a frame only when it differs visibly from the last kept one: repeats made by
  // ffmpeg (and re-encodes of the same picture, which differ by noise) are not counted as new.
  // The recording's length in 30 fps slots, whether the stream is constant-rate (ffmpeg's encoder) or not (a copied stream).
  const totalFrames = countFrames(recording, `fps=30,${crop}`);
  // Numbered afresh after mpdecimate: kept frames closer than the null muxer's 1/30 s time base
  // would share a timestamp (a copied stream's are in ms), which ffmpeg reports as an error each time.
  const newFrames = countFrames(recording, `${crop},mpdecimate,setpts=N/30/TB`);
  const duration = totalFrames / 30;
  const newFps = newFrames / Math.max(1, duration);
  const memory = memorySteps.map((m) => m.total);
  const perGuestMb = memory.length > 1 ? (memory.at(-1)! - memory[0]!) / (memory.length - 1) : 0;
  /** From the first guest on: what each further guest adds, past the one-time cost of the first call (WebRTC, codecs, the program return). */
  const perFurtherGuestMb = memory.length > 2 ? (memory.at(-1)! - memory[1]!) / (memory.length - 2) : null;

  const result = {
    bench: 'host-chain',
    compositor: pipelineAfter.compositor,
    encoder: pipelineAfter.encoder,
    guests,
    guestNice,
    lightGuests,
    returnPace,
    returnPaceSteps: paceSteps,
    hostCameraPerSecond: hostCamera,
    seconds: +duration.toFixed(1),
    outputFrames: totalFrames,
    newFramesPerSecond: +newFps.toFixed(1),
    hostPssMbPerGuest: +perGuestMb.toFixed(1),
    hostPssMb: memory.map((m) => Math.round(m)),
    hostPssMbPerFurtherGuest: perFurtherGuestMb === null ? null : +perFurtherGuestMb.toFixed(1),
    hostPssMbByProcess: memorySteps.map((m) => Object.fromEntries(Object.entries(m.byType).map(([k, v]) => [k, Math.round(v)]))),
    /** Per second during the recording: read back and sent by the renderer, readbacks skipped, dropped by the bridge, received and written by the encoder. */
    pipelinePerSecond: pipelineRate,
    renderMs: +pipelineAfter.renderMs.toFixed(1),
    programWorkerMsPerSecond: workerBusy,
    cpuPercentOfOneCore: split,
    /** The renderer processes' CPU by thread name, % of one core. */
    rendererThreads: threads,
    /** The host renderer's threads, ms per second on a CPU and waiting for one. */
    hostThreadsRunQueue: hostRunQueue,
  };
  console.log(JSON.stringify(result));
  const setting = `${guestNice ? ` (guests ${guestNice === 'backstage' ? 'backstage' : `at nice ${guestNice}`}${lightGuests ? ', light cameras' : ''})` : lightGuests ? ' (light guest cameras)' : ''}`;
  summary.push(`${pipelineAfter.compositor.padEnd(4)} ${pipelineAfter.encoder.padEnd(9)} host + ${guests}${setting}, return pace ${returnPace}: ${newFps.toFixed(1).padStart(5)} new frames/s, render ${pipelineAfter.renderMs.toFixed(1)} ms, ${perGuestMb.toFixed(1)} MB per guest`);
  console.log(`\n[${pipelineAfter.compositor} compositor, ${pipelineAfter.encoder}] host + ${guests}${setting}: ${newFps.toFixed(1)} new frames/s reaching the ingest (of ${totalFrames} output frames in ${duration.toFixed(1)} s)`);
  console.log(`host camera per second: ${hostCamera ? `${hostCamera.delivered} frames delivered, ${hostCamera.discarded} discarded` : 'no counters (MediaStreamTrack.stats missing)'}`);
  console.log(`renderer pipeline per second: ${Object.entries(pipelineRate).map(([k, v]) => `${k} ${v}`).join(', ')}; render ${pipelineAfter.renderMs.toFixed(1)} ms`);
  console.log(`program worker, ms per second by step: ${Object.entries(workerBusy).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`host browser memory (PSS) per added guest: ${perGuestMb.toFixed(1)} MB (${memory.map((m) => Math.round(m)).join(' → ')} MB)${perFurtherGuestMb === null ? '' : `; each guest after the first: ${perFurtherGuestMb.toFixed(1)} MB`}`);
  console.log(`  by process: ${memorySteps.map((m) => Object.entries(m.byType).map(([k, v]) => `${k} ${Math.round(v)}`).join(' ')).join(' → ')}`);
  console.log(
    `host renderer threads, ms per second on a CPU (of it in the kernel) / waiting for one: ${Object.entries(hostRunQueue)
      .slice(0, 8)
      .map(([n, v]) => `${n} ${v.onCpu} (${v.inKernel}) / ${v.waiting}`)
      .join(', ')}`,
  );
  for (const [k, v] of Object.entries(threads)) console.log(`${k} renderer threads, % of one core:`, Object.entries(v).map(([n, c]) => `${n} ${c}`).join(', '));
  if (mainThread) {
    const file = join(dir, `host+${guests}-${pipelineAfter.compositor}-nice${guestNice}.cpuprofile`);
    writeFileSync(file, JSON.stringify(mainThread));
    const top = selfTimes(mainThread);
    const busy = top.filter((t) => t.name !== '(idle)').reduce((a, t) => a + t.ms, 0);
    console.log(`studio page main thread: ${(busy / elapsed).toFixed(0)} ms per second busy (profile: ${file}); most self time, ms per second:`);
    for (const t of top.filter((t) => t.name !== '(idle)').slice(0, 20)) console.log(`  ${(t.ms / elapsed).toFixed(1).padStart(6)}  ${t.name}`);
  }
  console.log('CPU, % of one core:', Object.entries(split).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', '));
} finally {
  await hostBrowser.close();
  await guestBrowser.close();
  await app.stop();
}
}
