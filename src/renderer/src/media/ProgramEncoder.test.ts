import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeH264Unit } from '../../../shared/bridge';
import { ENCODER_RESTARTS, ProgramEncoder, RestartBudget, STALL_MS } from './ProgramEncoder';

/** A VideoFrame stand-in: remembers its time and whether it was closed. */
class FakeFrame {
  readonly timestamp: number;
  closed = false;
  constructor(_data: unknown, init: { timestamp: number }) {
    this.timestamp = init.timestamp;
  }
  clone(): FakeFrame {
    return new FakeFrame(null, { timestamp: this.timestamp });
  }
  close(): void {
    this.closed = true;
  }
}

/** A VideoEncoder stand-in the test drives: it records what it is given and emits chunks or errors on demand. */
class FakeEncoder {
  static made: FakeEncoder[] = [];
  state: 'unconfigured' | 'configured' | 'closed' = 'unconfigured';
  encodeQueueSize = 0;
  readonly encoded: Array<{ timestampUs: number; keyFrame: boolean }> = [];
  constructor(readonly init: { output: (chunk: unknown, meta?: unknown) => void; error: (e: Error) => void }) {
    FakeEncoder.made.push(this);
  }
  configure(): void {
    this.state = 'configured';
  }
  encode(frame: FakeFrame, options: { keyFrame: boolean }): void {
    this.encoded.push({ timestampUs: frame.timestamp, keyFrame: options.keyFrame });
  }
  close(): void {
    this.state = 'closed';
  }
  /** Emits the chunk for the n-th picture encoded, with an avcC when it is a keyframe and `withConfig`. */
  emit(n: number, withConfig = true): void {
    const { timestampUs, keyFrame } = this.encoded[n]!;
    const bytes = new Uint8Array([0, 0, 0, 1, keyFrame ? 0x65 : 0x41]);
    const chunk = { type: keyFrame ? 'key' : 'delta', timestamp: timestampUs, byteLength: bytes.byteLength, copyTo: (d: Uint8Array) => d.set(bytes) };
    this.init.output(chunk, keyFrame && withConfig ? { decoderConfig: { description: new Uint8Array([1, 0x42, 0xe0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 1, 0, 2, 0x68, 0xce]) } } : undefined);
  }
  /** The encoder dies, as WebCodecs reports it: closed first, then the error callback. */
  die(message = 'GPU process went away'): void {
    this.state = 'closed';
    this.init.error(new Error(message));
  }
}

const picture = () => new Uint8Array(64 * 32 * 1.5);

function makeEncoder(clock: { ms: number }) {
  const units: Array<{ timestampMs: number; key: boolean; config: boolean }> = [];
  const restarts: Array<{ message: string; restarts: number }> = [];
  const errors: Error[] = [];
  const encoder = new ProgramEncoder({
    width: 64,
    height: 32,
    fps: 30,
    bitrateKbps: 1000,
    output: (unit, timestampMs) => {
      const parsed = decodeH264Unit(new Uint8Array(unit));
      units.push({ timestampMs, key: parsed.key, config: parsed.config !== null });
    },
    onError: (e) => errors.push(e),
    onRestart: (e, n) => restarts.push({ message: e.message, restarts: n }),
    now: () => clock.ms,
  });
  return { encoder, units, restarts, errors, current: () => FakeEncoder.made.at(-1)! };
}

beforeEach(() => {
  FakeEncoder.made = [];
  vi.stubGlobal('VideoEncoder', FakeEncoder);
  vi.stubGlobal('VideoFrame', FakeFrame);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('ProgramEncoder timestamps', () => {
  it('never encodes a capture time at or before the last one encoded (a readback collected after a newer repeat)', () => {
    const { encoder, current } = makeEncoder({ ms: 0 });
    expect(encoder.push(picture(), 1000)).toBe(true);
    encoder.repeat(1066);
    // The GPU readback of the picture composed at 1033 comes back only now.
    expect(encoder.push(picture(), 1033)).toBe(false);
    expect(encoder.push(picture(), 1066)).toBe(false);
    expect(encoder.outOfOrder).toBe(2);
    expect(encoder.push(picture(), 1100)).toBe(true);
    const times = current().encoded.map((e) => e.timestampUs / 1000);
    expect(times).toEqual([1000, 1066, 1100]);
  });

  it('says it is saturated exactly when a picture pushed now would be skipped', () => {
    const { encoder, current } = makeEncoder({ ms: 0 });
    expect(encoder.saturated).toBe(false);
    current().encodeQueueSize = 3;
    expect(encoder.saturated).toBe(true);
    expect(encoder.push(picture(), 10)).toBe(false);
    current().encodeQueueSize = 2;
    expect(encoder.saturated).toBe(false);
    expect(encoder.push(picture(), 20)).toBe(true);
    encoder.close();
    expect(encoder.saturated).toBe(false);
  });

  it('rebuilds an encoder that holds pictures and gives nothing for STALL_MS (hung, with no error), within the restart budget', () => {
    const clock = { ms: 0 };
    const { encoder, current, restarts } = makeEncoder(clock);
    const hung = current();
    expect(encoder.push(picture(), 10)).toBe(true);
    hung.encodeQueueSize = 3;
    clock.ms = STALL_MS;
    expect(encoder.saturated).toBe(true);
    expect(restarts).toEqual([]);
    clock.ms = STALL_MS + 1;
    // Asked again past the limit: a new encoder takes over, and opens on a keyframe.
    expect(encoder.saturated).toBe(false);
    expect(current()).not.toBe(hung);
    expect(hung.state).toBe('closed');
    expect(restarts).toEqual([{ message: `the program's H.264 encoder failed: it gave nothing for ${STALL_MS / 1000} s with 3 pictures waiting (hung)`, restarts: 1 }]);
    expect(encoder.push(picture(), 20)).toBe(true);
    expect(current().encoded[0]!.keyFrame).toBe(true);
  });

  it('counts a repeat only when it was encoded', () => {
    const { encoder, current } = makeEncoder({ ms: 0 });
    encoder.push(picture(), 1000);
    current().encodeQueueSize = 3;
    encoder.repeat(1066);
    expect(encoder.repeated).toBe(0);
    current().encodeQueueSize = 0;
    encoder.repeat(1100);
    expect(encoder.repeated).toBe(1);
  });

  it('repeats the newest picture pushed, even one that came too late to be encoded itself', () => {
    const { encoder, current } = makeEncoder({ ms: 0 });
    const first = picture();
    const late = picture();
    encoder.push(first, 1000);
    encoder.repeat(1066);
    encoder.push(late, 1033);
    const frames: unknown[] = [];
    vi.stubGlobal(
      'VideoFrame',
      class extends FakeFrame {
        constructor(data: unknown, init: { timestamp: number }) {
          super(data, init);
          frames.push(data);
        }
      },
    );
    encoder.repeat(1100);
    expect(frames).toEqual([late]);
    expect(current().encoded.map((e) => e.timestampUs / 1000)).toEqual([1000, 1066, 1100]);
  });
});

describe('ProgramEncoder restarts', () => {
  it('rebuilds a failed encoder: the next picture is a keyframe carrying the new encoder’s avcC', () => {
    const clock = { ms: 0 };
    const { encoder, units, restarts, errors, current } = makeEncoder(clock);
    encoder.push(picture(), 1000);
    current().emit(0);
    encoder.push(picture(), 1033);
    current().emit(1);
    const first = current();
    first.die();
    expect(FakeEncoder.made).toHaveLength(2);
    expect(restarts).toEqual([{ message: "the program's H.264 encoder failed: GPU process went away", restarts: 1 }]);
    expect(errors).toEqual([]);
    // Output the dead encoder still delivers is not sent on.
    first.init.output({ type: 'delta', timestamp: 1066_000, byteLength: 1, copyTo: () => {} });
    encoder.repeat(1066);
    expect(current().encoded).toEqual([{ timestampUs: 1066_000, keyFrame: true }]);
    current().emit(0);
    expect(units).toEqual([
      { timestampMs: 1000, key: true, config: true },
      { timestampMs: 1033, key: false, config: false },
      { timestampMs: 1066, key: true, config: true },
    ]);
  });

  it(`gives up after ${ENCODER_RESTARTS.max} rebuilds within a minute, and says so once`, () => {
    const clock = { ms: 0 };
    const { encoder, restarts, errors, current } = makeEncoder(clock);
    for (let i = 0; i < ENCODER_RESTARTS.max; i++) {
      clock.ms += 10_000;
      current().die();
    }
    expect(restarts.map((r) => r.restarts)).toEqual([1, 2, 3]);
    clock.ms += 10_000;
    current().die('codec crashed');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/codec crashed.*failed 4 times within 60 s/);
    expect(FakeEncoder.made).toHaveLength(ENCODER_RESTARTS.max + 1);
    expect(encoder.push(picture(), 5000)).toBe(false);
  });

  it('restarts again once the earlier failures are more than a minute old', () => {
    const clock = { ms: 0 };
    const { restarts, errors, current } = makeEncoder(clock);
    for (let i = 0; i < ENCODER_RESTARTS.max; i++) current().die();
    clock.ms += ENCODER_RESTARTS.windowMs;
    current().die();
    expect(errors).toEqual([]);
    expect(restarts.map((r) => r.restarts)).toEqual([1, 2, 3, 1]);
  });

  it('rebuilds an encoder whose keyframe comes without its avcC', () => {
    const { encoder, units, restarts, current } = makeEncoder({ ms: 0 });
    encoder.push(picture(), 1000);
    current().emit(0, false);
    expect(units).toEqual([]);
    expect(restarts).toHaveLength(1);
    expect(FakeEncoder.made[0]!.state).toBe('closed');
    encoder.repeat(1033);
    expect(current().encoded).toEqual([{ timestampUs: 1033_000, keyFrame: true }]);
  });

  it('a closed encoder ignores a late failure', () => {
    const { encoder, restarts, errors, current } = makeEncoder({ ms: 0 });
    const dying = current();
    encoder.close();
    dying.init.error(new Error('late'));
    expect(restarts).toEqual([]);
    expect(errors).toEqual([]);
    expect(FakeEncoder.made).toHaveLength(1);
  });
});

describe('RestartBudget', () => {
  it('allows max restarts in any window', () => {
    const budget = new RestartBudget(2, 1000);
    expect([budget.take(0), budget.take(10), budget.take(20)]).toEqual([true, true, false]);
    expect(budget.take(1000)).toBe(true);
    expect(budget.used).toBe(2);
  });
});
