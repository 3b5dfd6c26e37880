/**
 * Picks the H.264 encoder for an ffmpeg binary.
 *
 * 1. `ROAST_ENCODER` set: that encoder, if it is one this app knows, the build
 *    has it and a trial encode works; otherwise a clear error (no silent fallback).
 * 2. Otherwise the platform's hardware encoders in order, then libx264:
 *    darwin h264_videotoolbox; win32 h264_nvenc, h264_qsv, h264_amf, h264_mf;
 *    linux h264_nvenc, h264_vaapi, h264_qsv. Candidates the build does not list
 *    (`ffmpeg -encoders`) are skipped without running anything; each listed one
 *    gets a real one-frame trial encode (args.ts), and the first that works wins.
 *
 * The result names the encoder, how it was chosen and why each candidate before
 * it was skipped, e.g. "h264_nvenc: trial failed: Cannot load libcuda.so.1".
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { H264_ENCODERS, buildTrialEncodeArgs, isH264Encoder, type H264Encoder } from './args';
import { EncoderOverrideError, EncoderUnavailableError } from './errors';

export interface TrialProcess {
  stdout: NodeJS.ReadableStream | null;
  stderr: NodeJS.ReadableStream | null;
  kill(signal?: NodeJS.Signals): boolean;
  /** After the process exited and its output was read to the end ('exit' may come before the last of stdout). */
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export type SpawnTrial = (command: string, args: readonly string[]) => TrialProcess;

/** The environment variable that forces one encoder, e.g. ROAST_ENCODER=libx264. */
export const ENCODER_OVERRIDE_ENV = 'ROAST_ENCODER';

/** Hardware encoders worth trying per platform, best first; libx264 always follows them. */
export const HARDWARE_CANDIDATES: Readonly<Partial<Record<NodeJS.Platform, readonly H264Encoder[]>>> = {
  darwin: ['h264_videotoolbox'],
  win32: ['h264_nvenc', 'h264_qsv', 'h264_amf', 'h264_mf'],
  linux: ['h264_nvenc', 'h264_vaapi', 'h264_qsv'],
};

/** The candidates of `platform` in the order they are tried, libx264 last. */
export function encoderCandidates(platform: NodeJS.Platform = process.platform): H264Encoder[] {
  return [...(HARDWARE_CANDIDATES[platform] ?? []), 'libx264'];
}

export interface DetectEncoderOptions {
  ffmpegPath: string;
  /** Default: encoderCandidates(platform). */
  candidates?: readonly H264Encoder[];
  /** Default: process.platform. */
  platform?: NodeJS.Platform;
  /** Where ROAST_ENCODER is read. Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  spawn?: SpawnTrial;
  /** A trial (or the encoder listing) that takes longer than this counts as failed. */
  timeoutMs?: number;
  /**
   * Candidates left out without a trial, each with why: encoders that failed
   * while streaming (see markEncoderFailed). Not applied to ROAST_ENCODER's
   * encoder, which gets its trial (and fails clearly) as ever.
   * Default for detectEncoderOnce: the ones marked for this ffmpeg.
   */
  failed?: ReadonlyMap<H264Encoder, string>;
}

export interface TrialResult {
  encoder: H264Encoder;
  ok: boolean;
  /** ffmpeg's error output when the trial failed. */
  detail: string;
}

export interface SkippedEncoder {
  encoder: H264Encoder;
  /** "not in this ffmpeg build", or "trial failed: <ffmpeg's reason>". */
  reason: string;
}

export interface EncoderSelection {
  encoder: H264Encoder;
  /** 'override': named by ROAST_ENCODER; 'trial': the first candidate whose trial encode worked. */
  chosenBy: 'override' | 'trial';
  /** The candidates before it that were left out, in order, each with why. */
  skipped: SkippedEncoder[];
  /** Why the build's encoder list could not be read (every candidate was then tried); null when it was. */
  listingError: string | null;
}

const defaultSpawn: SpawnTrial = (command, args) => nodeSpawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });

const DEFAULT_TIMEOUT_MS = 15_000;
/** Output kept from one ffmpeg run (the encoder list is ≈ 20 kB). */
const MAX_OUTPUT_CHARS = 256 * 1024;

interface RunResult {
  ok: boolean;
  stdout: string;
  /** stderr, or why the run failed when it has none. */
  detail: string;
}

/** Runs ffmpeg to its end (or kills it after timeoutMs); ok when it exits with 0. Never rejects. */
function runFfmpeg(ffmpegPath: string, args: readonly string[], spawn: SpawnTrial, timeoutMs: number, what: string): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const finish = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      if (timer !== null) clearTimeout(timer);
      resolve({ ok, stdout, detail: detail.trim() });
    };
    let child: TrialProcess;
    try {
      child = spawn(ffmpegPath, args);
    } catch (error) {
      finish(false, (error as Error).message);
      return;
    }
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(false, `${what} took longer than ${timeoutMs} ms`);
    }, timeoutMs);
    child.stdout?.on('data', (chunk: Buffer | string) => {
      if (stdout.length < MAX_OUTPUT_CHARS) stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer | string) => {
      if (stderr.length < 8192) stderr += chunk.toString();
    });
    child.on('error', (error) => finish(false, error.message));
    // 'close', not 'exit': the encoder listing is read to its end (a cut listing would skip the hardware encoders after libx264).
    child.on('close', (code, signal) => finish(code === 0, code === 0 ? '' : stderr || `ffmpeg exited with code ${code ?? signal}`));
  });
}

export async function trialEncode(
  ffmpegPath: string,
  encoder: H264Encoder,
  spawn: SpawnTrial = defaultSpawn,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<TrialResult> {
  const result = await runFfmpeg(ffmpegPath, buildTrialEncodeArgs(encoder), spawn, timeoutMs, 'trial encode');
  return { encoder, ok: result.ok, detail: result.detail };
}

/**
 * The encoder names in the output of `ffmpeg -hide_banner -encoders`: the rows
 * after the legend's "------", each "<6 capability flags> <name> <description>".
 */
export function parseEncoderList(output: string): Set<string> {
  const names = new Set<string>();
  const lines = output.split(/\r?\n/);
  const separator = lines.findIndex((line) => /^\s*-{4,}\s*$/.test(line));
  for (const line of separator >= 0 ? lines.slice(separator + 1) : lines) {
    const match = /^\s*[VASD][.A-Z]{5}\s+(\S+)/.exec(line);
    if (match?.[1] && match[1] !== '=') names.add(match[1]);
  }
  return names;
}

/** The encoders the ffmpeg build lists, or why they could not be listed. */
export async function listEncoders(
  ffmpegPath: string,
  spawn: SpawnTrial = defaultSpawn,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<{ encoders: Set<string> } | { error: string }> {
  const result = await runFfmpeg(ffmpegPath, ['-hide_banner', '-encoders'], spawn, timeoutMs, 'listing the encoders');
  if (!result.ok) return { error: tellingLine(result.detail) };
  const encoders = parseEncoderList(result.stdout);
  if (encoders.size === 0) return { error: 'ffmpeg -encoders listed no encoders' };
  return { encoders };
}

/** Chooses the encoder (see the top of this file); throws EncoderOverrideError or EncoderUnavailableError with the reasons. */
export async function detectEncoder(options: DetectEncoderOptions): Promise<EncoderSelection> {
  const spawn = options.spawn ?? defaultSpawn;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const env = options.env ?? process.env;
  const override = parseOverride(env[ENCODER_OVERRIDE_ENV]);
  const listing = await listEncoders(options.ffmpegPath, spawn, timeoutMs);
  const listed = 'encoders' in listing ? listing.encoders : null;
  const listingError = 'error' in listing ? listing.error : null;

  if (override !== null) {
    if (listed !== null && !listed.has(override)) {
      throw new EncoderUnavailableError(
        `${ENCODER_OVERRIDE_ENV}=${override}, but ${options.ffmpegPath} has no ${override} encoder (ffmpeg -encoders does not list it). ` +
          `Unset ${ENCODER_OVERRIDE_ENV} to choose automatically, or set FFMPEG_PATH to an ffmpeg built with it.`,
      );
    }
    const trial = await trialEncode(options.ffmpegPath, override, spawn, timeoutMs);
    if (!trial.ok) {
      throw new EncoderUnavailableError(
        `${ENCODER_OVERRIDE_ENV}=${override}, but a trial encode with it failed: ${tellingLine(trial.detail)}. ` +
          `Unset ${ENCODER_OVERRIDE_ENV} to choose automatically.`,
      );
    }
    return { encoder: override, chosenBy: 'override', skipped: [], listingError };
  }

  const candidates = options.candidates ?? encoderCandidates(options.platform);
  const skipped: SkippedEncoder[] = [];
  for (const encoder of candidates) {
    const failedWith = options.failed?.get(encoder);
    if (failedWith !== undefined) {
      skipped.push({ encoder, reason: `failed while streaming: ${failedWith}` });
      continue;
    }
    if (listed !== null && !listed.has(encoder)) {
      skipped.push({ encoder, reason: 'not in this ffmpeg build' });
      continue;
    }
    const trial = await trialEncode(options.ffmpegPath, encoder, spawn, timeoutMs);
    if (trial.ok) return { encoder, chosenBy: 'trial', skipped, listingError };
    skipped.push({ encoder, reason: `trial failed: ${tellingLine(trial.detail)}` });
  }
  const reasons = [...(listingError ? [`could not list its encoders: ${listingError}`] : []), skippedSummary(skipped) || 'no candidates'].join('; ');
  throw new EncoderUnavailableError(
    `No H.264 encoder works with ${options.ffmpegPath} (${reasons}). Use an ffmpeg build with libx264 (Debian: apt-get install ffmpeg), or set FFMPEG_PATH to one.`,
  );
}

/** ROAST_ENCODER's encoder, or null when it is unset or empty; throws EncoderOverrideError for a name this app does not know. */
export function parseOverride(value: string | undefined): H264Encoder | null {
  const name = value?.trim() ?? '';
  if (name === '') return null;
  if (isH264Encoder(name)) return name;
  throw new EncoderOverrideError(
    `${ENCODER_OVERRIDE_ENV} is set to "${name}", which is not an H.264 encoder this app knows. ` +
      `Use one of ${H264_ENCODERS.join(', ')}, or unset it to choose automatically.`,
  );
}

/** "h264_nvenc: not in this ffmpeg build; h264_vaapi: trial failed: …", or "" when nothing was skipped. */
export function skippedSummary(skipped: readonly SkippedEncoder[]): string {
  return skipped.map((s) => `${s.encoder}: ${s.reason}`).join('; ');
}

/** One line on how the encoder was chosen, for the log and the studio's stats. */
export function describeSelection(selection: EncoderSelection): string {
  const how = selection.chosenBy === 'override' ? `set by ${ENCODER_OVERRIDE_ENV}, trial encode passed` : 'first candidate whose trial encode passed';
  const parts = [how];
  if (selection.listingError) parts.push(`could not list the build's encoders (${selection.listingError}), so every candidate was tried`);
  if (selection.skipped.length > 0) parts.push(`skipped ${skippedSummary(selection.skipped)}`);
  return parts.join('; ');
}

/**
 * The line of ffmpeg's error output that says most: the last one a component
 * logged ("[h264_nvenc @ 0x…] Cannot load libcuda.so.1", without the prefix),
 * since ffmpeg's own closing lines ("Error initializing output stream …") are
 * the same for every failure; else the last line.
 */
export function tellingLine(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const tagged = lines.filter((l) => /^\[[^\]]+\]\s*\S/.test(l));
  const line = tagged.at(-1)?.replace(/^\[[^\]]+\]\s*/, '') ?? lines.at(-1);
  return line?.replace(/\.$/, '') || 'failed';
}

const detected = new Map<string, Promise<EncoderSelection>>();
/** Per ffmpeg binary: the encoders that failed while streaming, each with why. */
const failedEncoders = new Map<string, Map<H264Encoder, string>>();

/**
 * detectEncoder, once per ffmpeg binary and ROAST_ENCODER value for the life
 * of the process (the trials cost about two seconds on two cores); a failed
 * detection is not kept, so the next start tries again, nor is a choice whose
 * encoder later failed while streaming (markEncoderFailed): the next detection
 * passes over that encoder.
 */
export function detectEncoderOnce(options: DetectEncoderOptions): Promise<EncoderSelection> {
  const env = options.env ?? process.env;
  const key = `${options.ffmpegPath}\u0000${env[ENCODER_OVERRIDE_ENV]?.trim() ?? ''}\u0000${options.platform ?? process.platform}\u0000${(options.candidates ?? []).join(',')}`;
  let selection = detected.get(key);
  if (!selection) {
    selection = detectEncoder({ ...options, failed: options.failed ?? failedEncoders.get(options.ffmpegPath) });
    detected.set(key, selection);
    selection.catch(() => {
      if (detected.get(key) === selection) detected.delete(key);
    });
  }
  return selection;
}

/**
 * `encoder` of `ffmpegPath` passed its trial but then failed to open in a real
 * run (an NVENC session limit another program used up, a driver updated under
 * the running app): detectEncoderOnce forgets its choices for that binary and
 * passes over `encoder` from now on, for the life of the process, saying
 * `why` in the skipped list.
 */
export function markEncoderFailed(ffmpegPath: string, encoder: H264Encoder, why: string): void {
  let failed = failedEncoders.get(ffmpegPath);
  if (!failed) {
    failed = new Map();
    failedEncoders.set(ffmpegPath, failed);
  }
  failed.set(encoder, why);
  for (const key of [...detected.keys()]) if (key.startsWith(`${ffmpegPath}\u0000`)) detected.delete(key);
}

/** Messages with which a hardware encoder fails to open, whichever component logs them. */
const ENCODER_OPEN_FAILURES = [
  /Cannot load (?:libcuda|libnvidia-encode|nvcuda|nvEncodeAPI)/i,
  /OpenEncodeSessionEx failed/i,
  /No (?:NVENC )?capable devices found/i,
  /Error while opening encoder/i,
];

/**
 * Lines of an encoder's device that would not open (ffmpeg stops before any
 * encoder does): only an encoder that uses that device is to blame.
 */
const DEVICE_OPEN_FAILURES: Readonly<Partial<Record<H264Encoder, readonly RegExp[]>>> = {
  h264_vaapi: [/No VA display found/i, /Failed to initiali[sz]e VAAPI/i, /for option 'vaapi_device'/i, /Device creation failed/i],
  h264_qsv: [/Error (?:creating|initializing) an? (?:internal )?MFX session/i, /for option '(?:qsv_device|init_hw_device)'/i, /Device creation failed/i],
};

/**
 * Why the hardware `encoder` failed to open, when ffmpeg's error lines of a
 * run that ended before going live say so: the encoder's own line
 * ("[h264_nvenc @ 0x…] OpenEncodeSessionEx failed: out of memory (10)",
 * ffmpeg 7: "[vost#0:0/h264_nvenc @ 0x…] …", without the prefix), else a
 * line that names a failed encoder open, or the encoder's device (VAAPI, Quick
 * Sync) that would not open; null
 * for anything else (an ingest that refused the stream) and for libx264,
 * which has nothing to fall back to.
 */
export function hardwareEncoderFailure(encoder: H264Encoder, stderrLines: readonly string[]): string | null {
  if (encoder === 'libx264') return null;
  // The encoder's own context ("h264_nvenc @ 0x…") says why; ffmpeg 7's output stream ("vost#0:0/h264_nvenc @ 0x…") only that it failed.
  const context = (line: string): string => /^\[([^\]]*)\]/.exec(line)?.[1] ?? '';
  const own = stderrLines.filter((line) => context(line).startsWith(`${encoder} @`));
  const stream = stderrLines.filter((line) => context(line).split('/').at(-1)?.startsWith(`${encoder} @`));
  if (own.length > 0 || stream.length > 0) return tellingLine((own.length > 0 ? own : stream).join('\n'));
  const failures = [...ENCODER_OPEN_FAILURES, ...(DEVICE_OPEN_FAILURES[encoder] ?? [])];
  const named = stderrLines.filter((line) => failures.some((re) => re.test(line)));
  return named.length > 0 ? tellingLine(named.join('\n')) : null;
}
