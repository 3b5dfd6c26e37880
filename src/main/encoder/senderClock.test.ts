import { describe, expect, it } from 'vitest';
import { SenderClock } from './senderClock';

describe('SenderClock', () => {
  it('maps with the smallest delay seen, so jitter never moves later messages', () => {
    const clock = new SenderClock();
    expect(clock.offsetMs).toBeNull();
    expect(clock.place(5000, 0, 120)).toBe(120); // first message: as if it took no time
    expect(clock.place(5100, 0, 260)).toBe(220); // 40 ms later than the best: placed by its timestamp
    expect(clock.place(5200, 0, 300)).toBe(300); // 20 ms faster than any before: the mapping tightens
    expect(clock.offsetMs).toBe(-4900);
    expect(clock.place(5100, 0, 400)).toBe(200); // earlier content keeps its own place
  });

  it('counts a chunk’s duration: its timestamp is its start, it arrives after its end', () => {
    const clock = new SenderClock();
    expect(clock.place(1000, 10, 50)).toBe(40);
  });

  it('re-anchors when a message is later than the reanchor threshold (the sender clock restarted)', () => {
    const clock = new SenderClock(1000);
    clock.place(100_000, 0, 10);
    expect(clock.place(20, 0, 1500)).toBe(1500);
    expect(clock.place(30, 0, 1515)).toBe(1510);
  });

  it('anchor() resets the mapping to one message', () => {
    const clock = new SenderClock();
    clock.place(0, 0, 0);
    expect(clock.anchor(0, 10, 500)).toBe(490);
    expect(clock.offsetMs).toBe(490);
  });
});
