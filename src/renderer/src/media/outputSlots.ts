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

/** How many ticks the render time is averaged over: a second at 30 fps. */
export const RENDER_TIME_TICKS = 30;

/**
 * Render time per frame as OBS shows it: the average of the program clock's
 * last ticks, each from its start to the end of its work (composing, reading
 * back, handing the picture on). A single tick's time swings between the one
 * that composed and the one that found nothing new (well under a millisecond),
 * so the health bar read 0.0 or a spike depending on which tick was last.
 */
export class RenderTimes {
  private readonly times: number[] = [];
  private next = 0;

  constructor(private readonly size = RENDER_TIME_TICKS) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`the window must be a whole number of ticks, got ${size}`);
  }

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    if (this.times.length < this.size) this.times.push(ms);
    else this.times[this.next] = ms;
    this.next = (this.next + 1) % this.size;
  }

  /** The mean of the ticks kept (0 before the first). */
  mean(): number {
    if (this.times.length === 0) return 0;
    return this.times.reduce((sum, ms) => sum + ms, 0) / this.times.length;
  }
}

/**
 * How long without an animation frame means the page stopped giving them: a
 * hidden tab or a minimised window (Chromium pauses a worker canvas's
 * animation frames then).
 */
export const ANIMATION_STALL_MS = 250;

/**
 * Whether the program's canvas must be presented from the clock's tick. It is
 * presented on animation frames while the page gives them (a commit from the
 * tick would wait for the page's frame); when they stop, the guests' program
 * return, captured from that canvas, would freeze with them, so the tick
 * presents it instead until they come back.
 */
export class PresentFallback {
  private lastFrameAt: number | null = null;

  /** An animation frame presented the canvas. */
  presented(now: number): void {
    this.lastFrameAt = now;
  }

  /** At a tick: true when the tick should present (no animation frame for ANIMATION_STALL_MS, or none yet). */
  dueAtTick(now: number): boolean {
    if (this.lastFrameAt !== null && now - this.lastFrameAt < ANIMATION_STALL_MS) return false;
    this.lastFrameAt = null;
    return true;
  }
}
