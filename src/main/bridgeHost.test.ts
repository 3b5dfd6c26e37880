import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { EncoderStats } from '../shared/bridge';
import { BridgeHost, BridgeMessageError, type EncoderLike } from './bridgeHost';

function fakeEncoder() {
  const listeners = new Set<(s: EncoderStats) => void>();
  const keyframeListeners = new Set<() => void>();
  const encoder = {
    start: vi.fn(async () => ({ encoder: 'libx264', ffmpegPath: '/usr/bin/ffmpeg', ffmpegSource: 'PATH' as const })),
    pushVideo: vi.fn(),
    pushAudio: vi.fn(),
    stop: vi.fn(async () => {}),
    onStats: (l: (s: EncoderStats) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    dispose: vi.fn(),
    pushH264: vi.fn(),
    onKeyframeNeeded: (l: () => void) => {
      keyframeListeners.add(l);
      return () => keyframeListeners.delete(l);
    },
    needKeyframe: () => keyframeListeners.forEach((l) => l()),
    emit: (s: EncoderStats) => listeners.forEach((l) => l(s)),
  };
  return encoder satisfies EncoderLike & { emit: unknown };
}

function setup(recordingsDir?: string) {
  const encoder = fakeEncoder();
  const emit = vi.fn();
  const log = vi.fn();
  const chooseEncoder = vi.fn(async ({ rendererH264 }: { rendererH264: boolean }) =>
    rendererH264 ? { video: 'h264' as const, encoder: 'webcodecs', note: 'no hardware encoder' } : { video: 'i420' as const, encoder: 'libx264', note: 'trial' },
  );
  const host = new BridgeHost({
    config: () => ({ supabaseUrl: 'http://127.0.0.1:54321', supabaseAnonKey: 'anon', shell: 'browser' }),
    createEncoder: () => encoder,
    chooseEncoder,
    emit,
    log,
    ...(recordingsDir ? { recordingsDir } : {}),
  });
  return { host, encoder, emit, log };
}

const startOpts = { url: 'rtmp://127.0.0.1:1935/live/key', width: 1280, height: 720, fps: 30 };

describe('BridgeHost', () => {
  it("records where the native side says: a new file in the recordings folder, never a path from the page", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rec-')), 'Recordings');
    const { host, encoder } = setup(dir);
    const result = (await host.invoke('encoder:start', [{ ...startOpts, record: 'mkv' }])) as { recordingPath: string };
    expect(result.recordingPath).toMatch(new RegExp(`^${dir}/Roast Live \\d{4}-\\d\\d-\\d\\d \\d\\d-\\d\\d-\\d\\d\\.mkv$`));
    expect(encoder.start).toHaveBeenLastCalledWith(expect.objectContaining({ recordPath: result.recordingPath }));
    expect((encoder.start.mock.lastCall as unknown[])[0]).not.toHaveProperty('record');
    // Another recording in the same second does not overwrite the first.
    writeFileSync(result.recordingPath, 'x');
    await host.invoke('encoder:stop', []);
    const second = (await host.invoke('encoder:start', [{ ...startOpts, record: 'mkv' }])) as { recordingPath: string };
    expect(second.recordingPath).not.toBe(result.recordingPath);
    // No recording asked: none made.
    await host.invoke('encoder:stop', []);
    expect(await host.invoke('encoder:start', [startOpts])).toMatchObject({ recordingPath: null });
    expect((encoder.start.mock.lastCall as unknown[])[0]).not.toHaveProperty('recordPath');
    // A path from the page is refused outright, as is an unknown container.
    await expect(host.invoke('encoder:start', [{ ...startOpts, recordPath: '/home/u/.bashrc' }])).rejects.toThrow(/recordPath|Unrecognized/);
    await expect(host.invoke('encoder:start', [{ ...startOpts, record: 'exe' }])).rejects.toThrow(/record/);
  });

  it('refuses a recording with a clear error where no recordings folder is set, or it cannot be made, starting nothing', async () => {
    const { host, encoder } = setup();
    await expect(host.invoke('encoder:start', [{ ...startOpts, record: 'mp4' }])).rejects.toThrow(/no recordings folder/);
    const file = join(mkdtempSync(join(tmpdir(), 'rec-')), 'a-file');
    writeFileSync(file, '');
    const blocked = setup(join(file, 'Recordings'));
    await expect(blocked.host.invoke('encoder:start', [{ ...startOpts, record: 'mp4' }])).rejects.toThrow(/Could not make the recordings folder/);
    expect(encoder.start).not.toHaveBeenCalled();
    expect(blocked.encoder.start).not.toHaveBeenCalled();
  });

  it('keeps the listeners of an encoder started while the one before it still flushes', async () => {
    const first = fakeEncoder();
    const second = fakeEncoder();
    let release!: () => void;
    first.stop.mockImplementation(() => new Promise<void>((r) => (release = r)));
    const emit = vi.fn();
    const encoders = [first, second];
    const host = new BridgeHost({ config: () => ({ supabaseUrl: 'x', supabaseAnonKey: 'y', shell: 'browser' }), createEncoder: () => encoders.shift()!, emit });
    await host.invoke('encoder:start', [startOpts]);
    const stopping = host.invoke('encoder:stop', []);
    await host.invoke('encoder:start', [startOpts]);
    release();
    await stopping;
    second.emit({ state: 'live' } as EncoderStats);
    second.needKeyframe();
    expect(emit).toHaveBeenCalledWith('encoder:stats', { state: 'live' });
    expect(emit).toHaveBeenCalledWith('encoder:keyframe');
    first.emit({ state: 'stopped' } as EncoderStats);
    expect(emit).not.toHaveBeenCalledWith('encoder:stats', { state: 'stopped' });
  });

  it('answers app:config', async () => {
    const { host } = setup();
    await expect(host.invoke('app:config', [])).resolves.toMatchObject({ supabaseUrl: 'http://127.0.0.1:54321' });
  });

  it('rejects unknown channels and malformed options with clear errors, starting nothing', async () => {
    const { host, encoder } = setup();
    await expect(host.invoke('shell:exec', [])).rejects.toThrow(BridgeMessageError);
    await expect(host.invoke('encoder:start', [{ ...startOpts, url: 'http://evil' }])).rejects.toThrow(/rtmp/);
    await expect(host.invoke('encoder:start', [{ ...startOpts, width: 1281 }])).rejects.toThrow(/width/);
    await expect(host.invoke('encoder:start', [{ ...startOpts, extra: 1 }])).rejects.toThrow(/extra|Unrecognized/i);
    await expect(host.invoke('encoder:start', 'nope')).rejects.toThrow(/array/);
    expect(encoder.start).not.toHaveBeenCalled();
  });

  it('starts the encoder with defaults filled in, forwards media and stats, and stops', async () => {
    const { host, encoder, emit } = setup();
    await host.invoke('encoder:start', [startOpts]);
    expect(encoder.start).toHaveBeenCalledWith(expect.objectContaining({ ...startOpts, sampleRate: 48000, channels: 2, videoBitrateKbps: 3000 }));
    const frame = new Uint8Array(1280 * 720 * 1.5);
    host.send('encoder:video', frame.buffer, 12.5);
    host.send('encoder:audio', new Float32Array(1920).buffer, 13);
    expect(encoder.pushVideo).toHaveBeenCalledWith(expect.any(Uint8Array), 12.5);
    expect(encoder.pushAudio).toHaveBeenCalledTimes(1);
    encoder.emit({ state: 'live' } as EncoderStats);
    expect(emit).toHaveBeenCalledWith('encoder:stats', { state: 'live' });
    await host.invoke('encoder:stop', []);
    expect(encoder.stop).toHaveBeenCalled();
    expect(encoder.dispose).toHaveBeenCalled();
  });

  it('counts malformed media messages and goes on', async () => {
    const { host, encoder, log } = setup();
    await host.invoke('encoder:start', [startOpts]);
    host.send('encoder:video', 'not bytes', 1);
    host.send('encoder:video', new Uint8Array(4), Number.NaN);
    host.send('encoder:launch', new Uint8Array(4), 1);
    expect(host.malformedMessages).toBe(3);
    expect(log).toHaveBeenCalledTimes(3);
    host.send('encoder:video', new Uint8Array(4), 2);
    expect(encoder.pushVideo).toHaveBeenCalledTimes(1);
  });

  it('chooses where H.264 is made, forwards renderer H.264 and passes keyframe requests back', async () => {
    const { host, encoder, emit } = setup();
    await expect(host.invoke('encoder:choose', [{ rendererH264: true }])).resolves.toMatchObject({ video: 'h264', encoder: 'webcodecs' });
    await expect(host.invoke('encoder:choose', [{ rendererH264: 'yes' }])).rejects.toThrow(/rendererH264/);
    await expect(host.invoke('encoder:choose', [])).rejects.toThrow(/one options object/);
    await host.invoke('encoder:start', [{ ...startOpts, video: 'h264' }]);
    expect(encoder.start).toHaveBeenCalledWith(expect.objectContaining({ video: 'h264' }));
    host.send('encoder:h264', new Uint8Array(8).buffer, 40);
    expect(encoder.pushH264).toHaveBeenCalledWith(expect.any(Uint8Array), 40);
    encoder.needKeyframe();
    expect(emit).toHaveBeenCalledWith('encoder:keyframe');
    await host.invoke('encoder:stop', []);
    emit.mockClear();
    encoder.needKeyframe();
    expect(emit).not.toHaveBeenCalled();
  });

  it('disposes idempotently and stops a running encoder', async () => {
    const { host, encoder } = setup();
    await host.invoke('encoder:start', [startOpts]);
    await host.dispose();
    await host.dispose();
    expect(encoder.stop).toHaveBeenCalledTimes(1);
    await expect(host.invoke('encoder:start', [startOpts])).rejects.toThrow(/closed/);
  });
});
