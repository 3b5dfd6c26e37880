import { describe, expect, it } from 'vitest';
import type { SupabaseClient } from '@supabase/supabase-js';
import { watchTable } from './realtime';

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
});
