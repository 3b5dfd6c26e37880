/**
 * The Deno cache the desktop app carries (`npm run dist` runs this before packaging):
 *   tsx scripts/deno-seed.ts [out-dir]     (default out/deno-cache)
 */
import { join } from 'node:path';
import { buildDenoSeed } from '../src/local/buildDenoSeed.js';
import { REPO_ROOT } from '../src/local/paths.js';

const outDir = process.argv[2] ?? join(REPO_ROOT, 'out', 'deno-cache');
const stamp = await buildDenoSeed({ functionsDir: join(REPO_ROOT, 'supabase', 'functions'), outDir, log: (line) => console.log(line) });
console.log(`Deno cache for the app in ${outDir} (key ${stamp.key})`);
