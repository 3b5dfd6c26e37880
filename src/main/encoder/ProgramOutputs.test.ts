import { describe, expect, it, vi } from 'vitest';
import type { EncoderStartInput, EncoderStats } from '../../shared/bridge';
import type { EncoderSessionStartResult } from './EncoderSession';
import { liveEncoderStats } from '../../../tests/support/encoderStats';
import { EncoderStartError } from './errors';
import { ProgramOutputs, type OutputSession } from './ProgramOutputs';

const RESULT: EncoderSessionStartResult = { encoder: 'webcodecs', ffmpegPath: '/usr/bin/ffmpeg', ffmpegSource: 'PATH', encoderNote: null, encoderSkipped: [] };

function stats(over: Partial<EncoderStats> = {}): EncoderStats {
  return liveEncoderStats({ encoder: 'webcodecs', encoderCpuPercent: 4, outTimeMs: 0, framesIn: 0, framesWritten: 0, recordingError: null, ...over });
}

/** A session that records what it was given and plays the states a test sets. */
class FakeSession implements OutputSession {
  started: Array<EncoderStartInput & { recordPath?: string }> = [];
  h264: number[] = [];
  audio: number[] = [];
  video: number[] = [];
  stopped = 0;
  stoppedNow = 0;
  disposed = 0;
  encoder: string | undefined;
  teeRecording: ((encoder: string) => boolean) | undefined;
  parts: string[] = [];
  current = stats({ state: 'idle' });
  startResult: Promise<EncoderSessionStartResult> = Promise.resolve(RESULT);
  private readonly statsListeners = new Set<(s: EncoderStats) => void>();
  private readonly keyframeListeners = new Set<() => void>();

  start(opts: EncoderStartInput & { recordPath?: string }): Promise<EncoderSessionStartResult> {
    this.started.push(opts);
    return this.startResult;
  }
  pushVideo(_i420: Uint8Array, t: number): void {
    this.video.push(t);
  }
  pushAudio(_pcm: Uint8Array, t: number): void {
    this.audio.push(t);
  }
  pushH264(unit: Uint8Array, t: number): void {
    if (unit.byteLength === 0) throw new Error('empty unit');
    this.h264.push(t);
  }
  stop(opts: { now?: boolean } = {}): Promise<void> {
    this.stopped += 1;
    if (opts.now) this.stoppedNow += 1;
    return Promise.resolve();
  }
  recordedParts(): string[] {
    return this.parts;
  }
  dispose(): void {
    this.disposed += 1;
  }
  getStats(): EncoderStats {
    return this.current;
  }
  onStats(listener: (s: EncoderStats) => void): () => void {
    this.statsListeners.add(listener);
    return () => this.statsListeners.delete(listener);
  }
  onKeyframeNeeded(listener: () => void): () => void {
    this.keyframeListeners.add(listener);
    return () => this.keyframeListeners.delete(listener);
  }
  /** Sets the stats and emits them, as a session does on a change or its timer. */
  emit(over: Partial<EncoderStats>): void {
    this.current = stats(over);
    for (const l of [...this.statsListeners]) l(this.current);
  }
  askKeyframe(): void {
    for (const l of [...this.keyframeListeners]) l();
  }
}

function setup(
  prepare: (output: 'stream' | 'recording', session: FakeSession) => void = () => undefined,
  rawEncodedOnHardware?: () => Promise<boolean>,
  log?: (message: string) => void,
) {
  const sessions: Record<'stream' | 'recording', FakeSession[]> = { stream: [], recording: [] };
  const removed: string[] = [];
  const clock = { now: 0, timers: [] as Array<{ at: number; fn: () => void }> };
  const advance = (ms: number): void => {
    clock.now += ms;
    for (const t of clock.timers.filter((t) => t.at <= clock.now)) {
      clock.timers.splice(clock.timers.indexOf(t), 1);
      t.fn();
    }
  };
  const outputs = new ProgramOutputs({
    now: () => clock.now,
    setTimeout: (fn, ms) => {
      const t = { at: clock.now + ms, fn };
      clock.timers.push(t);
      return t;
    },
    clearTimeout: (t) => {
      const i = clock.timers.indexOf(t as never);
      if (i >= 0) clock.timers.splice(i, 1);
    },
    createSession: (output, encoder, teeRecording) => {
      const s = new FakeSession();
      s.encoder = encoder;
      s.teeRecording = teeRecording;
      prepare(output, s);
      sessions[output].push(s);
      return s;
    },
    removeFile: async (file) => {
      removed.push(file);
    },
    ...(rawEncodedOnHardware ? { rawEncodedOnHardware } : {}),
    ...(log ? { log } : {}),
  });
  return { outputs, sessions, removed, advance };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

const OPTS = { url: 'rtmp://127.0.0.1/live/key', width: 1280, height: 720, fps: 30 };

describe('ProgramOutputs', () => {
  it('records raw frames through the stream’s own ffmpeg (one encode), with no second session', async () => {
    const { outputs, sessions } = setup();
    await outputs.start({ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' });
    expect(sessions.recording).toHaveLength(0);
    expect(sessions.stream[0]!.started).toEqual([{ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' }]);
    outputs.pushVideo(new Uint8Array(4), 5);
    expect(sessions.stream[0]!.video).toEqual([5]);
  });

  it('gives raw frames a recording session of its own when they are encoded on hardware; not when that cannot be told', async () => {
    let streamLive: (r: EncoderSessionStartResult) => void = () => undefined;
    const hw = setup((output, session) => {
      if (output === 'stream') session.startResult = new Promise((resolve) => (streamLive = resolve));
    }, async () => true);
    const started = hw.outputs.start({ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' });
    await settle();
    // The stream is given the recording too, but its hardware runs do not record it.
    expect(hw.sessions.stream[0]!.started).toEqual([{ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' }]);
    const tee = hw.sessions.stream[0]!.teeRecording!;
    expect([tee('h264_nvenc'), tee('h264_vaapi'), tee('libx264')]).toEqual([false, false, true]);
    // The recording starts once the stream is live, with the encoder the stream opened (a GPU with one session left gives it to the stream).
    expect(hw.sessions.recording).toHaveLength(0);
    streamLive({ ...RESULT, encoder: 'h264_nvenc' });
    await started;
    expect(hw.sessions.recording[0]!.started).toEqual([{ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' }]);
    expect(hw.sessions.recording[0]!.encoder).toBe('h264_nvenc');
    hw.outputs.pushVideo(new Uint8Array(4), 7);
    expect([hw.sessions.stream[0]!.video, hw.sessions.recording[0]!.video]).toEqual([[7], [7]]);
    // A later run of the stream on libx264 (the GPU failed mid-show) does not record: the recording has its session.
    expect(tee('libx264')).toBe(false);

    const unknown = setup(undefined, async () => Promise.reject(new Error('no ffmpeg')));
    await unknown.outputs.start({ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' });
    expect(unknown.sessions.recording).toHaveLength(0);
    expect(unknown.sessions.stream[0]!.started[0]!.recordPath).toBe('/rec/show.mkv');
  });

  it('records with libx264 when the stream’s hardware encoder will not open a second time for the recording', async () => {
    const logs: string[] = [];
    let recordings = 0;
    const hw = setup(
      (output, session) => {
        if (output === 'stream') session.startResult = Promise.resolve({ ...RESULT, encoder: 'h264_nvenc' });
        // The first recording session's encoder will not open; the next one's does.
        else if (recordings++ === 0) {
          session.startResult = Promise.reject(new EncoderStartError('ffmpeg_exited', 'h264_nvenc: OpenEncodeSessionEx failed: out of memory'));
          // Its ffmpeg made the file before the encoder failed: libx264's ffmpeg would refuse to write over it.
          session.parts = ['/rec/show.mkv'];
        }
      },
      async () => true,
      (m) => logs.push(m),
    );
    await hw.outputs.start({ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' });
    await settle();
    await settle();
    expect(hw.sessions.recording.map((s) => s.encoder)).toEqual(['h264_nvenc', 'libx264']);
    expect(hw.sessions.recording[0]!.disposed).toBe(1);
    expect(hw.removed).toEqual(['/rec/show.mkv']);
    expect(hw.sessions.recording[1]!.started).toEqual([{ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' }]);
    expect(logs).toContain('recording: h264_nvenc did not open for the recording; it records with libx264 instead');
    hw.outputs.pushVideo(new Uint8Array(4), 9);
    expect(hw.sessions.recording[1]!.video).toEqual([9]);
    // libx264 failing too ends there: no third try.
    expect(hw.sessions.recording).toHaveLength(2);
  });

  it('records through the stream’s ffmpeg when the hardware encoder that passed its trial did not open for the stream (one encode, not two)', async () => {
    const logs: string[] = [];
    const fallback = setup(
      (output, session) => {
        if (output === 'stream') session.startResult = Promise.resolve({ ...RESULT, encoder: 'libx264' });
      },
      async () => true,
      (m) => logs.push(m),
    );
    await fallback.outputs.start({ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' });
    await settle();
    expect(fallback.sessions.recording).toHaveLength(0);
    const [stream] = fallback.sessions.stream;
    expect(stream!.started).toEqual([{ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' }]);
    // Its libx264 runs record, now and after restarts.
    expect(stream!.teeRecording!('libx264')).toBe(true);
    expect(logs).toContain("recording: libx264 opened for the stream instead of a hardware encoder; the stream's ffmpeg records (one encode)");
  });

  it('removes the recording the stream’s ffmpeg was teeing when the stream does not go live', async () => {
    const { outputs, sessions, removed } = setup((output, session) => {
      if (output !== 'stream') return;
      session.startResult = Promise.reject(new Error('The stream did not start: Connection refused'));
      session.parts = ['/rec/show.mkv'];
    });
    await expect(outputs.start({ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' })).rejects.toThrow('Connection refused');
    // Its ffmpeg is ended before the file goes.
    expect(sessions.stream[0]!.stoppedNow).toBe(1);
    expect(removed).toEqual(['/rec/show.mkv']);
  });

  it('keeps the teed recording of a start the streamer stopped (the session finishes what it recorded)', async () => {
    const { outputs, sessions, removed } = setup((output, session) => {
      if (output !== 'stream') return;
      session.startResult = Promise.reject(new EncoderStartError('stopped', 'the encoder was stopped before the stream went live'));
      session.parts = ['/rec/show.mkv'];
    });
    await expect(outputs.start({ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' })).rejects.toThrow('stopped before');
    expect(sessions.stream[0]!.stoppedNow).toBe(0);
    expect(removed).toEqual([]);
  });

  it('gives the renderer’s H.264 recording an ffmpeg of its own: the stream has no file, both get every unit and chunk', async () => {
    const { outputs, sessions, advance } = setup();
    const result = await outputs.start({ ...OPTS, video: 'h264', recordPath: '/rec/show.mp4' });
    expect(result).toEqual(RESULT);
    const [stream] = sessions.stream;
    const [recording] = sessions.recording;
    expect(stream!.started).toEqual([{ ...OPTS, video: 'h264' }]);
    expect(recording!.started).toEqual([{ ...OPTS, video: 'h264', recordPath: '/rec/show.mp4' }]);
    outputs.pushH264(new Uint8Array(8), 10);
    outputs.pushAudio(new Uint8Array(8), 11);
    expect([stream!.h264, recording!.h264, stream!.audio, recording!.audio]).toEqual([[10], [10], [11], [11]]);
    // A unit the stream refuses is refused once, to the caller.
    expect(() => outputs.pushH264(new Uint8Array(0), 12)).toThrow('empty unit');
    expect(recording!.h264).toEqual([10]);

    const keyframes = vi.fn();
    outputs.onKeyframeNeeded(keyframes);
    stream!.askKeyframe();
    recording!.askKeyframe();
    stream!.askKeyframe();
    // At most one request a second reaches the renderer; one that came sooner goes when the second is up.
    expect(keyframes).toHaveBeenCalledTimes(1);
    advance(999);
    expect(keyframes).toHaveBeenCalledTimes(1);
    advance(1);
    expect(keyframes).toHaveBeenCalledTimes(2);
    advance(5000);
    expect(keyframes).toHaveBeenCalledTimes(2);

    await outputs.stop();
    expect([stream!.stopped, recording!.stopped]).toEqual([1, 1]);
    outputs.dispose();
    expect([stream!.disposed, recording!.disposed]).toEqual([1, 1]);
  });

  it('shows the stream’s stats, with the recording’s trouble in recordingError and both processes’ CPU', async () => {
    const { outputs, sessions } = setup();
    const seen: EncoderStats[] = [];
    outputs.onStats((s) => seen.push(s));
    await outputs.start({ ...OPTS, video: 'h264', recordPath: '/rec/show.mkv' });
    const [stream] = sessions.stream;
    const [recording] = sessions.recording;
    recording!.current = stats({ encoderCpuPercent: 1 });
    stream!.emit({ state: 'reconnecting', error: 'ffmpeg stalled', encoderCpuPercent: 3 });
    expect(seen.at(-1)).toMatchObject({ state: 'reconnecting', error: 'ffmpeg stalled', recordingError: null, encoderCpuPercent: 4 });

    // The recording's own stats go out only when its trouble changes.
    recording!.emit({ state: 'live', encoderCpuPercent: 1 });
    expect(seen).toHaveLength(1);
    recording!.emit({ state: 'reconnecting', error: 'ffmpeg exited unexpectedly (killed by SIGKILL)' });
    expect(seen).toHaveLength(2);
    expect(seen.at(-1)!.recordingError).toBe(
      "the recording's ffmpeg is restarting (/rec/show.mkv, the next part in a new file): ffmpeg exited unexpectedly (killed by SIGKILL)",
    );
    recording!.emit({ state: 'reconnecting', error: 'ffmpeg exited unexpectedly (killed by SIGKILL)' });
    expect(seen).toHaveLength(2);
    recording!.emit({ state: 'live' });
    expect(seen.at(-1)!.recordingError).toBeNull();
    // The renderer's video stopped: both sessions wait for it, and the stream's own error says so.
    recording!.emit({ state: 'reconnecting', error: "no video from the renderer's encoder for 7 s; the recording goes on when it sends video again" });
    expect(seen.at(-1)!.recordingError).toBeNull();
    recording!.emit({ state: 'error', error: 'No space left on device' });
    expect(seen.at(-1)!.recordingError).toBe('the recording stopped (/rec/show.mkv): No space left on device; the stream goes on');
    expect(seen.at(-1)!.state).toBe('reconnecting');
  });

  it('names the recording session’s files in the stats, the parts it went on in included', async () => {
    const { outputs, sessions } = setup();
    await outputs.start({ ...OPTS, video: 'h264', recordPath: '/rec/show.mkv' });
    const [stream] = sessions.stream;
    const [recording] = sessions.recording;
    stream!.current = stats({ recordingFiles: [] });
    recording!.parts = ['/rec/show.mkv', '/rec/show-2.mkv'];
    expect(outputs.getStats()!.recordingFiles).toEqual(['/rec/show.mkv', '/rec/show-2.mkv']);
  });

  it('goes live when the recording cannot start, and says so', async () => {
    const { outputs, sessions } = setup((output, session) => {
      if (output === 'recording') session.startResult = Promise.reject(new Error('The stream did not start: Permission denied'));
    });
    const seen: EncoderStats[] = [];
    outputs.onStats((s) => seen.push(s));
    const pending = outputs.start({ ...OPTS, video: 'h264', recordPath: '/rec/show.mkv' });
    sessions.recording[0]!.emit({ state: 'error', error: '/rec/show.mkv: Permission denied' });
    await expect(pending).resolves.toEqual(RESULT);
    expect(seen.at(-1)!.recordingError).toBe('the recording stopped (/rec/show.mkv): /rec/show.mkv: Permission denied; the stream goes on');
  });

  it('ends the recording and removes its file when the stream does not go live', async () => {
    const { outputs, sessions, removed } = setup((output, session) => {
      if (output === 'stream') session.startResult = Promise.reject(new Error('The stream did not start: Connection refused'));
      else session.parts = ['/rec/show.mkv', '/rec/show-2.mkv'];
    });
    await expect(outputs.start({ ...OPTS, video: 'h264', recordPath: '/rec/show.mkv' })).rejects.toThrow('Connection refused');
    // Not finished (its files are not wanted): ended at once, every part removed.
    expect(sessions.recording[0]!.stoppedNow).toBe(1);
    expect(removed).toEqual(['/rec/show.mkv', '/rec/show-2.mkv']);
  });

  it('keeps the recording of its own ffmpeg when the streamer stopped the start (the files are finished, not removed)', async () => {
    const { outputs, sessions, removed } = setup((output, session) => {
      if (output === 'stream') session.startResult = Promise.reject(new EncoderStartError('stopped', 'the encoder was stopped before the stream went live'));
      else session.parts = ['/rec/show.mkv'];
    });
    await expect(outputs.start({ ...OPTS, video: 'h264', recordPath: '/rec/show.mkv' })).rejects.toThrow('stopped before');
    expect(sessions.recording[0]!.stoppedNow).toBe(0);
    expect(removed).toEqual([]);
  });

  it('starts nothing when stopped while it looks at the encoder', async () => {
    let answer: (hw: boolean) => void = () => undefined;
    const { outputs, sessions } = setup(undefined, () => new Promise((resolve) => (answer = resolve)));
    const started = outputs.start({ ...OPTS, video: 'i420', recordPath: '/rec/show.mkv' });
    await outputs.stop();
    answer(true);
    await expect(started).rejects.toThrow(/stopped before it started/);
    expect(sessions.stream).toHaveLength(0);
    expect(sessions.recording).toHaveLength(0);
  });

  it('refuses a second start (outputs are made per broadcast)', async () => {
    const { outputs } = setup();
    await outputs.start({ ...OPTS, video: 'h264' });
    await expect(outputs.start({ ...OPTS, video: 'h264' })).rejects.toThrow(/started already/);
  });
});
