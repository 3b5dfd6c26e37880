import { EventEmitter } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeH264Unit, type EncoderStartInput, type EncoderStats } from '../../shared/bridge';
import { ValidationError } from '../../shared/errors';
import { EncoderSession, defaultReconnectDelayMs, redactKey, redactUrl, type EncoderSessionDeps, type SpawnEncoder } from './EncoderSession';
import type { H264Encoder } from './args';
import type { EncoderSelection } from './detectEncoder';
import { EncoderInputError, EncoderOverrideError, EncoderStartError, EncoderStateError, FfmpegNotFoundError } from './errors';
import { readMatroskaFrames, type MatroskaFrame } from './matroska';
import { createRecordingSession } from './ProgramOutputs';

// ---- a clock whose timers run only when the test advances it ----

interface FakeTimer {
  at: number;
  every: number | null;
  fn: () => void;
}

class FakeClock {
  t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  readonly now = (): number => this.t;
  readonly setInterval = (fn: () => void, ms: number): number => this.add(fn, ms, ms);
  readonly setTimeout = (fn: () => void, ms: number): number => this.add(fn, ms, null);
  readonly clear = (handle: unknown): void => {
    this.timers.delete(handle as number);
  };

  private add(fn: () => void, ms: number, every: number | null): number {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, every, fn });
    return id;
  }

  get pending(): number {
    return this.timers.size;
  }

  /** Runs every timer due within `ms`, in order, letting stream callbacks settle in between. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      let nextId = -1;
      let next: FakeTimer | undefined;
      for (const [id, timer] of this.timers) {
        if (timer.at <= target && (!next || timer.at < next.at)) {
          next = timer;
          nextId = id;
        }
      }
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      if (next.every === null) this.timers.delete(nextId);
      else next.at += next.every;
      next.fn();
      await settle();
    }
    this.t = target;
    await settle();
  }
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// ---- an ffmpeg stand-in ----

/** A pipe whose reader can stall: while blocked, writes stay buffered and 'drain' never comes. */
class FakePipe extends Writable {
  readonly chunks: Buffer[] = [];
  blocked = false;
  private held: Array<() => void> = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    if (this.blocked) this.held.push(() => callback());
    else callback();
  }

  release(): void {
    this.blocked = false;
    const held = this.held;
    this.held = [];
    for (const cb of held) cb();
  }

  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.byteLength, 0);
  }
}

let nextPid = 4000;

class FakeFfmpeg extends EventEmitter {
  readonly pid = nextPid++;
  readonly stdin = new FakePipe();
  readonly audio = new FakePipe();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly stdio: [FakePipe, PassThrough, PassThrough, FakePipe];
  readonly kills: string[] = [];
  exited = false;
  /** Exit by itself once both inputs are closed, like ffmpeg at the end of its input. */
  exitOnEndOfInput = true;

  constructor(readonly args: readonly string[]) {
    super();
    this.stdio = [this.stdin, this.stdout, this.stderr, this.audio];
    let ended = 0;
    const onFinish = (): void => {
      ended += 1;
      if (ended === 2 && this.exitOnEndOfInput) this.exit(0, null);
    };
    this.stdin.on('finish', onFinish);
    this.audio.on('finish', onFinish);
  }

  progress(frame: number, extra = ''): void {
    this.stdout.write(`frame=${frame}\nfps=30.00\nbitrate=2999.5kbits/s\nout_time_us=${frame * 33_333}\n${extra}speed=1.00x\nprogress=continue\n`);
  }

  /** The frames written to stdin so far, read back from the Matroska stream. */
  get frames(): MatroskaFrame[] {
    return readMatroskaFrames(Buffer.concat(this.stdin.chunks));
  }

  /**
   * Reports progress as ffmpeg with `-fps_mode cfr -r <fps>` would for the
   * frames received so far: a frame fills the output slots from the one its
   * timestamp falls in up to the next frame's; a slot no new frame starts in
   * is a repeat (dup_frames), a frame whose slot a later one takes is dropped.
   */
  progressFromInput(fps: number): { frames: number; dup: number; drop: number } {
    const slots = this.frames.map((f) => Math.floor((f.timestampMs * fps) / 1000));
    const used = new Set(slots);
    const frames = slots.length === 0 ? 0 : Math.max(...slots) + 1;
    const drop = slots.length - used.size;
    const dup = frames - used.size;
    this.progress(frames, `dup_frames=${dup}\ndrop_frames=${drop}\n`);
    return { frames, dup, drop };
  }

  fail(stderr: string, code = 1): void {
    this.stderr.write(`${stderr}\n`);
    setImmediate(() => this.exit(code, null));
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.kills.push(signal);
    setImmediate(() => this.exit(null, signal));
    return true;
  }

  exit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    this.emit('exit', code, signal);
    this.emit('close', code, signal);
  }
}

// ---- harness ----

const W = 160;
const H = 90;
const FRAME_BYTES = (W * H * 3) / 2;
const FPS = 10; // 100 ms per frame keeps the arithmetic readable

const startOpts: EncoderStartInput = { url: 'rtmp://127.0.0.1:1935/live/secretkey', width: W, height: H, fps: FPS };

function frame(value: number): Uint8Array {
  return new Uint8Array(FRAME_BYTES).fill(value);
}

function isBlack(data: Uint8Array | undefined): boolean {
  return data !== undefined && data.byteLength === FRAME_BYTES && data[0] === 16 && data[W * H] === 128;
}

/** 10 ms of stereo f32 PCM, every sample `value`. */
function audioChunk(value: number): Uint8Array {
  return new Uint8Array(new Float32Array(480 * 2).fill(value).buffer);
}

function harness(overrides: Partial<EncoderSessionDeps> = {}, make: (deps: EncoderSessionDeps) => EncoderSession = (deps) => new EncoderSession(deps)) {
  const clock = new FakeClock();
  const children: FakeFfmpeg[] = [];
  const spawnCalls: Array<{ command: string; args: readonly string[] }> = [];
  const spawn: SpawnEncoder = (command, args) => {
    spawnCalls.push({ command, args });
    const child = new FakeFfmpeg(args);
    children.push(child);
    return child;
  };
  const logs: string[] = [];
  const session = make({
    spawn,
    now: clock.now,
    setInterval: clock.setInterval,
    clearInterval: clock.clear,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clear,
    resolveFfmpeg: () => ({ path: '/opt/ffmpeg', source: 'FFMPEG_PATH' }),
    selectEncoder: async () => 'libx264',
    sampleCpu: async () => null,
    log: (m) => logs.push(m),
    ...overrides,
  });
  const stats: EncoderStats[] = [];
  const unsubscribe = session.onStats((s) => stats.push(s));
  const child = (i = children.length - 1): FakeFfmpeg => {
    const c = children[i];
    if (!c) throw new Error(`no ffmpeg #${i}`);
    return c;
  };
  /** Starts the session and lets the (first) ffmpeg report progress. */
  async function startLive(input: EncoderStartInput & { recordPath?: string } = startOpts) {
    const started = session.start(input);
    await settle();
    child().progress(1);
    return started;
  }
  return { clock, session, children, child, spawnCalls, stats, logs, unsubscribe, startLive };
}

let active: EncoderSession[] = [];
afterEach(async () => {
  for (const s of active) s.dispose();
  active = [];
});

function track<T extends { session: EncoderSession }>(h: T): T {
  active.push(h.session);
  return h;
}

// ---- tests ----

describe('EncoderSession start', () => {
  it('spawns the resolved ffmpeg with the built arguments and resolves once ffmpeg reports progress', async () => {
    const h = track(harness());
    const result = await h.startLive();
    expect(result).toEqual({ encoder: 'libx264', ffmpegPath: '/opt/ffmpeg', ffmpegSource: 'FFMPEG_PATH', encoderNote: null, encoderSkipped: [] });
    expect(h.spawnCalls).toHaveLength(1);
    expect(h.spawnCalls[0]?.command).toBe('/opt/ffmpeg');
    expect(h.spawnCalls[0]?.args).toEqual(expect.arrayContaining(['pipe:0', 'pipe:3', '-c:v', 'libx264', startOpts.url]));
    // One progress report is no rate yet (see OutputRate).
    expect(h.session.getStats()).toMatchObject({ state: 'live', encoder: 'libx264', fps: null, bitrateKbps: 2999.5, speed: 1 });
    expect(h.stats.map((s) => s.state)).toEqual(['starting', 'live']);
  });

  it('reports ffmpeg’s CPU with the stats, and null when it cannot be measured', async () => {
    const sampled: number[] = [];
    let cpu: number | null = 37.4;
    const h = track(
      harness({
        sampleCpu: async (pid) => {
          sampled.push(pid);
          if (cpu === null) throw new Error('no such process');
          return cpu;
        },
      }),
    );
    await h.startLive();
    expect(h.session.getStats().encoderCpuPercent).toBeNull();
    await h.clock.advance(1000);
    await settle();
    expect(sampled).toEqual([h.child().pid]);
    expect(h.session.getStats().encoderCpuPercent).toBe(37);
    cpu = null;
    await h.clock.advance(1000);
    await settle();
    expect(h.session.getStats().encoderCpuPercent).toBeNull();
  });

  it('takes one CPU sample at a time: a tick while one is under way skips it', async () => {
    const sampled: number[] = [];
    let answer: (percent: number) => void = () => undefined;
    const h = track(
      harness({
        sampleCpu: (pid) => {
          sampled.push(pid);
          return new Promise<number>((resolve) => {
            answer = resolve;
          });
        },
      }),
    );
    await h.startLive();
    await h.clock.advance(1000);
    await settle();
    expect(sampled).toHaveLength(1);
    // A slow sample (a program started for it, on a busy machine) spans the next tick: it starts no other.
    await h.clock.advance(1000);
    await settle();
    expect(sampled).toHaveLength(1);
    await h.clock.advance(1000);
    await settle();
    await h.clock.advance(1000);
    await settle();
    // Two ticks without an answer: that sample is given up (the figure unknown), the next one starts.
    expect(h.session.getStats().encoderCpuPercent).toBeNull();
    expect(sampled).toHaveLength(2);
    answer(52);
    await settle();
    expect(h.session.getStats().encoderCpuPercent).toBe(52);
    await h.clock.advance(1000);
    await settle();
    expect(sampled).toHaveLength(3);
    answer(0);
  });

  it('says which encoder was chosen and why the others were skipped, in the result, the stats and the log', async () => {
    const skipped = [
      { encoder: 'h264_nvenc' as const, reason: 'trial failed: Cannot load libcuda.so.1' },
      { encoder: 'h264_vaapi' as const, reason: 'not in this ffmpeg build' },
    ];
    const h = track(harness({ selectEncoder: async () => ({ encoder: 'libx264', chosenBy: 'trial', skipped, listingError: null }) }));
    const result = await h.startLive();
    const note = 'first candidate whose trial encode passed; skipped h264_nvenc: trial failed: Cannot load libcuda.so.1; h264_vaapi: not in this ffmpeg build';
    expect(result).toEqual({ encoder: 'libx264', ffmpegPath: '/opt/ffmpeg', ffmpegSource: 'FFMPEG_PATH', encoderNote: note, encoderSkipped: skipped });
    expect(h.session.getStats()).toMatchObject({ encoder: 'libx264', encoderNote: note, pid: h.child().pid });
    expect(h.logs).toContain(`encoder: chose libx264: ${note}`);
  });

  it('fails the start with the override’s own error when ROAST_ENCODER is wrong', async () => {
    const h = track(
      harness({
        selectEncoder: async () => {
          throw new EncoderOverrideError('ROAST_ENCODER is set to "x264", which is not an H.264 encoder this app knows.');
        },
      }),
    );
    await expect(h.session.start(startOpts)).rejects.toBeInstanceOf(EncoderOverrideError);
    expect(h.session.getStats()).toMatchObject({ state: 'error', error: expect.stringMatching(/ROAST_ENCODER is set to "x264"/) });
    expect(h.spawnCalls).toHaveLength(0);
  });

  it('rejects with ffmpeg’s last error lines when it exits before going live', async () => {
    const h = track(harness());
    const started = h.session.start(startOpts);
    await settle();
    h.child().fail('[tcp @ 0x1] Connection to tcp://127.0.0.1:1935 failed: Connection refused\nrtmp://127.0.0.1:1935/live/secretkey: Connection refused');
    const error = await started.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EncoderStartError);
    expect((error as EncoderStartError).reason).toBe('ffmpeg_exited');
    expect((error as Error).message).toMatch(/Connection refused/);
    expect((error as Error).message).not.toMatch(/secretkey/);
    expect(h.session.getStats()).toMatchObject({ state: 'error', error: expect.stringMatching(/exited with code 1: .*Connection refused/) });
    expect(h.spawnCalls).toHaveLength(1); // no reconnect for a stream that never started
  });

  it('reads ffmpeg’s stderr by whole lines: a prefix and its message written apart stay one line, and the last line counts without its newline', async () => {
    const h = track(harness());
    const started = h.session.start(startOpts);
    await settle();
    const c = h.child();
    // ffmpeg 5.1 against a plain RTMP port, written as ffmpeg writes it: the context prefix, then the message.
    for (const chunk of [
      '[tls @ 0x5584] ',
      'Error in the pull function.\n[tls @ 0x5584] ',
      'IO error: Connection timed out\n[rtmps',
      ' @ 0x5584] ',
      'Cannot open connection tls://127.0.0.1:40625',
    ]) {
      c.stderr.write(chunk);
      await settle();
    }
    c.exit(1, null);
    const error = await started.catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/took the connection but no secure \(RTMPS\) session could be made/);
    expect(h.logs).toContain('ffmpeg: [tls @ 0x5584] Error in the pull function.');
    expect(h.logs).toContain('ffmpeg: [rtmps @ 0x5584] Cannot open connection tls://127.0.0.1:40625');
  });

  it('fails with a clear error when no ffmpeg is found', async () => {
    const h = track(
      harness({
        resolveFfmpeg: () => {
          throw new FfmpegNotFoundError('No ffmpeg found. Install ffmpeg, or set FFMPEG_PATH.');
        },
      }),
    );
    await expect(h.session.start(startOpts)).rejects.toBeInstanceOf(FfmpegNotFoundError);
    expect(h.session.getStats()).toMatchObject({ state: 'error', error: expect.stringMatching(/Install ffmpeg/) });
    expect(h.spawnCalls).toHaveLength(0);
  });

  it('rejects invalid options and a second start', async () => {
    const h = track(harness());
    await expect(h.session.start({ ...startOpts, width: 161 })).rejects.toBeInstanceOf(ValidationError);
    await expect(h.session.start({ ...startOpts, url: 'http://example.com/live' })).rejects.toThrow(/rtmp/);
    await h.startLive();
    await expect(h.session.start(startOpts)).rejects.toBeInstanceOf(EncoderStateError);
  });

  it('gives up on an ffmpeg that never reports progress', async () => {
    const h = track(harness({ timing: { liveTimeoutMs: 5000 } }));
    const started = h.session.start(startOpts);
    const failed = started.catch((e: unknown) => e);
    await settle();
    await h.clock.advance(5000);
    const error = await failed;
    expect(error).toBeInstanceOf(EncoderStartError);
    expect((error as Error).message).toMatch(/the ingest did not accept the stream within 5000 ms \(no progress from ffmpeg/);
    expect(h.child().kills).toEqual(['SIGKILL']);
  });

  it('says when it was the renderer that gave no keyframe to start H.264 with', async () => {
    const h = track(harness({ timing: { liveTimeoutMs: 5000 } }));
    const failed = h.session.start({ ...startOpts, video: 'h264' }).catch((e: unknown) => e);
    await settle();
    await h.clock.advance(5000);
    expect(((await failed) as Error).message).toMatch(/no keyframe came from the renderer's H\.264 encoder within 5000 ms/);
  });
});

describe('EncoderSession video timing', () => {
  it('opens the run with a black frame at time 0, then writes only new frames, each at its capture time', async () => {
    const h = track(harness());
    await h.startLive();
    const ffmpeg = h.child();
    expect(ffmpeg.frames.map((f) => f.timestampMs)).toEqual([0]);
    expect(isBlack(ffmpeg.frames[0]?.data)).toBe(true);
    await h.clock.advance(200);
    for (const value of [1, 2, 3]) {
      h.session.pushVideo(frame(value), 10_000 + h.clock.t); // the renderer's clock has its own origin
      await settle();
      await h.clock.advance(100);
    }
    // Capture times on the media clock, plus half an output frame (50 ms at 10 fps) so ffmpeg picks the nearest slot.
    expect(ffmpeg.frames.map((f) => [f.timestampMs, f.data[0]])).toEqual([
      [0, 16],
      [250, 1],
      [350, 2],
      [450, 3],
    ]);
    expect(h.session.getStats()).toMatchObject({ framesIn: 3, framesWritten: 3, framesRepeated: 0, framesDropped: 0, framesDroppedNetwork: 0 });
  });

  it('a 10 fps renderer gives 30 fps output: ffmpeg repeats 20 frames a second and the stats count them', async () => {
    const h = track(harness());
    await h.startLive({ ...startOpts, fps: 30 });
    const ffmpeg = h.child();
    let reported = { frames: 0, dup: 0, drop: 0 };
    for (let i = 1; i <= 50; i++) {
      await h.clock.advance(100);
      h.session.pushVideo(frame(i), 50_000 + h.clock.t);
      await settle();
      if (i % 10 === 0) reported = ffmpeg.progressFromInput(30); // about once a second
    }
    await settle();
    // Nothing but the opening frame and the 50 new ones crossed the pipe.
    expect(ffmpeg.frames).toHaveLength(51);
    expect(reported.frames).toBe(151); // 5 s at 30 fps, and the frame at 0
    const stats = h.session.getStats();
    expect(stats).toMatchObject({ framesIn: 50, framesWritten: 50, framesDropped: 0 });
    expect(stats.framesRepeated).toBe(reported.dup);
    expect(stats.framesRepeated / 5).toBeCloseTo(20, 0);
  });

  it('keeps frame timestamps on the capture clock and strictly increasing, whatever the arrival jitter', async () => {
    const h = track(harness());
    await h.startLive();
    const jitter = [0, 30, 5, 45, 12, 0, 38, 20];
    const expected: number[] = [0];
    for (let i = 0; i < 40; i++) {
      const capture = 7_000 + 66 * i;
      const arrival = 10 + 66 * i + (jitter[i % jitter.length] ?? 0);
      await h.clock.advance(arrival - h.clock.t);
      h.session.pushVideo(frame(i % 200), capture);
      await settle();
      expected.push(66 * i + 10 + 50); // the fastest arrival (10 ms) fixes the mapping; + half a frame
    }
    // A frame whose capture time goes back still gets a later timestamp than the one before.
    await h.clock.advance(60);
    h.session.pushVideo(frame(201), 7_000 + 66 * 39 - 100);
    await settle();
    const stamps = h.child().frames.map((f) => f.timestampMs);
    expect(stamps.slice(0, -1)).toEqual(expected);
    expect(stamps.at(-1)).toBe((expected.at(-1) ?? 0) + 1);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1] ?? Infinity);
  });

  it('writes the latest frame again when none comes for idleRepeatMs, so the output never stalls', async () => {
    const h = track(harness({ timing: { idleRepeatMs: 250, tickMs: 50 } }));
    await h.startLive();
    await h.clock.advance(600); // black again at 250 and 500 before the first frame (not counted as repeats)
    h.session.pushVideo(frame(5), 600);
    await settle();
    await h.clock.advance(1000); // nothing new: the frame again at 850, 1100, 1350, 1600
    const frames = h.child().frames;
    expect(frames.map((f) => f.data[0])).toEqual([16, 16, 16, 5, 5, 5, 5, 5]);
    expect(frames.map((f) => f.timestampMs)).toEqual([0, 300, 550, 650, 900, 1150, 1400, 1650]);
    expect(h.session.getStats()).toMatchObject({ framesWritten: 1, framesRepeated: 4 });
  });

  it('throws on a frame of the wrong size and goes on', async () => {
    const h = track(harness());
    await h.startLive();
    let caught: unknown;
    try {
      h.session.pushVideo(new Uint8Array(FRAME_BYTES - 1), 0);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EncoderInputError);
    expect((caught as EncoderInputError).reason).toBe('invalid_video_frame');
    expect((caught as Error).message).toBe(`video frame has ${FRAME_BYTES - 1} bytes; a 160x90 I420 frame has ${FRAME_BYTES} bytes`);
    expect(() => h.session.pushVideo(frame(3), Number.NaN)).toThrow(new EncoderInputError('invalid_video_frame', 'video frame timestamp must be a finite number'));
    h.session.pushVideo(frame(7), 0);
    await settle();
    expect(h.child().frames.at(-1)?.data[0]).toBe(7);
    expect(h.session.getStats()).toMatchObject({ state: 'live', framesIn: 1, framesWritten: 1, error: null, restarts: 0 });
    expect(h.spawnCalls).toHaveLength(1);
  });

  it('never queues behind back-pressure: a newer frame replaces the waiting one, and each replaced frame is counted', async () => {
    const h = track(harness());
    await h.startLive();
    const ffmpeg = h.child();
    ffmpeg.stdin.blocked = true; // ffmpeg stops reading video
    for (let i = 1; i <= 10; i++) {
      await h.clock.advance(20);
      h.session.pushVideo(frame(i), 1000 + h.clock.t);
    }
    // Frame 1 is on its way (one frame at most sits in the pipe); 2…9 were replaced while it waited; 10 waits.
    expect(ffmpeg.stdin.writableLength).toBeLessThan(FRAME_BYTES + 64);
    expect(h.session.getStats()).toMatchObject({ framesIn: 10, framesWritten: 1, framesDropped: 8 });
    await h.clock.advance(400);
    expect(ffmpeg.stdin.writableLength).toBeLessThan(FRAME_BYTES + 64); // no repeats pile up behind a stalled pipe either

    ffmpeg.stdin.release();
    await settle();
    await settle();
    // The waiting frame goes out with its own capture time (200 ms + half a frame), not the time of the drain.
    expect(ffmpeg.frames.map((f) => [f.timestampMs, f.data[0]])).toEqual([
      [0, 16],
      [70, 1],
      [250, 10],
    ]);
    const stats = h.session.getStats();
    expect(stats).toMatchObject({ framesWritten: 2, framesDropped: 8 });
    expect(stats.framesWritten + stats.framesDropped).toBe(stats.framesIn);
  });

  it('adds ffmpeg’s own repeats and drops from its progress, across runs', async () => {
    const h = track(harness());
    await h.startLive();
    h.child().progress(40, 'dup_frames=12\ndrop_frames=3\n');
    await settle();
    expect(h.session.getStats()).toMatchObject({ framesRepeated: 12, framesDropped: 3, framesDroppedInFfmpeg: 3 });
    h.child().progress(70, 'dup_frames=20\ndrop_frames=3\n'); // ffmpeg's counts are totals of its run
    await settle();
    expect(h.session.getStats()).toMatchObject({ framesRepeated: 20, framesDropped: 3 });
    h.child().fail('Broken pipe');
    await settle();
    await settle();
    await h.clock.advance(1000);
    h.child().progress(10, 'dup_frames=5\ndrop_frames=1\n');
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'live', framesRepeated: 25, framesDropped: 4, framesDroppedInFfmpeg: 4 });
  });

  it("shows the frames a second of the last seconds, not ffmpeg's average since its start: a stall reads 0", async () => {
    const h = track(harness());
    await h.startLive(); // ffmpeg reported frame 1, and says fps=30.00 in every report
    // One report is no rate yet (ffmpeg's own first figure is an average since its start: 0, or a burst).
    expect(h.session.getStats().fps).toBeNull();
    await h.clock.advance(500);
    h.child().progress(46); // a burst: 45 frames in half a second
    await settle();
    expect(h.session.getStats().fps).toBeNull();
    await h.clock.advance(500);
    h.child().progress(61);
    await settle();
    expect(h.session.getStats().fps).toBe(60);
    for (let i = 0; i < 4; i++) {
      await h.clock.advance(500);
      h.child().progress(61 + (i + 1) * 15);
      await settle();
    }
    expect(h.session.getStats().fps).toBe(30);
    // The output stops: ffmpeg keeps reporting its average, the studio sees the stall.
    for (let i = 0; i < 5; i++) {
      await h.clock.advance(500);
      h.child().progress(121);
      await settle();
    }
    expect(h.session.getStats().fps).toBe(0);
    // Going again, then ffmpeg stops reporting altogether (a network write that blocks): the rate falls all the same.
    for (let i = 0; i < 4; i++) {
      await h.clock.advance(500);
      h.child().progress(121 + (i + 1) * 15);
      await settle();
    }
    expect(h.session.getStats().fps).toBe(30);
    await h.clock.advance(2500);
    expect(h.session.getStats().fps).toBe(0);
  });

  it('reports a bitrate ffmpeg gives as N/A as null', async () => {
    const h = track(harness());
    await h.startLive();
    h.child().stdout.write('frame=31\nfps=30.00\nbitrate=N/A\ntotal_size=N/A\nspeed=1.00x\nprogress=continue\n');
    await settle();
    expect(h.session.getStats().bitrateKbps).toBeNull();
  });

  it('where ffmpeg tees into a recording (its bitrate N/A), gives the output bitrate from the recording’s size over the output’s time', async () => {
    const sizes: string[] = [];
    const h = track(harness({ fileSize: async (path) => (sizes.push(path), 750_000) }));
    await h.startLive({ ...startOpts, recordPath: '/rec/show.mkv' });
    h.child().stdout.write('frame=60\nfps=30.00\nbitrate=N/A\ntotal_size=N/A\nout_time_us=2000000\nspeed=1.00x\nprogress=continue\n');
    await settle();
    h.child().stdout.write('frame=61\nfps=30.00\nbitrate=N/A\ntotal_size=N/A\nout_time_us=2033000\nspeed=1.00x\nprogress=continue\n');
    await settle();
    expect(sizes.at(-1)).toBe('/rec/show.mkv');
    // 750 000 bytes in 2 s: 3000 kbps.
    expect(h.session.getStats().bitrateKbps).toBe(3000);
    // The recording stops (a full disk) and its file no longer grows: the stream's bitrate is unknown, not falling.
    h.child().stderr.write('[tee @ 0x55d1] Slave muxer #1 failed: No space left on device, continuing with 1/2 slaves.\n');
    await settle();
    h.child().stdout.write('frame=90\nfps=30.00\nbitrate=N/A\ntotal_size=N/A\nout_time_us=3000000\nspeed=1.00x\nprogress=continue\n');
    await settle();
    expect(h.session.getStats().bitrateKbps).toBeNull();
  });
});

describe('EncoderSession audio', () => {
  it('feeds silence paced to real time when no audio comes', async () => {
    const h = track(harness());
    await h.startLive();
    await h.clock.advance(2000);
    const audio = h.child().audio;
    const seconds = audio.bytes / (48_000 * 8);
    expect(seconds).toBeGreaterThan(2 - 0.15 - 0.01);
    expect(seconds).toBeLessThanOrEqual(2);
    expect(audio.chunks.every((c) => c.every((b) => b === 0))).toBe(true);
  });

  it('writes audio at once, in order, even while video is back-pressured', async () => {
    const h = track(harness());
    await h.startLive();
    h.child().stdin.blocked = true;
    const sent: number[] = [];
    for (let i = 0; i < 100; i++) {
      await h.clock.advance(10);
      const pcm = new Float32Array(480 * 2).fill(i + 1);
      h.session.pushAudio(new Uint8Array(pcm.buffer), 1000 + i * 10);
      sent.push(i + 1);
    }
    const audio = h.child().audio;
    const values = audio.chunks.map((c) => new Float32Array(c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength))[0]);
    expect(values.filter((v) => v !== 0)).toEqual(sent);
    expect(audio.bytes).toBe(100 * 480 * 8); // contiguous: no silence inserted, nothing trimmed
  });

  it('drops audio ffmpeg leaves unread for over 2 s, counts it in the stats, and logs it once when it starts and once when it ends', async () => {
    const h = track(harness());
    await h.startLive();
    const audio = h.child().audio;
    audio.blocked = true; // ffmpeg stops reading fd 3
    for (let i = 0; i < 400; i++) {
      h.session.pushAudio(audioChunk(0.5), i * 10);
      await h.clock.advance(10);
    }
    const chunkBytes = 480 * 8;
    const written = audio.writableLength / chunkBytes;
    expect(written).toBe(201); // 2 s waiting (and the chunk that went past it), nothing more
    const dropped = (400 - written) * 10;
    expect(h.session.getStats().audioDroppedMs).toBe(dropped);
    const dropLogs = h.logs.filter((l) => /audio/.test(l));
    expect(dropLogs).toEqual(['encoder: ffmpeg has left over 2 s of audio unread; dropping audio until it reads again']);

    audio.release();
    await settle();
    h.session.pushAudio(audioChunk(0.5), 4000);
    expect(h.logs.filter((l) => /audio/.test(l)).slice(1)).toEqual([`encoder: ffmpeg reads audio again; ${dropped} ms of audio were dropped since it stopped reading`]);
    expect(h.session.getStats().audioDroppedMs).toBe(dropped);
    expect(audio.bytes).toBeGreaterThan(written * chunkBytes); // the gap is silence, then the audio goes on
  });

  it('does not count audio ffmpeg leaves unread while it connects (nothing is on air yet) as dropped', async () => {
    const h = track(harness());
    const started = h.session.start(startOpts);
    await settle();
    const audio = h.child().audio;
    audio.blocked = true; // connecting to the ingest: ffmpeg reads no input yet
    for (let i = 0; i < 300; i++) {
      h.session.pushAudio(audioChunk(0.5), i * 10);
      await h.clock.advance(10);
    }
    expect(h.session.getStats()).toMatchObject({ state: 'starting', audioDroppedMs: 0 });
    expect(h.logs.filter((l) => /audio/.test(l))).toEqual(['encoder: ffmpeg reads no audio while it connects; the oldest is dropped past 2 s']);
    audio.release();
    h.child().progress(1);
    await started;
    expect(h.session.getStats()).toMatchObject({ state: 'live', audioDroppedMs: 0 });
  });

  it('counts the silence that stood in for late audio and the late audio trimmed, not the silence before audio started', async () => {
    const h = track(harness());
    await h.startLive();
    const base = 40_000;
    // Before the program's first chunk the silence written is no gap.
    await h.clock.advance(1000);
    expect(h.session.getStats()).toMatchObject({ audioFilledMs: 0, audioTrimmedMs: 0 });
    const send = (i: number) => h.session.pushAudio(audioChunk(0.25), base + i * 10);
    let i = 0;
    for (; i < 100; i++) {
      send(i);
      await h.clock.advance(10);
    }
    expect(h.session.getStats()).toMatchObject({ audioFilledMs: 0, audioTrimmedMs: 0 });
    // Delivery stalls for 400 ms: silence fills in; then the 40 held chunks arrive at once, their place already written.
    await h.clock.advance(400);
    const filled = h.session.getStats().audioFilledMs!;
    expect(filled).toBeGreaterThan(200);
    expect(filled).toBeLessThanOrEqual(400);
    for (let k = 0; k < 40; k++) send(i++);
    const { audioFilledMs, audioTrimmedMs } = h.session.getStats();
    expect(audioFilledMs).toBe(filled);
    // The late chunks lose the part silence already took (less the placement's tolerance).
    expect(audioTrimmedMs).toBeGreaterThan(filled - 60);
    expect(audioTrimmedMs).toBeLessThanOrEqual(filled);
  });

  it('puts audio and video captured at the same time at the same media time: one origin, one clock', async () => {
    const h = track(harness());
    await h.startLive();
    const ffmpeg = h.child();
    const base = 250_000; // the renderer's clock, any origin
    for (let i = 0; i < 200; i++) {
      await h.clock.advance(10);
      const t = h.clock.t;
      // Audio: 10 ms chunks sent as they end. Video: a frame every 100 ms, arriving 60 ms after its capture.
      h.session.pushAudio(audioChunk(i + 1), base + t - 10);
      if (t % 100 === 60 && t >= 160) h.session.pushVideo(frame((t - 60) / 100), base + t - 60);
      await settle();
    }
    // Both inputs start at media time 0: the opening frame, and the first chunk with no silence before it.
    expect(ffmpeg.frames[0]?.timestampMs).toBe(0);
    const pcm = new Float32Array(Buffer.concat(ffmpeg.audio.chunks).buffer.slice(0));
    expect(pcm[0]).toBe(1);
    // The frame captured at base + 1000 ms and the audio captured then sit at the same media time.
    const frameAt1000 = ffmpeg.frames.find((f) => f.data[0] === 10);
    const audioAt1000Ms = (pcm.indexOf(101) / 2 / 48_000) * 1000;
    expect(audioAt1000Ms).toBeCloseTo(1000, 6);
    expect((frameAt1000?.timestampMs ?? 0) - 50).toBe(1000); // less the half frame added for ffmpeg's slotting
  });

  it('keeps every audio chunk when video travels faster than audio (the mapping is learnt from audio)', async () => {
    const h = track(harness());
    await h.startLive();
    const ffmpeg = h.child();
    const base = 90_000;
    let sent = 0;
    for (let i = 0; i < 200; i++) {
      await h.clock.advance(10);
      const t = h.clock.t;
      // Video arrives 5 ms after capture; audio 300 ms after (a busy page between the worklet and the socket).
      if (i % 10 === 0) h.session.pushVideo(frame(i / 10), base + t - 5);
      if (i >= 31) h.session.pushAudio(audioChunk(++sent), base + t - 300 - 10);
      await settle();
    }
    const pcm = new Float32Array(Buffer.concat(ffmpeg.audio.chunks).buffer.slice(0));
    const heard = new Set(pcm.filter((v) => v !== 0));
    const missing = Array.from({ length: sent }, (_, k) => k + 1).filter((v) => !heard.has(v));
    expect(missing).toEqual([]);
  });

  it('keeps video in step with audio when video travels faster (ahead of the media clock’s present), and idle repeats take slots of their own', async () => {
    const h = track(harness({ timing: { idleRepeatMs: 250 } }));
    await h.startLive();
    const ffmpeg = h.child();
    const base = 40_000;
    for (let i = 0; i < 160; i++) {
      await h.clock.advance(10);
      const t = h.clock.t;
      // Audio: 10 ms chunks arriving 300 ms after capture (each one's value: its capture time / 10, plus 1).
      if (t >= 310) h.session.pushAudio(audioChunk((t - 310) / 10 + 1), base + t - 310);
      // Video: a frame every 100 ms, 10 ms after its capture, until 1 s; then the picture stands still.
      if (t % 100 === 10 && t >= 410 && t <= 1010) h.session.pushVideo(frame((t - 10) / 100), base + t - 10);
      await settle();
    }
    const pcm = new Float32Array(Buffer.concat(ffmpeg.audio.chunks).buffer.slice(0));
    for (const captured of [400, 700, 1000]) {
      const video = ffmpeg.frames.find((f) => f.data[0] === captured / 100 && f.timestampMs > 0);
      const audioMs = (pcm.indexOf(captured / 10 + 1) / 2 / 48_000) * 1000;
      expect(audioMs).toBeGreaterThan(0);
      // Less the half frame added for ffmpeg's slotting, the frame sits where the audio captured with it does.
      expect(Math.abs((video?.timestampMs ?? 0) - 50 - audioMs)).toBeLessThanOrEqual(2);
    }
    // The repeats of the still picture come after the last new frame, each in an output slot of its own (100 ms at 10 fps).
    const slots = ffmpeg.frames.map((f) => Math.floor((f.timestampMs * FPS) / 1000));
    for (let k = 1; k < slots.length; k++) expect(slots[k]).toBeGreaterThan(slots[k - 1]!);
    expect(h.session.getStats().framesRepeated).toBeGreaterThan(0);
  });

  it('throws on a chunk that is not whole stereo frames, or whose samples are not audio, and goes on', async () => {
    const h = track(harness());
    await h.startLive();
    expect(() => h.session.pushAudio(new Uint8Array(12), 0)).toThrow(EncoderInputError);
    expect(() => h.session.pushAudio(new Uint8Array(12), 0)).toThrow(
      'audio chunk has 12 bytes; interleaved stereo f32 PCM comes in multiples of 8 bytes',
    );
    expect(() => h.session.pushAudio(new Uint8Array(16), Number.POSITIVE_INFINITY)).toThrow('audio timestamp must be a finite number');
    // Samples that are not audio would stop ffmpeg's AAC encoder: refused, at any alignment in the message.
    const samples = (values: number[], offset = 0) => {
      const bytes = new Uint8Array(offset + values.length * 4);
      const view = new DataView(bytes.buffer);
      values.forEach((v, i) => view.setFloat32(offset + i * 4, v, true));
      return bytes.subarray(offset);
    };
    expect(() => h.session.pushAudio(samples([0.1, 0.2, Number.NaN, 0]), 0)).toThrow(
      "audio chunk has a sample that is not a number (sample 2); the program's audio is f32 PCM around [-1, 1] (at most ±256)",
    );
    expect(() => h.session.pushAudio(samples([0, Number.NEGATIVE_INFINITY], 1), 0)).toThrow('a sample that is infinite (sample 1)');
    expect(() => h.session.pushAudio(samples([32767, 0]), 0)).toThrow('out of range (3.28e+4)');
    expect(h.child().audio.bytes).toBe(0);
    h.session.pushAudio(samples([1.5, -1, 0.25, 0], 3), 0);
    expect(h.child().audio.bytes).toBe(16);
    h.session.pushAudio(new Uint8Array(16), 0);
    expect(h.child().audio.bytes).toBe(32);
    expect(h.session.getStats()).toMatchObject({ state: 'live', error: null, restarts: 0 });
    expect(h.spawnCalls).toHaveLength(1);
  });

  it('ignores media while not running', () => {
    const h = track(harness());
    expect(() => h.session.pushVideo(new Uint8Array(3), 0)).not.toThrow();
    expect(() => h.session.pushAudio(new Uint8Array(3), 0)).not.toThrow();
    expect(h.session.getStats().framesIn).toBe(0);
  });
});

describe('EncoderSession stats', () => {
  it('emits stats about once a second, and each listener can unsubscribe', async () => {
    const h = track(harness());
    const other: EncoderStats[] = [];
    const off = h.session.onStats((s) => other.push(s));
    await h.startLive();
    const base = h.stats.length;
    await h.clock.advance(3000);
    expect(h.stats.length - base).toBe(3);
    off();
    await h.clock.advance(1000);
    expect(h.stats.length - base).toBe(4);
    expect(other.length).toBe(base + 3);
  });

  it('keeps going when a listener throws', async () => {
    const h = track(harness());
    h.session.onStats(() => {
      throw new Error('listener broke');
    });
    await h.startLive();
    expect(h.session.getStats().state).toBe('live');
    expect(h.logs.some((l) => l.includes('listener broke'))).toBe(true);
  });
});

describe('EncoderSession reconnect', () => {
  it('reconnects with backoff after the stream drops, then goes live again', async () => {
    const h = track(harness());
    await h.startLive();
    h.child().fail('av_interleaved_write_frame(): Broken pipe');
    await settle();
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', error: expect.stringMatching(/Broken pipe/) });

    await h.clock.advance(999);
    expect(h.spawnCalls).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.spawnCalls).toHaveLength(2); // after 1 s
    expect(h.session.getStats().restarts).toBe(1);

    h.child().fail('Connection refused'); // still down
    await settle();
    await settle();
    expect(h.session.getStats()).toMatchObject({
      state: 'reconnecting',
      error: 'the restarted ffmpeg exited before going live (exit code 1): Connection refused',
      lastExit: 'ffmpeg exited unexpectedly (exit code 1)',
    });
    expect(h.logs.at(-1)).toBe('encoder: the restarted ffmpeg exited before going live (exit code 1): Connection refused; restarting it in 2000 ms (attempt 2 of 20)');
    await h.clock.advance(1999);
    expect(h.spawnCalls).toHaveLength(2);
    await h.clock.advance(1);
    expect(h.spawnCalls).toHaveLength(3); // after 2 s

    h.child().progress(1);
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'live', restarts: 2, error: null });
    expect(h.stats.map((s) => s.state).filter((s, i, all) => s !== all[i - 1])).toEqual(['starting', 'live', 'reconnecting', 'live']);
  });

  it('keeps the latest frame across a reconnect and records into numbered parts', async () => {
    const h = track(harness());
    await h.startLive({ ...startOpts, recordPath: '/rec/show.mkv' });
    h.session.pushVideo(frame(9), 0);
    h.child().fail('Broken pipe');
    await settle();
    await settle();
    await h.clock.advance(1000);
    expect(h.spawnCalls[0]?.args.at(-1)).toMatch(/\]\/rec\/show\.mkv$/);
    expect(h.spawnCalls[1]?.args.at(-1)).toMatch(/\]\/rec\/show-2\.mkv$/);
    expect(h.child().frames[0]).toMatchObject({ timestampMs: 0, data: expect.objectContaining({ 0: 9 }) });
    // It was written once already: opening the new run with it is a repeat, not a new frame.
    expect(h.session.getStats()).toMatchObject({ framesWritten: 1, framesRepeated: 1 });
    // The stats name the files runs wrote to, for the studio to say where the show was recorded: the new part once
    // its run is live (an attempt that never connects may have made no file).
    expect(h.session.getStats().recordingFiles).toEqual(['/rec/show.mkv']);
    h.child().progress(5);
    await settle();
    expect(h.session.getStats().recordingFiles).toEqual(['/rec/show.mkv', '/rec/show-2.mkv']);
  });

  it('says in the stats when ffmpeg gave up the recording and streams on, until the next start', async () => {
    const h = track(harness());
    await h.startLive({ ...startOpts, recordPath: '/rec/show.mkv' });
    expect(h.session.getStats().recordingError).toBeNull();
    const c = h.child();
    // As ffmpeg 5.1 writes it: the context prefix and the message apart.
    c.stderr.write('[tee @ 0x55d1] ');
    c.stderr.write('Slave muxer #1 failed: No space left on device, continuing with 1/2 slaves.\n');
    await settle();
    const expected = 'the recording stopped (/rec/show.mkv): No space left on device; the stream goes on';
    expect(h.session.getStats()).toMatchObject({ state: 'live', recordingError: expected, error: null });
    expect(h.stats.at(-1)).toMatchObject({ recordingError: expected });
    expect(h.logs).toContain(`encoder: ${expected}`);
    expect(c.kills).toEqual([]);
    // The stream goes on in the same ffmpeg.
    h.session.pushVideo(frame(3), h.clock.t);
    c.progress(5);
    await settle();
    expect(h.spawnCalls).toHaveLength(1);
    expect(h.session.getStats()).toMatchObject({ state: 'live', recordingError: expected });
    await h.session.stop();
    await h.startLive({ ...startOpts, recordPath: '/rec/show-again.mkv' });
    expect(h.session.getStats().recordingError).toBeNull();
  });

  it('clears the recording warning once a restarted ffmpeg records again, into its new part', async () => {
    const h = track(harness());
    await h.startLive({ ...startOpts, recordPath: '/rec/show.mkv' });
    h.child().stderr.write('[tee @ 0x55d1] Slave muxer #1 failed: No space left on device, continuing with 1/2 slaves.\n');
    await settle();
    expect(h.session.getStats().recordingError).toMatch(/the recording stopped/);
    // The ingest drops; the restarted ffmpeg records again, in show-2.mkv.
    h.child().fail('Broken pipe');
    await settle();
    await settle();
    await h.clock.advance(1000);
    expect(h.spawnCalls[1]?.args.at(-1)).toMatch(/\]\/rec\/show-2\.mkv$/);
    expect(h.session.getStats().recordingError).toMatch(/the recording stopped/);
    h.child().progress(1);
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'live', recordingError: null });
    expect(h.logs).toContain('encoder: recording again, in /rec/show-2.mkv');
  });

  it('counts frames that come while the stream is down as dropped by the network; the newest opens the next run', async () => {
    const h = track(harness());
    await h.startLive();
    h.child().fail('Broken pipe');
    await settle();
    await settle();
    for (const value of [21, 22, 23]) h.session.pushVideo(frame(value), h.clock.t);
    expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', framesIn: 3, framesWritten: 0, framesDroppedNetwork: 2 });
    await h.clock.advance(1000);
    expect(h.child().frames[0]?.data[0]).toBe(23);
    expect(h.session.getStats()).toMatchObject({ framesWritten: 1, framesDroppedNetwork: 2 });
  });

  it('counts frames ffmpeg cannot take while a restart connects as dropped by the network, and as encoding lag once live; none before the stream first went up', async () => {
    const h = track(harness());
    /** Ten frames 20 ms apart into a stdin that takes nothing: the first is on its way, 2…9 are replaced, the 10th waits. */
    const pushIntoBlockedStdin = async (ffmpeg: FakeFfmpeg): Promise<void> => {
      ffmpeg.stdin.blocked = true;
      for (let i = 1; i <= 10; i++) {
        await h.clock.advance(20);
        h.session.pushVideo(frame(i), h.clock.t);
      }
    };
    // The first go-live: ffmpeg is connecting to the ingest and reads no more video meanwhile; the stream has not begun.
    const started = h.session.start(startOpts);
    await settle();
    await pushIntoBlockedStdin(h.child());
    expect(h.session.getStats()).toMatchObject({ state: 'starting', framesDropped: 0, framesDroppedNetwork: 0 });
    h.child().stdin.release();
    await settle();
    h.child().progress(1);
    await started;

    // The ingest drops the stream; the restarted ffmpeg is connecting again.
    h.child().exit(null, 'SIGKILL');
    await settle();
    await h.clock.advance(1000);
    expect(h.spawnCalls).toHaveLength(2);
    const restarted = h.child();
    await pushIntoBlockedStdin(restarted);
    expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', framesDropped: 0, framesDroppedNetwork: 8 });

    // Live again: a stdin that pushes back now is ffmpeg not keeping up.
    restarted.stdin.release();
    await settle();
    await settle();
    restarted.progress(1);
    await settle();
    expect(h.session.getStats().state).toBe('live');
    await pushIntoBlockedStdin(restarted);
    expect(h.session.getStats()).toMatchObject({ framesDropped: 8, framesDroppedNetwork: 8 });
  });

  it('ends a live ffmpeg that stops reporting progress (its output blocked by a hung ingest) and reconnects', async () => {
    const h = track(harness());
    await h.startLive();
    const first = h.child();
    for (let i = 0; i < 10; i++) {
      await h.clock.advance(500);
      first.progress(2 + i * 15); // twice a second, as ffmpeg does
    }
    expect(first.kills).toEqual([]);
    await h.clock.advance(3_000); // the ingest hangs: ffmpeg's output stands still
    first.progress(137); // a report whose frame count did not move (ffmpeg 7 goes on reporting) is no progress
    await h.clock.advance(2_980);
    expect(first.kills).toEqual([]);
    expect(h.session.getStats().state).toBe('live');
    await h.clock.advance(20);
    expect(first.kills).toEqual(['SIGKILL']);
    await settle();
    await settle();
    const why = 'ffmpeg stalled: no progress for 6 s (the ingest stopped taking the stream)';
    expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', error: why, lastExit: why });
    expect(h.logs).toContain('encoder: ffmpeg stalled: no progress for 6 s (the ingest stopped taking the stream); ending it to reconnect');
    await h.clock.advance(1000);
    expect(h.spawnCalls).toHaveLength(2);
    // A restarted run that has not gone live yet is the live timeout's business, not the watchdog's.
    await h.clock.advance(7_000);
    expect(h.child().kills).toEqual([]);
    h.child().progress(1);
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'live', restarts: 1, error: null, lastExit: why });
  });

  it('restarts an ffmpeg that was killed, says so, and shows the new process', async () => {
    const h = track(harness());
    await h.startLive();
    const first = h.child();
    expect(h.session.pid).toBe(first.pid);
    first.exit(null, 'SIGKILL');
    await settle();
    expect(h.session.getStats()).toMatchObject({
      state: 'reconnecting',
      pid: null,
      restarts: 0,
      error: 'ffmpeg exited unexpectedly (killed by SIGKILL)',
      lastExit: 'ffmpeg exited unexpectedly (killed by SIGKILL)',
    });
    expect(h.logs).toContain('encoder: ffmpeg exited unexpectedly (killed by SIGKILL); restarting it in 1000 ms (attempt 1 of 20)');
    await h.clock.advance(1000);
    expect(h.spawnCalls).toHaveLength(2);
    h.child().progress(1);
    await settle();
    expect(h.session.getStats()).toMatchObject({
      state: 'live',
      restarts: 1,
      pid: h.child().pid,
      error: null,
      lastExit: 'ffmpeg exited unexpectedly (killed by SIGKILL)',
    });
    expect(h.session.pid).not.toBe(first.pid);
    expect(h.logs).toContain(
      'encoder: ffmpeg was restarted and the stream is live again (restart 1; before it: ffmpeg exited unexpectedly (killed by SIGKILL))',
    );
    expect(h.stats.map((s) => s.state).filter((s, i, all) => s !== all[i - 1])).toEqual(['starting', 'live', 'reconnecting', 'live']);
  });

  it('gives up after maxReconnectAttempts restarts in a row that do not stay live', async () => {
    const h = track(harness({ maxReconnectAttempts: 3 }));
    await h.startLive();
    h.child().fail('Segmentation fault', 139);
    await settle();
    await settle();
    for (const delay of [1000, 2000, 4000]) {
      await h.clock.advance(delay);
      h.child().progress(1); // live again, but only briefly
      await settle();
      h.child().fail('Segmentation fault', 139);
      await settle();
      await settle();
    }
    expect(h.spawnCalls).toHaveLength(4);
    expect(h.session.getStats()).toMatchObject({
      state: 'error',
      restarts: 3,
      error: 'ffmpeg exited unexpectedly (exit code 139): Segmentation fault; gave up after 3 restarts in a row that did not stay live for 10 s',
      lastExit: 'ffmpeg exited unexpectedly (exit code 139)',
    });
    await h.clock.advance(60_000);
    expect(h.spawnCalls).toHaveLength(4);
    await h.session.stop();
    expect(h.session.getStats().state).toBe('stopped');
  });

  it('starts counting the attempts again after a run that stayed live', async () => {
    const h = track(harness({ maxReconnectAttempts: 1, timing: { healthyAfterMs: 5000 } }));
    await h.startLive();
    for (let i = 0; i < 3; i++) {
      h.child().exit(null, 'SIGKILL');
      await settle();
      await h.clock.advance(1000); // always the first delay: the previous run stayed up for 5 s
      h.child().progress(1);
      await settle();
      expect(h.session.getStats()).toMatchObject({ state: 'live', restarts: i + 1 });
      await h.clock.advance(5000);
    }
  });

  it('caps the backoff at 10 s', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map(defaultReconnectDelayMs)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });
});

/**
 * An encoder choice as detectEncoderOnce makes it: the first of `candidates`
 * not marked failed, with the marked ones in its skipped list.
 */
function choiceWithFallback(candidates: readonly H264Encoder[]) {
  const failed = new Map<H264Encoder, string>();
  const marks: Array<[string, H264Encoder, string]> = [];
  return {
    failed,
    marks,
    selectEncoder: async (): Promise<EncoderSelection> => {
      const encoder = candidates.find((c) => !failed.has(c))!;
      const skipped = [...failed].map(([e, why]) => ({ encoder: e, reason: `failed while streaming: ${why}` }));
      return { encoder, chosenBy: 'trial', skipped, listingError: null };
    },
    markEncoderFailed: (path: string, encoder: H264Encoder, why: string) => {
      marks.push([path, encoder, why]);
      failed.set(encoder, why);
    },
  };
}

const NVENC_SESSION_LIMIT = [
  '[h264_nvenc @ 0x55d0] OpenEncodeSessionEx failed: out of memory (10): (no details)',
  'Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters such as bit_rate, rate, width or height',
].join('\n');

describe('EncoderSession when the hardware encoder fails to open', () => {
  it('at the start: leaves it out, chooses again (libx264) and starts with that, saying so in the result, the stats and the log', async () => {
    const choice = choiceWithFallback(['h264_nvenc', 'libx264']);
    const h = track(harness({ selectEncoder: choice.selectEncoder, markEncoderFailed: choice.markEncoderFailed }));
    const started = h.session.start(startOpts);
    await settle();
    expect(h.spawnCalls[0]?.args).toEqual(expect.arrayContaining(['-c:v', 'h264_nvenc']));
    h.child().fail(NVENC_SESSION_LIMIT);
    await settle();
    await settle();
    await settle();
    expect(choice.marks).toEqual([['/opt/ffmpeg', 'h264_nvenc', 'OpenEncodeSessionEx failed: out of memory (10): (no details)']]);
    expect(h.spawnCalls).toHaveLength(2);
    expect(h.spawnCalls[1]?.args).toEqual(expect.arrayContaining(['-c:v', 'libx264']));
    h.child().progress(1);
    const result = await started;
    const note = 'first candidate whose trial encode passed; skipped h264_nvenc: failed while streaming: OpenEncodeSessionEx failed: out of memory (10): (no details)';
    expect(result).toMatchObject({ encoder: 'libx264', encoderNote: note, encoderSkipped: [{ encoder: 'h264_nvenc' }] });
    expect(h.session.getStats()).toMatchObject({ state: 'live', encoder: 'libx264', encoderNote: note, restarts: 0 });
    expect(h.logs).toContain(
      'encoder: h264_nvenc failed to open (OpenEncodeSessionEx failed: out of memory (10): (no details)); it is left out from now on and the encoder is chosen again',
    );
    expect(h.logs).toContain(`encoder: chose libx264: ${note}`);
  });

  it('records only in runs whose encoder teeRecording accepts: the libx264 run that took over from a failed GPU tees the file', async () => {
    const choice = choiceWithFallback(['h264_nvenc', 'libx264']);
    const teeRecording = (encoder: string): boolean => encoder === 'libx264';
    const h = track(harness({ selectEncoder: choice.selectEncoder, markEncoderFailed: choice.markEncoderFailed, teeRecording }));
    const started = h.session.start({ ...startOpts, recordPath: '/rec/show.mkv' });
    await settle();
    expect(h.spawnCalls[0]?.args.join(' ')).not.toContain('/rec/show');
    expect(h.session.recordedParts()).toEqual([]);
    h.child().fail(NVENC_SESSION_LIMIT);
    await settle();
    await settle();
    await settle();
    expect(h.spawnCalls[1]?.args).toEqual(expect.arrayContaining(['-c:v', 'libx264']));
    expect(h.spawnCalls[1]?.args.at(-1)).toMatch(/\]\/rec\/show\.mkv$/);
    h.child().progress(1);
    await started;
    expect(h.session.recordedParts()).toEqual(['/rec/show.mkv']);
  });

  it('on a restart: the next attempt chooses again without it instead of spending every restart on it', async () => {
    const choice = choiceWithFallback(['h264_nvenc', 'libx264']);
    const h = track(harness({ selectEncoder: choice.selectEncoder, markEncoderFailed: choice.markEncoderFailed }));
    await h.startLive();
    expect(h.session.getStats().encoder).toBe('h264_nvenc');
    h.child().fail('av_interleaved_write_frame(): Broken pipe');
    await settle();
    await settle();
    expect(choice.marks).toEqual([]); // a live run that ended is not the encoder's failure
    await h.clock.advance(1000);
    expect(h.spawnCalls[1]?.args).toEqual(expect.arrayContaining(['-c:v', 'h264_nvenc']));
    h.child().fail(NVENC_SESSION_LIMIT);
    await settle();
    await settle();
    expect(choice.marks.map((m) => m[1])).toEqual(['h264_nvenc']);
    expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', error: expect.stringMatching(/OpenEncodeSessionEx failed/) });
    await h.clock.advance(2000);
    await settle();
    expect(h.spawnCalls).toHaveLength(3);
    expect(h.spawnCalls[2]?.args).toEqual(expect.arrayContaining(['-c:v', 'libx264']));
    h.child().progress(1);
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'live', encoder: 'libx264', encoderNote: expect.stringContaining('skipped h264_nvenc: failed while streaming') });
  });

  it('fails the start with why when the encoder chosen again is the same one (ROAST_ENCODER)', async () => {
    const marks: string[] = [];
    const h = track(harness({ selectEncoder: async () => 'h264_nvenc', markEncoderFailed: (_p, encoder) => marks.push(encoder) }));
    const failed = h.session.start(startOpts).catch((e: unknown) => e);
    await settle();
    h.child().fail(NVENC_SESSION_LIMIT);
    const error = await failed;
    expect(error).toBeInstanceOf(EncoderStartError);
    expect((error as Error).message).toMatch(/h264_nvenc failed to open, and it is the only encoder that may be used/);
    expect(marks).toEqual(['h264_nvenc']);
    expect(h.spawnCalls).toHaveLength(1);
  });

  it("a recording's own session on the stream's hardware encoder records its next parts with libx264 when that fails to open mid-show", async () => {
    const h = track(harness({}, (deps) => createRecordingSession(deps, 'h264_nvenc')));
    await h.startLive({ ...startOpts, recordPath: '/rec/show.mkv' });
    expect(h.spawnCalls[0]?.args).toEqual(expect.arrayContaining(['-c:v', 'h264_nvenc']));
    // Its ffmpeg dies; meanwhile another program took the GPU's encode sessions.
    h.child().fail('Killed');
    await settle();
    await h.clock.advance(1000);
    expect(h.spawnCalls[1]?.args).toEqual(expect.arrayContaining(['-c:v', 'h264_nvenc']));
    h.child().fail(NVENC_SESSION_LIMIT);
    await settle();
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', error: expect.stringMatching(/OpenEncodeSessionEx failed/) });
    await h.clock.advance(2000);
    await settle();
    expect(h.spawnCalls).toHaveLength(3);
    expect(h.spawnCalls[2]?.args).toEqual(expect.arrayContaining(['-c:v', 'libx264']));
    expect(h.spawnCalls[2]?.args.at(-1)).toBe('/rec/show-3.mkv');
    h.child().progress(1);
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'live', encoder: 'libx264', encoderNote: 'chosen again after h264_nvenc failed to open' });
    expect(h.session.recordedParts()).toEqual(['/rec/show.mkv', '/rec/show-2.mkv', '/rec/show-3.mkv']);
    expect(h.session.getStats().recordingFiles).toEqual(['/rec/show.mkv', '/rec/show-3.mkv']);
  });

  it("a recording's own session whose hardware encoder fails at the start fails, leaving libx264 to ProgramOutputs (the file is in the way)", async () => {
    const h = track(harness({}, (deps) => createRecordingSession(deps, 'h264_nvenc')));
    const failed = h.session.start({ ...startOpts, recordPath: '/rec/show.mkv' }).catch((e: unknown) => e);
    await settle();
    h.child().fail(NVENC_SESSION_LIMIT);
    expect(((await failed) as Error).message).toMatch(/h264_nvenc failed to open, and it is the only encoder that may be used/);
    expect(h.spawnCalls).toHaveLength(1);
  });

  it('does not blame the encoder for an ingest that refused the stream', async () => {
    const choice = choiceWithFallback(['h264_nvenc', 'libx264']);
    const h = track(harness({ selectEncoder: choice.selectEncoder, markEncoderFailed: choice.markEncoderFailed }));
    const failed = h.session.start(startOpts).catch((e: unknown) => e);
    await settle();
    h.child().fail('[tcp @ 0x1] Connection to tcp://127.0.0.1:1935 failed: Connection refused');
    expect(await failed).toBeInstanceOf(EncoderStartError);
    expect(choice.marks).toEqual([]);
    expect(h.spawnCalls).toHaveLength(1);
  });
});

describe('EncoderSession stop and dispose', () => {
  it('closes both inputs so ffmpeg finishes, waits for it, and ends stopped', async () => {
    const h = track(harness());
    await h.startLive();
    const ffmpeg = h.child();
    const first = h.session.stop();
    const second = h.session.stop();
    expect(second).toBe(first);
    await first;
    expect(ffmpeg.stdin.writableEnded).toBe(true);
    expect(ffmpeg.audio.writableEnded).toBe(true);
    expect(ffmpeg.kills).toEqual([]);
    expect(h.session.getStats().state).toBe('stopped');
    expect(h.stats.map((s) => s.state).slice(-2)).toEqual(['stopping', 'stopped']);
    expect(h.clock.pending).toBe(0); // no timer left behind
  });

  it('hands ffmpeg the frame still waiting for its stdin before closing it', async () => {
    const h = track(harness());
    await h.startLive();
    const ffmpeg = h.child();
    ffmpeg.stdin.blocked = true;
    h.session.pushVideo(frame(1), 100); // on its way: stdin pushes back
    h.session.pushVideo(frame(2), 200); // waits for stdin
    let done = false;
    const stopped = h.session.stop().then(() => (done = true));
    await settle();
    expect(ffmpeg.stdin.writableEnded).toBe(false);
    expect(done).toBe(false);
    ffmpeg.stdin.release();
    await stopped;
    expect(ffmpeg.frames.map((f) => f.data[0])).toEqual([16, 1, 2]);
    expect(ffmpeg.stdin.writableEnded).toBe(true);
    expect(h.session.getStats()).toMatchObject({ state: 'stopped', framesIn: 2, framesWritten: 2, framesDropped: 0 });
    expect(h.clock.pending).toBe(0);
  });

  it('kills ffmpeg when it does not finish in time', async () => {
    const h = track(harness({ timing: { stopTimeoutMs: 3000 } }));
    await h.startLive();
    h.child().exitOnEndOfInput = false;
    const stopped = h.session.stop();
    await h.clock.advance(3000);
    await stopped;
    expect(h.child().kills).toEqual(['SIGKILL']);
    expect(h.session.getStats().state).toBe('stopped');
  });

  it('ends at once an ffmpeg that is not live yet (still connecting to the ingest, or a restart under way), SIGKILL if SIGTERM is not enough', async () => {
    const h = track(harness());
    const starting = h.session.start({ ...startOpts, recordPath: '/rec/show.mkv' }).catch((e: unknown) => e);
    await settle();
    h.child().exitOnEndOfInput = false; // blocked in connect(): it reads no input
    let done = false;
    const stopped = h.session.stop().then(() => (done = true));
    await settle();
    await settle();
    expect(done).toBe(true);
    await stopped;
    expect(h.child().kills).toEqual(['SIGTERM']);
    expect(await starting).toMatchObject({ reason: 'stopped' });
    expect(h.session.getStats().state).toBe('stopped');
    expect(h.clock.pending).toBe(0);

    // A restart that has not gone live yet, whose ffmpeg ignores SIGTERM.
    await h.startLive();
    h.child().fail('Broken pipe');
    await settle();
    await settle();
    await h.clock.advance(1000);
    expect(h.spawnCalls).toHaveLength(3);
    const restarted = h.child();
    restarted.exitOnEndOfInput = false;
    restarted.kill = (signal: NodeJS.Signals = 'SIGTERM') => {
      restarted.kills.push(signal);
      if (signal === 'SIGKILL') setImmediate(() => restarted.exit(null, signal));
      return true;
    };
    done = false;
    const stoppedAgain = h.session.stop().then(() => (done = true));
    await h.clock.advance(999);
    expect(restarted.kills).toEqual(['SIGTERM']);
    expect(done).toBe(false);
    await h.clock.advance(1);
    await stoppedAgain;
    expect(restarted.kills).toEqual(['SIGTERM', 'SIGKILL']);
    expect(h.session.getStats().state).toBe('stopped');
  });

  it('lets a live ffmpeg that records finish its files, however long it takes up to the stop timeout', async () => {
    const h = track(harness());
    await h.startLive({ ...startOpts, recordPath: '/rec/show.mkv' });
    h.child().exitOnEndOfInput = false;
    let done = false;
    const stopped = h.session.stop().then(() => (done = true));
    await h.clock.advance(9999);
    expect(done).toBe(false);
    expect(h.child().kills).toEqual([]);
    h.child().exit(0, null);
    await stopped;
    expect(h.child().kills).toEqual([]);
  });

  it('cancels a pending reconnect', async () => {
    const h = track(harness());
    await h.startLive();
    h.child().fail('Broken pipe');
    await settle();
    await settle();
    await h.session.stop();
    await h.clock.advance(20_000);
    expect(h.spawnCalls).toHaveLength(1);
    expect(h.session.getStats().state).toBe('stopped');
  });

  it('rejects a start that is still waiting when stopped', async () => {
    const h = track(harness());
    const started = h.session.start(startOpts);
    const failed = started.catch((e: unknown) => e);
    await settle();
    await h.session.stop();
    expect(await failed).toMatchObject({ reason: 'stopped' });
  });

  it('can start again after a stop, and refuses after dispose; dispose is idempotent', async () => {
    const h = track(harness());
    await h.startLive();
    await h.session.stop();
    await h.startLive();
    expect(h.spawnCalls).toHaveLength(2);
    h.session.dispose();
    h.session.dispose();
    await settle();
    await settle();
    expect(h.session.getStats().state).toBe('stopped');
    await expect(h.session.start(startOpts)).rejects.toMatchObject({ reason: 'disposed' });
  });
});

describe('stream key redaction', () => {
  it('hides the key in URLs and in ffmpeg’s messages', () => {
    expect(redactUrl('rtmps://live.cloudflare.com:443/live/abcdef123')).toBe('rtmps://live.cloudflare.com:443/live/***');
    expect(redactKey('rtmps://h/live/abcdef123: I/O error', 'rtmps://h/live/abcdef123')).toBe('rtmps://h/live/***: I/O error');
  });
});

// ---- H.264 from the renderer ----

/** An avcC record as a Baseline encoder makes it (version 1, profile 66, level 31; one SPS and PPS). */
const AVCC = Uint8Array.from([1, 0x42, 0xe0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 1, 0, 2, 0x68, 0xce]);

function h264Unit(key: boolean, fill: number, bytes = 64): Uint8Array {
  return encodeH264Unit({ key, config: key ? AVCC : null, data: new Uint8Array(bytes).fill(fill) });
}

const h264Opts: EncoderStartInput = { ...startOpts, video: 'h264' };

/** Starts an H.264 session and opens its stream with a first keyframe (byte value 1). */
async function liveOnH264(h: ReturnType<typeof harness>): Promise<void> {
  const started = h.session.start(h264Opts);
  await settle();
  h.session.pushH264(h264Unit(true, 1), 0);
  h.child().progress(1);
  await started;
}

describe('EncoderSession with H.264 from the renderer', () => {
  it('chooses no ffmpeg encoder, copies the stream, and asks for a keyframe when ffmpeg starts', async () => {
    const h = track(harness({ selectEncoder: async () => Promise.reject(new Error('must not choose an encoder')) }));
    let keyframes = 0;
    h.session.onKeyframeNeeded(() => (keyframes += 1));
    const started = h.session.start(h264Opts);
    await settle();
    expect(keyframes).toBe(1);
    expect(h.spawnCalls[0]?.args).toEqual(expect.arrayContaining(['-c:v', 'copy']));
    expect(h.spawnCalls[0]?.args).not.toContain('libx264');
    expect(h.spawnCalls[0]?.args).not.toContain('-fps_mode');
    // Nothing reaches ffmpeg before a keyframe: a delta frame alone cannot be decoded.
    h.session.pushH264(h264Unit(false, 1), 5);
    expect(h.child().stdin.bytes).toBe(0);
    h.session.pushH264(h264Unit(true, 2), 10);
    const header = Buffer.concat(h.child().stdin.chunks).toString('latin1');
    expect(header).toContain('V_MPEG4/ISO/AVC');
    expect(header).toContain(Buffer.from(AVCC).toString('latin1'));
    h.child().progress(1);
    const result = await started;
    expect(result.encoder).toBe('webcodecs');
    expect(h.session.getStats()).toMatchObject({ state: 'live', encoder: 'webcodecs', encoderNote: expect.stringContaining('renderer encodes') });
    // The first picture opens the stream at 0, the next ones keep their own spacing (not pushed onto a grid).
    await h.clock.advance(250);
    h.session.pushH264(h264Unit(false, 3), 260);
    await h.clock.advance(2);
    h.session.pushH264(h264Unit(false, 4), 262);
    h.session.pushH264(h264Unit(false, 5), 262);
    const frames = h.child().frames;
    expect(frames.map((f) => f.key)).toEqual([true, false, false, false]);
    expect(frames[0]?.timestampMs).toBe(0);
    expect(frames[0]?.data[0]).toBe(2);
    expect(frames[2]!.timestampMs - frames[1]!.timestampMs).toBe(2);
    // Never two units at one time: the later one a millisecond after.
    expect(frames[3]!.timestampMs).toBe(frames[2]!.timestampMs + 1);
    expect(h.session.getStats().framesWritten).toBe(4);
  });

  it('waits for ffmpeg briefly; past that it skips to the next keyframe, counts what it skipped and asks for one', async () => {
    const h = track(harness());
    let keyframes = 0;
    h.session.onKeyframeNeeded(() => (keyframes += 1));
    await liveOnH264(h);
    const pipe = h.child().stdin;
    pipe.blocked = true;
    // One big unit fills the pipe; the next ones wait in order.
    h.session.pushH264(h264Unit(false, 2, 64 * 1024), 100);
    for (let i = 0; i < 5; i++) h.session.pushH264(h264Unit(false, 10 + i), 200 + i * 100);
    expect(keyframes).toBe(1);
    pipe.release();
    await settle();
    expect(h.child().frames.map((f) => f.data[0])).toEqual([1, 2, 10, 11, 12, 13, 14]);
    expect(h.session.getStats().framesDropped).toBe(0);

    // Stalled for good: the queue goes, the deltas after it are skipped until a keyframe comes.
    pipe.blocked = true;
    h.session.pushH264(h264Unit(false, 3, 64 * 1024), 800);
    for (let i = 0; i < 16; i++) h.session.pushH264(h264Unit(false, 20, 8), 900 + i * 10);
    expect(keyframes).toBe(2);
    expect(h.session.getStats().framesDropped).toBe(16);
    h.session.pushH264(h264Unit(false, 21, 8), 1100);
    expect(h.session.getStats().framesDropped).toBe(17);
    h.session.pushH264(h264Unit(true, 30, 8), 1200);
    pipe.release();
    await settle();
    expect(h.child().frames.map((f) => f.data[0]).slice(-2)).toEqual([3, 30]);
    expect(h.child().frames.at(-1)?.key).toBe(true);
  });

  it('opens each restarted ffmpeg with a new header on the next keyframe', async () => {
    const h = track(harness({ reconnectDelayMs: () => 100 }));
    let keyframes = 0;
    h.session.onKeyframeNeeded(() => (keyframes += 1));
    await liveOnH264(h);
    h.child().exit(1, null);
    await settle();
    expect(h.session.getStats().state).toBe('reconnecting');
    h.session.pushH264(h264Unit(false, 2), 50);
    expect(h.session.getStats().framesDroppedNetwork).toBe(1);
    await h.clock.advance(150);
    expect(h.children).toHaveLength(2);
    expect(keyframes).toBe(2);
    h.session.pushH264(h264Unit(false, 3), 160);
    expect(h.child().stdin.bytes).toBe(0);
    h.session.pushH264(h264Unit(true, 4), 200);
    h.child().progress(1);
    await settle();
    expect(Buffer.concat(h.child().stdin.chunks).toString('latin1')).toContain('V_MPEG4/ISO/AVC');
    expect(h.child().frames.map((f) => [f.timestampMs, f.key, f.data[0]])).toEqual([[0, true, 4]]);
    expect(h.session.getStats().state).toBe('live');
  });

  /** Half a second of the renderer's H.264 (a unit every 100 ms), ffmpeg reporting progress as it muxes. */
  async function flowingVideo(h: ReturnType<typeof harness>, frameCount: number, progress = true): Promise<void> {
    for (let i = 0; i < 5; i++) {
      await h.clock.advance(100);
      h.session.pushH264(h264Unit(false, 7), h.clock.t);
      if (progress) h.child().progress(frameCount + i);
    }
  }

  it('says it is the renderer’s encoder that stopped sending video, not the ingest, finishes ffmpeg and starts again when video comes, without spending restarts', async () => {
    const h = track(harness({ maxReconnectAttempts: 1 }));
    let keyframes = 0;
    h.session.onKeyframeNeeded(() => (keyframes += 1));
    await liveOnH264(h);
    for (let outage = 1; outage <= 2; outage++) {
      const c = h.child();
      await flowingVideo(h, 2);
      // The renderer's encoder gives up: no more units, and ffmpeg's output stands still (the muxer holds audio back for video).
      await h.clock.advance(5_980);
      expect(h.session.getStats().state).toBe('live');
      await h.clock.advance(20);
      await settle();
      expect(c.kills).toEqual([]); // its inputs were closed: it finished the stream and the files
      expect(c.exited).toBe(true);
      const stats = h.session.getStats();
      expect(stats).toMatchObject({ state: 'reconnecting', error: "no video from the renderer's encoder for 6 s; the stream goes on when it sends video again" });
      expect(stats.lastExit).toBe("ffmpeg was finished: no video from the renderer's encoder for 6 s");
      expect(h.logs.join('\n')).not.toMatch(/ingest stopped taking the stream/);
      // No restart is spent while there is no video to send: it waits.
      const spawned = h.spawnCalls.length;
      await h.clock.advance(60_000);
      expect(h.spawnCalls).toHaveLength(spawned);
      expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', error: expect.stringMatching(/for 66 s/) });
      // Video again: a new run, opened by a keyframe.
      const asked = keyframes;
      h.session.pushH264(h264Unit(false, 8), h.clock.t);
      expect(h.spawnCalls).toHaveLength(spawned + 1);
      expect(keyframes).toBe(asked + 1);
      h.session.pushH264(h264Unit(true, 9), h.clock.t + 33);
      h.child().progress(1);
      await settle();
      expect(h.child().frames.map((f) => [f.timestampMs, f.key, f.data[0]])).toEqual([[0, true, 9]]);
      expect(h.session.getStats()).toMatchObject({ state: 'live', error: null, restarts: outage });
    }
    // Stopped while it waits for video: nothing left to end.
    await h.clock.advance(6_000);
    await settle();
    expect(h.session.getStats().state).toBe('reconnecting');
    await h.session.stop();
    expect(h.session.getStats()).toMatchObject({ state: 'stopped', error: expect.stringMatching(/^no video from the renderer's encoder for 6 s/) });
    h.session.pushH264(h264Unit(true, 9), h.clock.t);
    expect(h.spawnCalls).toHaveLength(3);
  });

  it('still ends an ffmpeg whose ingest stopped taking the stream while the renderer’s video comes', async () => {
    const h = track(harness());
    await liveOnH264(h);
    const c = h.child();
    await flowingVideo(h, 2);
    for (let i = 0; i < 12; i++) await flowingVideo(h, 0, false); // 6 s of video, no progress
    expect(c.kills).toEqual(['SIGKILL']);
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', error: 'ffmpeg stalled: no progress for 6 s (the ingest stopped taking the stream)' });
  });

  it('refuses malformed units and the wrong kind of video with clear errors, and goes on', async () => {
    const h = track(harness());
    await liveOnH264(h);
    expect(() => h.session.pushH264(new Uint8Array(2), 10)).toThrow(EncoderInputError);
    expect(() => h.session.pushH264(encodeH264Unit({ key: true, config: null, data: new Uint8Array(4) }), 10)).toThrow(/without its decoder configuration/);
    expect(() => h.session.pushH264(h264Unit(false, 1), Number.NaN)).toThrow(/finite/);
    expect(() => h.session.pushVideo(frame(1), 10)).toThrow(/takes H\.264 from the renderer/);
    h.session.pushH264(h264Unit(false, 5), 100);
    expect(h.child().frames.at(-1)?.data[0]).toBe(5);

    const raw = track(harness());
    await raw.startLive();
    expect(() => raw.session.pushH264(h264Unit(true, 1), 10)).toThrow(/takes raw I420 frames/);
  });
});

describe('EncoderSession with H.264 from the renderer: nothing lost uncounted', () => {
  /** Blocks ffmpeg's stdin with one big unit (byte value 2) and queues `count` small ones behind it (10, 11…). */
  function queueBehindBlockedStdin(h: ReturnType<typeof harness>, count: number): FakePipe {
    const pipe = h.child().stdin;
    pipe.blocked = true;
    h.session.pushH264(h264Unit(false, 2, 64 * 1024), 100);
    for (let i = 0; i < count; i++) h.session.pushH264(h264Unit(false, 10 + i), 133 + i * 33);
    return pipe;
  }

  it('a clean stop hands ffmpeg the units still queued before closing its stdin', async () => {
    const h = track(harness());
    await liveOnH264(h);
    const ffmpeg = h.child();
    const pipe = queueBehindBlockedStdin(h, 10);
    let done = false;
    const stopped = h.session.stop().then(() => (done = true));
    await settle();
    expect(pipe.writableEnded).toBe(false);
    expect(done).toBe(false);
    pipe.release();
    await stopped;
    expect(ffmpeg.frames.map((f) => f.data[0])).toEqual([1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(pipe.writableEnded).toBe(true);
    expect(ffmpeg.kills).toEqual([]);
    expect(h.session.getStats()).toMatchObject({ state: 'stopped', framesIn: 12, framesWritten: 12, framesDropped: 0, framesDroppedNetwork: 0 });
    expect(h.clock.pending).toBe(0);
  });

  it('a clean stop waits at most flushTimeoutMs for stdin: what ffmpeg did not take is dropped and counted', async () => {
    const h = track(harness({ timing: { flushTimeoutMs: 500, stopTimeoutMs: 3000 } }));
    await liveOnH264(h);
    const ffmpeg = h.child();
    const pipe = queueBehindBlockedStdin(h, 5);
    const stopped = h.session.stop();
    await h.clock.advance(499);
    expect(pipe.writableEnded).toBe(false);
    await h.clock.advance(1);
    expect(pipe.writableEnded).toBe(true);
    expect(h.session.getStats()).toMatchObject({ framesWritten: 2, framesDropped: 5 });
    expect(h.logs).toContain('encoder: ffmpeg did not take the last 5 video frames within 500 ms; dropped');
    // An ffmpeg that reads nothing is still killed after the stop timeout.
    await h.clock.advance(3000);
    await stopped;
    expect(ffmpeg.kills).toEqual(['SIGKILL']);
    expect(h.session.getStats()).toMatchObject({ state: 'stopped', framesDropped: 5 });
  });

  it('counts the units queued when ffmpeg dies, and the delta frames before a run’s first keyframe, as dropped by the network', async () => {
    const h = track(harness({ reconnectDelayMs: () => 100 }));
    await liveOnH264(h);
    queueBehindBlockedStdin(h, 4);
    h.child().exit(1, null);
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', framesDropped: 0, framesDroppedNetwork: 4 });
    await h.clock.advance(150);
    expect(h.children).toHaveLength(2);
    // The restarted run waits for a keyframe: the deltas before it cannot be decoded and are discarded, counted.
    h.session.pushH264(h264Unit(false, 3), 160);
    h.session.pushH264(h264Unit(false, 4), 190);
    expect(h.child().stdin.bytes).toBe(0);
    expect(h.session.getStats().framesDroppedNetwork).toBe(6);
    h.session.pushH264(h264Unit(true, 5), 220);
    h.child().progress(1);
    await settle();
    const stats = h.session.getStats();
    expect(stats).toMatchObject({ state: 'live', framesIn: 9, framesWritten: 3, framesDropped: 0, framesDroppedNetwork: 6 });
    expect(stats.framesWritten + stats.framesDropped + stats.framesDroppedNetwork).toBe(stats.framesIn);
  });

  it('starts a new run when a keyframe brings another decoder configuration (avcC); the same one changes nothing', async () => {
    const AVCC2 = Uint8Array.from([1, 0x42, 0xc0, 0x28, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x28, 1, 0, 2, 0x68, 0xee]);
    const keyframeWith = (config: Uint8Array, fill: number): Uint8Array => encodeH264Unit({ key: true, config, data: new Uint8Array(64).fill(fill) });
    const latin1 = (bytes: Uint8Array | Buffer[]): string => (Array.isArray(bytes) ? Buffer.concat(bytes) : Buffer.from(bytes)).toString('latin1');
    const h = track(harness({ reconnectDelayMs: () => 5000 }));
    let keyframes = 0;
    h.session.onKeyframeNeeded(() => (keyframes += 1));
    const started = h.session.start({ ...h264Opts, recordPath: '/rec/show.mkv' });
    await settle();
    h.session.pushH264(h264Unit(true, 1), 0);
    h.child().progress(1);
    await started;
    const first = h.child();

    // A keyframe with the run's own avcC is just a keyframe.
    h.session.pushH264(keyframeWith(AVCC, 2), 100);
    expect(h.spawnCalls).toHaveLength(1);
    expect(first.frames.map((f) => [f.key, f.data[0]])).toEqual([
      [true, 1],
      [true, 2],
    ]);

    // Another avcC: ffmpeg would go on with the old one, so this run is finished (its files closed) and a new one starts.
    h.session.pushH264(keyframeWith(AVCC2, 3), 200);
    const why = "the renderer's H.264 encoder changed its decoder configuration (avcC)";
    expect(h.logs).toContain(`encoder: ${why}; finishing ffmpeg and starting a new one with it`);
    expect(first.stdin.writableEnded).toBe(true);
    expect(first.audio.writableEnded).toBe(true);
    expect(first.frames.map((f) => f.data[0])).toEqual([1, 2]);
    expect(latin1(first.stdin.chunks)).not.toContain(latin1(AVCC2));
    await settle();
    await settle();
    expect(first.exited).toBe(true);
    expect(first.kills).toEqual([]);
    // At once, not after the reconnect backoff, and on the next part of the recording.
    expect(h.spawnCalls).toHaveLength(2);
    expect(h.spawnCalls[1]?.args.at(-1)).toMatch(/show-2\.mkv$/);
    expect(keyframes).toBe(2);
    h.session.pushH264(keyframeWith(AVCC2, 4), 300);
    const second = h.child();
    expect(latin1(second.stdin.chunks)).toContain(latin1(AVCC2));
    expect(second.frames.map((f) => [f.timestampMs, f.key, f.data[0]])).toEqual([[0, true, 4]]);
    second.progress(1);
    await settle();
    expect(h.session.getStats()).toMatchObject({ state: 'live', restarts: 1, lastExit: `ffmpeg was finished: ${why}`, framesDroppedNetwork: 1 });
    expect(h.stats.map((s) => s.state).filter((s, i, all) => s !== all[i - 1])).toEqual(['starting', 'live', 'reconnecting', 'live']);
  });
});

describe('EncoderSession writing only the recording (output "recording")', () => {
  it('needs a file, writes it alone in numbered parts, and speaks of the recording, not the ingest', async () => {
    const h = track(harness({ output: 'recording', selectEncoder: async () => Promise.reject(new Error('must not choose an encoder')) }));
    await expect(h.session.start(h264Opts)).rejects.toThrow(/a recording session needs recordPath/);
    const started = h.session.start({ ...h264Opts, recordPath: '/rec/show.mp4' });
    await settle();
    const args = h.spawnCalls[0]!.args;
    expect(args.slice(-3)).toEqual(['-f', 'mp4', '/rec/show.mp4']);
    expect(args.join(' ')).not.toMatch(/secretkey|tee|rw_timeout/);
    h.session.pushH264(h264Unit(true, 1), 0);
    h.child().progress(1);
    await started;
    // Its ffmpeg stops making progress (a disk that hangs): ended and started again on the next part.
    for (let t = 0; t < 7000; t += 500) {
      await h.clock.advance(500);
      h.session.pushH264(h264Unit(false, 2), t + 500);
    }
    expect(h.session.getStats()).toMatchObject({ state: 'reconnecting', error: expect.stringMatching(/\(the recording stopped being written\)$/) });
    await settle();
    await h.clock.advance(1000);
    expect(h.spawnCalls[1]!.args.at(-1)).toBe('/rec/show-2.mp4');
    expect(h.session.recordedParts()).toEqual(['/rec/show.mp4', '/rec/show-2.mp4']);
    h.session.pushH264(h264Unit(true, 3), 8000);
    h.child().progress(1);
    await settle();
    expect(h.logs).toContainEqual(expect.stringMatching(/^encoder: ffmpeg was restarted and the recording is being written again/));
    // A recording not wanted (its stream did not go live) is ended at once, not finished.
    const stopped = h.session.stop({ now: true });
    await settle();
    expect(h.child().kills).toEqual(['SIGTERM']);
    h.child().exit(null, 'SIGTERM');
    await stopped;
  });
});
