import { describe, expect, it } from 'vitest';
import { PACE_UP_AFTER, RETURN_PACE_STEPS, ReturnPace } from './returnPace';

describe('ReturnPace', () => {
  it('has no ceiling while the broadcast misses few slots, however few new pictures its cameras give', () => {
    const pace = new ReturnPace();
    expect(pace.check(0, 120)).toBe(false); // a 15 fps webcam: half the pictures are repeats, no slot missed
    expect(pace.check(20, 120)).toBe(false); // 17 %: not behind
    expect(pace.ceiling).toBeNull();
  });

  it('lowers the ceiling one step per check while the broadcast misses over a fifth of its slots, down to the floor', () => {
    const pace = new ReturnPace();
    const seen: Array<number | null> = [];
    for (let i = 0; i < RETURN_PACE_STEPS.length + 2; i++) {
      pace.check(60, 120);
      seen.push(pace.ceiling);
    }
    expect(seen).toEqual([...RETURN_PACE_STEPS, 10, 10]);
  });

  it(`raises it a step after ${PACE_UP_AFTER} checks in a row that kept up, and counts again after each step`, () => {
    const pace = new ReturnPace();
    pace.check(60, 120);
    pace.check(60, 120); // 15
    const ups: boolean[] = [];
    for (let i = 0; i < PACE_UP_AFTER * 2; i++) ups.push(pace.check(6, 120));
    expect(ups).toEqual([false, false, true, false, false, true]);
    expect(pace.ceiling).toBeNull();
  });

  it('starts counting again when a check in between does not keep up', () => {
    const pace = new ReturnPace();
    pace.check(60, 120);
    expect(pace.ceiling).toBe(20);
    pace.check(6, 120);
    pace.check(6, 120);
    pace.check(18, 120); // 15 %: neither behind nor keeping up, the count starts over
    pace.check(6, 120);
    pace.check(6, 120);
    expect(pace.ceiling).toBe(20);
    expect(pace.check(6, 120)).toBe(true);
    expect(pace.ceiling).toBeNull();
  });

  it('is not moved by a stall (no slot) or counts it cannot judge', () => {
    const pace = new ReturnPace();
    expect(pace.check(0, 0)).toBe(false);
    expect(pace.check(Number.NaN, 120)).toBe(false);
    expect(pace.check(-3, 120)).toBe(false);
    expect(pace.ceiling).toBeNull();
  });

  it('starts anew after reset, and says whether there was a ceiling to lift', () => {
    const pace = new ReturnPace();
    expect(pace.reset()).toBe(false);
    pace.check(100, 120);
    expect(pace.reset()).toBe(true);
    expect(pace.ceiling).toBeNull();
  });
});
