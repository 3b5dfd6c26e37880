/**
 * When to cut, and when to give back, the program return to a guest whose
 * page shows it late (the cut itself: cutReturnCap in shared/mediaLimits). The guest's page says "behind"
 * and "caught up"; acting on each at once would make a page that only keeps
 * up while it is sent less swing between the two caps. So a cut stands for a
 * hold time at least, and a guest who falls behind again soon after getting
 * everything back is held twice as long the next time (up to a ceiling).
 */
import { RETURN_BEHIND_MS } from '../../../shared/mediaLimits';

/** The shortest time a cut stands. */
export const RETURN_HOLD_MS = 10_000;
/** The longest hold a guest who keeps falling behind gets. */
export const RETURN_HOLD_MAX_MS = 160_000;
/** Falling behind again within this long of getting everything back doubles the hold. */
export const RETURN_RELAPSE_MS = 60_000;

/** What made a cut guest count as caught up: their page said so, or a new call from them. */
export type CaughtUpBy = 'page' | 'new call';

interface GuestCut {
  /** When the current cut began, or null while the guest gets everything. */
  cutAt: number | null;
  /**
   * The guest counts as caught up while cut — their page said so, or they
   * called anew — and everything goes back once the hold is over; false while
   * they are behind.
   */
  caughtUp: false | CaughtUpBy;
  /** Why everything went back last. */
  restoredBy: CaughtUpBy | null;
  holdMs: number;
  /** When everything went back last. */
  restoredAt: number | null;
}

export class ReturnCut {
  private readonly guests = new Map<string, GuestCut>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Is the return to this guest cut now? */
  isCut(guestId: string): boolean {
    return this.guests.get(guestId)?.cutAt != null;
  }

  /** How long a cut of this guest stands at least (ms). */
  holdFor(guestId: string): number {
    return this.guests.get(guestId)?.holdMs ?? RETURN_HOLD_MS;
  }

  /**
   * The guest's page reported how late it shows the program. Returns whether
   * the cut changed (true: apply the guest's cap again).
   */
  report(guestId: string, behindMs: number): boolean {
    const now = this.now();
    const g = this.guests.get(guestId) ?? { cutAt: null, caughtUp: false, restoredBy: null, holdMs: RETURN_HOLD_MS, restoredAt: null };
    this.guests.set(guestId, g);
    if (behindMs >= RETURN_BEHIND_MS) {
      g.caughtUp = false;
      if (g.cutAt !== null) return false;
      const relapse = g.restoredAt !== null && now - g.restoredAt < RETURN_RELAPSE_MS;
      g.holdMs = relapse ? Math.min(RETURN_HOLD_MAX_MS, g.holdMs * 2) : RETURN_HOLD_MS;
      g.cutAt = now;
      return true;
    }
    if (g.cutAt === null) return false;
    g.caughtUp = 'page';
    return this.restoreIfDue(g, now);
  }

  /**
   * A new call from the guest (their page reloaded, or the link was made
   * anew). A fresh page says nothing until it falls behind, and a page that
   * is still behind says so again on the new link: until then it counts as
   * caught up. Returns whether everything goes back now (the hold being over).
   */
  newCall(guestId: string): boolean {
    const g = this.guests.get(guestId);
    if (!g || g.cutAt === null) return false;
    g.caughtUp = 'new call';
    return this.restoreIfDue(g, this.now());
  }

  /** Guests whose hold is over and who said they caught up: everything goes back to them now. */
  due(): string[] {
    const now = this.now();
    const restored: string[] = [];
    for (const [guestId, g] of this.guests) if (this.restoreIfDue(g, now)) restored.push(guestId);
    return restored;
  }

  /** Guests cut whose page has not said it caught up since: still behind, as far as the host knows. */
  behind(): string[] {
    return [...this.guests].filter(([, g]) => g.cutAt !== null && !g.caughtUp).map(([guestId]) => guestId);
  }

  /** Why everything last went back to this guest (null: it never did). */
  restoredBy(guestId: string): CaughtUpBy | null {
    return this.guests.get(guestId)?.restoredBy ?? null;
  }

  /** The guest left: what is known of them goes. */
  forget(guestId: string): void {
    this.guests.delete(guestId);
  }

  private restoreIfDue(g: GuestCut, now: number): boolean {
    if (g.cutAt === null || !g.caughtUp || now - g.cutAt < g.holdMs) return false;
    g.cutAt = null;
    g.restoredBy = g.caughtUp;
    g.caughtUp = false;
    g.restoredAt = now;
    return true;
  }
}
