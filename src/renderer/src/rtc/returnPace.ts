/**
 * The broadcast comes first. The host encodes the program once for the
 * stream and once more for each guest (their program return): on a host
 * short of CPU the returns take time the stream's own pictures need. While
 * the program makes clearly fewer new pictures a second than its frame rate,
 * the returns get fewer frames (a ceiling on their frame rate, one step at a
 * time, down to a floor); once the program has kept up for a while, the
 * ceiling goes up a step again. A stall (no new picture at all) is a broken
 * pipeline, not a busy host, and changes nothing.
 */

/** The return's frame-rate ceilings, highest first; null: no ceiling. */
export const RETURN_PACE_STEPS: readonly number[] = [20, 15, 10];
/** The program is behind below this share of its frame rate... */
export const PACE_BEHIND_SHARE = 0.8;
/** ...and keeping up from this share on. */
export const PACE_KEEPING_UP_SHARE = 0.9;
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
   * The program made `newPerSecond` new pictures a second since the last
   * check, against its `fps`. Returns whether the ceiling changed.
   */
  check(newPerSecond: number, fps: number): boolean {
    if (!(fps > 0) || !(newPerSecond > 0)) return false;
    if (newPerSecond < fps * PACE_BEHIND_SHARE) {
      this.keptUp = 0;
      if (this.step >= RETURN_PACE_STEPS.length - 1) return false;
      this.step += 1;
      return true;
    }
    if (newPerSecond >= fps * PACE_KEEPING_UP_SHARE && this.step >= 0) {
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
