import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { packageBin, runPackageBin } from './packageBin';

describe('an installed package’s command', () => {
  it('is found from its package.json, as a script this Node runs', () => {
    const vite = packageBin('vite');
    expect(vite).toMatch(/node_modules[\\/]vite[\\/]bin[\\/]vite\.js$/);
    expect(existsSync(vite)).toBe(true);
    expect(existsSync(packageBin('electron-vite'))).toBe(true);
  });

  it('says what is missing: a package not installed, a command it does not have', () => {
    expect(() => packageBin('no-such-package-here')).toThrow('no-such-package-here is not installed: run npm ci');
    expect(() => packageBin('vite', 'not-a-command')).toThrow('vite has no "not-a-command" command');
  });

  it('runs the command and throws with its exit code when it fails', () => {
    expect(() => runPackageBin('vite', ['--version'])).not.toThrow();
    expect(() => runPackageBin('vite', ['build', '--config', 'no-such-config.ts', '--logLevel', 'silent'])).toThrow(
      /^vite build --config no-such-config.ts --logLevel silent failed \(exit 1\)$/,
    );
  });
});
