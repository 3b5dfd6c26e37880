import { describe, expect, it } from 'vitest';
import type { Catalog, ColumnInfo, FunctionInfo, TableInfo } from './rest/catalog.js';
import { PostgrestError, statusForSqlState, toPostgrestError } from './rest/errors.js';
import { parseOrder, parseQuery, parseSelect } from './rest/parse.js';
import { argValue, buildDelete, buildInsert, buildRead, buildRpc, buildUpdate, chooseFunction, quoteIdent } from './rest/sql.js';

function q(search: string) {
  return parseQuery(new URLSearchParams(search));
}

function col(name: string, typeName = 'text'): ColumnInfo {
  return { name, type: typeName, typeName, nullable: true, hasDefault: false, generated: false };
}

function table(name: string, cols: string[], extra: Partial<TableInfo> = {}): TableInfo {
  const columns = cols.map((c) => col(c));
  return { schema: 'public', name, kind: 'table', columns, columnMap: new Map(columns.map((c) => [c.name, c])), primaryKey: ['id'], foreignKeys: [], ...extra };
}

const profiles = table('profiles', ['id', 'display_name']);
const streams = table('streams', ['id', 'host_id', 'title', 'status', 'data', 'locked_seats', 'created_at'], {
  foreignKeys: [{ name: 'streams_host_id_fkey', table: 'streams', columns: ['host_id'], refTable: 'profiles', refColumns: ['id'] }],
});
const seats = table('seats', ['id', 'stream_id', 'user_id', 'seat_index', 'left_at'], {
  foreignKeys: [
    { name: 'seats_stream_id_fkey', table: 'seats', columns: ['stream_id'], refTable: 'streams', refColumns: ['id'] },
    { name: 'seats_user_id_fkey', table: 'seats', columns: ['user_id'], refTable: 'profiles', refColumns: ['id'] },
  ],
});
const invitations = table('invitations', ['id', 'host_id', 'invitee_id'], {
  foreignKeys: [
    { name: 'invitations_host_id_fkey', table: 'invitations', columns: ['host_id'], refTable: 'profiles', refColumns: ['id'] },
    { name: 'invitations_invitee_id_fkey', table: 'invitations', columns: ['invitee_id'], refTable: 'profiles', refColumns: ['id'] },
  ],
});
const inviteFn: FunctionInfo = {
  schema: 'public',
  name: 'invite_guest',
  args: [
    { name: 'p_stream_id', typeName: 'uuid', hasDefault: false },
    { name: 'p_invitee_id', typeName: 'uuid', hasDefault: false },
    { name: 'p_seat_index', typeName: 'int4', hasDefault: true },
  ],
  returnsSet: false,
  returnKind: 'composite',
  returnColumns: invitations.columns,
  returnTable: 'invitations',
  volatility: 'volatile',
};
const topicFn: FunctionInfo = {
  schema: 'public',
  name: 'topic_allowed',
  args: [{ name: 'p_topic', typeName: 'text', hasDefault: false }],
  returnsSet: false,
  returnKind: 'scalar',
  returnColumns: [],
  returnTable: null,
  volatility: 'stable',
};
const catalog: Catalog = {
  schema: 'public',
  tables: new Map([profiles, streams, seats, invitations].map((t) => [t.name, t])),
  functions: new Map([
    ['invite_guest', [inviteFn]],
    ['topic_allowed', [topicFn]],
  ]),
  loadedAt: 0,
};
const out = { count: false, singular: false, stripNulls: false };

function pgrst(fn: () => unknown): PostgrestError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PostgrestError) return err;
    throw err;
  }
  throw new Error('expected a PostgrestError');
}

describe('parseSelect', () => {
  it('parses columns, aliases, casts, JSON paths and embeds', () => {
    expect(parseSelect('id,name:title,created_at::text,data->a->>b,host:profiles!host_id(id,display_name),seats!inner(*)')).toEqual([
      { kind: 'column', field: { name: 'id', path: [] } },
      { kind: 'column', field: { name: 'title', path: [] }, alias: 'name' },
      { kind: 'column', field: { name: 'created_at', path: [] }, cast: 'text' },
      { kind: 'column', field: { name: 'data', path: [{ arrow: '->', key: 'a' }, { arrow: '->>', key: 'b' }] } },
      {
        kind: 'embed',
        relation: 'profiles',
        alias: 'host',
        hint: 'host_id',
        inner: false,
        select: [
          { kind: 'column', field: { name: 'id', path: [] } },
          { kind: 'column', field: { name: 'display_name', path: [] } },
        ],
      },
      { kind: 'embed', relation: 'seats', inner: true, select: [{ kind: 'star' }] },
    ]);
  });

  it('accepts quoted names', () => {
    expect(parseSelect('"my col"')).toEqual([{ kind: 'column', field: { name: 'my col', path: [] } }]);
  });

  it('rejects what it does not support', () => {
    expect(pgrst(() => parseSelect('count()')).code).toBe('PGRST123');
    expect(pgrst(() => parseSelect('...profiles(id)')).code).toBe('PGRST100');
    expect(pgrst(() => parseSelect('id::regclass')).code).toBe('PGRST100');
    expect(pgrst(() => parseSelect('id;drop table x')).code).toBe('PGRST100');
    expect(pgrst(() => parseSelect('a,(b')).code).toBe('PGRST100');
  });
});

describe('parseQuery', () => {
  it('parses filters, negation, lists and logic trees', () => {
    const parsed = q('status=eq.live&id=not.in.(1,"a,b")&or=(title.ilike.*roast*,and(status.neq.ended,left_at.is.null))&order=created_at.desc.nullslast,id&limit=5&offset=10');
    const root = parsed.nodes.get('');
    expect(root?.filters).toEqual([
      { kind: 'condition', field: { name: 'status', path: [] }, negate: false, op: 'eq', value: 'live' },
      { kind: 'condition', field: { name: 'id', path: [] }, negate: true, op: 'in', value: ['1', 'a,b'] },
      {
        kind: 'logic',
        op: 'or',
        negate: false,
        children: [
          { kind: 'condition', field: { name: 'title', path: [] }, negate: false, op: 'ilike', value: '%roast%' },
          {
            kind: 'logic',
            op: 'and',
            negate: false,
            children: [
              { kind: 'condition', field: { name: 'status', path: [] }, negate: false, op: 'neq', value: 'ended' },
              { kind: 'condition', field: { name: 'left_at', path: [] }, negate: false, op: 'is', value: 'null' },
            ],
          },
        ],
      },
    ]);
    expect(root?.order).toEqual([
      { field: { name: 'created_at', path: [] }, direction: 'desc', nulls: 'last' },
      { field: { name: 'id', path: [] } },
    ]);
    expect(root?.limit).toBe(5);
    expect(root?.offset).toBe(10);
  });

  it('keeps dots inside values and routes embedded filters by path', () => {
    const parsed = q('title=eq.a.b.c&seats.left_at=is.null&seats.order=seat_index&seats.limit=3&not.or=(a.eq.1)');
    expect(parsed.nodes.get('')?.filters[0]).toMatchObject({ op: 'eq', value: 'a.b.c' });
    expect(parsed.nodes.get('')?.filters[1]).toMatchObject({ kind: 'logic', negate: true, op: 'or' });
    expect(parsed.nodes.get('seats')).toMatchObject({ limit: 3, order: [{ field: { name: 'seat_index' } }] });
    expect(parsed.nodes.get('seats')?.filters[0]).toMatchObject({ op: 'is', value: 'null' });
  });

  it('parses columns and on_conflict as postgrest-js sends them', () => {
    const parsed = q('columns="id","title"&on_conflict=id');
    expect(parsed.columns).toEqual(['id', 'title']);
    expect(parsed.onConflict).toEqual(['id']);
  });

  it('rejects unsupported operators and malformed input', () => {
    expect(pgrst(() => q('title=fts.word')).code).toBe('PGRST100');
    expect(pgrst(() => q('title=like(any).{a,b}')).code).toBe('PGRST100');
    expect(pgrst(() => q('title=bogus.x')).code).toBe('PGRST100');
    expect(pgrst(() => q('title=live')).code).toBe('PGRST100');
    expect(pgrst(() => q('left_at=is.maybe')).code).toBe('PGRST100');
    expect(pgrst(() => q('limit=-1')).code).toBe('PGRST100');
    expect(pgrst(() => q('or=a.eq.1')).code).toBe('PGRST100');
    expect(pgrst(() => parseOrder('profiles(name).desc')).code).toBe('PGRST100');
  });
});

describe('SQL builder', () => {
  it('parameterises every value and quotes every identifier', () => {
    const sql = buildRead(catalog, streams, q(`select=id,title&title=eq.x'; drop table streams; --&data->>k=eq.v&order=created_at.desc&limit=2`), out);
    expect(sql.text).toBe(
      `select coalesce(json_agg(_r), '[]'::json)::text as body, count(*)::int as page_total from (select _t."id" as "id", _t."title" as "title" from "public"."streams" as _t where _t."title" = $1 and (_t."data" ->> $2::text) = $3 order by _t."created_at" desc limit $4) as _r`,
    );
    expect(sql.values).toEqual(["x'; drop table streams; --", 'k', 'v', 2]);
  });

  it('adds the total for counts and unwraps singular answers', () => {
    const sql = buildRead(catalog, streams, q('status=in.(live,idle)'), { count: true, singular: true, stripNulls: true });
    expect(sql.text).toContain(`(json_strip_nulls(json_agg(_r)) -> 0)::text as body`);
    expect(sql.text).toContain(`(select count(*) from "public"."streams" as _t where _t."status" = any($1))::bigint as total`);
    expect(sql.values).toEqual([['live', 'idle']]);
  });

  it('embeds many-to-one and one-to-many resources through foreign keys', () => {
    const sql = buildRead(catalog, streams, q('select=id,host:profiles(display_name),seats!inner(seat_index)&seats.left_at=is.null&seats.order=seat_index'), out);
    expect(sql.text).toContain(
      `(select row_to_json(_e1_r) from (select _e1."display_name" as "display_name" from "public"."profiles" as _e1 where _e1."id" = _t."host_id" limit 1) as _e1_r) as "host"`,
    );
    expect(sql.text).toContain(
      `(select coalesce(json_agg(_e2_r), '[]'::json) from (select _e2."seat_index" as "seat_index" from "public"."seats" as _e2 where _e2."stream_id" = _t."id" and _e2."left_at" is null order by _e2."seat_index" asc) as _e2_r) as "seats"`,
    );
    expect(sql.text).toContain(`where exists (select 1 from "public"."seats" as _e2 where _e2."stream_id" = _t."id" and _e2."left_at" is null)`);
  });

  it('reports unknown, ambiguous and unused relationships like PostgREST', () => {
    expect(pgrst(() => buildRead(catalog, streams, q('select=*,invitations(*)'), out)).code).toBe('PGRST200');
    const ambiguous = pgrst(() => buildRead(catalog, invitations, q('select=*,profiles(*)'), out));
    expect(ambiguous.code).toBe('PGRST201');
    expect(ambiguous.status).toBe(300);
    expect(buildRead(catalog, invitations, q('select=*,invitee:profiles!invitee_id(*)'), out).text).toContain(`_e1."id" = _t."invitee_id"`);
    expect(pgrst(() => buildRead(catalog, streams, q('seats.left_at=is.null'), out)).code).toBe('PGRST108');
    expect(pgrst(() => buildRead(catalog, streams, q('select=nope'), out)).code).toBe('42703');
  });

  it('builds inserts, upserts and grouped missing=default inserts', () => {
    const rows = [{ title: 'a', status: 'live' }, { title: 'b' }];
    const plain = buildInsert(catalog, streams, rows, q('columns="title","status"'), { ...out, returning: true, missingDefault: false });
    expect(plain.text).toContain(
      `_m0 as (insert into "public"."streams" as _t ("title", "status") select "title", "status" from json_populate_recordset(null::"public"."streams", $1::json) returning _t.*)`,
    );
    const grouped = buildInsert(catalog, streams, rows, q(''), { ...out, returning: false, missingDefault: true });
    expect(grouped.text).toContain(`_m0 as (insert into "public"."streams" as _t ("title", "status")`);
    expect(grouped.text).toContain(`_m1 as (insert into "public"."streams" as _t ("title") `);
    expect(grouped.values).toEqual([JSON.stringify([rows[0]]), JSON.stringify([rows[1]])]);
    const upsert = buildInsert(catalog, streams, [{ id: '1', title: 'x' }], q('on_conflict=id'), { ...out, returning: true, missingDefault: false, resolution: 'merge' });
    expect(upsert.text).toContain(`on conflict ("id") do update set "title" = excluded."title"`);
    const ignore = buildInsert(catalog, streams, [{ id: '1' }], q(''), { ...out, returning: true, missingDefault: false, resolution: 'ignore' });
    expect(ignore.text).toContain(`on conflict ("id") do nothing`);
    expect(pgrst(() => buildInsert(catalog, streams, [{ nope: 1 }], q(''), { ...out, returning: true, missingDefault: false })).code).toBe('PGRST204');
  });

  it('requires a filter for updates and deletes', () => {
    expect(pgrst(() => buildUpdate(catalog, streams, { title: 'x' }, q(''), { ...out, returning: false })).code).toBe('21000');
    expect(pgrst(() => buildDelete(catalog, streams, q(''), { ...out, returning: false })).code).toBe('21000');
    const update = buildUpdate(catalog, streams, { title: 'x' }, q('id=eq.1'), { ...out, returning: false });
    expect(update.text).toBe(
      `with _m as (update "public"."streams" as _t set "title" = _v."title" from json_populate_record(null::"public"."streams", $2::json) as _v where _t."id" = $1 returning 1) select ''::text as body, count(*)::int as page_total from _m`,
    );
    expect(pgrst(() => buildDelete(catalog, streams, q('id=eq.1&limit=1'), { ...out, returning: false })).code).toBe('PGRST100');
  });

  it('calls functions with named arguments', () => {
    const fn = chooseFunction(catalog, 'invite_guest', ['p_stream_id', 'p_invitee_id']);
    const sql = buildRpc(catalog, fn, new Map([['p_stream_id', 's'], ['p_invitee_id', 'u']]), q('select=id'), out);
    expect(sql.text).toBe(
      `with _f as materialized (select * from "public"."invite_guest"("p_stream_id" => $1, "p_invitee_id" => $2)) select (json_agg(_r) -> 0)::text as body, count(*)::int as page_total from (select _t."id" as "id" from _f as _t) as _r`,
    );
    const scalar = buildRpc(catalog, topicFn, new Map([['p_topic', 't']]), q(''), out);
    expect(scalar.text).toBe(`select coalesce(to_json("public"."topic_allowed"("p_topic" => $1))::text, 'null') as body, 1 as page_total`);
    expect(pgrst(() => buildRpc(catalog, topicFn, new Map(), q('a=eq.1'), out)).code).toBe('PGRST100');
    expect(pgrst(() => chooseFunction(catalog, 'invite_guest', ['p_stream_id'])).code).toBe('PGRST202');
    expect(pgrst(() => chooseFunction(catalog, 'nope', [])).status).toBe(404);
    expect(argValue({ a: 1 }, 'jsonb')).toBe('{"a":1}');
    expect(argValue([1, 2], 'int4[]')).toEqual([1, 2]);
    expect(argValue(true, 'bool')).toBe('true');
  });

  it('quotes identifiers safely', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});

describe('errors', () => {
  it('maps SQLSTATEs to PostgREST statuses', () => {
    expect(statusForSqlState('42501', 'anon')).toBe(401);
    expect(statusForSqlState('42501', 'authenticated')).toBe(403);
    expect(statusForSqlState('23505', 'anon')).toBe(409);
    expect(statusForSqlState('P0001', 'anon')).toBe(400);
    expect(statusForSqlState('PT404', 'anon')).toBe(404);
    expect(statusForSqlState('25006', 'anon')).toBe(405);
    expect(statusForSqlState('22P02', 'anon')).toBe(400);
    expect(statusForSqlState('53300', 'anon')).toBe(503);
  });

  it('keeps the database error fields', () => {
    const pgErr = Object.assign(new Error('nope'), { code: 'P0001', detail: 'd', hint: 'h' });
    expect(toPostgrestError(pgErr, 'authenticated').toBody()).toEqual({ code: 'P0001', message: 'nope', details: 'd', hint: 'h' });
  });

  it('reads a socket error as the connection failing, not as a SQLSTATE', () => {
    const socketErr = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
    const err = toPostgrestError(socketErr, 'authenticated');
    expect(err.status).toBe(503);
    expect(err.toBody()).toEqual({ code: 'PGRST000', message: 'Database connection error', details: 'write EPIPE', hint: null });
  });

  it('answers 504 when no pooled connection came free in time, and 503 for a connection lost, as PostgREST does', () => {
    const waited = toPostgrestError(new Error('timeout exceeded when trying to connect'), 'authenticated');
    expect(waited.status).toBe(504);
    expect(waited.toBody()).toMatchObject({ code: 'PGRST003', message: 'Timed out acquiring connection from connection pool.' });
    for (const message of ['Connection terminated unexpectedly', 'Connection terminated due to connection timeout']) {
      const lost = toPostgrestError(new Error(message), 'authenticated');
      expect(lost.status, message).toBe(503);
      expect(lost.toBody()).toMatchObject({ code: 'PGRST000', details: message });
    }
    expect(toPostgrestError(new Error('something else'), 'authenticated').status).toBe(500);
  });
});
