/**
 * Turns a parsed request into one parameterised SQL statement. Identifiers
 * come only from the catalog (checked, then quoted); every value from the
 * request is a bind parameter. Each statement yields one row:
 * `body` (the JSON text to answer), `page_total` (rows in the answer) and,
 * when a count was asked for, `total`.
 */
import type { Catalog, ColumnInfo, ForeignKey, FunctionInfo, TableInfo } from './catalog.js';
import { parseError, PostgrestError, unknownColumn } from './errors.js';
import type { Condition, Field, FilterNode, NodeQuery, OrderTerm, ParsedQuery, SelectItem } from './parse.js';
import { emptyNode } from './parse.js';

export interface SqlQuery {
  text: string;
  values: unknown[];
}

export interface OutputOptions {
  /** Add a `total` column: the number of rows matching the filters, ignoring limit/offset. */
  count: boolean;
  /** Answer the first row as an object instead of an array. */
  singular: boolean;
  stripNulls: boolean;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

const ROOT = '_t';

class Builder {
  readonly values: unknown[] = [];
  private n = 0;
  readonly usedPaths = new Set<string>(['']);
  constructor(
    readonly catalog: Catalog,
    readonly query: ParsedQuery,
  ) {}
  param(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
  alias(): string {
    this.n += 1;
    return `_e${this.n}`;
  }
  node(path: string): NodeQuery {
    this.usedPaths.add(path);
    return this.query.nodes.get(path) ?? emptyNode();
  }
  /** Every embed path named by a filter/order/limit must be an embed of this request. */
  checkPaths(): void {
    for (const path of this.query.nodes.keys()) {
      if (!this.usedPaths.has(path)) {
        throw new PostgrestError(400, 'PGRST108', `'${path}' is not an embedded resource in this request`, {
          hint: `Verify that '${path}' is included in the 'select' query parameter.`,
        });
      }
    }
  }
}

interface Ctx {
  label: string;
  columns: Map<string, ColumnInfo>;
  table: TableInfo | null;
  alias: string;
  path: string;
}

function tableCtx(table: TableInfo, alias: string, path: string): Ctx {
  return { label: table.name, columns: table.columnMap, table, alias, path };
}

function column(ctx: Ctx, name: string): ColumnInfo {
  const col = ctx.columns.get(name);
  if (!col) throw unknownColumn(ctx.label, name);
  return col;
}

function fieldExpr(b: Builder, ctx: Ctx, field: Field): string {
  column(ctx, field.name);
  let expr = `${ctx.alias}.${quoteIdent(field.name)}`;
  for (const step of field.path) {
    const cast = /^-?\d+$/.test(step.key) ? 'int' : 'text';
    expr = `(${expr} ${step.arrow} ${b.param(step.key)}::${cast})`;
  }
  return expr;
}

const BINARY_OPS: Record<string, string> = {
  eq: '=',
  neq: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  like: 'like',
  ilike: 'ilike',
  match: '~',
  imatch: '~*',
  cs: '@>',
  cd: '<@',
  ov: '&&',
  isdistinct: 'is distinct from',
};

const IS_SQL: Record<string, string> = { null: 'null', not_null: 'not null', true: 'true', false: 'false', unknown: 'unknown' };

function conditionSql(b: Builder, ctx: Ctx, c: Condition): string {
  const expr = fieldExpr(b, ctx, c.field);
  let sql: string;
  if (c.op === 'is') {
    sql = `${expr} is ${IS_SQL[c.value as string] ?? 'null'}`;
  } else if (c.op === 'in') {
    sql = `${expr} = any(${b.param(c.value)})`;
  } else {
    sql = `${expr} ${BINARY_OPS[c.op]} ${b.param(c.value)}`;
  }
  return c.negate ? `not (${sql})` : sql;
}

function filterSql(b: Builder, ctx: Ctx, f: FilterNode): string {
  if (f.kind === 'condition') return conditionSql(b, ctx, f);
  const parts = f.children.map((child) => filterSql(b, ctx, child));
  const joined = `(${parts.join(f.op === 'or' ? ' or ' : ' and ')})`;
  return f.negate ? `not ${joined}` : joined;
}

function orderSql(b: Builder, ctx: Ctx, terms: OrderTerm[]): string {
  if (terms.length === 0) return '';
  const parts = terms.map((t) => {
    const dir = t.direction === 'desc' ? 'desc' : 'asc';
    return `${fieldExpr(b, ctx, t.field)} ${dir}${t.nulls ? ` nulls ${t.nulls}` : ''}`;
  });
  return ` order by ${parts.join(', ')}`;
}

function pagingSql(b: Builder, limit: number | undefined, offset: number | undefined): string {
  let sql = '';
  if (limit !== undefined) sql += ` limit ${b.param(limit)}`;
  if (offset !== undefined && offset > 0) sql += ` offset ${b.param(offset)}`;
  return sql;
}

function outputKey(item: SelectItem): string {
  if (item.kind === 'embed') return item.alias ?? item.relation;
  if (item.kind === 'column') return item.alias ?? item.field.path.at(-1)?.key ?? item.field.name;
  return '*';
}

interface Relationship {
  target: TableInfo;
  /** [column on target, column on parent] pairs. */
  pairs: Array<[string, string]>;
  many: boolean;
  fk: ForeignKey;
}

function describe(fk: ForeignKey, many: boolean): string {
  return `${fk.table}(${fk.columns.join(',')}) ${many ? 'one-to-many' : 'many-to-one'} via ${fk.name}`;
}

function resolveRelationship(catalog: Catalog, parent: Ctx, item: Extract<SelectItem, { kind: 'embed' }>): Relationship {
  const parentTable = parent.table;
  let target = catalog.tables.get(item.relation);
  let candidates: Relationship[] = [];
  if (parentTable && target) {
    const t = target;
    for (const fk of parentTable.foreignKeys) {
      if (fk.refTable === t.name) {
        candidates.push({ target: t, pairs: fk.refColumns.map((rc, i) => [rc, fk.columns[i] ?? rc]), many: false, fk });
      }
    }
    for (const fk of t.foreignKeys) {
      if (fk.refTable === parentTable.name) {
        candidates.push({ target: t, pairs: fk.columns.map((c, i) => [c, fk.refColumns[i] ?? c]), many: true, fk });
      }
    }
  } else if (parentTable && !target) {
    // Embedding through a foreign-key column of the parent: `host_id(*)`.
    const fk = parentTable.foreignKeys.find((f) => f.columns.length === 1 && f.columns[0] === item.relation);
    target = fk ? catalog.tables.get(fk.refTable) : undefined;
    if (fk && target) candidates.push({ target, pairs: fk.refColumns.map((rc, i) => [rc, fk.columns[i] ?? rc]), many: false, fk });
  }
  if (item.hint !== undefined) {
    const hint = item.hint;
    candidates = candidates.filter((c) => c.fk.name === hint || c.fk.columns.includes(hint));
  }
  const parentName = parent.label;
  if (candidates.length === 0) {
    throw new PostgrestError(400, 'PGRST200', `Could not find a relationship between '${parentName}' and '${item.relation}' in the schema cache`, {
      details: `Searched for a foreign key relationship between '${parentName}' and '${item.relation}'${
        item.hint ? ` using the hint '${item.hint}'` : ''
      } in the schema '${catalog.schema}', but no matches were found.`,
      schemaMiss: true,
    });
  }
  if (candidates.length > 1) {
    throw new PostgrestError(300, 'PGRST201', `Could not embed because more than one relationship was found for '${parentName}' and '${item.relation}'`, {
      details: candidates.map((c) => describe(c.fk, c.many)).join('; '),
      hint: `Try changing '${item.relation}' to one of the following: ${candidates
        .map((c) => `'${item.relation}!${c.fk.name}'`)
        .join(', ')}. Find the desired relationship in the 'details' key.`,
    });
  }
  return candidates[0] as Relationship;
}

interface Projection {
  columns: string[];
  /** `exists (...)` conditions of !inner embeds, for the WHERE of this level. */
  innerConds: string[];
}

function projection(b: Builder, ctx: Ctx, items: SelectItem[]): Projection {
  const columns: string[] = [];
  const innerConds: string[] = [];
  for (const item of items) {
    if (item.kind === 'star') {
      columns.push(`${ctx.alias}.*`);
    } else if (item.kind === 'column') {
      const expr = fieldExpr(b, ctx, item.field);
      columns.push(`${expr}${item.cast ? `::${item.cast}` : ''} as ${quoteIdent(outputKey(item))}`);
    } else {
      const embed = embedSql(b, ctx, item);
      if (embed.column) columns.push(embed.column);
      if (embed.innerCond) innerConds.push(embed.innerCond);
    }
  }
  return { columns, innerConds };
}

function embedSql(b: Builder, parent: Ctx, item: Extract<SelectItem, { kind: 'embed' }>): { column: string | null; innerCond: string | null } {
  const rel = resolveRelationship(b.catalog, parent, item);
  const key = outputKey(item);
  const path = parent.path ? `${parent.path}.${key}` : key;
  const node = b.node(path);
  const a = b.alias();
  const ctx = tableCtx(rel.target, a, path);
  const from = `${qualified(rel.target.schema, rel.target.name)} as ${a}`;
  const conds = rel.pairs.map(([inner, outer]) => `${a}.${quoteIdent(inner)} = ${parent.alias}.${quoteIdent(outer)}`);
  const proj = projection(b, ctx, item.select);
  conds.push(...node.filters.map((f) => filterSql(b, ctx, f)), ...proj.innerConds);
  const where = ` where ${conds.join(' and ')}`;
  const innerCond = item.inner ? `exists (select 1 from ${from}${where})` : null;
  if (item.select.length === 0) return { column: null, innerCond };
  let column: string;
  if (rel.many) {
    const tail = orderSql(b, ctx, node.order) + pagingSql(b, node.limit, node.offset);
    column = `(select coalesce(json_agg(${a}_r), '[]'::json) from (select ${proj.columns.join(', ')} from ${from}${where}${tail}) as ${a}_r) as ${quoteIdent(key)}`;
  } else {
    if (node.order.length > 0 || node.limit !== undefined || node.offset !== undefined) {
      throw parseError(`order, limit and offset do not apply to the to-one embedded resource '${path}'`);
    }
    column = `(select row_to_json(${a}_r) from (select ${proj.columns.join(', ')} from ${from}${where} limit 1) as ${a}_r) as ${quoteIdent(key)}`;
  }
  return { column, innerCond };
}

function bodyExpr(opts: OutputOptions): string {
  const agg = opts.stripNulls ? 'json_strip_nulls(json_agg(_r))' : 'json_agg(_r)';
  return opts.singular ? `(${agg} -> 0)::text` : `coalesce(${agg}, '[]'::json)::text`;
}

function whereSql(parts: string[]): string {
  return parts.length > 0 ? ` where ${parts.join(' and ')}` : '';
}

/** The root SELECT over `from` (which must expose the alias `_t`). */
function readOver(b: Builder, ctx: Ctx, from: string, opts: OutputOptions, prefix = ''): string {
  const root = b.node('');
  const proj = projection(b, ctx, b.query.select);
  const conds = [...root.filters.map((f) => filterSql(b, ctx, f)), ...proj.innerConds];
  const where = whereSql(conds);
  const tail = orderSql(b, ctx, root.order) + pagingSql(b, root.limit, root.offset);
  const count = opts.count ? `, (select count(*) from ${from}${where})::bigint as total` : '';
  const cols = proj.columns.length > 0 ? proj.columns.join(', ') : `${ctx.alias}.*`;
  b.checkPaths();
  return `${prefix}select ${bodyExpr(opts)} as body, count(*)::int as page_total${count} from (select ${cols} from ${from}${where}${tail}) as _r`;
}

export function buildRead(catalog: Catalog, table: TableInfo, query: ParsedQuery, opts: OutputOptions): SqlQuery {
  const b = new Builder(catalog, query);
  const text = readOver(b, tableCtx(table, ROOT, ''), `${qualified(table.schema, table.name)} as ${ROOT}`, opts);
  return { text, values: b.values };
}

export interface MutationOptions extends OutputOptions {
  /** return=representation: answer the affected rows (through `select`). */
  returning: boolean;
}

function mutationOutput(b: Builder, table: TableInfo, cte: string, opts: MutationOptions): string {
  if (!opts.returning) {
    b.checkPaths();
    return `${cte} select ''::text as body, count(*)::int as page_total from _m`;
  }
  const ctx = tableCtx(table, ROOT, '');
  const root = b.node('');
  const proj = projection(b, ctx, b.query.select);
  const where = whereSql(proj.innerConds);
  const cols = proj.columns.length > 0 ? proj.columns.join(', ') : `${ROOT}.*`;
  b.checkPaths();
  return `${cte} select ${bodyExpr(opts)} as body, count(*)::int as page_total from (select ${cols} from _m as ${ROOT}${where}${orderSql(
    b,
    ctx,
    root.order,
  )}) as _r`;
}

function rejectMutationPaging(query: ParsedQuery): void {
  const root = query.nodes.get('');
  if (root && (root.limit !== undefined || root.offset !== undefined)) {
    throw parseError('limit and offset are not supported on writes by this server');
  }
}

function writableColumn(table: TableInfo, name: string): ColumnInfo {
  const col = table.columnMap.get(name);
  if (!col) {
    throw new PostgrestError(400, 'PGRST204', `Could not find the '${name}' column of '${table.name}' in the schema cache`, { schemaMiss: true });
  }
  return col;
}

export interface InsertOptions extends MutationOptions {
  /** Prefer: resolution=… (an upsert) */
  resolution?: 'merge' | 'ignore';
  /** Prefer: missing=default — keys absent from an object take the column default instead of null. */
  missingDefault: boolean;
}

export function buildInsert(catalog: Catalog, table: TableInfo, rows: Array<Record<string, unknown>>, query: ParsedQuery, opts: InsertOptions): SqlQuery {
  rejectMutationPaging(query);
  const b = new Builder(catalog, query);
  const tableSql = qualified(table.schema, table.name);
  const allowed = query.columns ? new Set(query.columns) : null;
  for (const name of query.columns ?? []) writableColumn(table, name);

  const keysOf = (row: Record<string, unknown>): string[] => Object.keys(row).filter((k) => !allowed || allowed.has(k));
  const union: string[] = query.columns ? [...query.columns] : [];
  if (!query.columns) {
    for (const row of rows) for (const k of keysOf(row)) if (!union.includes(k)) union.push(k);
  }
  for (const name of union) writableColumn(table, name);

  // Rows with the same key set share one INSERT; without missing=default all rows use the union (absent = null).
  const groups: Array<{ columns: string[]; rows: Array<Record<string, unknown>> }> = [];
  if (opts.missingDefault) {
    for (const row of rows) {
      const cols = union.filter((k) => Object.prototype.hasOwnProperty.call(row, k));
      const last = groups.at(-1);
      if (last && last.columns.join('\u0000') === cols.join('\u0000')) last.rows.push(row);
      else groups.push({ columns: cols, rows: [row] });
    }
  } else if (rows.length > 0) {
    groups.push({ columns: union, rows });
  }

  let conflict = '';
  if (opts.resolution) {
    const target = query.onConflict ?? table.primaryKey;
    if (target.length === 0) {
      throw new PostgrestError(400, 'PGRST100', `an upsert on '${table.name}' needs on_conflict: the table has no primary key`);
    }
    for (const name of target) writableColumn(table, name);
    const targetSql = target.map(quoteIdent).join(', ');
    if (opts.resolution === 'ignore') {
      conflict = ` on conflict (${targetSql}) do nothing`;
    } else {
      const cols = union.filter((c) => !target.includes(c));
      const sets = (cols.length > 0 ? cols : [target[0] as string]).map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`);
      conflict = ` on conflict (${targetSql}) do update set ${sets.join(', ')}`;
    }
  }
  const returning = opts.returning ? `returning ${ROOT}.*` : 'returning 1';
  if (groups.length === 0) {
    const ctes = `with _m as (select ${ROOT}.* from ${tableSql} as ${ROOT} where false)`;
    return { text: mutationOutput(b, table, ctes, opts), values: b.values };
  }
  const ctes = groups.map((g, i) => {
    const data = b.param(JSON.stringify(g.rows));
    const body =
      g.columns.length === 0
        ? `select from json_array_elements(${data}::json)`
        : `select ${g.columns.map(quoteIdent).join(', ')} from json_populate_recordset(null::${tableSql}, ${data}::json)`;
    const cols = g.columns.length === 0 ? '' : ` (${g.columns.map(quoteIdent).join(', ')})`;
    return `_m${i} as (insert into ${tableSql} as ${ROOT}${cols} ${body}${conflict} ${returning})`;
  });
  const union_ = groups.map((_, i) => `select * from _m${i}`).join(' union all ');
  const cte = `with ${ctes.join(', ')}, _m as (${union_})`;
  return { text: mutationOutput(b, table, cte, opts), values: b.values };
}

function requireFilters(b: Builder, ctx: Ctx, verb: 'UPDATE' | 'DELETE'): string {
  const root = b.node('');
  if (root.filters.length === 0) {
    throw new PostgrestError(400, '21000', `${verb} requires a WHERE clause`, {
      hint: 'Add a filter (e.g. ?id=eq.1); writing every row of a table is refused.',
    });
  }
  return whereSql(root.filters.map((f) => filterSql(b, ctx, f)));
}

export function buildUpdate(catalog: Catalog, table: TableInfo, patch: Record<string, unknown>, query: ParsedQuery, opts: MutationOptions): SqlQuery {
  rejectMutationPaging(query);
  const b = new Builder(catalog, query);
  const tableSql = qualified(table.schema, table.name);
  const ctx = tableCtx(table, ROOT, '');
  const allowed = query.columns ? new Set(query.columns) : null;
  const keys = Object.keys(patch).filter((k) => !allowed || allowed.has(k));
  for (const k of keys) writableColumn(table, k);
  const where = requireFilters(b, ctx, 'UPDATE');
  const returning = opts.returning ? `returning ${ROOT}.*` : 'returning 1';
  let cte: string;
  if (keys.length === 0) {
    cte = `with _m as (select ${ROOT}.* from ${tableSql} as ${ROOT} where false)`;
  } else {
    const data = b.param(JSON.stringify(patch));
    const sets = keys.map((k) => `${quoteIdent(k)} = _v.${quoteIdent(k)}`).join(', ');
    cte = `with _m as (update ${tableSql} as ${ROOT} set ${sets} from json_populate_record(null::${tableSql}, ${data}::json) as _v${where} ${returning})`;
  }
  return { text: mutationOutput(b, table, cte, opts), values: b.values };
}

export function buildDelete(catalog: Catalog, table: TableInfo, query: ParsedQuery, opts: MutationOptions): SqlQuery {
  rejectMutationPaging(query);
  const b = new Builder(catalog, query);
  const tableSql = qualified(table.schema, table.name);
  const where = requireFilters(b, tableCtx(table, ROOT, ''), 'DELETE');
  const returning = opts.returning ? `returning ${ROOT}.*` : 'returning 1';
  const cte = `with _m as (delete from ${tableSql} as ${ROOT}${where} ${returning})`;
  return { text: mutationOutput(b, table, cte, opts), values: b.values };
}

/** Picks the overload whose argument names fit `given`. */
export function chooseFunction(catalog: Catalog, name: string, given: string[]): FunctionInfo {
  const overloads = catalog.functions.get(name) ?? [];
  const fits = overloads.filter((f) => {
    const names = new Set(f.args.map((a) => a.name));
    return given.every((g) => names.has(g)) && f.args.every((a) => a.hasDefault || given.includes(a.name));
  });
  if (fits.length === 1) return fits[0] as FunctionInfo;
  const signature = `${catalog.schema}.${name}(${[...given].sort().join(', ')})`;
  if (fits.length === 0) {
    throw new PostgrestError(404, 'PGRST202', `Could not find the function ${signature} in the schema cache`, {
      hint:
        overloads.length > 0
          ? `Perhaps you meant to call the function ${catalog.schema}.${name}(${(overloads[0] as FunctionInfo).args.map((a) => a.name).join(', ')})`
          : null,
      details: `Searched for the function ${catalog.schema}.${name} with parameters ${given.join(', ') || '(none)'}, but no matches were found in the schema cache.`,
      schemaMiss: true,
    });
  }
  throw new PostgrestError(300, 'PGRST203', `Could not choose the best candidate function between: ${fits.map((f) => `${f.schema}.${f.name}(${f.args.map((a) => `${a.name} => ${a.typeName}`).join(', ')})`).join(', ')}`, {
    hint: 'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
  });
}

/** A request value as a bind parameter for an argument of type `typeName`. */
export function argValue(value: unknown, typeName: string): unknown {
  if (value === null || value === undefined) return null;
  if (typeName === 'json' || typeName === 'jsonb') return JSON.stringify(value);
  if (Array.isArray(value)) return value.map((v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : v));
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export interface RpcSql extends SqlQuery {
  /** void functions answer 204. */
  isVoid: boolean;
}

/** `args` maps argument names to already-converted values (see argValue). */
export function buildRpc(catalog: Catalog, fn: FunctionInfo, args: Map<string, unknown>, query: ParsedQuery, opts: OutputOptions): RpcSql {
  const b = new Builder(catalog, query);
  const argSql = [...args.entries()].map(([name, value]) => `${quoteIdent(name)} => ${b.param(value)}`).join(', ');
  const call = `${qualified(fn.schema, fn.name)}(${argSql})`;
  const root = query.nodes.get('') ?? emptyNode();
  const filtered = root.filters.length > 0 || root.order.length > 0 || query.nodes.size > 1;
  const plainSelect = query.select.length === 1 && query.select[0]?.kind === 'star';

  if (fn.returnKind === 'void' || fn.returnKind === 'scalar') {
    if (filtered || !plainSelect) {
      throw parseError(`filters and select do not apply to the result of ${fn.name}: it returns ${fn.returnKind === 'void' ? 'nothing' : 'scalar values'}`);
    }
    if (fn.returnKind === 'void') {
      return { text: `select ''::text as body, 0 as page_total from (select ${call}) as _x`, values: b.values, isVoid: true };
    }
    if (!fn.returnsSet) {
      // A scalar NULL is the JSON null (PostgREST answers `null`), not an empty list.
      return { text: `select coalesce(to_json(${call})::text, 'null') as body, 1 as page_total`, values: b.values, isVoid: false };
    }
    const paging = pagingSql(b, root.limit, root.offset);
    const count = opts.count ? `, (select count(*) from _f)::bigint as total` : '';
    // Asked for one object (Accept: application/vnd.pgrst.object+json): the one value, not a list of it.
    const body = opts.singular ? `(json_agg(_r._v) -> 0)::text` : `coalesce(json_agg(_r._v), '[]'::json)::text`;
    const text = `with _f as materialized (select ${ROOT}._v from ${call} as ${ROOT}(_v)) select ${body} as body, count(*)::int as page_total${count} from (select _v from _f${paging}) as _r`;
    return { text, values: b.values, isVoid: false };
  }

  const table = fn.returnTable ? (catalog.tables.get(fn.returnTable) ?? null) : null;
  const columns = new Map(fn.returnColumns.map((c) => [c.name, c]));
  const ctx: Ctx = { label: fn.name, columns, table, alias: ROOT, path: '' };
  const prefix = `with _f as materialized (select * from ${call}) `;
  const singular = opts.singular || !fn.returnsSet;
  const text = readOver(b, ctx, `_f as ${ROOT}`, { ...opts, singular }, prefix);
  return { text, values: b.values, isVoid: false };
}
