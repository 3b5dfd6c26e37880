/** The change hub's subscriptions against a stand-in pool: what a join costs the database. */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ChangesHub, parseBindings, type ChangeListener } from './changes.js';

/** A pool whose tables all have the columns `id` (the primary key) and `n`; counts the table lookups. */
function catalogPool(): { pool: pg.Pool; lookups: string[] } {
  const lookups: string[] = [];
  const client = {
    on() {},
    removeListener() {},
    removeAllListeners() {},
    async query() {
      return { rows: [], rowCount: 0 };
    },
    release() {},
  };
  const pool = {
    async connect() {
      return client;
    },
    async query(sql: string, values: string[]) {
      if (!sql.includes('pg_attribute')) return { rows: [], rowCount: 0 };
      lookups.push(values.join('.'));
      if (values[1] === 'missing') return { rows: [], rowCount: 0 };
      return {
        rows: [
          { name: 'id', type: 'int8', pk_position: 1 },
          { name: 'n', type: 'int4', pk_position: null },
        ],
        rowCount: 2,
      };
    },
  };
  return { pool: pool as unknown as pg.Pool, lookups };
}

type Notification = { channel: string; payload?: string };

/**
 * catalogPool's tables, listened to by a client that hands its notification callback to the test
 * (`notify`); each visibility check (`select 1 from …`) finds the row once `check()` resolves.
 */
function listeningPool(check: () => Promise<void>): { pool: pg.Pool; notify: (msg: Notification) => void } {
  const { pool } = catalogPool();
  let listener: (msg: Notification) => void = () => undefined;
  const client = {
    on(event: string, cb: (msg: Notification) => void) {
      if (event === 'notification') listener = cb;
    },
    removeListener() {},
    removeAllListeners() {},
    async query(sql: string) {
      if (sql.startsWith('select 1 from')) {
        await check();
        return { rows: [{ '?column?': 1 }], rowCount: 1 };
      }
      return { rows: [], rowCount: 0 };
    },
    release() {},
  };
  (pool as unknown as { connect: () => Promise<unknown> }).connect = async () => client;
  return { pool, notify: (msg) => listener(msg) };
}

const listener: ChangeListener = { claims: { role: 'anon' }, deliver() {}, interrupted() {} };

describe('ChangesHub.subscribe', () => {
  it('looks each table up once per join, however many bindings name it', async () => {
    const { pool, lookups } = catalogPool();
    const hub = new ChangesHub({ pool, log: () => undefined });
    const bindings = parseBindings([
      { event: 'INSERT', schema: 'public', table: 'notes' },
      { event: 'UPDATE', schema: 'public', table: 'notes', filter: 'n=gt.1' },
      { event: 'DELETE', schema: 'public', table: 'notes', filter: 'id=eq.3' },
      { event: '*', schema: 'public', table: 'seats' },
      { event: '*', schema: 'public' },
    ]);
    expect(await hub.subscribe(listener, bindings)).toHaveLength(5);
    expect(lookups.sort()).toEqual(['public.notes', 'public.seats']);
    await hub.close();
  });

  it('still refuses a table that does not exist and a filter on a column it lacks', async () => {
    const { pool } = catalogPool();
    const hub = new ChangesHub({ pool, log: () => undefined });
    await expect(hub.subscribe(listener, parseBindings([{ event: '*', schema: 'public', table: 'missing' }]))).rejects.toThrow(/does not exist/);
    await expect(hub.subscribe(listener, parseBindings([{ event: '*', schema: 'public', table: 'notes', filter: 'nope=eq.1' }]))).rejects.toThrow(
      /no column "nope"/,
    );
    await hub.close();
  });
});

describe('ChangesHub deliveries', () => {
  it("delivers a change to a subscriber whose token was refreshed while the row's visibility was being checked", async () => {
    let gate: Promise<void> = Promise.resolve();
    let open = (): void => undefined;
    let checking = (): void => undefined;
    const checked = new Promise<void>((resolve) => {
      checking = resolve;
    });
    // The visibility check finds the row once the test lets it answer.
    const { pool, notify } = listeningPool(async () => {
      checking();
      await gate;
    });
    const hub = new ChangesHub({ pool, log: () => undefined });
    let claims: Record<string, unknown> = { role: 'authenticated', sub: 'u1', exp: 1000, iat: 1 };
    const delivered: unknown[] = [];
    const subscriber: ChangeListener = {
      get claims() {
        return claims as never;
      },
      deliver: (payload) => delivered.push(payload),
      interrupted() {},
    };
    await hub.subscribe(subscriber, parseBindings([{ event: '*', schema: 'public', table: 'notes' }]));
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    notify({
      channel: 'realtime_changes',
      payload: JSON.stringify({ schema: 'public', table: 'notes', type: 'INSERT', commit_timestamp: '2026-12-07T08:00:00Z', record: { id: 1, n: 2 }, pk: { id: 1 } }),
    });
    await checked;
    // The client refreshes its token (a new iat and exp) while the check runs.
    claims = { role: 'authenticated', sub: 'u1', exp: 5000, iat: 2 };
    open();
    await expect.poll(() => delivered.length).toBe(1);
    expect(delivered[0]).toMatchObject({ data: { type: 'INSERT', record: { id: 1, n: 2 } } });
    await hub.close();
  });
});

/** The hub's listening connection, and how the test hands it a notification. */
function listeningClient() {
  let onNotification: (msg: { channel: string; payload?: string }) => void = () => undefined;
  const client = {
    on(event: string, cb: (msg: { channel: string; payload?: string }) => void) {
      if (event === 'notification') onNotification = cb;
    },
    removeListener() {},
    removeAllListeners() {},
    async query() {
      return { rows: [], rowCount: 0 };
    },
    release() {},
  };
  return { client, notify: (msg: { channel: string; payload?: string }) => onNotification(msg) };
}

describe('ChangesHub when the database gives no connection', () => {
  it("fails the subscriber's channel (so the client reads again) instead of dropping the change as not visible", async () => {
    const { pool } = catalogPool();
    const { client, notify } = listeningClient();
    (pool as unknown as { connect: () => Promise<unknown> }).connect = async () => client;
    // The pool the visibility checks use has no connection to give in time (pg's error carries no SQLSTATE).
    const callerPool = {
      async connect() {
        throw new Error('timeout exceeded when trying to connect');
      },
    } as unknown as pg.Pool;
    const logs: string[] = [];
    const hub = new ChangesHub({ pool, callerPool, log: (m) => logs.push(m) });
    const interrupted: string[] = [];
    const delivered: unknown[] = [];
    const subscriber: ChangeListener = { claims: { role: 'authenticated', sub: 'u1' }, deliver: (p) => delivered.push(p), interrupted: (m) => interrupted.push(m) };
    await hub.subscribe(subscriber, parseBindings([{ event: '*', schema: 'public', table: 'notes' }]));
    notify({
      channel: 'realtime_changes',
      payload: JSON.stringify({ schema: 'public', table: 'notes', type: 'UPDATE', commit_timestamp: '2026-12-07T08:00:00Z', record: { id: 1, n: 3 }, pk: { id: 1 } }),
    });
    await expect.poll(() => interrupted.length).toBe(1);
    expect(interrupted[0]).toMatch(/could not be checked for this subscriber: the database did not answer in time/);
    expect(delivered).toEqual([]);
    expect(hub.listenerCount).toBe(0);
    await hub.close();
  });
});

describe('ChangesHub when a change cannot be read', () => {
  /** A hub whose listening connection the test notifies through; `failing` makes the pool's queries fail. */
  async function hubWithFailingPool(failOn: (sql: string) => boolean) {
    const { pool } = catalogPool();
    const { client: listening, notify } = listeningClient();
    const p = pool as unknown as { connect: () => Promise<unknown>; query: (sql: string, values: string[]) => Promise<unknown> };
    p.connect = async () => listening;
    const query = p.query.bind(p);
    let failing = false;
    p.query = async (sql, values) => {
      if (failing && failOn(sql)) throw new Error('timeout exceeded when trying to connect');
      return query(sql, values);
    };
    const logs: string[] = [];
    const hub = new ChangesHub({ pool, callerPool: pool, log: (m) => logs.push(m) });
    const interrupted: string[] = [];
    const delivered: unknown[] = [];
    const subscriber: ChangeListener = { claims: { role: 'service_role' }, deliver: (d) => delivered.push(d), interrupted: (m) => interrupted.push(m) };
    const other: ChangeListener = { claims: { role: 'service_role' }, deliver: () => undefined, interrupted: (m) => interrupted.push(`other: ${m}`) };
    await hub.subscribe(subscriber, parseBindings([{ event: '*', schema: 'public', table: 'notes' }]));
    await hub.subscribe(other, parseBindings([{ event: '*', schema: 'public', table: 'other_table' }]));
    failing = true;
    const send = (change: Record<string, unknown>) =>
      notify({ channel: 'realtime_changes', payload: JSON.stringify({ schema: 'public', table: 'notes', commit_timestamp: '2026-12-07T08:00:00Z', ...change }) });
    return { hub, send, interrupted, delivered, logs };
  }

  it('a row too large for its notification that cannot be read again: the channels on its table fail, others stay', async () => {
    const h = await hubWithFailingPool((sql) => sql.includes('to_jsonb'));
    h.send({ type: 'INSERT', record: null, truncated: true, pk: { id: 1 } });
    await expect.poll(() => h.interrupted.length).toBe(1);
    expect(h.interrupted[0]).toBe('a change on public.notes could not be read: the database did not answer');
    expect(h.delivered).toEqual([]);
    expect(h.hub.listenerCount).toBe(1);
    expect(h.logs).toContainEqual(expect.stringMatching(/could not be read: timeout exceeded when trying to connect/));
    await h.hub.close();
  });

  it('a table that cannot be looked up again (a column added): the channels on it fail', async () => {
    const h = await hubWithFailingPool((sql) => sql.includes('pg_attribute'));
    h.send({ type: 'UPDATE', record: { id: 1, n: 2, added: 'x' }, pk: { id: 1 } });
    await expect.poll(() => h.interrupted.length).toBe(1);
    expect(h.interrupted[0]).toMatch(/^a change on public\.notes could not be read/);
    expect(h.hub.listenerCount).toBe(1);
    await h.hub.close();
  });
});

describe('parseBindings', () => {
  it('refuses more bindings than allowed', () => {
    const binding = { event: '*', schema: 'public', table: 'notes' };
    expect(parseBindings(Array(3).fill(binding), 3)).toHaveLength(3);
    expect(() => parseBindings(Array(4).fill(binding), 3)).toThrow('Too many postgres_changes bindings: 4 in one join, at most 3');
  });
});

describe('ChangesHub when changes come faster than they are handled', () => {
  it('drops the backlog past its limit and tells every subscriber to rejoin; later changes are delivered', async () => {
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let checks = 0;
    // Each visibility check waits for the test: the first change holds the queue, as a slow database would.
    const { pool, notify } = listeningPool(async () => {
      checks++;
      await gate;
    });
    const logs: string[] = [];
    const hub = new ChangesHub({ pool, log: (m) => logs.push(m), maxPendingChanges: 5 });
    const interrupted: string[] = [];
    const delivered: Array<{ data: { record: { n: number } } }> = [];
    const subscriber: ChangeListener = {
      claims: { role: 'authenticated', sub: 'u1' },
      deliver: (p) => delivered.push(p as never),
      interrupted: (m) => interrupted.push(m),
    };
    await hub.subscribe(subscriber, parseBindings([{ event: '*', schema: 'public', table: 'notes' }]));
    const change = (n: number) =>
      notify({
        channel: 'realtime_changes',
        payload: JSON.stringify({ schema: 'public', table: 'notes', type: 'INSERT', commit_timestamp: '2026-12-07T08:00:00Z', record: { id: n, n }, pk: { id: n } }),
      });
    for (let n = 1; n <= 5; n++) change(n);
    await expect.poll(() => checks).toBe(1);
    expect(interrupted).toEqual([]);
    // The sixth finds five waiting: all are dropped, and the subscriber is told.
    change(6);
    expect(interrupted).toHaveLength(1);
    expect(interrupted[0]).toMatch(/fell behind by 5 changes.*rejoin/);
    expect(hub.listenerCount).toBe(0);
    expect(logs.join('\n')).toMatch(/5 changes were waiting to be delivered \(at most 5\): dropped, 1 subscription\(s\) told to rejoin/);
    // The client rejoins; the change that was being checked when the backlog went is not delivered late.
    await hub.subscribe(subscriber, parseBindings([{ event: '*', schema: 'public', table: 'notes' }]));
    open();
    change(7);
    await expect.poll(() => delivered.map((d) => d.data.record.n)).toEqual([7]);
    expect(checks).toBe(2);
    expect(interrupted).toHaveLength(1);
    await hub.close();
  });
});
