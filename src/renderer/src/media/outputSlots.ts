/**
 * Frames lagged by rendering, as OBS counts them: slots of the output frame
 * rate the program did not get to in time (its clock ticked late, or a tick
 * found the previous one still at work). A tick that finds nothing new is not
 * lag — a still picture (everyone's camera off) is served on time — so this is
 * counted where the program's clock runs, not from the encoder's repeats.
 */
export class OutputSlots {
  /** Slots since the count started (the first served one included). */
  slots = 0;
  /** Slots no tick served. */
  lagged = 0;
  private startMs: number | null = null;
  private last = 0;

  constructor(private readonly frameMs: number) {
    if (!(frameMs > 0)) throw new RangeError(`frame duration must be positive, got ${frameMs}`);
  }

  /**
   * A tick at `nowMs` served the slot nearest to it (a tick less than half a
   * frame off its time still serves its own slot); the slots passed since the
   * last served one are lagged. False for a second tick within one slot (a
   * timer catching up after the worker was starved), which changes nothing:
   * its picture would only replace the slot's own within a few ms, so the
   * tick is better skipped.
   */
  serve(nowMs: number): boolean {
    if (this.startMs === null) {
      this.startMs = nowMs;
      this.last = 0;
      this.slots = 1;
      return true;
    }
    const slot = Math.round((nowMs - this.startMs) / this.frameMs);
    if (slot <= this.last) return false;
    this.lagged += slot - this.last - 1;
    this.last = slot;
    this.slots = slot + 1;
    return true;
  }
}
