import { EventEmitter } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { EncoderStartInput, EncoderStats } from '../../shared/bridge';
import { ValidationError } from '../../shared/errors';
import { EncoderSession, defaultReconnectDelayMs, redactKey, redactUrl, type EncoderSessionDeps, type SpawnEncoder } from './EncoderSession';
import { EncoderInputError, EncoderStartError, EncoderStateError, FfmpegNotFoundError } from './errors';

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

class FakeFfmpeg extends EventEmitter {
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

function isBlack(chunk: Buffer): boolean {
  return chunk.byteLength === FRAME_BYTES && chunk[0] === 16 && chunk[W * H] === 128;
}

function harness(overrides: Partial<EncoderSessionDeps> = {}) {
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
  const session = new EncoderSession({
    spawn,
    now: clock.now,
    setInterval: clock.setInterval,
    clearInterval: clock.clear,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clear,
    resolveFfmpeg: () => ({ path: '/opt/ffmpeg', source: 'FFMPEG_PATH' }),
    selectEncoder: async () => 'libx264',
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
  async function startLive(input: EncoderStartInput = startOpts) {
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
    expect(result).toEqual({ encoder: 'libx264', ffmpegPath: '/opt/ffmpeg', ffmpegSource: 'FFMPEG_PATH' });
    expect(h.spawnCalls).toHaveLength(1);
    expect(h.spawnCalls[0]?.command).toBe('/opt/ffmpeg');
    expect(h.spawnCalls[0]?.args).toEqual(expect.arrayContaining(['pipe:0', 'pipe:3', '-c:v', 'libx264', startOpts.url]));
    expect(h.session.getStats()).toMatchObject({ state: 'live', encoder: 'libx264', fps: 30, bitrateKbps: 2999.5, speed: 1 });
    expect(h.stats.map((s) => s.state)).toEqual(['starting', 'live']);
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
    expect((error as Error).message).toMatch(/no progress from ffmpeg within 5000 ms/);
    expect(h.child().kills).toEqual(['SIGKILL']);
  });
});

describe('EncoderSession pacing', () => {
  it('writes black frames before the first frame, then the latest frame, repeating it when none comes', async () => {
    const h = track(harness());
    await h.startLive();
    const video = h.child().stdin;
    expect(video.chunks).toHaveLength(1); // slot 0 at once
    await h.clock.advance(250); // slots at 100 and 200 ms
    expect(video.chunks).toHaveLength(3);
    expect(video.chunks.every(isBlack)).toBe(true);

    h.session.pushVideo(frame(1), 250);
    h.session.pushVideo(frame(2), 260); // only the latest is kept
    await h.clock.advance(300); // slots at 300, 400, 500
    expect(video.chunks.slice(3).map((c) => c[0])).toEqual([2, 2, 2]);
    h.session.pushVideo(frame(3), 560);
    await h.clock.advance(100); // slot 600
    expect(video.chunks[6]?.[0]).toBe(3);
    expect(h.session.getStats()).toMatchObject({ framesIn: 3, framesRepeated: 2, framesDropped: 0 });
  });

  it('writes exactly fps frames per second on a steady clock', async () => {
    const h = track(harness());
    await h.startLive();
    for (let i = 0; i < 50; i++) {
      h.session.pushVideo(frame(i % 200), h.clock.t);
      await h.clock.advance(97 + (i % 3) * 3); // frames arrive a little irregularly
    }
    const elapsed = h.clock.t;
    expect(h.child().stdin.chunks).toHaveLength(Math.floor(elapsed / 100) + 1);
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
    h.session.pushVideo(frame(7), 0);
    await h.clock.advance(100);
    expect(h.child().stdin.chunks.at(-1)?.[0]).toBe(7);
    expect(h.session.getStats()).toMatchObject({ state: 'live', framesIn: 1 });
  });

  it('never queues behind back-pressure: it waits, catches up after the drain, and drops what is too late', async () => {
    const h = track(harness({ timing: { maxLagMs: 300 } }));
    await h.startLive();
    h.session.pushVideo(frame(5), 0);
    const video = h.child().stdin;
    await h.clock.advance(100);
    const before = video.chunks.length; // slots 0 and 100
    expect(before).toBe(2);

    video.blocked = true;
    await h.clock.advance(100); // slot 200 is written and stays in the pipe: stdin is back-pressured
    expect(video.chunks.length).toBe(3);
    await h.clock.advance(1000); // slots 300…1200 fall due; at most 3 may wait, the rest are dropped
    expect(video.chunks.length).toBe(3);
    expect(h.session.getStats().framesDropped).toBe(7);

    video.release();
    await settle();
    await settle();
    // The 3 waiting slots are caught up right after the drain.
    expect(video.chunks.length).toBe(6);
    await h.clock.advance(100);
    expect(video.chunks.length).toBe(7);
    // Every slot since t0 was either written or dropped.
    expect(video.chunks.length + h.session.getStats().framesDropped).toBe(Math.floor(h.clock.t / 100) + 1);
  });

  it('with no lag allowed, drops every slot that passes while stdin is back-pressured', async () => {
    const h = track(harness({ timing: { maxLagMs: 0 } }));
    await h.startLive();
    const video = h.child().stdin;
    video.blocked = true;
    await h.clock.advance(1000);
    // Slot 0 went through; slot 100 sits in the stalled pipe; 200…1000 are dropped.
    expect(video.chunks.length).toBe(2);
    expect(h.session.getStats().framesDropped).toBe(9);
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
    const h = track(harness({ timing: { maxLagMs: 10_000 } }));
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

  it('drops as much audio as video was dropped, so the two stay in sync', async () => {
    const h = track(harness({ timing: { maxLagMs: 0 } }));
    await h.startLive();
    const pushChunk = (i: number) => h.session.pushAudio(new Uint8Array(new Float32Array(480 * 2).fill(0.5).buffer), i * 10);
    for (let i = 0; i < 50; i++) {
      await h.clock.advance(10);
      pushChunk(i);
    }
    const ffmpeg = h.child();
    ffmpeg.stdin.blocked = true; // ffmpeg stalls on video for 1 s
    for (let i = 50; i < 150; i++) {
      await h.clock.advance(10);
      pushChunk(i);
    }
    ffmpeg.stdin.release();
    for (let i = 150; i < 200; i++) {
      await h.clock.advance(10);
      pushChunk(i);
    }
    const droppedMs = h.session.getStats().framesDropped * 100;
    expect(droppedMs).toBeGreaterThanOrEqual(800);
    const audioMs = (ffmpeg.audio.bytes / 8 / 48_000) * 1000;
    const videoMs = ffmpeg.stdin.chunks.length * 100;
    // Both ran 2 s of wall time minus what was dropped, within a frame and the audio tolerance.
    expect(Math.abs(audioMs - (2000 - droppedMs))).toBeLessThanOrEqual(30);
    expect(Math.abs(videoMs - (2000 - droppedMs))).toBeLessThanOrEqual(100);
  });

  it('throws on a chunk that is not whole stereo frames and goes on', async () => {
    const h = track(harness());
    await h.startLive();
    expect(() => h.session.pushAudio(new Uint8Array(12), 0)).toThrow(EncoderInputError);
    expect(() => h.session.pushAudio(new Uint8Array(12), 0)).toThrow(/multiples of 8 bytes/);
    h.session.pushAudio(new Uint8Array(16), 0);
    expect(h.child().audio.bytes).toBe(16);
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
    expect(h.child().stdin.chunks[0]?.[0]).toBe(9);
  });

  it('caps the backoff at 10 s', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map(defaultReconnectDelayMs)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
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
