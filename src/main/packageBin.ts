/**
 * Runs an installed package's command with this Node, as `npx <command>`
 * would, but without a shell: on Windows `npx` is `npx.cmd`, which a process
 * started without a shell cannot run.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The script file of `command` in package `pkg` (its package.json `bin`). */
export function packageBin(pkg: string, command = pkg): string {
  let manifestPath: string;
  try {
    manifestPath = require.resolve(`${pkg}/package.json`);
  } catch {
    throw new Error(`${pkg} is not installed: run npm ci`);
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { bin?: string | Record<string, string> };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[command];
  if (!bin) throw new Error(`${pkg} has no "${command}" command`);
  return join(dirname(manifestPath), bin);
}

/** Runs the command to its end with the terminal's output; throws when it fails. */
export function runPackageBin(pkg: string, argv: string[], command = pkg): void {
  const result = spawnSync(process.execPath, [packageBin(pkg, command), ...argv], { stdio: 'inherit' });
  if (result.error) throw new Error(`${command} ${argv.join(' ')} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${argv.join(' ')} failed (exit ${result.status ?? result.signal})`);
}
