import { describe, expect, it } from 'vitest';
import { AudioTimeline } from './audioTimeline';
import { SenderClock } from './senderClock';

const RATE = 48_000;
const CHUNK = 480; // 10 ms

/** Places and commits a chunk; returns the placement. */
function feed(t: AudioTimeline, senderMs: number, frames: number, mediaNowMs: number) {
  const placement = t.place(senderMs, frames, mediaNowMs);
  t.commit(placement.silenceFrames + frames - placement.skipFrames);
  return placement;
}

describe('AudioTimeline', () => {
  it('writes continuous audio back to back however irregularly it arrives', () => {
    const t = new AudioTimeline({ sampleRate: RATE });
    const jitter = [0, 12, 3, 40, 0, 25, 90, 1, 0, 60];
    for (let i = 0; i < 200; i++) {
      const senderMs = 5000 + i * 10; // sender clock, any origin
      const arrival = (i + 1) * 10 + (jitter[i % jitter.length] ?? 0);
      expect(feed(t, senderMs, CHUNK, arrival)).toEqual({ silenceFrames: 0, skipFrames: 0 });
    }
    expect(t.framesWritten).toBe(200 * CHUNK);
  });

  it('follows a delivery that got slower for good instead of trimming every chunk from then on', () => {
    const t = new AudioTimeline({ sampleRate: RATE, fillAfterMs: 150, fillMarginMs: 30, followLateAfterMs: 300 });
    let now = 0;
    let sender = 10_000;
    const step = (delayMs: number) => {
      now += 10;
      t.commit(t.fill(now));
      sender += 10;
      // The chunk that ends at `sender` arrives `delayMs` after it ends.
      return delayMs === 0 ? feed(t, sender - 10, CHUNK, now) : null;
    };
    for (let i = 0; i < 100; i++) step(0);
    // From now on every chunk arrives 400 ms after it ends (the page got busy).
    const queue: Array<{ senderMs: number; at: number }> = [];
    let kept = 0;
    let trimmed = 0;
    for (let i = 0; i < 200; i++) {
      now += 10;
      sender += 10;
      queue.push({ senderMs: sender - 10, at: now + 400 });
      while (queue.length && queue[0]!.at <= now) {
        const c = queue.shift()!;
        const p = t.place(c.senderMs, CHUNK, now);
        t.commit(p.silenceFrames + CHUNK - p.skipFrames);
        kept += CHUNK - p.skipFrames;
        trimmed += p.skipFrames;
      }
      t.commit(t.fill(now));
    }
    expect(t.followed).toBe(1);
    // Only the first ≈300 ms of late audio is lost; the rest is written.
    expect(trimmed).toBeLessThanOrEqual(350 * 48);
    expect(kept).toBeGreaterThanOrEqual(1200 * 48);
  });

  it('fills a gap in the sender timestamps with silence', () => {
    const t = new AudioTimeline({ sampleRate: RATE });
    feed(t, 0, CHUNK, 10);
    expect(feed(t, 210, CHUNK, 220)).toEqual({ silenceFrames: 200 * 48, skipFrames: 0 });
    expect(t.writtenMs).toBeCloseTo(220, 6);
  });

  it('writes silence when no audio comes, staying a little behind the clock', () => {
    const t = new AudioTimeline({ sampleRate: RATE, fillAfterMs: 150, fillMarginMs: 30 });
    expect(t.fill(100)).toBe(0);
    const frames = t.fill(1000);
    expect(frames).toBe(970 * 48);
    t.commit(frames);
    expect(t.fill(1100)).toBe(0);
    expect(t.fill(1200)).toBe(200 * 48);
  });

  it('trims audio that arrives for a time already filled with silence', () => {
    const t = new AudioTimeline({ sampleRate: RATE });
    feed(t, 0, CHUNK, 10);
    t.commit(t.fill(500)); // the sender stalled: silence up to 470 ms
    // The stalled chunks arrive late; the first covers 10..20 ms, all already written.
    expect(feed(t, 10, CHUNK, 505)).toEqual({ silenceFrames: 0, skipFrames: CHUNK });
    // A chunk that reaches past what was written keeps its tail.
    const placement = feed(t, 460, CHUNK, 506);
    expect(placement.silenceFrames).toBe(0);
    expect(placement.skipFrames).toBe(0); // 460 vs 470: within the 20 ms tolerance
  });

  it('places audio with the mapping it shares with video', () => {
    const clock = new SenderClock();
    // A video frame captured at sender 10_000 arrived at media 1040: the mapping says media = sender − 8960.
    expect(clock.place(10_000, 0, 1040)).toBe(1040);
    const t = new AudioTimeline({ sampleRate: RATE, clock });
    t.commit(t.fill(1000)); // silence up to 970 ms
    // A chunk captured at sender 10_000 belongs at media 1040 (not where its later arrival would put it).
    expect(feed(t, 10_000, CHUNK, 1100)).toEqual({ silenceFrames: 70 * 48, skipFrames: 0 });
    // An audio chunk that arrives faster tightens the mapping for video too.
    feed(t, 10_010, CHUNK, 1025);
    expect(clock.offsetMs).toBe(1025 - 10 - 10_010);
  });

  it('places chunks by arrival when the sender timestamps do not advance', () => {
    const t = new AudioTimeline({ sampleRate: RATE });
    for (let i = 0; i < 100; i++) {
      const placement = feed(t, 0, CHUNK, (i + 1) * 10);
      expect(placement.skipFrames).toBe(0);
      expect(placement.silenceFrames).toBe(0);
    }
    expect(t.writtenMs).toBeCloseTo(1000, 6);
  });

  it('re-anchors when the sender clock restarts', () => {
    const t = new AudioTimeline({ sampleRate: RATE });
    for (let i = 0; i < 100; i++) feed(t, 100_000 + i * 10, CHUNK, (i + 1) * 10);
    // The sender reloaded: its clock starts again near zero; audio resumes 300 ms later.
    const placement = feed(t, 20, CHUNK, 1310);
    expect(placement.skipFrames).toBe(0);
    expect(placement.silenceFrames).toBe(300 * 48);
    expect(feed(t, 30, CHUNK, 1320)).toEqual({ silenceFrames: 0, skipFrames: 0 });
  });
});
