import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FfmpegNotFoundError } from './errors';
import { outsideArchive } from '../../local/paths';
import { findOnPath, resolveFfmpeg, resolveFfprobe, type ResolveDeps } from './ffmpegPath';

function deps(files: string[], env: Record<string, string | undefined>, staticModule?: unknown): ResolveDeps {
  const executable = new Set(files);
  return {
    env,
    platform: 'linux',
    isExecutable: (file) => executable.has(file),
    loadModule: (name) => {
      if (name === 'ffmpeg-static' && staticModule !== undefined) return staticModule;
      const error = new Error(`Cannot find module '${name}'`) as NodeJS.ErrnoException;
      error.code = 'MODULE_NOT_FOUND';
      throw error;
    },
  };
}

describe('resolveFfmpeg', () => {
  it('prefers FFMPEG_PATH', () => {
    const d = deps(['/opt/ff/ffmpeg', '/static/ffmpeg', '/usr/bin/ffmpeg'], { FFMPEG_PATH: '/opt/ff/ffmpeg', PATH: '/usr/bin' }, '/static/ffmpeg');
    expect(resolveFfmpeg(d)).toEqual({ path: '/opt/ff/ffmpeg', source: 'FFMPEG_PATH' });
  });

  it('fails clearly when FFMPEG_PATH names no executable, without falling back', () => {
    const d = deps(['/usr/bin/ffmpeg'], { FFMPEG_PATH: '/nope/ffmpeg', PATH: '/usr/bin' });
    expect(() => resolveFfmpeg(d)).toThrow(FfmpegNotFoundError);
    expect(() => resolveFfmpeg(d)).toThrow(/FFMPEG_PATH is set to "\/nope\/ffmpeg", but that is not an executable file/);
  });

  it('uses ffmpeg-static when the module loads and its file exists', () => {
    const d = deps(['/static/ffmpeg', '/usr/bin/ffmpeg'], { PATH: '/usr/bin' }, '/static/ffmpeg');
    expect(resolveFfmpeg(d)).toEqual({ path: '/static/ffmpeg', source: 'ffmpeg-static' });
  });

  it('runs the packaged app’s ffmpeg-static from beside the archive, where it is unpacked', () => {
    const inArchive = '/opt/Roast Live Studio/resources/app.asar/node_modules/ffmpeg-static/ffmpeg';
    const unpacked = '/opt/Roast Live Studio/resources/app.asar.unpacked/node_modules/ffmpeg-static/ffmpeg';
    // Electron's file checks accept the path inside the archive, but nothing can be started from there.
    const d = deps([inArchive, unpacked, '/usr/bin/ffmpeg'], { PATH: '/usr/bin' }, inArchive);
    expect(resolveFfmpeg(d)).toEqual({ path: unpacked, source: 'ffmpeg-static' });
    const windows = 'C:\\Program Files\\Roast\\resources\\app.asar\\node_modules\\ffmpeg-static\\ffmpeg.exe';
    expect(outsideArchive(windows)).toBe('C:\\Program Files\\Roast\\resources\\app.asar.unpacked\\node_modules\\ffmpeg-static\\ffmpeg.exe');
    expect(outsideArchive('/opt/Roast/resources/app.asar')).toBe('/opt/Roast/resources/app.asar.unpacked');
    expect(outsideArchive('/home/me/app.asarx/ffmpeg')).toBe('/home/me/app.asarx/ffmpeg');
    // Without the unpacked copy, ffmpeg on PATH is used.
    expect(resolveFfmpeg(deps([inArchive, '/usr/bin/ffmpeg'], { PATH: '/usr/bin' }, inArchive))).toEqual({ path: '/usr/bin/ffmpeg', source: 'PATH' });
  });

  it('accepts an ES-module shaped ffmpeg-static export', () => {
    const d = deps(['/static/ffmpeg'], { PATH: '' }, { default: '/static/ffmpeg' });
    expect(resolveFfmpeg(d).source).toBe('ffmpeg-static');
  });

  it('skips ffmpeg-static when its binary was never downloaded, or it has none for this platform', () => {
    expect(resolveFfmpeg(deps(['/usr/bin/ffmpeg'], { PATH: '/usr/bin' }, '/static/ffmpeg'))).toEqual({ path: '/usr/bin/ffmpeg', source: 'PATH' });
    expect(resolveFfmpeg(deps(['/usr/bin/ffmpeg'], { PATH: '/usr/bin' }, null))).toEqual({ path: '/usr/bin/ffmpeg', source: 'PATH' });
  });

  it('falls back to PATH when ffmpeg-static is not installed (MODULE_NOT_FOUND)', () => {
    const d = deps(['/usr/local/bin/ffmpeg', '/usr/bin/ffmpeg'], { PATH: '/home/u/bin::/usr/local/bin:/usr/bin' });
    expect(resolveFfmpeg(d)).toEqual({ path: '/usr/local/bin/ffmpeg', source: 'PATH' });
  });

  it('says how to fix it when there is no ffmpeg at all', () => {
    const d = deps([], { PATH: '/usr/bin' });
    let caught: unknown;
    try {
      resolveFfmpeg(d);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FfmpegNotFoundError);
    expect((caught as FfmpegNotFoundError).reason).toBe('ffmpeg_not_found');
    expect((caught as Error).message).toMatch(/Install ffmpeg/);
    expect((caught as Error).message).toMatch(/set FFMPEG_PATH/);
  });

  it('finds ffmpeg.exe on a Windows PATH', () => {
    const exe = 'C:\\ffmpeg\\bin\\ffmpeg.exe';
    expect(findOnPath('ffmpeg', { PATH: 'C:\\Windows;C:\\ffmpeg\\bin', PATHEXT: '.COM;.EXE' }, 'win32', (f) => f === exe)).toBe(exe);
  });

  it('works against the real file system of this machine', () => {
    const resolved = resolveFfmpeg({ env: { PATH: '/usr/bin:/bin' } });
    expect(resolved).toEqual({ path: '/usr/bin/ffmpeg', source: 'PATH' });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ffmpeg-path-'));
    try {
      const notExecutable = path.join(dir, 'ffmpeg');
      writeFileSync(notExecutable, '#!/bin/sh\n');
      chmodSync(notExecutable, 0o644);
      expect(() => resolveFfmpeg({ env: { FFMPEG_PATH: notExecutable } })).toThrow(FfmpegNotFoundError);
      expect(() => resolveFfmpeg({ env: { FFMPEG_PATH: dir } })).toThrow(FfmpegNotFoundError);
      chmodSync(notExecutable, 0o755);
      expect(resolveFfmpeg({ env: { FFMPEG_PATH: notExecutable } })).toEqual({ path: notExecutable, source: 'FFMPEG_PATH' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('resolveFfprobe', () => {
  it('prefers FFPROBE_PATH, then the ffprobe beside FFMPEG_PATH, then PATH', () => {
    const files = ['/p/ffprobe', '/opt/ff/ffprobe', '/opt/ff/ffmpeg', '/usr/bin/ffprobe'];
    expect(resolveFfprobe(deps(files, { FFPROBE_PATH: '/p/ffprobe', FFMPEG_PATH: '/opt/ff/ffmpeg', PATH: '/usr/bin' }))).toEqual({
      path: '/p/ffprobe',
      source: 'FFPROBE_PATH',
    });
    expect(resolveFfprobe(deps(files, { FFMPEG_PATH: '/opt/ff/ffmpeg', PATH: '/usr/bin' }))).toEqual({ path: '/opt/ff/ffprobe', source: 'beside-ffmpeg' });
    expect(resolveFfprobe(deps(files, { PATH: '/usr/bin' }))).toEqual({ path: '/usr/bin/ffprobe', source: 'PATH' });
  });

  it('fails clearly without one', () => {
    expect(() => resolveFfprobe(deps([], { PATH: '/usr/bin' }))).toThrow(/No ffprobe found/);
  });
});
