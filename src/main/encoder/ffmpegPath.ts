/**
 * Finds the ffmpeg (and ffprobe) binary to run, and says where it came from:
 * env FFMPEG_PATH → the optional `ffmpeg-static` package (when it is installed
 * and its file exists) → `ffmpeg` on PATH.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { EncoderStartResult } from '../../shared/bridge';
import { outsideArchive } from '../../local/paths';
import { FfmpegNotFoundError } from './errors';

export type FfmpegSource = EncoderStartResult['ffmpegSource'];

export interface ResolvedFfmpeg {
  path: string;
  source: FfmpegSource;
}

export type FfprobeSource = 'FFPROBE_PATH' | 'beside-ffmpeg' | 'PATH';

export interface ResolvedFfprobe {
  path: string;
  source: FfprobeSource;
}

export interface ResolveDeps {
  env?: Readonly<Record<string, string | undefined>>;
  platform?: NodeJS.Platform;
  /** True when `file` is a regular file this process may execute. */
  isExecutable?: (file: string) => boolean;
  /** Loads an npm module by name; throws (e.g. MODULE_NOT_FOUND) when it is absent. */
  loadModule?: (name: string) => unknown;
}

const requireFromHere = createRequire(import.meta.url);

export function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const HOW_TO_FIX =
  'Install ffmpeg (Debian/Ubuntu: `apt-get install ffmpeg`, macOS: `brew install ffmpeg`, Windows: `winget install ffmpeg`) ' +
  'so that it is on PATH, or set FFMPEG_PATH to the full path of an ffmpeg executable.';

export function resolveFfmpeg(deps: ResolveDeps = {}): ResolvedFfmpeg {
  const env = deps.env ?? process.env;
  const platform = deps.platform ?? process.platform;
  const isExecutable = deps.isExecutable ?? isExecutableFile;
  const loadModule = deps.loadModule ?? requireFromHere;

  const fromEnv = env.FFMPEG_PATH?.trim();
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new FfmpegNotFoundError(
        `FFMPEG_PATH is set to "${fromEnv}", but that is not an executable file. Point FFMPEG_PATH at an ffmpeg executable, or unset it to use ffmpeg from PATH.`,
      );
    }
    return { path: fromEnv, source: 'FFMPEG_PATH' };
  }

  const fromPackage = staticModulePath(loadModule, 'ffmpeg-static');
  if (fromPackage !== null && isExecutable(fromPackage)) return { path: fromPackage, source: 'ffmpeg-static' };

  const onPath = findOnPath('ffmpeg', env, platform, isExecutable);
  if (onPath !== null) return { path: onPath, source: 'PATH' };

  throw new FfmpegNotFoundError(`No ffmpeg found (FFMPEG_PATH is not set, the ffmpeg-static package is not installed, and ffmpeg is not on PATH). ${HOW_TO_FIX}`);
}

/**
 * ffprobe: env FFPROBE_PATH → an ffprobe next to the ffmpeg that FFMPEG_PATH
 * names → `ffprobe` on PATH.
 */
export function resolveFfprobe(deps: ResolveDeps = {}): ResolvedFfprobe {
  const env = deps.env ?? process.env;
  const platform = deps.platform ?? process.platform;
  const isExecutable = deps.isExecutable ?? isExecutableFile;
  const exe = platform === 'win32' ? '.exe' : '';

  const fromEnv = env.FFPROBE_PATH?.trim();
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new FfmpegNotFoundError(`FFPROBE_PATH is set to "${fromEnv}", but that is not an executable file. Point it at an ffprobe executable, or unset it.`);
    }
    return { path: fromEnv, source: 'FFPROBE_PATH' };
  }
  const ffmpegFromEnv = env.FFMPEG_PATH?.trim();
  if (ffmpegFromEnv) {
    const pathApi = platform === 'win32' ? path.win32 : path.posix;
    const beside = pathApi.join(pathApi.dirname(ffmpegFromEnv), `ffprobe${exe}`);
    if (isExecutable(beside)) return { path: beside, source: 'beside-ffmpeg' };
  }
  const onPath = findOnPath('ffprobe', env, platform, isExecutable);
  if (onPath !== null) return { path: onPath, source: 'PATH' };
  throw new FfmpegNotFoundError(
    'No ffprobe found (FFPROBE_PATH is not set and ffprobe is not on PATH). ffprobe ships with ffmpeg: install ffmpeg, or set FFPROBE_PATH.',
  );
}

/** The binary path an ffmpeg-static-like package exports, or null when it is absent or has no binary for this platform. */
function staticModulePath(loadModule: (name: string) => unknown, name: string): string | null {
  let loaded: unknown;
  try {
    loaded = loadModule(name);
  } catch {
    return null;
  }
  if (typeof loaded === 'string' && loaded.length > 0) return outsideArchive(loaded);
  if (typeof loaded === 'object' && loaded !== null) {
    const candidate = (loaded as { default?: unknown; path?: unknown }).default ?? (loaded as { path?: unknown }).path;
    if (typeof candidate === 'string' && candidate.length > 0) return outsideArchive(candidate);
  }
  return null;
}


export function findOnPath(
  name: string,
  env: Readonly<Record<string, string | undefined>>,
  platform: NodeJS.Platform,
  isExecutable: (file: string) => boolean,
): string | null {
  const pathApi = platform === 'win32' ? path.win32 : path.posix;
  const pathVar = env.PATH ?? env.Path ?? '';
  const extensions = platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean) : [''];
  for (const dir of pathVar.split(pathApi.delimiter)) {
    if (!dir) continue;
    for (const ext of extensions) {
      const candidate = pathApi.join(dir, name + ext.toLowerCase());
      if (isExecutable(candidate)) return candidate;
    }
  }
  return null;
}

/**
 * The resolved ffmpeg for the local ingest's HLS packager, or none (the
 * ingest then tries FFMPEG_PATH or `ffmpeg`, and says so when it cannot run it).
 */
export function ffmpegForIngest(log: (message: string) => void): string | undefined {
  try {
    return resolveFfmpeg().path;
  } catch (err) {
    log(`ingest: ${(err as Error).message}`);
    return undefined;
  }
}
