/**
 * Whether a guest who said hello holds a seat. The studio's seats are kept
 * live by Realtime, but a guest's hello can arrive before its seat row does:
 * then the database is asked, and whichever says "seated" first wins (the
 * row arriving by Realtime, or the query). Under load a query once hung for
 * minutes and the hello's call was never answered; the check now gives up
 * after `timeoutMs` with an error, and the guest's next hello checks anew.
 */
export interface SeatCheck {
  /** Whether the studio's own seats show the guest seated. */
  seatedNow: () => boolean;
  /** Calls `onChange` when the studio's seats change; returns the unsubscribe. */
  subscribe: (onChange: () => void) => () => void;
  /** Asks the database (and keeps its rows); true when the guest is seated there. */
  query: () => Promise<boolean>;
  timeoutMs: number;
}

export async function isSeated(check: SeatCheck): Promise<boolean> {
  if (check.seatedNow()) return true;
  let unsubscribe = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      check.query(),
      new Promise<boolean>((resolve) => {
        unsubscribe = check.subscribe(() => {
          if (check.seatedNow()) resolve(true);
        });
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the seat check had no answer in ${Math.round(check.timeoutMs / 1000)} s`)), check.timeoutMs);
      }),
    ]);
  } finally {
    unsubscribe();
    clearTimeout(timer);
  }
}
