/**
 * Where a recording of the program goes. The renderer only asks for one (and
 * its container); the native side names the file, in the streamer's
 * recordings folder, so no page can make ffmpeg write anywhere else.
 */
import { lstat, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../shared/errors.js';

/** `ROAST_RECORDINGS_DIR`, else ~/Videos/Roast Live Studio. */
export function defaultRecordingsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ROAST_RECORDINGS_DIR || join(homedir(), 'Videos', 'Roast Live Studio');
}

const pad = (n: number) => String(n).padStart(2, '0');

/** "Roast Live 2026-12-05 00-51-07.mkv" (local time; no characters a file system refuses). */
export function recordingFileName(at: Date, container: 'mkv' | 'mp4'): string {
  const day = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
  const time = `${pad(at.getHours())}-${pad(at.getMinutes())}-${pad(at.getSeconds())}`;
  return `Roast Live ${day} ${time}.${container}`;
}

/** Whether anything is at the path: a file, a folder, or a link — also one to nothing (ffmpeg would write where it points). */
const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

/**
 * The paths handed out by this process: two studios of one server (two browser tabs) starting a
 * recording in the same second would otherwise both find the name free before either ffmpeg made
 * the file, and write, or discard, the same one.
 */
const handedOut = new Set<string>();

/**
 * A new file in `dir` for a recording started `at` (the folder is made when
 * missing). Never an existing file nor one handed out before: a second
 * recording in the same second gets " (2)", " (3)"…
 */
export async function newRecordingPath(dir: string, container: 'mkv' | 'mp4', at = new Date()): Promise<string> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new AppError('recording_folder', `Could not make the recordings folder ${dir}: ${(err as Error).message}`);
  }
  const name = recordingFileName(at, container);
  const stem = name.slice(0, -(container.length + 1));
  for (let n = 1; n < 1000; n++) {
    const path = join(dir, n === 1 ? name : `${stem} (${n}).${container}`);
    if (handedOut.has(path)) continue;
    // Taken before the look (which waits): a path looked at by two calls at once goes to the first.
    handedOut.add(path);
    if (!(await exists(path))) return path;
    handedOut.delete(path);
  }
  throw new AppError('recording_folder', `The recordings folder ${dir} already holds a thousand recordings of ${stem}`);
}
