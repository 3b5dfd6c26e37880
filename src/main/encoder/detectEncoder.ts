/**
 * Picks the H.264 encoder by a real one-frame trial encode of each candidate,
 * in order: the first that works wins. The default candidates are libx264
 * only; hardware encoders join the list once they are measured on real
 * hardware (their arguments are in args.ts).
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { buildTrialEncodeArgs, type H264Encoder } from './args';
import { EncoderUnavailableError } from './errors';

export interface TrialProcess {
  stderr: NodeJS.ReadableStream | null;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export type SpawnTrial = (command: string, args: readonly string[]) => TrialProcess;

export interface DetectEncoderOptions {
  ffmpegPath: string;
  candidates?: readonly H264Encoder[];
  spawn?: SpawnTrial;
  /** A trial that takes longer than this counts as failed. */
  timeoutMs?: number;
}

export interface TrialResult {
  encoder: H264Encoder;
  ok: boolean;
  /** ffmpeg's error output when the trial failed. */
  detail: string;
}

const defaultSpawn: SpawnTrial = (command, args) => nodeSpawn(command, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });

export async function trialEncode(ffmpegPath: string, encoder: H264Encoder, spawn: SpawnTrial = defaultSpawn, timeoutMs = 15_000): Promise<TrialResult> {
  return new Promise((resolve) => {
    let stderr = '';
    let settled = false;
    const finish = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ encoder, ok, detail: detail.trim() });
    };
    let child: TrialProcess;
    try {
      child = spawn(ffmpegPath, buildTrialEncodeArgs(encoder));
    } catch (error) {
      resolve({ encoder, ok: false, detail: (error as Error).message });
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(false, `trial encode took longer than ${timeoutMs} ms`);
    }, timeoutMs);
    child.stderr?.on('data', (chunk: Buffer | string) => {
      if (stderr.length < 8192) stderr += chunk.toString();
    });
    child.on('error', (error) => finish(false, error.message));
    child.on('exit', (code, signal) => finish(code === 0, code === 0 ? '' : stderr || `ffmpeg exited with code ${code ?? signal}`));
  });
}

/** The first candidate that encodes a frame here; throws EncoderUnavailableError listing why each failed. */
export async function detectEncoder(options: DetectEncoderOptions): Promise<H264Encoder> {
  const candidates = options.candidates ?? ['libx264'];
  const failures: TrialResult[] = [];
  for (const encoder of candidates) {
    const result = await trialEncode(options.ffmpegPath, encoder, options.spawn, options.timeoutMs);
    if (result.ok) return encoder;
    failures.push(result);
  }
  const reasons = failures.map((f) => `${f.encoder}: ${lastLine(f.detail)}`).join('; ');
  throw new EncoderUnavailableError(
    `No H.264 encoder works with ${options.ffmpegPath} (${reasons || 'no candidates'}). Use an ffmpeg build with libx264 (Debian: apt-get install ffmpeg), or set FFMPEG_PATH to one.`,
  );
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? 'failed';
}
