/**
 * Benchmark 4: audio/video offset in the ingested stream, near the start of a
 * broadcast and after `--minutes` (default 10). Goal: |offset| ≤ 40 ms.
 *
 *   npx tsx bench/avOffset.ts [--minutes 10] [--at 15] [--seconds 8] [--smoke]
 *
 * The host's fake camera and microphone are generated files with one exact
 * period (2.000 s): a .y4m (320x180, 30 fps, dark grey, white for the first 9
 * frames of each period) and a .wav (48 kHz, 96000 samples, a 100 ms 1 kHz
 * beep from sample 0). Chromium loops both. The host goes live alone (the
 * program is the host's camera, full frame) and the ingest is recorded for
 * `--seconds` at `--at` seconds after going live, and again at `--minutes`.
 * In each recording, on the stream's own timestamps, a flash is the first
 * frame whose mean luma crosses half-way from dark to white, a beep onset the
 * first 1 ms window whose RMS comes within 12 dB of the beep's level after
 * ≥ 0.3 s below it. Each flash is paired with the nearest beep onset: the
 * offset is video − audio (positive: the picture is late). That is the figure
 * viewers see, and the goal applies to it.
 *
 * Chromium's fake camera and microphone run on separate timers (the camera
 * shows every frame of its file and only slows down when it falls behind, so
 * under CPU load its loop lasts longer than 2 s), so the sources drift apart
 * by themselves. To tell that from the app's pipeline, the page also watches
 * the same two sources while each recording is made (clones of the host's
 * camera and microphone tracks read with MediaStreamTrackProcessor; times are
 * when each frame or chunk reaches the page). The page's clock is put on the
 * stream's (the encoder's media clock starts when its ffmpeg is spawned: the
 * process start time in /proc), which gives, for each flash and beep, how
 * long after reaching the page it sits in the stream; the difference of the
 * two is the pipeline's own A/V offset, and the page's flash − beep is the
 * sources' offset.
 *
 * Prints one JSON line per recording and a summary. --smoke: one 6 s
 * recording 10 s after going live; it fails only when no flash/beep pair is
 * found at all (the measurement is broken), never on the goal. A full run
 * exits with 1 when a recording is outside the goal.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startApp } from '../tests/support/app';
import { launchChromium } from '../tests/support/chromium';
import { hostGoesLive, logConsole } from '../tests/support/flows';
import { audioLevels, beepClip, flashClip, lumaPerFrame, recordRtmpStreamTimes } from '../tests/support/media';

const PERIOD_S = 2;
const PERIOD_MS = PERIOD_S * 1000;
const FPS = 30;
/** 300 ms: under load the program reads back only a few frames a second, and a shorter flash can fall between them. */
const FLASH_FRAMES = 9;
const BEEP_MS = 100;
/** A beep onset counts after this much quiet before it (so the beep's tail and echoes are not onsets). */
const BEEP_QUIET_MS = 300;
const GOAL_MS = 40;
/** Linux reports process start times in clock ticks of 1/100 s. */
const TICKS_PER_SECOND = 100;

const args = process.argv.slice(2);
const opt = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
};
const smoke = args.includes('--smoke');
const minutes = opt('minutes', 10);
const firstAtS = opt('at', smoke ? 10 : 15);
const seconds = opt('seconds', smoke ? 6 : 8);
/** The page starts watching its sources this long before each recording (the ingest hands a new reader its last keyframe's group, up to 2 s old). */
const watchLeadS = 4;
/** Fixtures and recordings live outside test-results/, which every Playwright run empties (possibly during this one). */
const dir = join(os.tmpdir(), 'roast-bench-av-offset');
mkdirSync(dir, { recursive: true });

const round = (v: number, digits = 1): number => +v.toFixed(digits);
const median = (values: number[]): number | null => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const roundOrNull = (v: number | null): number | null => (v === null ? null : round(v));
const meanInterval = (times: number[]): number | null => (times.length < 2 ? null : (times.at(-1)! - times[0]!) / (times.length - 1));

/** Times (ms) where `v` rises above `threshold` after at least `quietMs` at or below it. */
function risingEdges(series: Array<{ t: number; v: number }>, threshold: number, quietMs: number): number[] {
  const edges: number[] = [];
  let quietSince: number | null = null;
  for (const { t, v } of series) {
    const ms = t * 1000;
    if (v > threshold) {
      if (quietSince !== null && ms - quietSince >= quietMs) edges.push(ms);
      quietSince = null;
    } else if (quietSince === null) {
      quietSince = ms;
    }
  }
  return edges;
}

/** The element of `times` nearest to `t`, if within half a period. */
function nearest(times: number[], t: number): number | null {
  let best: number | null = null;
  for (const x of times) if (best === null || Math.abs(t - x) < Math.abs(t - best)) best = x;
  return best !== null && Math.abs(t - best) < PERIOD_MS / 2 ? best : null;
}

/** Flash and beep onsets in a recording, on the stream's own timestamps (ms). */
function measureRecording(file: string) {
  const frames = lumaPerFrame(file);
  const lumas = frames.map((f) => f.y);
  const dark = Math.min(...lumas);
  const bright = Math.max(...lumas);
  const flashes = bright - dark >= 60 ? risingEdges(frames.map((f) => ({ t: f.t, v: f.y })), (dark + bright) / 2, 0) : [];

  const windows = audioLevels(file, 48);
  const finite = windows.map((w) => w.db).filter((db) => Number.isFinite(db));
  const beepDb = finite.length ? Math.max(...finite) : -Infinity;
  const beeps = beepDb > -40 ? risingEdges(windows.map((w) => ({ t: w.t, v: w.db })), beepDb - 12, BEEP_QUIET_MS) : [];
  return {
    flashes,
    beeps,
    lumaRange: [round(dark), round(bright)],
    beepDb: Number.isFinite(beepDb) ? round(beepDb) : null,
    firstMs: (frames[0]?.t ?? NaN) * 1000,
    lastMs: (frames.at(-1)?.t ?? NaN) * 1000,
  };
}

// Putting the page's clock on the stream's ----------------------------------------------------------

/**
 * Wall-clock time (ms) at which the encoder's ffmpeg for `publishUrl` was
 * spawned: its media clock (the stream's timestamps) counts from there.
 * /proc gives the start in ticks since boot; /proc/uptime, read with
 * Date.now(), gives the boot time (±20 ms in all).
 */
function encoderSpawnedAtMs(publishUrl: string): { pid: number; atMs: number } | null {
  const key = publishUrl.split('/').at(-1) ?? publishUrl;
  const found: Array<{ pid: number; ticks: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!/ffmpeg/.test(cmdline[0] ?? '') || !cmdline.includes('pipe:0') || !cmdline.some((a) => a.startsWith('rtmp') && a.endsWith(key))) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      found.push({ pid: Number(entry), ticks: Number(fields[19]) });
    } catch {
      // The process went away while we looked.
    }
  }
  const newest = found.sort((a, b) => b.ticks - a.ticks)[0];
  if (!newest) return null;
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const bootedAtMs = Date.now() - uptimeS * 1000;
  return { pid: newest.pid, atMs: bootedAtMs + (newest.ticks * 1000) / TICKS_PER_SECOND };
}

// The page's own view of its sources ----------------------------------------------------------------

/**
 * Runs in the page before the app: keeps every stream getUserMedia hands out
 * and every AudioContext made, so the bench can watch the same sources and the
 * program mix's audio clock. (A string: the bundler's helpers do not exist in the page.)
 */
const keepSources = `(() => {
  const streams = [];
  const contexts = [];
  window.__avOffset = { streams, contexts };
  const devices = navigator.mediaDevices;
  if (devices && devices.getUserMedia) {
    const original = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (constraints) => {
      const stream = await original(constraints);
      streams.push(stream);
      return stream;
    };
  }
  const Original = window.AudioContext;
  if (Original) {
    window.AudioContext = function (...args) {
      const context = new Original(...args);
      contexts.push(context);
      return context;
    };
    window.AudioContext.prototype = Original.prototype;
  }
})();`;

interface AudioClockReading {
  /** Page performance clock minus the AudioContext's clock (ms): grows when the audio clock falls behind real time. */
  behindMs: number;
}

/** Reads the newest running AudioContext's clock against the page's (the program mix's context, while live). */
function readAudioClock(page: Page): Promise<AudioClockReading | null> {
  return page.evaluate(() => {
    const kept = (window as unknown as { __avOffset?: { contexts: AudioContext[] } }).__avOffset?.contexts ?? [];
    const context = kept.filter((c) => c.state === 'running' && c.sampleRate === 48000).at(-1);
    if (!context) return null;
    return { behindMs: performance.now() - context.currentTime * 1000 };
  });
}

interface SourceWatch {
  /** performance.timeOrigin of the page (wall clock, ms). */
  timeOrigin: number;
  /** When flash frames and beep onsets reached the page (page performance clock, ms). */
  flashes: number[];
  beeps: number[];
  videoFrames: number;
  audioChunks: number;
  audioPeak: number;
  /** How long the page watched (s). */
  seconds: number;
  error?: string;
}

/** Reads clones of the host's camera and microphone tracks for `ms` and notes when each flash and beep reaches the page. */
function watchSources(page: Page, ms: number): Promise<SourceWatch> {
  return page.evaluate(async (durationMs: number): Promise<SourceWatch> => {
    type Processor = new (init: { track: MediaStreamTrack; maxBufferSize?: number }) => { readable: ReadableStream<VideoFrame | AudioData> };
    const Mstp = (window as unknown as { MediaStreamTrackProcessor?: Processor }).MediaStreamTrackProcessor;
    const started = performance.now();
    const result: SourceWatch = { timeOrigin: performance.timeOrigin, flashes: [], beeps: [], videoFrames: 0, audioChunks: 0, audioPeak: 0, seconds: 0 };
    const streams = (window as unknown as { __avOffset?: { streams: MediaStream[] } }).__avOffset?.streams ?? [];
    const videoTrack = streams.flatMap((s) => s.getVideoTracks()).filter((t) => t.readyState === 'live').at(-1);
    const audioTrack = streams.flatMap((s) => s.getAudioTracks()).filter((t) => t.readyState === 'live').at(-1);
    if (!Mstp || !videoTrack || !audioTrack) {
      result.error = !Mstp ? 'no MediaStreamTrackProcessor' : 'no live camera and microphone tracks';
      return result;
    }
    const video = videoTrack.clone();
    const audio = audioTrack.clone();
    const videoReader = new Mstp({ track: video, maxBufferSize: 8 }).readable.getReader();
    const audioReader = new Mstp({ track: audio, maxBufferSize: 64 }).readable.getReader();
    const stopAt = performance.now() + durationMs;
    const timer = setTimeout(() => {
      void videoReader.cancel();
      void audioReader.cancel();
    }, durationMs + 1000);

    const canvas = new OffscreenCanvas(8, 8);
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    // (Inner functions stay anonymous: the bundler would wrap named ones in a helper the page lacks.)
    const readVideo = (async () => {
      let wasBright: boolean | null = null;
      for (;;) {
        const { value, done } = await videoReader.read();
        if (done || !value) break;
        const arrival = performance.now();
        const frame = value as VideoFrame;
        ctx.drawImage(frame, 0, 0, 8, 8);
        frame.close();
        const pixels = ctx.getImageData(0, 0, 8, 8).data;
        let sum = 0;
        for (let i = 0; i < pixels.length; i += 4) sum += pixels[i + 1]!;
        const bright = sum / (pixels.length / 4) > 128;
        if (bright && wasBright === false) result.flashes.push(arrival);
        wasBright = bright;
        result.videoFrames++;
        if (arrival > stopAt) break;
      }
    })();
    const readAudio = (async () => {
      let quietSince: number | null = null;
      for (;;) {
        const { value, done } = await audioReader.read();
        if (done || !value) break;
        const arrival = performance.now();
        const data = value as AudioData;
        const n = data.numberOfFrames;
        const rate = data.sampleRate;
        const samples = new Float32Array(n);
        data.copyTo(samples, { planeIndex: 0, format: 'f32-planar' });
        data.close();
        result.audioChunks++;
        for (let i = 0; i < n; i++) {
          const level = Math.abs(samples[i]!);
          result.audioPeak = Math.max(result.audioPeak, level);
          // Sample i of a chunk that arrived whole at `arrival`.
          const at = arrival - ((n - i) * 1000) / rate;
          if (level > 0.05) {
            if (quietSince !== null && at - quietSince >= 300) result.beeps.push(at);
            quietSince = null;
          } else if (quietSince === null) {
            quietSince = at;
          }
        }
        if (arrival > stopAt) break;
      }
    })();
    try {
      await Promise.all([readVideo, readAudio]);
    } catch (error) {
      result.error = String(error);
    } finally {
      clearTimeout(timer);
      video.stop();
      audio.stop();
    }
    result.seconds = (performance.now() - started) / 1000;
    return result;
  }, ms);
}

// One recording -------------------------------------------------------------------------------------

interface HostState {
  pipeline: { framesSent: number; framesSkipped: number; bridgeDropped: number };
  stats: Record<string, unknown> | null;
}

const hostState = (page: Page) =>
  page.evaluate(() => {
    const s = (window as unknown as { __roast: { getState: () => HostState } }).__roast.getState();
    return { pipeline: s.pipeline, stats: s.stats };
  });

interface AudioClock {
  atLive: AudioClockReading | null;
  before: AudioClockReading | null;
  after: AudioClockReading | null;
}

function summarise(atS: number, file: string, watch: SourceWatch, spawnedAtMs: number | null, clock: AudioClock, loadAverage: number[], before: HostState, after: HostState) {
  const m = measureRecording(file);
  const pairs = m.flashes.flatMap((f) => {
    const b = nearest(m.beeps, f);
    return b === null ? [] : [{ videoS: round(f / 1000, 3), audioS: round(b / 1000, 3), offsetMs: round(f - b) }];
  });
  const offsets = pairs.map((p) => p.offsetMs);
  const medianMs = roundOrNull(median(offsets));
  const maxAbsMs = offsets.length ? round(Math.max(...offsets.map(Math.abs))) : null;

  // The sources as the page receives them: each flash against the nearest beep.
  const sourceOffsets = watch.flashes.flatMap((f) => {
    const b = nearest(watch.beeps, f);
    return b === null ? [] : [f - b];
  });
  // Page time → stream time; then how long after reaching the page each flash and beep sits in the stream.
  // A stream event belongs to the page event from 1.4 s before it to 0.6 s after it (one period: the
  // window is the same for both kinds, and a mix whose clock falls behind stamps audio early).
  const toStream = spawnedAtMs === null ? null : (pageMs: number) => pageMs + watch.timeOrigin - spawnedAtMs;
  // `leadMs`: how far into the recording an event can first be found (a beep needs the quiet before it recorded too).
  const matchLag = (streamTimes: number[], pageTimes: number[], leadMs: number) => {
    const mapped = toStream === null ? [] : pageTimes.map(toStream);
    const matches = streamTimes.flatMap((s) => {
      const p = mapped.find((x) => s - x > -0.3 * PERIOD_MS && s - x <= 0.7 * PERIOD_MS);
      return p === undefined ? [] : [{ page: p, lag: s - p }];
    });
    const lagMs = median(matches.map((m) => m.lag));
    // Page events whose place in the stream lies inside the recording but that are not there (lost or cut by the pipeline).
    const expectedUntil = m.lastMs - (lagMs ?? 0) - 200;
    const missing = mapped.filter((p) => p >= m.firstMs + leadMs && p <= expectedUntil && !matches.some((x) => x.page === p)).length;
    return { lagMs, missing };
  };
  const videoMatch = matchLag(m.flashes, watch.flashes, 100);
  const audioMatch = matchLag(m.beeps, watch.beeps, BEEP_QUIET_MS + 100);
  const videoLagMs = videoMatch.lagMs;
  const audioLagMs = audioMatch.lagMs;

  const stats = after.stats ?? {};
  const delta = (k: keyof HostState['pipeline']) => after.pipeline[k] - before.pipeline[k];
  const num = (k: string) => (typeof stats[k] === 'number' ? (stats[k] as number) : null);
  return {
    bench: 'av-offset',
    atMinutes: round(atS / 60, 2),
    pairs,
    medianMs,
    maxAbsMs,
    withinGoal: maxAbsMs !== null && maxAbsMs <= GOAL_MS,
    recordedSeconds: seconds,
    flashes: m.flashes.length,
    beeps: m.beeps.length,
    lumaRange: m.lumaRange,
    beepDb: m.beepDb,
    /** The offset split: the sources as the page receives them, and what the pipeline adds (video lag − audio lag). */
    sourceOffsetMs: roundOrNull(median(sourceOffsets)),
    pipelineOffsetMs: videoLagMs !== null && audioLagMs !== null ? round(videoLagMs - audioLagMs) : null,
    /** From reaching the page to the stream's timestamp (median; ±20 ms for both, from the clock mapping). */
    videoLagMs: roundOrNull(videoLagMs),
    audioLagMs: roundOrNull(audioLagMs),
    page: {
      flashes: watch.flashes.length,
      beeps: watch.beeps.length,
      sourceOffsetsMs: sourceOffsets.map((o) => round(o)),
      /** The camera's loop as the page sees it (2000 when it keeps time) and the microphone's. */
      flashPeriodMs: roundOrNull(meanInterval(watch.flashes)),
      beepPeriodMs: roundOrNull(meanInterval(watch.beeps)),
      videoFramesPerSecond: round(watch.videoFrames / Math.max(1, watch.seconds)),
      audioPeak: round(watch.audioPeak, 3),
      flashesMissingInStream: toStream === null ? null : videoMatch.missing,
      beepsMissingInStream: toStream === null ? null : audioMatch.missing,
      ...(watch.error ? { error: watch.error } : {}),
    },
    /** The program mix's AudioContext clock against the page's: how far it fell behind since going live, and during the recording. */
    audioClock: {
      behindSinceLiveMs: clock.atLive && clock.after ? round(clock.after.behindMs - clock.atLive.behindMs) : null,
      behindDuringRecordingMs: clock.before && clock.after ? round(clock.after.behindMs - clock.before.behindMs) : null,
    },
    /** During the recording, per second: frames read back and sent by the renderer, readbacks skipped, frames dropped by the bridge. */
    pipelinePerSecond: { framesSent: round(delta('framesSent') / seconds), framesSkipped: round(delta('framesSkipped') / seconds), bridgeDropped: round(delta('bridgeDropped') / seconds) },
    encoder: { state: stats.state ?? null, fps: num('fps'), speed: num('speed'), framesWritten: num('framesWritten'), framesRepeated: num('framesRepeated'), framesDropped: num('framesDropped'), restarts: num('restarts'), audioFilledMs: num('audioFilledMs'), audioTrimmedMs: num('audioTrimmedMs'), audioDroppedMs: num('audioDroppedMs') },
    loadAverage: loadAverage.map((l) => round(l, 2)),
  };
}
type Result = ReturnType<typeof summarise>;

// The run ---------------------------------------------------------------------------------------------

const sleepUntil = async (at: number) => {
  const ms = at - Date.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
};

const video = flashClip(dir, { periodS: PERIOD_S, fps: FPS, flashFrames: FLASH_FRAMES });
const audio = beepClip(dir, { periodS: PERIOD_S, beepMs: BEEP_MS });
const app = await startApp();
const browser = await launchChromium(video, audio);
const schedule = smoke ? [firstAtS] : [firstAtS, minutes * 60];
const results: Result[] = [];
let failed = false;

try {
  const host = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  logConsole(host, 'host');
  await host.addInitScript({ content: keepSources });
  const { publishUrl } = await hostGoesLive(host, app.studioUrl, 'Bench Host');
  const liveAt = Date.now();
  const clockAtLive = await readAudioClock(host);
  for (const atS of schedule) {
    await sleepUntil(liveAt + (atS - watchLeadS) * 1000);
    const watching = watchSources(host, (watchLeadS + seconds + 1) * 1000);
    await sleepUntil(liveAt + atS * 1000);
    const loadAverage = os.loadavg();
    const before = await hostState(host);
    const clockBefore = await readAudioClock(host);
    const spawned = encoderSpawnedAtMs(publishUrl);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `av-offset-${Math.round(atS)}s.flv`);
    const started = Date.now();
    await recordRtmpStreamTimes(publishUrl, file, seconds);
    const after = await hostState(host);
    const clockAfter = await readAudioClock(host);
    const watch = await watching;
    const clock = { atLive: clockAtLive, before: clockBefore, after: clockAfter };
    const result = summarise((started - liveAt) / 1000, file, watch, spawned?.atMs ?? null, clock, loadAverage, before, after);
    results.push(result);
    console.log(JSON.stringify(result));
  }
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await browser.close();
  await app.stop();
}

const describe = (r: Result) =>
  r.medianMs === null
    ? `no flash/beep pair (${r.flashes} flashes, ${r.beeps} beeps)`
    : `median ${r.medianMs} ms, max |offset| ${r.maxAbsMs} ms over ${r.pairs.length} pairs (${r.pairs.map((p) => p.offsetMs).join(', ')}), ${r.withinGoal ? 'within' : 'outside'} the ±${GOAL_MS} ms goal` +
      ` = sources ${r.sourceOffsetMs ?? '?'} ms (camera loop ${r.page.flashPeriodMs ?? '?'} ms) + pipeline ${r.pipelineOffsetMs ?? '?'} ms` +
      ` (video ${r.videoLagMs ?? '?'} ms, audio ${r.audioLagMs ?? '?'} ms from page to stream; the mix's audio clock ${r.audioClock.behindSinceLiveMs ?? '?'} ms behind the page's since going live);` +
      ` ${r.page.flashesMissingInStream} flashes and ${r.page.beepsMissingInStream} beeps the page got are missing in the stream; load average ${r.loadAverage.join(' ')}`;
console.log('');
for (const r of results) console.log(`A/V offset (video − audio) at ${r.atMinutes} min: ${describe(r)}`);
const [first, last] = [results[0], results.at(-1)];
if (first && last && last !== first) {
  const change = (a: number | null, b: number | null) => (a === null || b === null ? '?' : `${b - a > 0 ? '+' : ''}${round(b - a)}`);
  console.log(
    `change over ${round(last.atMinutes - first.atMinutes, 1)} min: offset ${change(first.medianMs, last.medianMs)} ms = sources ${change(first.sourceOffsetMs, last.sourceOffsetMs)} ms + pipeline ${change(first.pipelineOffsetMs, last.pipelineOffsetMs)} ms`,
  );
}
if (failed || results.length === 0 || results.some((r) => r.pairs.length === 0)) {
  const seen = results.map((r) => `at ${r.atMinutes} min the stream had ${r.flashes} flashes and ${r.beeps} beeps, the page received ${r.page.flashes} and ${r.page.beeps}`);
  console.error(`av-offset: no flash/beep pair in ${failed ? 'a run that failed' : 'a recording'}${seen.length ? `: ${seen.join('; ')}` : ''}`);
  process.exit(1);
}
// A full run fails when a recording is outside the goal; the smoke run only checks that the measurement works.
process.exit(!smoke && results.some((r) => !r.withinGoal) ? 1 : 0);
