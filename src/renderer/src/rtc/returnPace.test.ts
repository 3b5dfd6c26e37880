import { describe, expect, it } from 'vitest';
import { PACE_UP_AFTER, RETURN_PACE_STEPS, ReturnPace } from './returnPace';

describe('ReturnPace', () => {
  it('has no ceiling while the broadcast keeps up', () => {
    const pace = new ReturnPace();
    expect(pace.check(29.5, 30)).toBe(false);
    expect(pace.check(25, 30)).toBe(false); // 83 %: not behind
    expect(pace.ceiling).toBeNull();
  });

  it('lowers the ceiling one step per check while the broadcast is behind, down to the floor', () => {
    const pace = new ReturnPace();
    const seen: Array<number | null> = [];
    for (let i = 0; i < RETURN_PACE_STEPS.length + 2; i++) {
      pace.check(12, 30);
      seen.push(pace.ceiling);
    }
    expect(seen).toEqual([...RETURN_PACE_STEPS, 10, 10]);
  });

  it(`raises it a step after ${PACE_UP_AFTER} checks in a row that kept up, and counts again after each step`, () => {
    const pace = new ReturnPace();
    pace.check(10, 30);
    pace.check(10, 30); // 15
    const ups: boolean[] = [];
    for (let i = 0; i < PACE_UP_AFTER * 2; i++) ups.push(pace.check(28, 30));
    expect(ups).toEqual([false, false, true, false, false, true]);
    expect(pace.ceiling).toBeNull();
  });

  it('starts counting again when a check in between does not keep up', () => {
    const pace = new ReturnPace();
    pace.check(10, 30);
    expect(pace.ceiling).toBe(20);
    pace.check(28, 30);
    pace.check(28, 30);
    pace.check(26, 30); // between behind and keeping up: the count starts over
    pace.check(28, 30);
    pace.check(28, 30);
    expect(pace.ceiling).toBe(20);
    expect(pace.check(28, 30)).toBe(true);
    expect(pace.ceiling).toBeNull();
  });

  it('is not moved by a stall (no new picture) or a frame rate it cannot judge', () => {
    const pace = new ReturnPace();
    expect(pace.check(0, 30)).toBe(false);
    expect(pace.check(Number.NaN, 30)).toBe(false);
    expect(pace.check(10, 0)).toBe(false);
    expect(pace.ceiling).toBeNull();
  });

  it('judges against the frame rate of the output: 45 of 60 is behind, 45 of 50 is not', () => {
    const a = new ReturnPace();
    expect(a.check(45, 60)).toBe(true);
    const b = new ReturnPace();
    expect(b.check(45, 50)).toBe(false);
  });

  it('starts anew after reset, and says whether there was a ceiling to lift', () => {
    const pace = new ReturnPace();
    expect(pace.reset()).toBe(false);
    pace.check(5, 30);
    expect(pace.reset()).toBe(true);
    expect(pace.ceiling).toBeNull();
  });
});
