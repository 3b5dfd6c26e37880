import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { detectEncoder, trialEncode, type SpawnTrial, type TrialProcess } from './detectEncoder';
import { EncoderUnavailableError } from './errors';
import { resolveFfmpeg } from './ffmpegPath';

/** A trial process that exits with `code` after writing `stderr`, or never exits when code is null. */
function fakeSpawn(results: Record<string, { code: number | null; stderr?: string }>, calls: string[][]): SpawnTrial {
  return (_command, args) => {
    calls.push([...args]);
    const encoder = args[args.indexOf('-c:v') + 1] ?? '';
    const result = results[encoder] ?? { code: 1, stderr: `Unknown encoder '${encoder}'` };
    const child = Object.assign(new EventEmitter(), {
      stderr: new PassThrough(),
      kill: (_signal?: NodeJS.Signals) => {
        setImmediate(() => child.emit('exit', null, 'SIGKILL'));
        return true;
      },
    });
    setImmediate(() => {
      if (result.stderr) child.stderr.write(result.stderr);
      if (result.code !== null) setImmediate(() => child.emit('exit', result.code, null));
    });
    return child as unknown as TrialProcess;
  };
}

describe('detectEncoder', () => {
  it('returns the first candidate whose trial encode succeeds', async () => {
    const calls: string[][] = [];
    const spawn = fakeSpawn({ h264_nvenc: { code: 1, stderr: 'Cannot load libcuda.so.1' }, libx264: { code: 0 } }, calls);
    await expect(detectEncoder({ ffmpegPath: '/x/ffmpeg', candidates: ['h264_nvenc', 'libx264'], spawn })).resolves.toBe('libx264');
    expect(calls.map((a) => a[a.indexOf('-c:v') + 1])).toEqual(['h264_nvenc', 'libx264']);
    expect(calls[0]).toEqual(expect.arrayContaining(['-frames:v', '1', '-f', 'null']));
  });

  it('explains why every candidate failed', async () => {
    const spawn = fakeSpawn({ h264_nvenc: { code: 1, stderr: 'Error\nCannot load libcuda.so.1\n' } }, []);
    const error = await detectEncoder({ ffmpegPath: '/x/ffmpeg', candidates: ['h264_nvenc'], spawn }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EncoderUnavailableError);
    expect((error as Error).message).toMatch(/h264_nvenc: Cannot load libcuda\.so\.1/);
  });

  it('counts a trial that hangs as failed', async () => {
    const result = await trialEncode('/x/ffmpeg', 'libx264', fakeSpawn({ libx264: { code: null } }, []), 50);
    expect(result).toEqual({ encoder: 'libx264', ok: false, detail: 'trial encode took longer than 50 ms' });
  });

  it('reports a binary that cannot run', async () => {
    const result = await trialEncode('/nonexistent/ffmpeg', 'libx264');
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/ENOENT/);
  });

  it('finds libx264 in the real ffmpeg of this machine', async () => {
    const { path } = resolveFfmpeg();
    await expect(detectEncoder({ ffmpegPath: path })).resolves.toBe('libx264');
  });
});
