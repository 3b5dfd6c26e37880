/**
 * postgres_changes: row changes announced by the triggers of
 * `src/local/sql/realtime_local.sql` on the `realtime_changes` channel, matched
 * against each subscriber's bindings and delivered only when the subscriber may
 * see the row (a select by primary key as its role and claims). DELETEs carry
 * the old primary key only, unless the table has REPLICA IDENTITY FULL and no
 * RLS; the row is gone, so they are matched on what they carry.
 */
import type pg from 'pg';
import { asCaller, type JwtClaims } from './auth.js';
import { RealtimeError } from './errors.js';
import { matchesFilter, parseFilter, type FilterCondition } from './filters.js';

export const CHANGES_CHANNEL = 'realtime_changes';

export type ChangeEvent = 'INSERT' | 'UPDATE' | 'DELETE';
const EVENTS: readonly string[] = ['*', 'INSERT', 'UPDATE', 'DELETE'];

export interface ChangeBinding {
  /** The binding as the client sent it; echoed back with its id. */
  raw: Record<string, unknown>;
  event: '*' | ChangeEvent;
  schema: string;
  /** undefined or `*`: every table of the schema. */
  table: string | undefined;
  filter: FilterCondition[];
  select: string[] | undefined;
}

/** Whoever receives changes: a joined channel. */
export interface ChangeListener {
  readonly claims: JwtClaims;
  deliver(payload: Record<string, unknown>): void;
  /**
   * Changes may have been missed (the connection listening for them broke):
   * the listener is no longer subscribed and should join again, then read
   * what it shows anew.
   */
  interrupted(message: string): void;
}

interface Subscription {
  id: number;
  binding: ChangeBinding;
}

export interface Column {
  name: string;
  type: string;
}

export interface TableInfo {
  schema: string;
  table: string;
  columns: Column[];
  types: Map<string, string>;
  /**
   * Each column's type as SQL names it (`format_type`: quoted and schema-qualified where needed),
   * without its length or precision (as hosted Realtime casts filter values: `numeric(5,2)` takes 1000).
   */
  sqlTypes: Map<string, string>;
  primaryKey: string[];
}

interface RawChange {
  schema: string;
  table: string;
  type: ChangeEvent;
  commit_timestamp: string;
  record: Record<string, unknown> | null;
  old_record: Record<string, unknown> | null;
  pk: Record<string, unknown> | null;
  truncated: boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates the `postgres_changes` list of a join (at most `max` bindings); a
 * RealtimeError (`invalid_join`, `invalid_filter`, `too_many_bindings`) otherwise.
 */
export function parseBindings(value: unknown, max = Number.POSITIVE_INFINITY): ChangeBinding[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new RealtimeError('invalid_join', 'config.postgres_changes must be a list');
  if (value.length > max) {
    throw new RealtimeError('too_many_bindings', `Too many postgres_changes bindings: ${value.length} in one join, at most ${max}`);
  }
  return value.map((raw, i): ChangeBinding => {
    if (!isObject(raw)) throw new RealtimeError('invalid_join', `postgres_changes[${i}] must be an object`);
    const { event, schema, table, filter, select } = raw;
    if (typeof event !== 'string' || !EVENTS.includes(event.toUpperCase())) {
      throw new RealtimeError('invalid_join', `postgres_changes[${i}].event must be one of *, INSERT, UPDATE, DELETE`);
    }
    if (typeof schema !== 'string' || schema === '') {
      throw new RealtimeError('invalid_join', `postgres_changes[${i}].schema must be a non-empty string`);
    }
    if (table !== undefined && table !== null && typeof table !== 'string') {
      throw new RealtimeError('invalid_join', `postgres_changes[${i}].table must be a string`);
    }
    if (filter !== undefined && filter !== null && typeof filter !== 'string') {
      throw new RealtimeError('invalid_join', `postgres_changes[${i}].filter must be a string`);
    }
    if (select !== undefined && select !== null && (!Array.isArray(select) || select.some((c) => typeof c !== 'string'))) {
      throw new RealtimeError('invalid_join', `postgres_changes[${i}].select must be a list of column names`);
    }
    return {
      raw,
      event: event.toUpperCase() as ChangeBinding['event'],
      schema,
      table: typeof table === 'string' && table !== '' ? table : undefined,
      filter: parseFilter(filter as string | undefined | null),
      select: Array.isArray(select) ? (select as string[]) : undefined,
    };
  });
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function parseChange(text: string): RawChange | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(value)) return null;
  const { schema, table, type, commit_timestamp, record, old_record, pk, truncated } = value;
  if (typeof schema !== 'string' || typeof table !== 'string' || typeof commit_timestamp !== 'string') return null;
  if (type !== 'INSERT' && type !== 'UPDATE' && type !== 'DELETE') return null;
  return {
    schema,
    table,
    type,
    commit_timestamp,
    record: isObject(record) ? record : null,
    old_record: isObject(old_record) ? old_record : null,
    pk: isObject(pk) ? pk : null,
    truncated: truncated === true,
  };
}

function asParam(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function pick(record: Record<string, unknown>, names: ReadonlySet<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => names.has(k)));
}

const TABLE_INFO_SQL = `
  select a.attname as name, t.typname as type, format_type(a.atttypid, null) as sql_type,
         array_position(i.indkey::int2[], a.attnum) as pk_position
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  join pg_type t on t.oid = a.atttypid
  left join pg_index i on i.indrelid = c.oid and i.indisprimary
  where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p', 'v', 'm', 'f')
  order by a.attnum`;

export interface ChangesHubOptions {
  /** Listens for changes and reads the changed rows: connections that see every row. */
  pool: pg.Pool;
  /** Where each subscriber's RLS check runs as them (asCaller); `pool` by default. */
  callerPool?: pg.Pool;
  log: (msg: string) => void;
  /** Delay between attempts to listen again after the listening connection broke. */
  reconnectDelayMs?: number;
  /**
   * Changes waiting to be handled, at most (DEFAULT_MAX_PENDING_CHANGES). Past it the backlog is
   * dropped and every subscriber is told to rejoin, as when the listening connection breaks:
   * a backlog past this is minutes behind, and its memory would grow without end.
   */
  maxPendingChanges?: number;
}

export const DEFAULT_MAX_PENDING_CHANGES = 10_000;

export class ChangesHub {
  private readonly pool: pg.Pool;
  private readonly callerPool: pg.Pool;
  private readonly log: (msg: string) => void;
  private readonly reconnectDelayMs: number;
  private readonly listeners = new Map<ChangeListener, Subscription[]>();
  private readonly tables = new Map<string, TableInfo>();
  private nextId = 1000;
  private client: pg.PoolClient | null = null;
  private connecting: Promise<void> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  /** Changes queued and not handled yet, of the current backlog. */
  private pending = 0;
  /** Bumped when a backlog is dropped: changes queued before it are skipped. */
  private backlog = 0;
  private readonly maxPending: number;
  private closed = false;

  constructor(opts: ChangesHubOptions) {
    this.pool = opts.pool;
    this.callerPool = opts.callerPool ?? opts.pool;
    this.log = opts.log;
    this.reconnectDelayMs = opts.reconnectDelayMs ?? 1000;
    this.maxPending = opts.maxPendingChanges ?? DEFAULT_MAX_PENDING_CHANGES;
  }

  /**
   * Registers a listener's bindings, after checking that their tables and
   * filter columns exist; resolves to the binding ids, in order, once changes
   * are being listened for.
   */
  async subscribe(listener: ChangeListener, bindings: ChangeBinding[]): Promise<number[]> {
    if (bindings.length === 0) return [];
    // Each table once, however many bindings name it.
    const named = bindings.filter((b) => b.table !== undefined && b.table !== '*' && b.schema !== '*');
    const tables = new Map(named.map((b) => [`${b.schema}.${b.table!}`, { schema: b.schema, table: b.table! }]));
    const infos = new Map(
      await Promise.all([...tables].map(async ([key, t]) => [key, await this.describe(t.schema, t.table, true)] as const)),
    );
    for (const binding of named) {
      const info = infos.get(`${binding.schema}.${binding.table!}`);
      if (!info) {
        throw new RealtimeError(
          'unknown_table',
          `Unable to subscribe to changes with given parameters: table ${binding.schema}.${binding.table} does not exist`,
        );
      }
      for (const cond of binding.filter) {
        if (!info.types.has(cond.column)) {
          throw new RealtimeError('invalid_filter', `Unable to subscribe to changes: ${binding.schema}.${binding.table} has no column "${cond.column}"`);
        }
      }
      await this.checkFilterValues(binding, info);
    }
    await this.ensureListening();
    const subs = bindings.map((binding) => ({ id: this.nextId++, binding }));
    this.listeners.set(listener, subs);
    return subs.map((s) => s.id);
  }

  /**
   * Each filter value must be a value of its column's type, as hosted Realtime checks at join
   * (`subscription_check_filters`): `stream_id=eq.not-a-uuid` is refused with the reason instead of
   * a subscription that can never deliver anything. One query casts them all.
   */
  private async checkFilterValues(binding: ChangeBinding, info: TableInfo): Promise<void> {
    const casts: Array<{ value: string; type: string; column: string }> = [];
    for (const cond of binding.filter) {
      const type = info.sqlTypes.get(cond.column);
      if (!type) continue;
      for (const value of cond.op === 'in' ? cond.values : [cond.value]) casts.push({ value, type, column: cond.column });
    }
    if (casts.length === 0) return;
    // The type names come from the catalog (format_type quotes them): only the values are parameters.
    const sql = `select ${casts.map((c, i) => `$${i + 1}::${c.type}`).join(', ')}`;
    try {
      await this.pool.query(sql, casts.map((c) => c.value));
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      // Class 22 (data exceptions) and a domain's CHECK (23514): the value is not one of the type's.
      if (!code.startsWith('22') && code !== '23514') throw new RealtimeError('database_error', `could not check the filter's values: ${(err as Error).message}`);
      const columns = [...new Set(casts.map((c) => `${c.column} (${c.type})`))].join(', ');
      throw new RealtimeError('invalid_filter', `Unable to subscribe to changes: a filter value is not of its column's type, ${columns}: ${(err as Error).message}`);
    }
  }

  unsubscribe(listener: ChangeListener): void {
    this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.listeners.clear();
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners('notification');
      await client.query(`unlisten ${CHANGES_CHANNEL}`).catch(() => undefined);
      client.release();
    }
    await this.queue;
  }

  private ensureListening(): Promise<void> {
    if (this.closed) return Promise.reject(new RealtimeError('database_error', 'the realtime server is closed'));
    if (this.client) return Promise.resolve();
    this.connecting ??= this.listen().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async listen(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw new RealtimeError('database_error', `cannot listen for changes: ${(err as Error).message}`);
    }
    const onError = (err: Error): void => this.lost(client, err);
    client.on('error', onError);
    client.on('notification', (msg) => {
      if (msg.channel !== CHANGES_CHANNEL || msg.payload === undefined) return;
      this.enqueue(msg.payload);
    });
    try {
      await client.query(`listen ${CHANGES_CHANNEL}`);
    } catch (err) {
      client.removeListener('error', onError);
      client.release(err as Error);
      throw new RealtimeError('database_error', `cannot listen for changes: ${(err as Error).message}`);
    }
    if (this.closed) {
      client.release();
      return;
    }
    this.client = client;
  }

  private enqueue(payload: string): void {
    if (this.pending >= this.maxPending) {
      this.dropBacklog();
      return;
    }
    this.pending++;
    const backlog = this.backlog;
    this.queue = this.queue
      .then(() => (backlog === this.backlog ? this.handle(payload, backlog) : undefined))
      .catch((err: Error) => this.log(`realtime: change not delivered: ${err.message}`))
      .then(() => {
        if (backlog === this.backlog) this.pending--;
      });
  }

  /**
   * More changes wait than the hub may hold: the ones waiting are skipped (this one too), and
   * every subscriber is told and dropped, so that its client rejoins and reads afresh — what
   * it would otherwise get is late by the whole backlog. Changes from now on are handled.
   */
  private dropBacklog(): void {
    const waiting = this.pending;
    this.backlog++;
    this.pending = 0;
    const dropped = [...this.listeners.keys()];
    this.listeners.clear();
    this.log(`realtime: ${waiting} changes were waiting to be delivered (at most ${this.maxPending}): dropped, ${dropped.length} subscription(s) told to rejoin`);
    const message = `Realtime fell behind by ${waiting} changes, which were dropped: changes may have been missed; rejoin`;
    for (const listener of dropped) listener.interrupted(message);
  }

  /**
   * The listening connection broke: whatever changed until it listens again
   * is never announced. Every subscriber is told and dropped (its channel
   * rejoins and re-reads, as with hosted Realtime), and listening starts again
   * at once, then every `reconnectDelayMs` until it works.
   */
  private lost(client: pg.PoolClient, err: Error): void {
    if (this.client !== client) return;
    this.client = null;
    client.removeAllListeners('notification');
    client.release(err);
    const dropped = [...this.listeners.keys()];
    this.listeners.clear();
    this.log(
      `realtime: the connection listening for changes broke (${err.message}); listening again, ${dropped.length} subscription(s) told to rejoin`,
    );
    const message = `Lost the database connection listening for changes (${err.message}): changes may have been missed; rejoin`;
    for (const listener of dropped) listener.interrupted(message);
    const retry = (): void => {
      this.reconnectTimer = null;
      if (this.closed) return;
      this.ensureListening().catch((e: Error) => {
        this.log(`realtime: ${e.message}`);
        if (!this.closed) this.reconnectTimer = setTimeout(retry, this.reconnectDelayMs);
      });
    };
    retry();
  }

  /** Columns, their types and the primary key of a table; null if there is no such table. */
  async describe(schema: string, table: string, fresh = false): Promise<TableInfo | null> {
    const key = `${schema}.${table}`;
    const cached = this.tables.get(key);
    if (cached && !fresh) return cached;
    const { rows } = await this.pool.query<{ name: string; type: string; sql_type?: string; pk_position: number | null }>(TABLE_INFO_SQL, [schema, table]);
    if (rows.length === 0) {
      this.tables.delete(key);
      return null;
    }
    const info: TableInfo = {
      schema,
      table,
      columns: rows.map((r) => ({ name: r.name, type: r.type })),
      types: new Map(rows.map((r) => [r.name, r.type])),
      sqlTypes: new Map(rows.map((r) => [r.name, r.sql_type ?? r.type])),
      primaryKey: rows
        .filter((r) => r.pk_position !== null)
        .sort((a, b) => (a.pk_position ?? 0) - (b.pk_position ?? 0))
        .map((r) => r.name),
    };
    this.tables.set(key, info);
    return info;
  }

  private matching(change: RawChange, types: ReadonlyMap<string, string>): Map<ChangeListener, Subscription[]> {
    const row = change.type === 'DELETE' ? change.old_record : change.record;
    const out = new Map<ChangeListener, Subscription[]>();
    for (const [listener, subs] of this.listeners) {
      const hits = subs.filter(({ binding: b }) => {
        if (b.event !== '*' && b.event !== change.type) return false;
        if (b.schema !== '*' && b.schema !== change.schema) return false;
        if (b.table !== undefined && b.table !== '*' && b.table !== change.table) return false;
        return matchesFilter(b.filter, row, types);
      });
      if (hits.length > 0) out.set(listener, hits);
    }
    return out;
  }

  /** Processes one notification; exported behaviour is only through deliveries. */
  private async handle(text: string, backlog: number): Promise<void> {
    if (this.closed || this.listeners.size === 0) return;
    const change = parseChange(text);
    if (!change) {
      this.log('realtime: ignored a malformed change notification');
      return;
    }
    // Cheap pre-check without types: nobody listens to this table at all.
    const onTable = ({ binding: b }: Subscription) =>
      (b.schema === '*' || b.schema === change.schema) && (b.table === undefined || b.table === '*' || b.table === change.table);
    const interested = [...this.listeners].filter(([, subs]) => subs.some(onTable)).map(([listener]) => listener);
    if (interested.length === 0) return;

    let info: TableInfo | null;
    try {
      info = await this.describe(change.schema, change.table);
      const row = change.record ?? change.old_record ?? {};
      if (info && Object.keys(row).some((k) => !info!.types.has(k))) info = await this.describe(change.schema, change.table, true);
      if (!info) return;
      if (change.truncated && change.type !== 'DELETE') {
        const record = await this.fetchRow(info, change.pk);
        if (!record) return; // gone already: a later notification tells what happened
        change.record = record;
      }
    } catch (err) {
      // The table or the row could not be read (no connection in time, a broken one): those who listen to the table
      // cannot be told the change, nor left to think nothing happened. Their channels fail; the clients rejoin and read again.
      this.log(`realtime: a change on ${change.schema}.${change.table} could not be read: ${(err as Error).message}`);
      if (backlog !== this.backlog) return;
      for (const listener of interested) {
        if (!this.listeners.delete(listener)) continue;
        listener.interrupted(`a change on ${change.schema}.${change.table} could not be read: the database did not answer`);
      }
      return;
    }

    const matches = this.matching(change, info.types);
    if (matches.size === 0) return;

    const noPrimaryKey = info.primaryKey.length === 0;
    let visibleTo: (listener: ChangeListener) => boolean = () => true;
    if (change.type !== 'DELETE' && !noPrimaryKey) {
      const pkValues = info.primaryKey.map((c) => asParam(change.record?.[c]));
      const byIdentity = new Map<string, { claims: JwtClaims; visible: boolean | null }>();
      // Each listener's claims as they were when the change came: a token refreshed while the checks run (new iat and
      // exp) must not make its listener miss the change.
      const identityOf = new Map<ChangeListener, string>();
      for (const listener of matches.keys()) {
        const identity = JSON.stringify(listener.claims);
        identityOf.set(listener, identity);
        if (!byIdentity.has(identity)) byIdentity.set(identity, { claims: listener.claims, visible: false });
      }
      await Promise.all(
        [...byIdentity.values()].map(async (entry) => {
          entry.visible = await this.visible(info!, pkValues, entry.claims);
        }),
      );
      visibleTo = (listener) => byIdentity.get(identityOf.get(listener) ?? '')?.visible === true;
      // A check that could not be made (no connection to be had in time): the subscriber cannot be told the change,
      // nor left to think nothing happened. Its channel fails, and the client rejoins and reads again.
      for (const listener of matches.keys()) {
        if (this.listeners.has(listener) && byIdentity.get(identityOf.get(listener) ?? '')?.visible === null) {
          this.listeners.delete(listener);
          listener.interrupted(`a change on ${info.schema}.${info.table} could not be checked for this subscriber: the database did not answer in time`);
        }
      }
    }

    // Dropped with its backlog while it was being checked: a subscriber that rejoined since has read afresh.
    if (backlog !== this.backlog) return;
    for (const [listener, subs] of matches) {
      if (!this.listeners.has(listener) || !visibleTo(listener)) continue;
      listener.deliver(this.payload(change, info, subs, noPrimaryKey));
    }
  }

  private payload(change: RawChange, info: TableInfo, subs: Subscription[], noPrimaryKey: boolean): Record<string, unknown> {
    const selected = subs.some((s) => !s.binding.select) ? null : new Set(subs.flatMap((s) => s.binding.select ?? []));
    const shape = (rec: Record<string, unknown> | null): Record<string, unknown> =>
      noPrimaryKey ? {} : selected ? pick(rec ?? {}, selected) : (rec ?? {});
    const data: Record<string, unknown> = {
      schema: change.schema,
      table: change.table,
      commit_timestamp: change.commit_timestamp,
      type: change.type,
      columns: selected ? info.columns.filter((c) => selected.has(c.name)) : info.columns,
    };
    if (change.type !== 'DELETE') data.record = shape(change.record);
    if (change.type !== 'INSERT') data.old_record = shape(change.old_record);
    data.errors = noPrimaryKey ? ['Error 400: Bad Request, no primary key'] : null;
    return { ids: subs.map((s) => s.id), data };
  }

  private async fetchRow(info: TableInfo, pk: Record<string, unknown> | null): Promise<Record<string, unknown> | null> {
    if (!pk || info.primaryKey.length === 0) return null;
    const where = info.primaryKey.map((c, i) => `t.${quoteIdent(c)} = $${i + 1}`).join(' and ');
    const { rows } = await this.pool.query<{ r: Record<string, unknown> }>(
      `select to_jsonb(t) as r from ${quoteIdent(info.schema)}.${quoteIdent(info.table)} t where ${where}`,
      info.primaryKey.map((c) => asParam(pk[c])),
    );
    return rows[0]?.r ?? null;
  }

  /** Whether the claims' owner can select the row with this primary key (RLS and grants). */
  /** Whether the caller may see the row; null when that could not be checked (no connection, no answer). */
  private async visible(info: TableInfo, pkValues: (string | null)[], claims: JwtClaims): Promise<boolean | null> {
    if (pkValues.some((v) => v === null)) return false;
    const where = info.primaryKey.map((c, i) => `${quoteIdent(c)} = $${i + 1}`).join(' and ');
    const sql = `select 1 from ${quoteIdent(info.schema)}.${quoteIdent(info.table)} where ${where} limit 1`;
    try {
      return await asCaller(this.callerPool, claims, async (client) => (await client.query(sql, pkValues)).rowCount === 1);
    } catch (err) {
      const code = (err as { code?: string }).code;
      // Permission denied or an unknown role: simply not visible.
      if (code === '42501' || code === '22023' || code === '42704') return false;
      this.log(`realtime: visibility check on ${info.schema}.${info.table} failed: ${(err as Error).message}`);
      // No SQLSTATE: the check never reached the database (a pool that gave no connection in time, a broken one).
      return code === undefined ? null : false;
    }
  }
}
