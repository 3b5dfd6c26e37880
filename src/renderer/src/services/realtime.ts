/** Row changes of one table over Supabase Realtime (postgres_changes), as the services use them. */
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import { BackendError } from './errors';

/** Stops a subscription; calling it again does nothing. */
export type Unsubscribe = () => void;

export type RowEvent = 'INSERT' | 'UPDATE';

export interface TableWatch<Row> {
  table: string;
  /** A Realtime filter such as `stream_id=eq.<uuid>`. */
  filter: string;
  /** Which changes to deliver; both by default. Deletes are never delivered. */
  events?: RowEvent[];
  onRow: (row: Row, event: RowEvent) => void;
  /**
   * The subscription was confirmed again after it dropped (socket lost, server
   * restarted): changes made while it was down were not delivered, so the
   * caller should read the rows again.
   */
  onRejoin?: () => void;
  /**
   * When given, a first subscription that fails does not end the watch: the
   * failure is told here, the watch resolves all the same, and the
   * subscription is tried again with growing pauses; `onRejoin` says when it
   * holds (the caller reads the rows then). Without it, the watch rejects.
   */
  onUnavailable?: (err: BackendError) => void;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids end up inside filters: anything but a UUID is refused before it reaches the server. */
export function requireUuid(value: string, what: string): string {
  if (!UUID_RE.test(value)) throw new BackendError('invalid_request', `${what} must be a UUID, got "${value}"`);
  return value;
}

let sequence = 0;

/** Pauses before opening again a subscription the server closed: growing, at most the last. */
export const REOPEN_DELAYS_MS = [1000, 2000, 5000, 10_000, 30_000];

/** How often rows are read while their live updates are down (an invitation lasts 20 s). */
export const UNAVAILABLE_POLL_MS = 5000;

/**
 * Reads rows every UNAVAILABLE_POLL_MS while their live updates are down:
 * `start` when a watch reports itself unavailable (onUnavailable), `stop` when
 * it holds again (onRejoin) or the page goes.
 */
export function pollWhileUnavailable(read: () => void): { start(): void; stop(): void } {
  let timer: ReturnType<typeof setInterval> | null = null;
  return {
    start: () => {
      timer ??= setInterval(read, UNAVAILABLE_POLL_MS);
    },
    stop: () => {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

/**
 * Subscribes to a table's row changes and resolves once the server confirmed
 * the subscription, so no change made after that is missed. Each call gets its
 * own channel (supabase-js shares channels by topic name). Hosted Realtime
 * confirms a join before its row-change feed is running unless asked to wait
 * for it (`postgres_changes_options.wait`): without that, a change in the
 * first seconds — the host going live just after a viewer opened the page —
 * would be lost. The local server sets the feed up before it answers.
 *
 * A subscription that drops (socket lost) is rejoined by the client itself.
 * One the server closes (its token expired while the page was hidden and did
 * not refresh it; a check of a new token failed) is over for the client: it is
 * opened again here, on a new channel with the current token, with growing
 * pauses until it is confirmed, and `onRejoin` says that changes were missed.
 */
export async function watchTable<Row>(client: SupabaseClient, label: string, watch: TableWatch<Row>): Promise<Unsubscribe> {
  const events = watch.events ?? ['INSERT', 'UPDATE'];
  let removed = false;
  let current: RealtimeChannel | null = null;
  let reopenTimer: ReturnType<typeof setTimeout> | null = null;
  let reopenAttempt = 0;

  const unsubscribe: Unsubscribe = () => {
    if (removed) return;
    removed = true;
    if (reopenTimer) clearTimeout(reopenTimer);
    reopenTimer = null;
    if (current) void client.removeChannel(current);
    current = null;
  };

  /** Opens a channel; resolves when the server confirms it (the first time), rejects when it refuses that. */
  const open = async (again: boolean): Promise<void> => {
    // The join must carry the signed-in user's token: RLS decides which rows they see.
    await client.realtime.setAuth();
    if (removed) return;
    sequence += 1;
    const channel: RealtimeChannel = client.channel(`${label}:${sequence}:${Math.random().toString(36).slice(2, 8)}`, {
      config: { postgres_changes_options: { wait: true } },
    });
    current = channel;
    channel.on('postgres_changes', { event: '*', schema: 'public', table: watch.table, filter: watch.filter }, (payload) => {
      const event = payload.eventType;
      if (event === 'DELETE' || !events.includes(event)) return;
      watch.onRow(payload.new as Row, event);
    });
    let confirmed = false;
    await new Promise<void>((resolve, reject) => {
      channel.subscribe((status, err) => {
        if (removed || current !== channel) return;
        if (status === 'SUBSCRIBED') {
          if (confirmed || again) watch.onRejoin?.();
          confirmed = true;
          reopenAttempt = 0;
          resolve();
          return;
        }
        if (confirmed) {
          // After a confirmed subscription the client rejoins by itself, unless the server closed the channel.
          if (status === 'CLOSED') reopenLater();
          return;
        }
        if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT' || status === 'CLOSED') {
          // Forgotten before it is removed: removing it reports it closed, which must not come back here.
          current = null;
          void client.removeChannel(channel);
          reject(
            new BackendError('realtime_unavailable', `Live updates of ${watch.table} are unavailable: ${err?.message ?? status.toLowerCase()}`, {
              cause: err,
            }),
          );
        }
      });
    });
  };

  const reopenLater = (): void => {
    if (removed || reopenTimer) return;
    const closed = current;
    current = null;
    if (closed) void client.removeChannel(closed);
    const delay = REOPEN_DELAYS_MS[Math.min(reopenAttempt, REOPEN_DELAYS_MS.length - 1)]!;
    reopenAttempt += 1;
    reopenTimer = setTimeout(() => {
      reopenTimer = null;
      if (removed) return;
      open(true).catch(() => reopenLater());
    }, delay);
  };

  try {
    await open(false);
  } catch (err) {
    if (watch.onUnavailable && err instanceof BackendError && err.reason === 'realtime_unavailable') {
      watch.onUnavailable(err);
      reopenLater();
      return unsubscribe;
    }
    unsubscribe();
    throw err;
  }
  return unsubscribe;
}
