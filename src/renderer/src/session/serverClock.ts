/**
 * The database's clock as the page sees it. An invitation's countdown is the
 * database's (its expires_at); a phone whose clock runs 20 s fast would read
 * every invitation as already expired and never show one. Rows the database
 * has just made (an invitation arriving live) say how far the page's clock
 * is off: more than SKEW_TOLERANCE_MS either way (delivery takes a moment),
 * and the page's reading of the database's times is corrected by it. A page
 * just loaded reads the database's clock once (`server_now`) instead. The
 * database stays the judge of what is in time; this only keeps the page from
 * hiding or stretching what it shows. A live row that disagrees with the
 * last read asks for another read: a late delivery and a clock set since look
 * alike in one row.
 */
export const SKEW_TOLERANCE_MS = 2000;

export class ServerClock {
  private offsetMs = 0;
  /** The offset the last direct read gave (null before one). */
  private readMs: number | null = null;

  /** How far the page's clock is taken to run ahead of the database's (negative: behind). */
  get offset(): number {
    return this.offsetMs;
  }

  /**
   * A row the database made at `createdAt` arrived (live) at `receivedAt` on
   * the page's clock. Its delivery took some time, so it says only that the
   * page's clock runs at most `receivedAt − createdAt` ahead. True when the
   * row disagrees with the last direct read (or there was none): the page
   * should read the database's clock again (learnFromRead). Until then the
   * row's offset is taken, as without a read. A row delivered seconds late on
   * a slow network would otherwise stretch the countdown past the
   * invitation's real end, and a phone clock set since the read would
   * hide or stretch it the other way.
   */
  learn(createdAt: string, receivedAt = Date.now()): boolean {
    const made = Date.parse(createdAt);
    if (!Number.isFinite(made)) return false;
    const atMost = receivedAt - made;
    if (this.readMs !== null && Math.abs(atMost - this.readMs) <= SKEW_TOLERANCE_MS) return false;
    this.offsetMs = Math.abs(atMost) > SKEW_TOLERANCE_MS ? atMost : 0;
    return this.readMs !== null || this.offsetMs !== 0;
  }

  /**
   * The database's clock read directly (`server_now`): it said `serverTime`
   * between `sentAt` and `receivedAt` on the page's clock, so the midpoint is
   * taken (a slow answer's error is half its round trip). A page that has no
   * live row to learn from (just loaded) learns from this.
   */
  learnFromRead(serverTime: string, sentAt: number, receivedAt: number): void {
    const at = Date.parse(serverTime);
    if (!Number.isFinite(at) || !(receivedAt >= sentAt)) return;
    const off = (sentAt + receivedAt) / 2 - at;
    this.readMs = off;
    this.offsetMs = Math.abs(off) > SKEW_TOLERANCE_MS ? off : 0;
  }

  /** A database time on the page's clock (ms since the epoch). */
  local(serverTime: string): number {
    return Date.parse(serverTime) + this.offsetMs;
  }

  /** The same, as an ISO string (for countdowns that take one). */
  localIso(serverTime: string): string {
    const at = this.local(serverTime);
    return Number.isFinite(at) ? new Date(at).toISOString() : serverTime;
  }
}
