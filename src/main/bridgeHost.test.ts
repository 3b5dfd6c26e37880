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
  const clock = { t: 0 };
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
    now: () => clock.t,
    ...(recordingsDir ? { recordingsDir } : {}),
  });
  return { host, encoder, emit, log, clock };
}

const startOpts = { url: 'rtmp://127.0.0.1:1935/live/key', width: 1280, height: 720, fps: 30 };

describe('BridgeHost', () => {
  it('answers encoder:resume with the running encoder\'s start (after a start under way is done), and null once stopped, failed or disposed', async () => {
    const { host, encoder } = setup();
    expect(await host.invoke('encoder:resume', [])).toBeNull();
    expect(host.live).toBe(false);
    const starting = host.invoke('encoder:start', [startOpts]);
    // Asked while the start is under way: answered once it is live.
    await expect(host.invoke('encoder:resume', [])).resolves.toMatchObject({ encoder: 'libx264', recordingPath: null });
    await starting;
    expect(host.live).toBe(true);
    await expect(host.invoke('encoder:resume', [1])).rejects.toThrow('encoder:resume takes no arguments');
    await host.invoke('encoder:stop', []);
    expect(host.live).toBe(false);
    expect(await host.invoke('encoder:resume', [])).toBeNull();

    encoder.start.mockRejectedValueOnce(new Error('ingest refused'));
    await expect(host.invoke('encoder:start', [startOpts])).rejects.toThrow('ingest refused');
    expect(await host.invoke('encoder:resume', [])).toBeNull();
    await host.invoke('encoder:start', [startOpts]);
    expect(host.live).toBe(true);
    await host.dispose();
    expect(host.live).toBe(false);
    expect(await host.invoke('encoder:resume', [])).toBeNull();
  });

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

  it('starts the next encoder only once the one before it has flushed, and keeps only its listeners', async () => {
    const first = fakeEncoder();
    const second = fakeEncoder();
    let release!: () => void;
    first.stop.mockImplementation(() => new Promise<void>((r) => (release = r)));
    const emit = vi.fn();
    const encoders = [first, second];
    const host = new BridgeHost({ config: () => ({ supabaseUrl: 'x', supabaseAnonKey: 'y', shell: 'browser' }), createEncoder: () => encoders.shift()!, emit });
    await host.invoke('encoder:start', [startOpts]);
    const stopping = host.invoke('encoder:stop', []);
    const starting = host.invoke('encoder:start', [startOpts]);
    await new Promise((r) => setTimeout(r, 10));
    // The first ffmpeg still finishes its files: no second one publishes meanwhile.
    expect(second.start).not.toHaveBeenCalled();
    release();
    await stopping;
    await starting;
    expect(second.start).toHaveBeenCalledTimes(1);
    second.emit({ state: 'live' } as EncoderStats);
    second.needKeyframe();
    expect(emit).toHaveBeenCalledWith('encoder:stats', { state: 'live', mediaRejected: 0, mediaRejectedLast: null });
    expect(emit).toHaveBeenCalledWith('encoder:keyframe');
    first.emit({ state: 'stopped' } as EncoderStats);
    expect(emit).not.toHaveBeenCalledWith('encoder:stats', expect.objectContaining({ state: 'stopped' }));
  });

  it('a bridge that follows a closed one starts its encoder only once the closed one has stopped (one publisher per key)', async () => {
    const old = fakeEncoder();
    let release!: () => void;
    old.stop.mockImplementation(() => new Promise<void>((r) => (release = r)));
    const config = () => ({ supabaseUrl: 'x', supabaseAnonKey: 'y', shell: 'browser' as const });
    const before = new BridgeHost({ config, createEncoder: () => old, emit: vi.fn() });
    await before.invoke('encoder:start', [startOpts]);
    // The page's socket dropped: the old bridge is disposed (its ffmpeg finishing its files), the page reconnects at once.
    const closing = before.dispose();
    const next = fakeEncoder();
    const after = new BridgeHost({ config, createEncoder: () => next, emit: vi.fn(), previousStopped: () => closing });
    const starting = after.invoke('encoder:start', [startOpts]);
    await new Promise((r) => setTimeout(r, 10));
    expect(next.start).not.toHaveBeenCalled();
    release();
    await starting;
    expect(next.start).toHaveBeenCalledTimes(1);
  });

  describe('overlapping lifecycle requests leave no ffmpeg behind', () => {
    /** Encoders that model a running ffmpeg: running from start() until stop(); start() resolves once "live", rejects if stopped first. */
    function lifecycle(recordingsDir?: string) {
      const running = new Set<number>();
      const made: number[] = [];
      let next = 0;
      const createEncoder = (): EncoderLike => {
        const id = ++next;
        made.push(id);
        let stopped = false;
        let abort: ((e: Error) => void) | null = null;
        return {
          start: async () => {
            running.add(id);
            await new Promise<void>((resolve, reject) => {
              abort = reject;
              setTimeout(resolve, 30);
            });
            if (stopped) throw new Error('stopped before live');
            return { encoder: 'libx264', ffmpegPath: '/usr/bin/ffmpeg', ffmpegSource: 'PATH' as const };
          },
          stop: async () => {
            stopped = true;
            running.delete(id);
            abort?.(new Error('stopped before live'));
          },
          pushVideo: () => undefined,
          pushAudio: () => undefined,
          pushH264: () => undefined,
          onStats: () => () => undefined,
          onKeyframeNeeded: () => () => undefined,
          dispose: () => undefined,
        };
      };
      const host = new BridgeHost({ config: () => ({ supabaseUrl: 'x', supabaseAnonKey: 'y', shell: 'browser' }), createEncoder, emit: vi.fn(), ...(recordingsDir ? { recordingsDir } : {}) });
      return { host, running, made };
    }

    it('two starts at once: the later one wins, the earlier one gives way and its encoder is stopped', async () => {
      const { host, running, made } = lifecycle();
      const [a, b] = await Promise.allSettled([host.invoke('encoder:start', [startOpts]), host.invoke('encoder:start', [startOpts])]);
      expect(a).toMatchObject({ status: 'rejected', reason: { reason: 'encoder_superseded' } });
      expect(b.status).toBe('fulfilled');
      expect([...running]).toEqual([made.at(-1)]);
      await host.invoke('encoder:stop', []);
      expect(running.size).toBe(0);
    });

    it('a stop during a start stops the encoder being started', async () => {
      const { host, running } = lifecycle();
      const start = host.invoke('encoder:start', [startOpts]);
      await new Promise((r) => setTimeout(r, 5));
      await host.invoke('encoder:stop', []);
      await expect(start).rejects.toMatchObject({ reason: 'encoder_superseded' });
      expect(running.size).toBe(0);
    });

    it('dispose during a start (while the recording file is named) starts nothing and stops everything', async () => {
      const dir = join(mkdtempSync(join(tmpdir(), 'rec-')), 'Recordings');
      const { host, running } = lifecycle(dir);
      const start = host.invoke('encoder:start', [{ ...startOpts, record: 'mkv' }]);
      await new Promise((r) => setImmediate(r));
      await host.dispose();
      await expect(start).rejects.toThrow(/closed/);
      await new Promise((r) => setTimeout(r, 60));
      expect(running.size).toBe(0);
      // And dispose while the encoder itself is starting.
      const other = lifecycle();
      const starting = other.host.invoke('encoder:start', [startOpts]);
      await new Promise((r) => setTimeout(r, 5));
      expect(other.running.size).toBe(1);
      await other.host.dispose();
      await expect(starting).rejects.toThrow(/closed/);
      expect(other.running.size).toBe(0);
    });

    it('many overlapping starts and stops end with at most the last start running', async () => {
      const { host, running, made } = lifecycle();
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 6; i++) {
        calls.push(host.invoke('encoder:start', [startOpts]).catch(() => undefined));
        if (i % 2 === 1) calls.push(host.invoke('encoder:stop', []));
        await new Promise((r) => setTimeout(r, i * 7));
      }
      calls.push(host.invoke('encoder:start', [startOpts]));
      await Promise.all(calls);
      expect([...running]).toEqual([made.at(-1)]);
      await host.dispose();
      expect(running.size).toBe(0);
    });
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
    expect(emit).toHaveBeenCalledWith('encoder:stats', { state: 'live', mediaRejected: 0, mediaRejectedLast: null });
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

  it('logs the first malformed messages in full, then one line every 10 s, and passes the count and latest reason on with the stats', async () => {
    const { host, encoder, log, emit, clock } = setup();
    await host.invoke('encoder:start', [startOpts]);
    encoder.pushVideo.mockImplementation(() => {
      throw new Error('video frame has 4 bytes; a 1280x720 I420 frame has 1382400 bytes');
    });
    for (let i = 0; i < 300; i++) {
      clock.t = i * 33; // a broken renderer, 30 bad frames a second for 10 s
      host.send('encoder:video', new Uint8Array(4), i);
    }
    expect(host.malformedMessages).toBe(300);
    expect(log.mock.calls.map(([m]) => m)).toEqual([
      'bridge: dropped a malformed media message (1 so far): video frame has 4 bytes; a 1280x720 I420 frame has 1382400 bytes',
      'bridge: dropped a malformed media message (2 so far): video frame has 4 bytes; a 1280x720 I420 frame has 1382400 bytes',
      'bridge: dropped a malformed media message (3 so far): video frame has 4 bytes; a 1280x720 I420 frame has 1382400 bytes',
    ]);
    clock.t = 10_066;
    host.send('encoder:audio', 'text', 1);
    expect(log).toHaveBeenLastCalledWith(
      'bridge: dropped 298 more malformed media messages since the last report (301 so far); the latest: encoder:audio: payload must be binary',
    );
    encoder.emit({ state: 'live' } as EncoderStats);
    expect(emit).toHaveBeenLastCalledWith('encoder:stats', {
      state: 'live',
      mediaRejected: 301,
      mediaRejectedLast: 'encoder:audio: payload must be binary',
    });
  });

  it('counts rejected media per broadcast, keeps bad requests apart, and writes the pending summary when the broadcast stops', async () => {
    const { host, encoder, log, emit, clock } = setup();
    host.reportBadRequest('request is not JSON');
    await host.invoke('encoder:start', [startOpts]);
    for (let i = 0; i < 5; i++) {
      clock.t = i * 33;
      host.send('encoder:video', 'not bytes', i);
    }
    expect(host.malformedMessages).toBe(5);
    expect(host.malformedRequests).toBe(1);
    encoder.emit({ state: 'live' } as EncoderStats);
    expect(emit).toHaveBeenLastCalledWith('encoder:stats', { state: 'live', mediaRejected: 5, mediaRejectedLast: 'encoder:video: payload must be binary' });
    log.mockClear();
    clock.t = 500;
    await host.invoke('encoder:stop', []);
    // Two were held back for the next 10 s summary: the stop writes it instead of leaving it for a bad message that may never come.
    expect(log.mock.calls.map(([m]) => m)).toEqual([
      'bridge: dropped 2 more malformed media messages since the last report (5 so far); the latest: encoder:video: payload must be binary',
    ]);
    // The next broadcast starts from zero; requests were never part of the count.
    await host.invoke('encoder:start', [startOpts]);
    encoder.emit({ state: 'live' } as EncoderStats);
    expect(emit).toHaveBeenLastCalledWith('encoder:stats', { state: 'live', mediaRejected: 0, mediaRejectedLast: null });
    host.send('encoder:video', 'not bytes', 1);
    expect(log).toHaveBeenLastCalledWith('bridge: dropped a malformed media message (1 so far): encoder:video: payload must be binary');
    expect(host.malformedRequests).toBe(1);
  });

  it('counts and logs a request refused as malformed (unknown channel, bad options), not only one that was not JSON', async () => {
    const { host, log } = setup();
    await expect(host.invoke('encoder:explode', [])).rejects.toThrow('unknown channel "encoder:explode"');
    await expect(host.invoke('encoder:start', [{ ...startOpts, width: -5 }])).rejects.toThrow(/encoder:start: width/);
    expect(host.malformedRequests).toBe(2);
    expect(log).toHaveBeenCalledWith('bridge: dropped a malformed request (1 so far): unknown channel "encoder:explode"');
    // A well-formed request adds nothing.
    await host.invoke('encoder:stop', []);
    expect(host.malformedRequests).toBe(2);
  });

  it('writes the pending summary of rejected messages on a stop even when nothing is live', async () => {
    const { host, log, clock } = setup();
    for (let i = 0; i < 4; i++) host.reportBadRequest(`bad request ${i}`);
    clock.t = 100;
    await host.invoke('encoder:stop', []);
    expect(log).toHaveBeenLastCalledWith('bridge: dropped 1 more malformed request since the last report (4 so far); the latest: bad request 3');
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
