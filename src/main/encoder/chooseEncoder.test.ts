import { describe, expect, it } from 'vitest';
import { chooseProgramEncoder } from './chooseEncoder';
import type { EncoderSelection } from './detectEncoder';
import { EncoderOverrideError, EncoderUnavailableError } from './errors';

const software: EncoderSelection = {
  encoder: 'libx264',
  chosenBy: 'trial',
  skipped: [{ encoder: 'h264_nvenc', reason: 'trial failed: Cannot load libcuda.so.1' }],
  listingError: null,
};
const nvenc: EncoderSelection = { encoder: 'h264_nvenc', chosenBy: 'trial', skipped: [], listingError: null };

function deps(selection: EncoderSelection | Error, env: NodeJS.ProcessEnv = {}) {
  const calls: string[] = [];
  return {
    calls,
    deps: {
      env,
      ffmpegPath: () => '/usr/bin/ffmpeg',
      detect: async ({ ffmpegPath }: { ffmpegPath: string }) => {
        calls.push(ffmpegPath);
        if (selection instanceof Error) throw selection;
        return selection;
      },
    },
  };
}

describe('chooseProgramEncoder', () => {
  it('keeps a hardware encoder in ffmpeg, fed raw frames, even when the renderer could encode', async () => {
    const d = deps(nvenc);
    expect(await chooseProgramEncoder({ rendererH264: true }, d.deps)).toMatchObject({ video: 'i420', encoder: 'h264_nvenc' });
  });

  it('lets the renderer encode where ffmpeg has only libx264, and says why', async () => {
    const d = deps(software);
    const choice = await chooseProgramEncoder({ rendererH264: true }, d.deps);
    expect(choice).toMatchObject({ video: 'h264', encoder: 'webcodecs' });
    expect(choice.note).toContain('h264_nvenc: trial failed');
  });

  it('falls back to libx264 when the renderer cannot encode', async () => {
    const d = deps(software);
    const choice = await chooseProgramEncoder({ rendererH264: false }, d.deps);
    expect(choice).toMatchObject({ video: 'i420', encoder: 'libx264' });
    expect(choice.note).toContain('the renderer cannot encode H.264');
  });

  it('lets the renderer encode where no H.264 encoder works in ffmpeg (it only muxes), and says why', async () => {
    const none = new EncoderUnavailableError('No H.264 encoder works with /usr/bin/ffmpeg (libx264: not in this ffmpeg build)');
    const choice = await chooseProgramEncoder({ rendererH264: true }, deps(none).deps);
    expect(choice).toMatchObject({ video: 'h264', encoder: 'webcodecs' });
    expect(choice.note).toContain('libx264: not in this ffmpeg build');
    expect(choice.note).toContain('the renderer encodes');
    // Nothing else can make H.264, or the streamer forced an ffmpeg encoder, or detection broke otherwise: the error stands.
    await expect(chooseProgramEncoder({ rendererH264: false }, deps(none).deps)).rejects.toBe(none);
    await expect(chooseProgramEncoder({ rendererH264: true }, deps(none, { ROAST_ENCODER: 'h264_nvenc' }).deps)).rejects.toBe(none);
    const other = new Error('spawn EACCES');
    await expect(chooseProgramEncoder({ rendererH264: true }, deps(other).deps)).rejects.toBe(other);
  });

  it('follows ROAST_ENCODER: webcodecs without detecting anything, an ffmpeg encoder through detection', async () => {
    const forced = deps(software, { ROAST_ENCODER: 'webcodecs' });
    expect(await chooseProgramEncoder({ rendererH264: true }, forced.deps)).toMatchObject({ video: 'h264', encoder: 'webcodecs' });
    expect(forced.calls).toEqual([]);
    const x264 = deps({ ...software, chosenBy: 'override', skipped: [] }, { ROAST_ENCODER: 'libx264' });
    expect(await chooseProgramEncoder({ rendererH264: true }, x264.deps)).toMatchObject({ video: 'i420', encoder: 'libx264' });
  });

  it('refuses ROAST_ENCODER=webcodecs in a renderer that cannot encode, with a clear error', async () => {
    const d = deps(software, { ROAST_ENCODER: 'webcodecs' });
    await expect(chooseProgramEncoder({ rendererH264: false }, d.deps)).rejects.toThrow(EncoderOverrideError);
    await expect(chooseProgramEncoder({ rendererH264: false }, d.deps)).rejects.toThrow(/cannot encode/);
  });
});
