import { afterEach, describe, expect, it, vi } from 'vitest';
import { FrameQueues, readFrames, SourceReads, type FrameReadOutcome } from './readFrames';

class Frame {
  closed = false;
  constructor(readonly label: string) {}
  close(): void {
    this.closed = true;
  }
}

describe('readFrames', () => {
  it('a copy that fails costs only its own source: the others are read and used, every frame is closed', async () => {
    const frames: Array<[string, Frame]> = [
      ['host', new Frame('host')],
      ['guest', new Frame('guest')],
      ['screen', new Frame('screen')],
    ];
    const used: string[] = [];
    const outcomes = await readFrames(
      frames,
      async (id, frame) => {
        if (id === 'guest') throw new Error('copyTo: the frame is detached');
        return `${frame.label} picture`;
      },
      (id, picture) => used.push(`${id}: ${picture}`),
      1000,
    );
    expect(used.sort()).toEqual(['host: host picture', 'screen: screen picture']);
    expect(outcomes.get('host')).toEqual({ outcome: 'read' });
    expect(outcomes.get('guest')).toMatchObject({ outcome: 'failed', error: new Error('copyTo: the frame is detached') });
    expect(frames.every(([, f]) => f.closed)).toBe(true);
  });

  it('gives up a copy that never settles, and a use that throws counts for its source only', async () => {
    const frames: Array<[string, Frame]> = [
      ['stuck', new Frame('stuck')],
      ['bad', new Frame('bad')],
      ['ok', new Frame('ok')],
    ];
    const used: string[] = [];
    const outcomes = await readFrames(
      frames,
      (id) => (id === 'stuck' ? new Promise<string>(() => {}) : Promise.resolve(id)),
      (id) => {
        if (id === 'bad') throw new RangeError('picture larger than its source');
        used.push(id);
      },
      20,
    );
    expect(used).toEqual(['ok']);
    expect(outcomes.get('stuck')).toEqual({ outcome: 'timeout' });
    expect(outcomes.get('bad')?.outcome).toBe('failed');
    expect(frames.every(([, f]) => f.closed)).toBe(true);
  });
});

describe('SourceReads', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a slow copy delays only its own source's picture, not the tick: the tick goes on after its wait, the picture lands later", async () => {
    vi.useFakeTimers();
    const used: string[] = [];
    const outcomes: Array<[string, FrameReadOutcome]> = [];
    const reads = new SourceReads<Frame, string>(
      (id, frame) => new Promise((resolve) => setTimeout(() => resolve(`${frame.label} picture`), id === 'slow' ? 400 : 5)),
      (id, picture) => used.push(`${id}: ${picture}`),
      1000,
      (id, outcome) => outcomes.push([id, outcome]),
    );
    const slow = new Frame('slow');
    let tickDone = false;
    const tick = reads.start([['host', new Frame('host')], ['slow', slow]], 33).then(() => (tickDone = true));
    await vi.advanceTimersByTimeAsync(33);
    expect(tickDone).toBe(true);
    await tick;
    expect(used).toEqual(['host: host picture']);
    // The slow source is still being read: its next frame waits; the other source reads on.
    expect(reads.busy('slow')).toBe(true);
    expect(reads.busy('host')).toBe(false);
    expect(slow.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(400);
    expect(used).toEqual(['host: host picture', 'slow: slow picture']);
    expect(reads.busy('slow')).toBe(false);
    expect(slow.closed).toBe(true);
    expect(outcomes.map(([id, o]) => `${id} ${o.outcome}`)).toEqual(['host read', 'slow read']);
  });

  it('waits for nothing when every read settles at once, and gives up a stuck read after the timeout', async () => {
    vi.useFakeTimers();
    const outcomes: string[] = [];
    const reads = new SourceReads<Frame, string>(
      (id) => (id === 'stuck' ? new Promise<string>(() => {}) : Promise.resolve('ok')),
      () => {},
      1000,
      (id, outcome) => outcomes.push(`${id} ${outcome.outcome}`),
    );
    let done = false;
    void reads.start([['host', new Frame('host')]], 33).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    const stuck = new Frame('stuck');
    void reads.start([['stuck', stuck]], 33);
    await vi.advanceTimersByTimeAsync(1000);
    expect(outcomes).toEqual(['host read', 'stuck timeout']);
    expect(stuck.closed).toBe(true);
    expect(reads.busy('stuck')).toBe(false);
  });
});

describe('SourceReads, a source replaced while its frame is read', () => {
  it('does not let the late picture cover the new one (a camera turned off: its avatar stays)', async () => {
    let land: (picture: string) => void = () => {};
    const shown = new Map<string, string>();
    const reads = new SourceReads<Frame, string>(
      () => new Promise((resolve) => (land = resolve)),
      (id, picture) => shown.set(id, picture),
      1000,
      () => {},
    );
    const frame = new Frame('camera');
    const reading = reads.start([['g', frame]], 0);
    // The camera goes off while its frame is being copied: the avatar goes up.
    reads.replaced('g');
    shown.set('g', 'avatar');
    land('camera picture');
    await reading;
    await vi.waitFor(() => expect(frame.closed).toBe(true));
    expect(shown.get('g')).toBe('avatar');
    // The source's next read (its new stream) is used as before.
    const next = reads.start([['g', new Frame('camera again')]], 0);
    land('camera again picture');
    await next;
    await vi.waitFor(() => expect(shown.get('g')).toBe('camera again picture'));
  });
});

describe('FrameQueues', () => {
  const frame = (label: string) => new Frame(label);

  it('gives each source its oldest frame per take: two frames bunched up between two ticks are both shown', () => {
    const q = new FrameQueues<Frame>();
    const a1 = frame('a1');
    const a2 = frame('a2');
    const b1 = frame('b1');
    q.push('a', a1);
    q.push('a', a2);
    q.push('b', b1);
    expect(q.take().map(([id, f]) => [id, f.label])).toEqual([['a', 'a1'], ['b', 'b1']]);
    expect(q.take().map(([id, f]) => [id, f.label])).toEqual([['a', 'a2']]);
    expect(q.take()).toEqual([]);
    expect([a1, a2, b1].some((f) => f.closed)).toBe(false);
  });

  it('closes the oldest of a source that comes faster than it is taken, and holds back a source still being read', () => {
    const q = new FrameQueues<Frame>(2);
    const frames = ['1', '2', '3', '4'].map(frame);
    for (const f of frames) q.push('a', f);
    expect(frames.map((f) => f.closed)).toEqual([true, true, false, false]);
    expect(q.size).toBe(2);
    expect(q.take(() => true)).toEqual([]);
    expect(q.take()[0]![1].label).toBe('3');
  });

  it('closes what a dropped source still had', () => {
    const q = new FrameQueues<Frame>();
    const f = frame('x');
    q.push('a', f);
    q.drop('a');
    expect(f.closed).toBe(true);
    expect(q.ids()).toEqual([]);
    expect(() => new FrameQueues(0)).toThrow(RangeError);
  });
});
