import { describe, expect, it } from 'vitest';
import { RETURN_HOLD_MAX_MS, RETURN_HOLD_MS, ReturnCut } from './returnCut';

function setup() {
  const clock = { t: 0 };
  return { clock, cut: new ReturnCut(() => clock.t) };
}

describe('cutting the program return to a guest who falls behind', () => {
  it('cuts at once, and gives everything back once the guest caught up and the hold is over', () => {
    const { clock, cut } = setup();
    expect(cut.report('a', 0)).toBe(false); // keeping up: nothing to change
    expect(cut.report('a', 3200)).toBe(true);
    expect(cut.isCut('a')).toBe(true);
    expect(cut.report('a', 5200)).toBe(false); // still behind: already cut
    clock.t = 4000;
    expect(cut.report('a', 0)).toBe(false); // caught up, but the cut stands its hold
    expect(cut.isCut('a')).toBe(true);
    clock.t = RETURN_HOLD_MS - 1;
    expect(cut.due()).toEqual([]);
    clock.t = RETURN_HOLD_MS;
    expect(cut.due()).toEqual(['a']);
    expect(cut.isCut('a')).toBe(false);
    expect(cut.due()).toEqual([]);
  });

  it('counts a guest as behind from the cut until their page or a new call says they caught up', () => {
    const { cut } = setup();
    cut.report('a', 3000);
    cut.report('b', 3000);
    cut.report('c', 0);
    expect(cut.behind()).toEqual(['a', 'b']);
    cut.report('a', 0); // caught up, still cut for the hold: no longer behind
    cut.newCall('b');
    expect(cut.behind()).toEqual([]);
    expect(cut.isCut('a') && cut.isCut('b')).toBe(true);
    cut.report('b', 4000);
    expect(cut.behind()).toEqual(['b']);
  });

  it('gives back at once when the guest says it caught up after the hold', () => {
    const { clock, cut } = setup();
    cut.report('a', 2000);
    clock.t = RETURN_HOLD_MS + 5000;
    expect(cut.report('a', 0)).toBe(true);
    expect(cut.isCut('a')).toBe(false);
  });

  it('does not give back to a guest who fell behind again before the hold was over', () => {
    const { clock, cut } = setup();
    cut.report('a', 2000);
    clock.t = 3000;
    cut.report('a', 0);
    clock.t = 6000;
    cut.report('a', 4000);
    clock.t = RETURN_HOLD_MS + 1000;
    expect(cut.due()).toEqual([]);
    expect(cut.isCut('a')).toBe(true);
  });

  it('holds a guest who keeps falling behind right after getting everything back twice as long each time, up to a ceiling', () => {
    const { clock, cut } = setup();
    const holds: number[] = [];
    for (let round = 0; round < 7; round++) {
      cut.report('a', 2000);
      holds.push(cut.holdFor('a'));
      cut.report('a', 0);
      clock.t += cut.holdFor('a');
      expect(cut.due()).toEqual(['a']);
      clock.t += 5000; // behind again 5 s after getting everything back
    }
    expect(holds).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 160_000, 160_000]);
    expect(RETURN_HOLD_MAX_MS).toBe(160_000);
    // A guest who kept up for long after the last give-back starts from the shortest hold again.
    clock.t += 120_000;
    cut.report('a', 2000);
    expect(cut.holdFor('a')).toBe(RETURN_HOLD_MS);
  });

  it("counts a new call as caught up (a reloaded page says nothing until it falls behind), unless the page says it is still behind", () => {
    const { clock, cut } = setup();
    expect(cut.newCall('a')).toBe(false); // never cut: nothing to give back
    cut.report('a', 4000);
    clock.t = 2000;
    expect(cut.newCall('a')).toBe(false); // the hold is not over
    clock.t = RETURN_HOLD_MS;
    expect(cut.due()).toEqual(['a']);
    expect(cut.restoredBy('a')).toBe('new call');
    // Cut again; on the new call the page says at once that it is still behind: the cut stays.
    clock.t += 120_000;
    cut.report('a', 4000);
    cut.newCall('a');
    cut.report('a', 4000);
    clock.t += RETURN_HOLD_MS;
    expect(cut.due()).toEqual([]);
    // A call made after the hold is over gives everything back at once.
    expect(cut.newCall('a')).toBe(true);
    expect(cut.isCut('a')).toBe(false);
    expect(cut.restoredBy('a')).toBe('new call');
    // Given back because the page said it caught up: that is what is remembered.
    clock.t += 120_000;
    cut.report('a', 4000);
    clock.t += RETURN_HOLD_MS;
    expect(cut.report('a', 0)).toBe(true);
    expect(cut.restoredBy('a')).toBe('page');
    expect(cut.restoredBy('b')).toBeNull();
  });

  it('keeps guests apart and forgets one who left', () => {
    const { cut } = setup();
    cut.report('a', 2000);
    expect(cut.isCut('b')).toBe(false);
    cut.forget('a');
    expect(cut.isCut('a')).toBe(false);
  });
});
