/** Generated media fixtures and decoding of what reached the ingest, with Debian's ffmpeg. */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
export const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';

/** A solid-colour .y4m clip used as a fake camera: each participant is recognisable by colour. */
export function colourClip(dir: string, name: string, colour: string, width: number, height: number): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${width}x${height}.y4m`);
  if (!existsSync(file)) {
    execFileSync(FFMPEG, ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${colour}:s=${width}x${height}:r=30:d=1`, '-pix_fmt', 'yuv420p', file]);
  }
  return file;
}

/** Copies `seconds` of a live RTMP stream into a file, without re-encoding. */
export function recordRtmp(url: string, file: string, seconds: number): Promise<void> {
  return runRecorder(url, ['-i', url, '-t', String(seconds), '-c', 'copy', file], seconds);
}

/** Runs an ffmpeg that records from `url`, killed if it overruns `seconds` by 30 s. */
function runRecorder(url: string, args: string[], seconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(FFMPEG, ['-v', 'error', '-y', '-rw_timeout', '15000000', ...args]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`recording ${url} failed (exit ${code}): ${stderr}`));
    });
  });
}

export interface ProbedStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  has_b_frames?: number;
}

export function probe(file: string): ProbedStream[] {
  const out = execFileSync(FFPROBE, ['-v', 'error', '-show_streams', '-of', 'json', file]).toString();
  return (JSON.parse(out) as { streams: ProbedStream[] }).streams;
}

export function frameRate(rate: string | undefined): number {
  const [n, d] = (rate ?? '0/1').split('/').map(Number);
  return d ? n! / d : 0;
}

/** One decoded frame as packed RGB24. */
export function frameRgb(file: string, atSeconds: number, width: number, height: number): Buffer {
  return execFileSync(FFMPEG, ['-v', 'error', '-ss', String(atSeconds), '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-'], { maxBuffer: width * height * 3 + 1024 });
}

export function pixel(rgb: Buffer, width: number, x: number, y: number): [number, number, number] {
  const i = (y * width + x) * 3;
  return [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!];
}

/** Mean and peak volume of the audio in dB (−91 is digital silence). */
export function volumeStats(file: string): { mean: number; max: number } {
  const result = spawnSyncText(FFMPEG, ['-hide_banner', '-i', file, '-vn', '-af', 'volumedetect', '-f', 'null', '-']);
  const mean = Number(/mean_volume: (-?[\d.]+) dB/.exec(result)?.[1] ?? NaN);
  const max = Number(/max_volume: (-?[\d.]+) dB/.exec(result)?.[1] ?? NaN);
  return { mean, max };
}

function spawnSyncText(cmd: string, args: string[]): string {
  const result = spawnSync(cmd, args, { encoding: 'utf8' });
  if (result.error) throw result.error;
  return `${result.stdout}${result.stderr}`;
}

/** A sine tone .wav used as a fake microphone: each participant is recognisable by pitch. */
export function toneClip(dir: string, name: string, frequency: number): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${frequency}hz.wav`);
  if (!existsSync(file)) {
    execFileSync(FFMPEG, ['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${frequency}:sample_rate=48000:duration=10`, '-ac', '1', file]);
  }
  return file;
}

/** Mean level (dB) of the audio in a narrow band around `frequency`, from `fromSeconds` to the end. */
export function bandLevel(file: string, frequency: number, fromSeconds = 0): number {
  const text = spawnSyncText(FFMPEG, ['-hide_banner', '-ss', String(fromSeconds), '-i', file, '-vn', '-af', `bandpass=f=${frequency}:width_type=q:w=30,bandpass=f=${frequency}:width_type=q:w=30,volumedetect`, '-f', 'null', '-']);
  return Number(/mean_volume: (-?[\d.]+) dB/.exec(text)?.[1] ?? NaN);
}

/** Average RGB of a square patch of a decoded RGB24 frame. */
export function patch(rgb: Buffer, width: number, cx: number, cy: number, half = 8): [number, number, number] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = cy - half; y < cy + half; y++)
    for (let x = cx - half; x < cx + half; x++) {
      const p = pixel(rgb, width, x, y);
      sum[0]! += p[0];
      sum[1]! += p[1];
      sum[2]! += p[2];
      n++;
    }
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

// A/V sync: a source that flashes and beeps together, and where each lands in a recording ---------------

/**
 * A .y4m fake camera that loops with an exact period: dark grey, with the
 * first `flashFrames` frames of each period white.
 */
export function flashClip(dir: string, opts: { periodS?: number; fps?: number; flashFrames?: number; width?: number; height?: number } = {}): string {
  const { periodS = 2, fps = 30, flashFrames = 3, width = 320, height = 180 } = opts;
  const frames = Math.round(periodS * fps);
  if (Math.abs(frames - periodS * fps) > 1e-9) throw new RangeError(`a period of ${periodS} s is not a whole number of frames at ${fps} fps`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `flash-${width}x${height}-${fps}fps-${frames}f-${flashFrames}w.y4m`);
  if (!existsSync(file)) {
    const source = `color=c=0x303030:s=${width}x${height}:r=${fps},drawbox=c=white:t=fill:enable='lt(n,${flashFrames})'`;
    execFileSync(FFMPEG, ['-v', 'error', '-y', '-f', 'lavfi', '-i', source, '-frames:v', String(frames), '-pix_fmt', 'yuv420p', file]);
  }
  return file;
}

/**
 * A mono 48 kHz .wav fake microphone of exactly one period (it loops with the
 * same period as flashClip): a sine beep of `beepMs` from sample 0, then silence.
 */
export function beepClip(dir: string, opts: { periodS?: number; beepMs?: number; frequency?: number; amplitude?: number } = {}): string {
  const { periodS = 2, beepMs = 100, frequency = 1000, amplitude = 0.5 } = opts;
  const rate = 48_000;
  const samples = Math.round(periodS * rate);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `beep-${frequency}hz-${beepMs}ms-${samples}.wav`);
  if (!existsSync(file)) {
    // lavfi's sine has an amplitude of 1/8.
    const filter = `volume=${amplitude * 8},apad=whole_len=${samples}`;
    execFileSync(FFMPEG, ['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${frequency}:sample_rate=${rate}:duration=${beepMs / 1000}`, '-af', filter, '-ac', '1', '-c:a', 'pcm_s16le', file]);
  }
  return file;
}

/**
 * Like recordRtmp, but keeps the stream's own timestamps (`-copyts`): times in
 * the file are the publisher's, so recordings taken minutes apart share one timeline.
 */
export function recordRtmpStreamTimes(url: string, file: string, seconds: number): Promise<void> {
  // With -copyts, an output -t would count from timestamp 0: limit the input instead.
  return runRecorder(url, ['-t', String(seconds), '-i', url, '-copyts', '-c', 'copy', file], seconds);
}

/** Runs ffprobe on a lavfi graph reading `file` (from its own folder, so no path escaping is needed) and returns the CSV rows. */
function probeGraph(file: string, graph: (name: string) => string, entries: string): string[][] {
  const out = execFileSync(FFPROBE, ['-v', 'error', '-f', 'lavfi', '-i', graph(basename(file)), '-show_entries', entries, '-of', 'csv=p=0'], {
    cwd: dirname(file),
    maxBuffer: 256 * 1024 * 1024,
  }).toString();
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split(','));
}

/** Mean luma (0–255) of every decoded video frame, at the file's timestamps (s). */
export function lumaPerFrame(file: string): Array<{ t: number; y: number }> {
  if (!/^[\w.+-]+$/.test(basename(file))) throw new Error(`lumaPerFrame: file name must be plain: ${file}`);
  return probeGraph(file, (name) => `movie=${name},signalstats`, 'frame=pts_time:frame_tags=lavfi.signalstats.YAVG')
    .map(([t, y]) => ({ t: Number(t), y: Number(y) }))
    .filter((f) => Number.isFinite(f.t) && Number.isFinite(f.y));
}

/** RMS level (dBFS over all channels; −Infinity for digital silence) of every `windowSamples` of audio, at the file's timestamps (s). */
export function audioLevels(file: string, windowSamples = 48): Array<{ t: number; db: number }> {
  if (!/^[\w.+-]+$/.test(basename(file))) throw new Error(`audioLevels: file name must be plain: ${file}`);
  return probeGraph(file, (name) => `amovie=${name},asetnsamples=n=${windowSamples}:p=0,astats=metadata=1:reset=1`, 'frame=pts_time:frame_tags=lavfi.astats.Overall.RMS_level')
    .map(([t, db]) => ({ t: Number(t), db: db === '-inf' ? -Infinity : Number(db) }))
    .filter((w) => Number.isFinite(w.t) && !Number.isNaN(w.db));
}

/** A sine tone written into interleaved stereo f32 PCM chunk after chunk, its phase carried on. */
export class StereoTone {
  private phase = 0;
  constructor(
    private readonly rate: number,
    private readonly hz = 440,
    private readonly amplitude = 0.3,
  ) {}

  /** Writes the tone into `pcm` from stereo frame `from` on (the frames before it stay as they are). */
  fill(pcm: Float32Array, from = 0): void {
    for (let i = Math.max(0, from); i < pcm.length / 2; i++) {
      const s = this.amplitude * Math.sin(this.phase);
      this.phase += (2 * Math.PI * this.hz) / this.rate;
      pcm[2 * i] = s;
      pcm[2 * i + 1] = s;
    }
  }
}
