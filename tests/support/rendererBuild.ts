/**
 * Playwright's global setup, and the first step of startApp (the benchmarks):
 * the studio pages are served from the built renderer (out/renderer), so a
 * run right after an edit would test or measure the old code. Rebuilds it
 * when a source it is made from is newer than the build.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SOURCES = ['src/renderer', 'src/shared', 'vite.renderer.config.ts', 'package-lock.json'];
const BUILT = 'out/renderer/index.html';

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

export function ensureRendererBuilt(): void {
  const built = existsSync(BUILT) ? statSync(BUILT).mtimeMs : 0;
  const sources = Math.max(...SOURCES.filter((p) => existsSync(p)).map(newestMtime));
  if (sources <= built) return;
  console.log(`the renderer build is ${built ? 'older than its sources' : 'missing'}: building it (npm run build:renderer)`);
  execFileSync('npx', ['vite', 'build', '--config', 'vite.renderer.config.ts', '--logLevel', 'warn'], { stdio: 'inherit' });
}

export default function globalSetup(): void {
  ensureRendererBuilt();
}
