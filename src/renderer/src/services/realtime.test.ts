import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SupabaseClient } from '@supabase/supabase-js';
import { pollWhileUnavailable, UNAVAILABLE_POLL_MS, watchTable } from './realtime';

/** Enough of a supabase-js client for watchTable: one channel whose status changes the test drives. */
function fakeClient() {
  let status: ((s: string, err?: Error) => void) | null = null;
  let removed = 0;
  const options: unknown[] = [];
  const channel = {
    on: () => channel,
    subscribe: (cb: (s: string, err?: Error) => void) => {
      status = cb;
      return channel;
    },
  };
  const client = {
    realtime: { setAuth: async () => {} },
    channel: (_topic: string, opts?: unknown) => {
      options.push(opts);
      return channel;
    },
    removeChannel: async () => {
      removed += 1;
      return 'ok';
    },
  } as unknown as SupabaseClient;
  return { client, status: (s: string, err?: Error) => status!(s, err), removed: () => removed, options };
}

describe('a table watch', () => {
  it('tells the caller when the subscription came back after a drop (changes meanwhile were missed)', async () => {
    const fake = fakeClient();
    let rejoins = 0;
    const watching = watchTable(fake.client, 'seats', { table: 'stream_guest_seats', filter: 'stream_id=eq.x', onRow: () => {}, onRejoin: () => (rejoins += 1) });
    await Promise.resolve();
    await Promise.resolve();
    fake.status('SUBSCRIBED');
    const unsubscribe = await watching;
    expect(rejoins).toBe(0);
    fake.status('CHANNEL_ERROR', new Error('socket closed'));
    fake.status('SUBSCRIBED');
    expect(rejoins).toBe(1);
    unsubscribe();
    fake.status('SUBSCRIBED');
    expect(rejoins).toBe(1);
    expect(fake.removed()).toBe(1);
  });

  it('asks the server to confirm only once the row-change feed runs (hosted Realtime confirms the join earlier otherwise)', async () => {
    const fake = fakeClient();
    const watching = watchTable(fake.client, 'stream', { table: 'streams', filter: 'id=eq.x', onRow: () => {} });
    await Promise.resolve();
    await Promise.resolve();
    fake.status('SUBSCRIBED');
    (await watching)();
    expect(fake.options).toEqual([{ config: { postgres_changes_options: { wait: true } } }]);
  });

  it('fails with a clear error when the first subscription is refused', async () => {
    const fake = fakeClient();
    const watching = watchTable(fake.client, 'seats', { table: 'stream_guest_seats', filter: 'stream_id=eq.x', onRow: () => {} });
    await Promise.resolve();
    await Promise.resolve();
    fake.status('CHANNEL_ERROR', new Error('Unauthorized'));
    await expect(watching).rejects.toThrow(/Live updates of stream_guest_seats are unavailable: Unauthorized/);
    expect(fake.removed()).toBe(1);
  });

  it('removes a refused channel once, though removing it reports it closed at once (as supabase-js does)', async () => {
    const fake = fakeClient();
    const remove = fake.client.removeChannel.bind(fake.client);
    (fake.client as unknown as { removeChannel: (c: unknown) => Promise<string> }).removeChannel = (channel) => {
      fake.status('CLOSED');
      return remove(channel as never);
    };
    const watching = watchTable(fake.client, 'seats', { table: 'stream_guest_seats', filter: 'stream_id=eq.x', onRow: () => {} });
    await Promise.resolve();
    await Promise.resolve();
    fake.status('TIMED_OUT');
    await expect(watching).rejects.toThrow(/Live updates of stream_guest_seats are unavailable: timed_out/);
    expect(fake.removed()).toBe(1);
  });
});

/** A client that makes a new channel each time, each with its own status callback and row listener. */
function channelsClient() {
  const made: Array<{ status: (s: string, err?: Error) => void; row: (payload: unknown) => void; removed: boolean }> = [];
  let tokens = 0;
  const client = {
    realtime: {
      setAuth: async () => {
        tokens += 1;
      },
    },
    channel: () => {
      const entry = { status: (_s: string) => {}, row: (_p: unknown) => {}, removed: false };
      const channel = {
        entry,
        on: (_type: string, _filter: unknown, cb: (payload: unknown) => void) => {
          entry.row = cb;
          return channel;
        },
        subscribe: (cb: (s: string, err?: Error) => void) => {
          entry.status = cb;
          return channel;
        },
      };
      made.push(entry);
      return channel;
    },
    removeChannel: async (channel: { entry: { removed: boolean } }) => {
      channel.entry.removed = true;
      return 'ok';
    },
  } as unknown as SupabaseClient;
  return { client, made, tokens: () => tokens };
}

describe('a table watch the server closes', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is opened again with the current token, with growing pauses, and says changes were missed', async () => {
    vi.useFakeTimers();
    const fake = channelsClient();
    const rows: unknown[] = [];
    let rejoins = 0;
    const watching = watchTable<{ id: number }>(fake.client, 'seats', {
      table: 'stream_guest_seats',
      filter: 'stream_id=eq.x',
      onRow: (row) => rows.push(row),
      onRejoin: () => (rejoins += 1),
    });
    await vi.advanceTimersByTimeAsync(0);
    fake.made[0]!.status('SUBSCRIBED');
    const unsubscribe = await watching;
    // The server closes the channel (its token expired): the client would not rejoin it.
    fake.made[0]!.status('CLOSED');
    expect(fake.made[0]!.removed).toBe(true);
    await vi.advanceTimersByTimeAsync(999);
    expect(fake.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.made).toHaveLength(2);
    expect(fake.tokens()).toBe(2);
    // Refused this time (the token is being refreshed): tried again after a longer pause.
    fake.made[1]!.status('CHANNEL_ERROR', new Error('Unauthorized'));
    await vi.advanceTimersByTimeAsync(1999);
    expect(fake.made).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.made).toHaveLength(3);
    fake.made[2]!.status('SUBSCRIBED');
    expect(rejoins).toBe(1);
    fake.made[2]!.row({ eventType: 'UPDATE', new: { id: 7 } });
    expect(rows).toEqual([{ id: 7 }]);
    unsubscribe();
    expect(fake.made[2]!.removed).toBe(true);
    // Nothing opens again once the caller stopped.
    fake.made[2]!.status('CLOSED');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fake.made).toHaveLength(3);
  });

  it('with onUnavailable, a first subscription that fails is told, resolves, and keeps being tried until it holds', async () => {
    vi.useFakeTimers();
    const fake = channelsClient();
    const failures: string[] = [];
    let rejoins = 0;
    const watching = watchTable(fake.client, 'invitations', {
      table: 'stream_guest_invitations',
      filter: 'invitee_id=eq.x',
      onRow: () => {},
      onRejoin: () => (rejoins += 1),
      onUnavailable: (err) => failures.push(err.message),
    });
    await vi.advanceTimersByTimeAsync(0);
    fake.made[0]!.status('TIMED_OUT');
    const unsubscribe = await watching;
    expect(failures).toEqual(['Live updates of stream_guest_invitations are unavailable: timed_out']);
    expect(fake.made[0]!.removed).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fake.made).toHaveLength(2);
    fake.made[1]!.status('CHANNEL_ERROR', new Error('socket closed'));
    await vi.advanceTimersByTimeAsync(2000);
    expect(fake.made).toHaveLength(3);
    expect(rejoins).toBe(0);
    fake.made[2]!.status('SUBSCRIBED');
    expect(rejoins).toBe(1);
    expect(failures).toHaveLength(1);
    unsubscribe();
    expect(fake.made[2]!.removed).toBe(true);
  });
});

describe('pollWhileUnavailable', () => {
  afterEach(() => vi.useRealTimers());

  it('reads every few seconds between start and stop, with one timer however often it is started', () => {
    vi.useFakeTimers();
    let reads = 0;
    const poll = pollWhileUnavailable(() => (reads += 1));
    poll.start();
    poll.start();
    vi.advanceTimersByTime(UNAVAILABLE_POLL_MS * 3);
    expect(reads).toBe(3);
    poll.stop();
    vi.advanceTimersByTime(UNAVAILABLE_POLL_MS * 3);
    expect(reads).toBe(3);
  });
});
