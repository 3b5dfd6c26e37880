/**
 * The broadcast comes first. The host encodes the program once for the
 * stream and once more for each guest (their program return): on a host
 * short of CPU the returns take time the stream's own pictures need. While
 * the broadcast misses a clear share of its output slots — slots its clock
 * did not get to in time (frames lagged by rendering) and pictures the
 * encoder had no room for (skipped) — the returns get fewer frames (a
 * ceiling on their frame rate, one step at a time, down to a floor); once it
 * has kept up for a while, the ceiling goes up a step again. Slow cameras
 * are not a busy host: a 15 fps webcam makes fewer new pictures, but misses
 * no slot. No slot at all (a stall) changes nothing either.
 */

/** The return's frame-rate ceilings, highest first; null: no ceiling. */
export const RETURN_PACE_STEPS: readonly number[] = [20, 15, 10];
/** The broadcast is behind when it misses more than this share of its slots... */
export const PACE_BEHIND_MISSED = 0.2;
/** ...and keeping up when it misses this share or less. */
export const PACE_KEEPING_UP_MISSED = 0.1;
/** Checks in a row the program must keep up before the ceiling goes up a step. */
export const PACE_UP_AFTER = 3;

export class ReturnPace {
  /** Index into RETURN_PACE_STEPS, or -1: no ceiling. */
  private step = -1;
  private keptUp = 0;

  /** The ceiling on every guest's return frame rate now, or null. */
  get ceiling(): number | null {
    return this.step < 0 ? null : RETURN_PACE_STEPS[this.step]!;
  }

  /**
   * Since the last check the broadcast had `slots` output slots and missed
   * `missed` of them (lagged or skipped). Returns whether the ceiling changed.
   */
  check(missed: number, slots: number): boolean {
    if (!(slots > 0) || !(missed >= 0)) return false;
    const share = Math.min(1, missed / slots);
    if (share > PACE_BEHIND_MISSED) {
      this.keptUp = 0;
      if (this.step >= RETURN_PACE_STEPS.length - 1) return false;
      this.step += 1;
      return true;
    }
    if (share <= PACE_KEEPING_UP_MISSED && this.step >= 0) {
      this.keptUp += 1;
      if (this.keptUp < PACE_UP_AFTER) return false;
      this.keptUp = 0;
      this.step -= 1;
      return true;
    }
    this.keptUp = 0;
    return false;
  }

  /** The broadcast ended: the next one starts without a ceiling. */
  reset(): boolean {
    const changed = this.step >= 0;
    this.step = -1;
    this.keptUp = 0;
    return changed;
  }
}
