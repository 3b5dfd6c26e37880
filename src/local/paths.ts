/**
 * Where the local backend finds its files. Resolved from the repository (or
 * packaged app) root, so the same paths hold when running from source with
 * tsx and from the bundled Electron main process (out/main/index.js).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * In the packaged app the code runs from the `app.asar` archive. Electron
 * lets Node's file functions read inside it, but no program can be started
 * from there, and other programs (Deno, PostgreSQL, ffmpeg) cannot read it:
 * what they need is unpacked beside it (`asarUnpack` in electron-builder.yml),
 * in `app.asar.unpacked`. Other paths are returned as they are.
 */
export function outsideArchive(file: string): string {
  return file.replace(/([\\/])app\.asar(?=[\\/]|$)/, '$1app.asar.unpacked');
}

/** src/local/*.ts and out/main/index.js are both two levels below the root (the files used from it are unpacked). */
export const REPO_ROOT = outsideArchive(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'));
export const LOCAL_SQL_DIR = join(REPO_ROOT, 'src', 'local', 'sql');
export const FUNCTIONS_HOST_SCRIPT = join(REPO_ROOT, 'src', 'local', 'functions-host.ts');
export const SUPABASE_DIR = join(REPO_ROOT, 'supabase');
