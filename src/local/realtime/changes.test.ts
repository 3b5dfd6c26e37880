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

describe('parseBindings', () => {
  it('refuses more bindings than allowed', () => {
    const binding = { event: '*', schema: 'public', table: 'notes' };
    expect(parseBindings(Array(3).fill(binding), 3)).toHaveLength(3);
    expect(() => parseBindings(Array(4).fill(binding), 3)).toThrow('Too many postgres_changes bindings: 4 in one join, at most 3');
  });
});
