/**
 * Benchmark 2: what the broadcast pipeline costs over bare ffmpeg.
 *
 *   npx tsx bench/pipeline.ts [--seconds N] [--input-fps F] [--rounds R] [--smoke]
 *
 * N seconds of 720p30 I420 frames (a moving textured bar and a frame counter:
 * every frame differs) and a 440 Hz tone are made in memory once. Then, for
 * each round:
 *  (b) the frames go through BridgeHost → EncoderSession → ffmpeg to the local
 *      RTMP ingest, sent at F frames a second (default 30) in real time once
 *      the stream is live, as the renderer would send them. The output starts
 *      with a short black lead-in (from spawning ffmpeg to going live);
 *  (a) bare ffmpeg encodes the same black lead-in and frames from files
 *      (`-re`: 30 fps real time; silence under the lead-in, then the tone)
 *      with the session's own encode arguments to the same ingest.
 * CPU seconds of ffmpeg come from this process's waited-for children
 * (/proc/self/stat cutime + cstime, read before and after each run; the only
 * children are the ffmpeg runs), Node's from process.cpuUsage(). Ratios
 * compare CPU per second of output video; output figures come from ffmpeg's
 * own -progress report.
 *
 * Prints one JSON object per line, then a short summary. --smoke: 2 s, 1 round.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { startIngest } from '../src/local/ingest';
import { BridgeHost } from '../src/main/bridgeHost';
import { buildFfmpegArgs } from '../src/main/encoder/args';
import { EncoderSession, type SpawnEncoder } from '../src/main/encoder/EncoderSession';
import { resolveFfmpeg } from '../src/main/encoder/ffmpegPath';
import { ProgressParser, type ProgressUpdate } from '../src/main/encoder/progress';
import { encoderStartSchema, type EncoderStats } from '../src/shared/bridge';

const W = 1280;
const H = 720;
const FPS = 30;
const RATE = 48_000;
const FRAME_BYTES = (W * H * 3) / 2;
/** CPU times in /proc are in clock ticks; Linux reports them at 100 Hz to user space. */
const TICKS_PER_SECOND = 100;
const GOAL_RATIO = 1.15;

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const smoke = argv.includes('--smoke');
const seconds = Number(flag('--seconds') ?? (smoke ? 2 : 10));
const inputFps = Number(flag('--input-fps') ?? FPS);
const rounds = Number(flag('--rounds') ?? 1);
for (const [name, value] of [['--seconds', seconds], ['--input-fps', inputFps], ['--rounds', rounds]] as const) {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
}

const ffmpeg = resolveFfmpeg();
const frameCount = Math.round(seconds * FPS);

// ---- the program, made once ----

function makeFrames(count: number): Buffer {
  const all = Buffer.allocUnsafe(count * FRAME_BYTES);
  const base = Buffer.alloc(FRAME_BYTES, 128);
  for (let row = 0; row < H; row++) {
    for (let x = 0; x < W; x++) base[row * W + x] = 40 + ((x + row) >> 3) % 120;
  }
  for (let n = 0; n < count; n++) {
    const at = n * FRAME_BYTES;
    base.copy(all, at);
    const x0 = (n * 16) % (W - 256);
    for (let row = 200; row < 520; row++) {
      for (let x = x0; x < x0 + 256; x++) all[at + row * W + x] = 16 + ((x * 7 + row * 3 + n * 11) & 0xdf);
    }
    all.fill(40 + 4 * (n % 46), at + (H - 64) * W, at + H * W); // the frame counter strip
  }
  return all;
}

function blackFrame(): Buffer {
  const frame = Buffer.alloc(FRAME_BYTES, 128);
  frame.fill(16, 0, W * H);
  return frame;
}

function makeTone(secondsOfAudio: number): Float32Array {
  const samples = Math.round(secondsOfAudio * RATE);
  const pcm = new Float32Array(samples * 2);
  for (let i = 0; i < samples; i++) {
    const s = 0.3 * Math.sin((2 * Math.PI * 440 * i) / RATE);
    pcm[2 * i] = s;
    pcm[2 * i + 1] = s;
  }
  return pcm;
}

/** CPU seconds of this process's children that have ended and been waited for. */
function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of stat(5) (cutime, cstime), counted from the state field (3).
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
}

function nodeCpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ProgramFiles {
  yuv: string;
  pcm: string;
  blackYuv: string;
  silencePcm: string;
}

interface Result {
  bench: 'pipeline';
  case: string;
  round: number;
  seconds: number;
  ffmpegCpuS: number;
  nodeCpuS: number;
  wallS: number;
  outputS: number;
  outputFrames: number;
  outputFps: number;
  /** ffmpeg CPU as % of one core per second of output. */
  ffmpegCorePct: number;
  [key: string]: unknown;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Follows an ffmpeg's -progress output on `stdout`; returns the latest block seen. */
function followProgress(stdout: Readable | null): () => ProgressUpdate | null {
  const parser = new ProgressParser();
  let last: ProgressUpdate | null = null;
  stdout?.on('data', (chunk: string | Buffer) => {
    for (const update of parser.push(typeof chunk === 'string' ? chunk : new Uint8Array(chunk))) last = update;
  });
  return () => last;
}

/** What ffmpeg's last progress block says about its output. */
function outputFigures(final: ProgressUpdate | null) {
  const outputFrames = final?.frame ?? 0;
  const outputS = (final?.outTimeMs ?? 0) / 1000 || outputFrames / FPS;
  return {
    outputS: round2(outputS),
    outputFrames,
    outputFps: round2(outputS > 0 ? outputFrames / outputS : 0),
    dupFrames: final?.dupFrames ?? null,
    dropFrames: final?.dropFrames ?? null,
  };
}

// ---- (a) bare ffmpeg from files ----

/** Encodes `leadIn` black frames (and silence) then the program, from files, at 30 fps real time. */
async function bareFfmpeg(url: string, files: ProgramFiles, leadIn: number, roundNo: number): Promise<Result> {
  const opts = encoderStartSchema.parse({ url, width: W, height: H, fps: FPS, videoBitrateKbps: 3000 });
  const session = buildFfmpegArgs(opts, { encoder: 'libx264', recordPath: null });
  const globalArgs = session.slice(0, session.indexOf('-f'));
  const outputArgs = session.slice(session.indexOf('-map'));
  writeFileSync(files.blackYuv, Buffer.concat(Array.from({ length: leadIn }, () => blackFrame())));
  writeFileSync(files.silencePcm, new Uint8Array(Math.round((leadIn / FPS) * RATE) * 8));
  const args = [
    ...globalArgs,
    '-re', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${W}x${H}`, '-framerate', String(FPS), '-i', `concat:${files.blackYuv}|${files.yuv}`,
    '-re', '-f', 'f32le', '-ar', String(RATE), '-ac', '2', '-i', `concat:${files.silencePcm}|${files.pcm}`,
    ...outputArgs,
  ];
  const cpu0 = childrenCpuSeconds();
  const node0 = process.cpuUsage();
  const t0 = performance.now();
  const child = spawn(ffmpeg.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const progress = followProgress(child.stdout);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`bare ffmpeg exited with ${code}: ${stderr}`);
  const wallS = (performance.now() - t0) / 1000;
  const ffmpegCpuS = childrenCpuSeconds() - cpu0;
  const final = progress();
  const output = outputFigures(final);
  return {
    bench: 'pipeline',
    case: 'bare-ffmpeg',
    round: roundNo,
    seconds,
    leadInFrames: leadIn,
    ffmpegCpuS: round2(ffmpegCpuS),
    nodeCpuS: round2(nodeCpuSeconds(node0)),
    wallS: round2(wallS),
    ...output,
    ffmpegCorePct: round2((ffmpegCpuS / Math.max(output.outputS, 0.001)) * 100),
    speed: final?.speed ?? null,
  };
}

// ---- (b) BridgeHost → EncoderSession → ffmpeg ----

async function throughSession(url: string, frames: Buffer, tone: Float32Array, roundNo: number): Promise<Result> {
  let stats: EncoderStats | null = null;
  const progress: Array<() => ProgressUpdate | null> = [];
  const spawnFfmpeg: SpawnEncoder = (command, args, options) => {
    const child = spawn(command, [...args], options);
    progress.push(followProgress(child.stdout));
    return child;
  };
  const host = new BridgeHost({
    config: () => ({ supabaseUrl: 'http://127.0.0.1:54321', supabaseAnonKey: 'bench', shell: 'browser' }),
    // libx264 chosen up front: the trial encode that would choose it is a child process of its own.
    createEncoder: () => new EncoderSession({ spawn: spawnFfmpeg, selectEncoder: async () => 'libx264' }),
    emit: (channel, ...args) => {
      if (channel === 'encoder:stats') stats = args[0] as EncoderStats;
    },
    log: (message) => console.error(message),
  });
  const toneBytes = new Uint8Array(tone.buffer, tone.byteOffset, tone.byteLength);
  const cpu0 = childrenCpuSeconds();
  const node0 = process.cpuUsage();
  const t0 = performance.now();
  await host.invoke('encoder:start', [{ url, width: W, height: H, fps: FPS, videoBitrateKbps: 3000 }]);

  // The renderer's side, from now on: frames at inputFps (frame k shows program time k/inputFps), audio in 10 ms chunks.
  const origin = performance.now();
  const sendCount = Math.round(seconds * inputFps);
  let sentFrames = 0;
  let sentSamples = 0;
  const totalSamples = tone.length / 2;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsed = performance.now() - origin;
      const dueSamples = Math.min(totalSamples, Math.floor((elapsed * RATE) / 1000));
      if (dueSamples > sentSamples) {
        host.send('encoder:audio', toneBytes.subarray(sentSamples * 8, dueSamples * 8), origin + (sentSamples * 1000) / RATE);
        sentSamples = dueSamples;
      }
      const dueFrames = Math.min(sendCount, Math.floor((elapsed * inputFps) / 1000) + 1);
      if (dueFrames > sentFrames) {
        // Only the newest due frame is sent, as a renderer that fell behind would.
        const k = dueFrames - 1;
        const index = Math.min(frameCount - 1, Math.floor((k * FPS) / inputFps));
        host.send('encoder:video', frames.subarray(index * FRAME_BYTES, (index + 1) * FRAME_BYTES), origin + (k * 1000) / inputFps);
        sentFrames = dueFrames;
      }
      if (sentFrames >= sendCount && sentSamples >= totalSamples) resolve();
      else setTimeout(tick, 5);
    };
    tick();
  });
  await sleep(1000 / inputFps);
  const live = stats as EncoderStats | null;
  await host.invoke('encoder:stop', []);
  await host.dispose();
  const wallS = (performance.now() - t0) / 1000;
  const ffmpegCpuS = childrenCpuSeconds() - cpu0;
  const final = stats as EncoderStats | null;
  const last = progress.at(-1)?.() ?? null;
  const output = outputFigures(last);
  return {
    bench: 'pipeline',
    case: 'bridge-session',
    round: roundNo,
    seconds,
    inputFps,
    leadInFrames: Math.max(0, output.outputFrames - frameCount),
    ffmpegCpuS: round2(ffmpegCpuS),
    nodeCpuS: round2(nodeCpuSeconds(node0)),
    wallS: round2(wallS),
    ...output,
    ffmpegCorePct: round2((ffmpegCpuS / Math.max(output.outputS, 0.001)) * 100),
    speed: live?.speed ?? null,
    framesIn: final?.framesIn ?? 0,
    framesWritten: final?.framesWritten ?? 0,
    framesRepeated: final?.framesRepeated ?? 0,
    framesDropped: final?.framesDropped ?? 0,
    framesDroppedNetwork: final?.framesDroppedNetwork ?? 0,
    ffmpegRuns: progress.length,
  };
}

// ---- main ----

const work = mkdtempSync(path.join(os.tmpdir(), 'bench-pipeline-'));
const ingest = await startIngest({ rtmpPort: 0, httpPort: 0, hls: false });
try {
  const made = performance.now();
  const frames = makeFrames(frameCount);
  const tone = makeTone(seconds);
  const files: ProgramFiles = {
    yuv: path.join(work, 'program.yuv'),
    pcm: path.join(work, 'program.f32'),
    blackYuv: path.join(work, 'lead-in.yuv'),
    silencePcm: path.join(work, 'lead-in.f32'),
  };
  writeFileSync(files.yuv, frames);
  writeFileSync(files.pcm, new Uint8Array(tone.buffer));
  console.log(
    JSON.stringify({
      bench: 'pipeline',
      ffmpeg: ffmpeg.path,
      ffmpegSource: ffmpeg.source,
      width: W,
      height: H,
      fps: FPS,
      seconds,
      frames: frameCount,
      inputFps,
      rounds,
      cores: os.cpus().length,
      loadAverage: os.loadavg().map(round2),
      madeInS: round2((performance.now() - made) / 1000),
    }),
  );

  const results: Array<{ bare: Result; session: Result }> = [];
  for (let r = 1; r <= rounds; r++) {
    const session = await throughSession(`${ingest.rtmpBaseUrl}/bench-session-${r}`, frames, tone, r);
    console.log(JSON.stringify(session));
    const bare = await bareFfmpeg(`${ingest.rtmpBaseUrl}/bench-bare-${r}`, files, Number(session.leadInFrames), r);
    console.log(JSON.stringify(bare));
    results.push({ bare, session });
  }

  const sum = (pick: (x: { bare: Result; session: Result }) => number) => results.reduce((n, x) => n + pick(x), 0);
  const bareRate = sum((x) => x.bare.ffmpegCpuS) / sum((x) => x.bare.outputS);
  const sessionRate = sum((x) => x.session.ffmpegCpuS) / sum((x) => x.session.outputS);
  const bareTotal = sum((x) => x.bare.ffmpegCpuS + x.bare.nodeCpuS) / sum((x) => x.bare.outputS);
  const sessionTotal = sum((x) => x.session.ffmpegCpuS + x.session.nodeCpuS) / sum((x) => x.session.outputS);
  const ratio = sessionRate / bareRate;
  console.log(
    JSON.stringify({
      bench: 'pipeline',
      case: 'ratio',
      ffmpegCpuRatio: round2(ratio),
      totalCpuRatio: round2(sessionTotal / bareTotal),
      goal: GOAL_RATIO,
      withinGoal: ratio <= GOAL_RATIO,
    }),
  );

  const last = results.at(-1)?.session;
  console.log(
    [
      '',
      `Pipeline cost, 720p30 libx264 3 Mbit/s to the local RTMP ingest, ${seconds} s × ${rounds} round(s):`,
      `  (a) bare ffmpeg from files:         ffmpeg ${(bareRate * 100).toFixed(1)} % of a core, ffmpeg + node ${(bareTotal * 100).toFixed(1)} %`,
      `  (b) BridgeHost → session → ffmpeg: ffmpeg ${(sessionRate * 100).toFixed(1)} % of a core, ffmpeg + node ${(sessionTotal * 100).toFixed(1)} %` +
        ` (frames sent at ${inputFps} fps)`,
      `  ffmpeg CPU (b)/(a): ${ratio.toFixed(2)} (goal ≤ ${GOAL_RATIO})`,
      last
        ? `  (b) output ${last.outputFps} fps for ${last.outputS} s (lead-in ${String(last.leadInFrames)} frames); frames in ${String(last.framesIn)}, ` +
          `written ${String(last.framesWritten)}, repeated ${String(last.framesRepeated)}, dropped ${String(last.framesDropped)}, network ${String(last.framesDroppedNetwork)}`
        : '',
    ].join('\n'),
  );
} finally {
  await ingest.stop();
  rmSync(work, { recursive: true, force: true });
}
