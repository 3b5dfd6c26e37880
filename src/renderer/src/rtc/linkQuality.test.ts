import { describe, expect, it, vi } from 'vitest';
import {
  CALM_SAMPLES,
  QualityMonitor,
  VIEW_BEHIND_MS,
  ViewWatch,
  describeQuality,
  rateLink,
  readLinkCounters,
  readViewCounters,
  type LinkCounters,
  type LinkQuality,
  type ViewCounters,
} from './linkQuality';

const reading = (over: Partial<LinkCounters> = {}): LinkCounters => ({ at: 0, packetsReceived: 0, packetsLost: 0, framesDecoded: 0, freezeCount: 0, rttMs: 20, ...over });

describe('rateLink', () => {
  it('grades a clean interval good, with its figures', () => {
    const q = rateLink(reading(), reading({ at: 4000, packetsReceived: 1000, packetsLost: 5, framesDecoded: 60, rttMs: 40 }));
    expect(q.grade).toBe('good');
    expect(q.lossPct).toBeCloseTo(0.5, 1);
    expect(q.fps).toBe(15);
    expect(q.reasons).toEqual([]);
    expect(describeQuality(q)).toBe('loss 0.5 % · round trip 40 ms · camera 15 fps received');
  });

  it('grades loss and round trip: fair from 2 % / 300 ms, poor from 8 % / 700 ms, the worse one wins', () => {
    const lossy = (lost: number) => rateLink(reading(), reading({ at: 4000, packetsReceived: 100 - lost, packetsLost: lost }));
    expect(lossy(1).grade).toBe('good');
    expect(lossy(3).grade).toBe('fair');
    expect(lossy(10).grade).toBe('poor');
    expect(lossy(10).reasons).toEqual(['10.0 % of packets lost']);
    expect(rateLink(reading(), reading({ at: 4000, packetsReceived: 100, rttMs: 350 })).grade).toBe('fair');
    const both = rateLink(reading(), reading({ at: 4000, packetsReceived: 97, packetsLost: 3, rttMs: 900 }));
    expect(both.grade).toBe('poor');
    expect(both.reasons).toEqual(['3.0 % of packets lost', 'round trip 900 ms']);
  });

  it('counts only the interval: loss before it, or a loss count that falls (late packets), is not this interval’s', () => {
    const before = reading({ packetsReceived: 1000, packetsLost: 500 });
    expect(rateLink(before, reading({ at: 4000, packetsReceived: 1100, packetsLost: 500 })).lossPct).toBe(0);
    expect(rateLink(before, reading({ at: 4000, packetsReceived: 1100, packetsLost: 490 })).lossPct).toBe(0);
    // Nothing received and nothing lost: no share to give.
    expect(rateLink(before, { ...before, at: 4000 }).lossPct).toBeNull();
  });

  it('tells freezes without grading them (a camera turned off counts as one), and makes a link whose guest sees the program a second or more late poor', () => {
    const frozen = rateLink(reading(), reading({ at: 4000, packetsReceived: 100, freezeCount: 2 }));
    expect(frozen.grade).toBe('good');
    expect(frozen.freezes).toBe(2);
    expect(describeQuality(frozen)).toMatch(/ · 2 freezes$/);
    const late = rateLink(reading(), reading({ at: 4000, packetsReceived: 100 }), 12_400);
    expect(late.grade).toBe('poor');
    expect(late.viewBehindMs).toBe(12_400);
    expect(describeQuality(late)).toMatch(/^their view of the program runs over 10 s behind — /);
    expect(rateLink(reading(), reading({ at: 4000, packetsReceived: 100 }), 2600).reasons).toEqual(['their view of the program runs about 3 s behind']);
    expect(rateLink(reading(), reading({ at: 4000, packetsReceived: 100 }), VIEW_BEHIND_MS - 1).grade).toBe('good');
  });
});

/** Cumulative view counters that grow by `frames` frames each waiting `waitMs`, and `received` frames, per call. */
function viewCounters() {
  let c: ViewCounters = { jitterBufferDelay: 0, jitterBufferEmittedCount: 0, framesReceived: 0 };
  return (frames: number, waitMs: number, received = frames): ViewCounters => {
    c = { jitterBufferDelay: c.jitterBufferDelay + (frames * waitMs) / 1000, jitterBufferEmittedCount: c.jitterBufferEmittedCount + frames, framesReceived: c.framesReceived + received };
    return c;
  };
}

describe('ViewWatch', () => {
  it('reports the lag when frames wait over a second for the decoder, and 0 after a few calm readings', () => {
    const next = viewCounters();
    const watch = new ViewWatch();
    expect(watch.sample(next(60, 20))).toBeNull(); // the first reading is the baseline
    expect(watch.sample(next(60, 20))).toBeNull();
    expect(watch.sample(next(30, 4000))).toBe(4000);
    expect(watch.behindMs).toBe(4000);
    // A lag that wanders by less than a second and a half is not news; one that doubles is.
    expect(watch.sample(next(30, 5500))).toBeNull();
    expect(watch.sample(next(30, 9000))).toBe(9000);
    // Caught up only after CALM_SAMPLES calm readings in a row; a middling one starts the count again.
    for (let i = 0; i < CALM_SAMPLES - 1; i++) expect(watch.sample(next(60, 40))).toBeNull();
    expect(watch.sample(next(60, 600))).toBeNull();
    for (let i = 0; i < CALM_SAMPLES - 1; i++) expect(watch.sample(next(60, 40))).toBeNull();
    expect(watch.sample(next(60, 40))).toBe(0);
    expect(watch.behindMs).toBe(0);
  });

  it('counts frames received but none decoded as behind, and a quiet link (nothing received) as nothing', () => {
    const next = viewCounters();
    const watch = new ViewWatch();
    watch.sample(next(10, 20));
    expect(watch.sample(next(0, 0, 0))).toBeNull();
    expect(watch.sample(next(0, 0, 30))).toBe(VIEW_BEHIND_MS);
    expect(watch.sample(next(0, 0, 30))).toBeNull();
  });

  it('reads no interval across two links, keeping what it reported', () => {
    const next = viewCounters();
    const watch = new ViewWatch();
    watch.sample(next(10, 20));
    expect(watch.sample(next(10, 3000))).toBe(3000);
    watch.reset();
    const fresh = viewCounters();
    expect(watch.sample(fresh(10, 20))).toBeNull();
    expect(watch.behindMs).toBe(3000);
  });
});

/** A peer connection whose getStats gives these rows. */
const statsPc = (rows: Array<Record<string, unknown>>, connectionState: RTCPeerConnectionState = 'connected') =>
  ({ connectionState, getStats: async () => new Map(rows.map((r, i) => [String(r.id ?? i), r])) }) as unknown as RTCPeerConnection;

describe('reading the counters', () => {
  it('sums every inbound stream, takes frames from the video, and the round trip of the selected pair', async () => {
    const pc = statsPc([
      { id: 'a', type: 'inbound-rtp', kind: 'audio', packetsReceived: 500, packetsLost: 2 },
      { id: 'v', type: 'inbound-rtp', kind: 'video', packetsReceived: 900, packetsLost: 8, framesDecoded: 120, freezeCount: 1, jitterBufferDelay: 3, jitterBufferEmittedCount: 100, framesReceived: 125 },
      { id: 'p1', type: 'candidate-pair', state: 'succeeded', nominated: true, currentRoundTripTime: 0.5 },
      { id: 'p2', type: 'candidate-pair', state: 'succeeded', nominated: true, currentRoundTripTime: 0.012 },
      { id: 't', type: 'transport', selectedCandidatePairId: 'p2' },
    ]);
    expect(await readLinkCounters(pc, 7)).toEqual({ at: 7, packetsReceived: 1400, packetsLost: 10, framesDecoded: 120, freezeCount: 1, rttMs: 12 });
    expect(await readViewCounters(pc)).toEqual({ jitterBufferDelay: 3, jitterBufferEmittedCount: 100, framesReceived: 125 });
  });

  it('gives nothing before any stream comes in, and no round trip it does not know', async () => {
    expect(await readLinkCounters(statsPc([{ type: 'candidate-pair', state: 'in-progress' }]))).toBeNull();
    expect(await readViewCounters(statsPc([]))).toBeNull();
    const counters = await readLinkCounters(statsPc([{ type: 'inbound-rtp', kind: 'audio', packetsReceived: 5, packetsLost: 0 }]));
    expect(counters?.rttMs).toBeNull();
  });
});

describe('QualityMonitor', () => {
  function setup() {
    const links = new Map<string, { id: string; pc: RTCPeerConnection }>();
    const readings = new Map<RTCPeerConnection, LinkCounters[]>();
    const published: Array<[string, LinkQuality | null]> = [];
    const monitor = new QualityMonitor({
      links: () => links.entries(),
      publish: (id, q) => published.push([id, q]),
      read: async (pc) => readings.get(pc)?.shift() ?? null,
    });
    const link = (id: string, state: RTCPeerConnectionState = 'connected') => ({ id, pc: { connectionState: state } as RTCPeerConnection });
    return { links, readings, published, monitor, link };
  }

  it('grades a connected link from its second reading on, with the lag its guest reported', async () => {
    const { links, readings, published, monitor, link } = setup();
    const a = link('link-1');
    links.set('guest-a', a);
    readings.set(a.pc, [reading({ at: 0 }), reading({ at: 4000, packetsReceived: 400, framesDecoded: 60 }), reading({ at: 8000, packetsReceived: 800, framesDecoded: 120 })]);
    await monitor.tick();
    expect(published).toEqual([]);
    await monitor.tick();
    expect(published.map(([id, q]) => [id, q?.grade, q?.fps])).toEqual([['guest-a', 'good', 15]]);
    monitor.viewReported('guest-a', 20_000);
    await monitor.tick();
    expect(published[1]![1]).toMatchObject({ grade: 'poor', viewBehindMs: 20_000 });
  });

  it('starts over on a new link, takes the grade away while a link is not connected, and forgets a guest who left', async () => {
    const { links, readings, published, monitor, link } = setup();
    const first = link('link-1');
    links.set('guest-a', first);
    readings.set(first.pc, [reading({ at: 0 }), reading({ at: 4000, packetsReceived: 100 })]);
    await monitor.tick();
    await monitor.tick();
    expect(published).toHaveLength(1);
    // A new call: its counters begin at zero, so its first reading is a baseline only.
    const second = link('link-2');
    links.set('guest-a', second);
    readings.set(second.pc, [reading({ at: 8000, packetsReceived: 3 }), reading({ at: 12_000, packetsReceived: 300 })]);
    await monitor.tick();
    expect(published).toHaveLength(1);
    await monitor.tick();
    expect(published).toHaveLength(2);
    expect(published[1]![1]?.lossPct).toBe(0);
    links.set('guest-a', link('link-2', 'disconnected'));
    await monitor.tick();
    expect(published[2]).toEqual(['guest-a', null]);
    await monitor.tick();
    expect(published).toHaveLength(3); // no grade to take away twice
    monitor.forget('guest-a');
    expect(published).toHaveLength(3);
  });

  it('keeps nothing of a guest dropped while their counters were being read', async () => {
    const { links, published, monitor, link } = setup();
    links.set('guest-a', link('link-1'));
    let answer!: (c: LinkCounters) => void;
    const slow = new QualityMonitor({
      links: () => links.entries(),
      publish: (id, q) => published.push([id, q]),
      read: () => new Promise<LinkCounters>((resolve) => (answer = resolve)),
    });
    const round = slow.tick();
    links.delete('guest-a');
    slow.forget('guest-a');
    answer(reading({ at: 0 }));
    await round;
    // Nothing of them is held (a guest who never comes back would otherwise stay for the whole show).
    expect((slow as unknown as { prev: Map<string, unknown> }).prev.size).toBe(0);
    expect(published).toEqual([]);
    void monitor;
  });

  it('does not overlap rounds, and a reading that fails is logged and skipped', async () => {
    const log = vi.fn();
    let release!: () => void;
    const read = vi.fn(() => new Promise<LinkCounters | null>((resolve) => (release = () => resolve(null))));
    const monitor = new QualityMonitor({ links: () => [['g', { id: 'l', pc: { connectionState: 'connected' } as RTCPeerConnection }]], publish: () => {}, read, log });
    const first = monitor.tick();
    await monitor.tick();
    expect(read).toHaveBeenCalledTimes(1);
    release();
    await first;
    const failing = new QualityMonitor({ links: () => [['g', { id: 'l', pc: { connectionState: 'connected' } as RTCPeerConnection }]], publish: () => {}, read: () => Promise.reject(new Error('closed')), log });
    await failing.tick();
    expect(log).toHaveBeenCalledWith('link quality of g: closed');
  });
});
