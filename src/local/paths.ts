/**
 * Where the local backend finds its files. Resolved from the repository (or
 * packaged app) root, so the same paths hold when running from source with
 * tsx and from the bundled Electron main process (out/main/index.js).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** src/local/*.ts and out/main/index.js are both two levels below the root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LOCAL_SQL_DIR = join(REPO_ROOT, 'src', 'local', 'sql');
export const FUNCTIONS_HOST_SCRIPT = join(REPO_ROOT, 'src', 'local', 'functions-host.ts');
export const SUPABASE_DIR = join(REPO_ROOT, 'supabase');
