/**
 * The REST layer's schema cache: tables, columns, keys and functions of the
 * exposed schemas, read from pg_catalog. Every identifier a request names is
 * checked against it before it reaches SQL.
 */
import type pg from 'pg';

export interface ColumnInfo {
  name: string;
  /** format_type() of the column, e.g. 'uuid', 'integer[]', 'timestamp with time zone'. */
  type: string;
  /** pg_type.typname, e.g. 'uuid', '_int4', 'jsonb'. */
  typeName: string;
  nullable: boolean;
  hasDefault: boolean;
  generated: boolean;
}

export interface ForeignKey {
  name: string;
  /** Table holding the referencing columns. */
  table: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
}

export interface TableInfo {
  schema: string;
  name: string;
  kind: 'table' | 'view';
  columns: ColumnInfo[];
  columnMap: Map<string, ColumnInfo>;
  primaryKey: string[];
  /** Foreign keys whose referencing columns are on this table (to tables in an exposed schema). */
  foreignKeys: ForeignKey[];
}

export interface FunctionArg {
  name: string;
  typeName: string;
  hasDefault: boolean;
}

export interface FunctionInfo {
  schema: string;
  name: string;
  /** IN / INOUT / VARIADIC arguments in order. */
  args: FunctionArg[];
  returnsSet: boolean;
  /** 'void', 'scalar' (to_json of the value) or 'composite' (rows with returnColumns). */
  returnKind: 'void' | 'scalar' | 'composite';
  returnColumns: ColumnInfo[];
  /** The table whose row type the function returns, if any (for embedding). */
  returnTable: string | null;
  volatility: 'immutable' | 'stable' | 'volatile';
}

export interface Catalog {
  schema: string;
  tables: Map<string, TableInfo>;
  functions: Map<string, FunctionInfo[]>;
  loadedAt: number;
}

interface RelRow {
  oid: number;
  name: string;
  relkind: string;
}

interface ColRow {
  attrelid: number;
  name: string;
  type: string;
  typname: string;
  notnull: boolean;
  hasdefault: boolean;
  generated: boolean;
}

interface ConRow {
  conname: string;
  contype: string;
  conrelid: number;
  confrelid: number;
  cols: string[];
  refcols: string[];
}

interface ProcRow {
  proname: string;
  proretset: boolean;
  provolatile: string;
  pronargdefaults: number;
  argmodes: string[] | null;
  argnames: string[] | null;
  argtypnames: string[];
  rettypname: string;
  rettyptype: string;
  rettyprelid: number;
}

const RELS_SQL = `
  select c.oid::int as oid, c.relname as name, c.relkind::text as relkind
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = $1 and c.relkind in ('r', 'v', 'm', 'f', 'p')`;

const COLS_SQL = `
  select a.attrelid::int as attrelid, a.attname as name, format_type(a.atttypid, a.atttypmod) as type, t.typname,
         a.attnotnull as notnull, (a.atthasdef or a.attidentity <> '') as hasdefault, a.attgenerated <> '' as generated
  from pg_attribute a join pg_type t on t.oid = a.atttypid
  where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped
  order by a.attrelid, a.attnum`;

const CONS_SQL = `
  select c.conname, c.contype::text as contype, c.conrelid::int as conrelid, c.confrelid::int as confrelid,
    array(select a.attname::text from unnest(c.conkey) with ordinality k(n, i)
          join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i) as cols,
    array(select a.attname::text from unnest(coalesce(c.confkey, '{}')) with ordinality k(n, i)
          join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.i) as refcols
  from pg_constraint c
  where c.contype in ('p', 'f') and c.conrelid = any($1::oid[])`;

const PROCS_SQL = `
  select p.proname, p.proretset, p.provolatile::text as provolatile, p.pronargdefaults::int as pronargdefaults,
    p.proargmodes::text[] as argmodes, p.proargnames as argnames,
    array(select t.typname::text from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(o, i)
          join pg_type t on t.oid = u.o order by u.i) as argtypnames,
    rt.typname as rettypname, rt.typtype::text as rettyptype, rt.typrelid::int as rettyprelid
  from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace
  join pg_type rt on rt.oid = p.prorettype
  where n.nspname = $1 and p.prokind = 'f' and rt.typname not in ('trigger', 'event_trigger')`;

function toColumn(r: ColRow): ColumnInfo {
  return { name: r.name, type: r.type, typeName: r.typname, nullable: !r.notnull, hasDefault: r.hasdefault, generated: r.generated };
}

export async function loadCatalog(db: pg.Pool | pg.ClientBase, schema = 'public'): Promise<Catalog> {
  const rels = (await db.query<RelRow>(RELS_SQL, [schema])).rows;
  const oids = rels.map((r) => r.oid);
  const byOid = new Map<number, TableInfo>();
  for (const r of rels) {
    byOid.set(r.oid, {
      schema,
      name: r.name,
      kind: r.relkind === 'v' || r.relkind === 'm' ? 'view' : 'table',
      columns: [],
      columnMap: new Map(),
      primaryKey: [],
      foreignKeys: [],
    });
  }
  const [cols, cons, procs] = await Promise.all([
    db.query<ColRow>(COLS_SQL, [oids]),
    db.query<ConRow>(CONS_SQL, [oids]),
    db.query<ProcRow>(PROCS_SQL, [schema]),
  ]);
  for (const c of cols.rows) {
    const t = byOid.get(c.attrelid);
    if (!t) continue;
    const col = toColumn(c);
    t.columns.push(col);
    t.columnMap.set(col.name, col);
  }
  for (const c of cons.rows) {
    const t = byOid.get(c.conrelid);
    if (!t) continue;
    if (c.contype === 'p') {
      t.primaryKey = c.cols;
    } else {
      const ref = byOid.get(c.confrelid);
      if (ref) t.foreignKeys.push({ name: c.conname, table: t.name, columns: c.cols, refTable: ref.name, refColumns: c.refcols });
    }
  }
  const tables = new Map<string, TableInfo>();
  const tableByOid = new Map<number, string>();
  for (const [oid, t] of byOid) {
    tables.set(t.name, t);
    tableByOid.set(oid, t.name);
  }

  const functions = new Map<string, FunctionInfo[]>();
  const compositeOids = new Set<number>();
  for (const p of procs.rows) if (p.rettyptype === 'c' && !tableByOid.has(p.rettyprelid)) compositeOids.add(p.rettyprelid);
  const compositeCols = new Map<number, ColumnInfo[]>();
  if (compositeOids.size > 0) {
    const rows = (await db.query<ColRow>(COLS_SQL, [[...compositeOids]])).rows;
    for (const r of rows) {
      const list = compositeCols.get(r.attrelid) ?? [];
      list.push(toColumn(r));
      compositeCols.set(r.attrelid, list);
    }
  }
  for (const p of procs.rows) {
    const modes = p.argmodes ?? p.argtypnames.map(() => 'i');
    const names = p.argnames ?? [];
    const inArgs: FunctionArg[] = [];
    const outCols: ColumnInfo[] = [];
    modes.forEach((mode, i) => {
      const name = names[i] ?? '';
      const typeName = p.argtypnames[i] ?? 'unknown';
      if (mode === 'i' || mode === 'b' || mode === 'v') inArgs.push({ name, typeName, hasDefault: false });
      if (mode === 'o' || mode === 'b' || mode === 't') {
        outCols.push({ name, type: typeName, typeName, nullable: true, hasDefault: false, generated: false });
      }
    });
    for (let i = inArgs.length - p.pronargdefaults; i < inArgs.length; i++) {
      const arg = inArgs[i];
      if (arg) arg.hasDefault = true;
    }
    let returnKind: FunctionInfo['returnKind'] = 'scalar';
    let returnColumns: ColumnInfo[] = [];
    let returnTable: string | null = null;
    if (p.rettypname === 'void') {
      returnKind = 'void';
    } else if (p.rettyptype === 'c') {
      returnKind = 'composite';
      returnTable = tableByOid.get(p.rettyprelid) ?? null;
      returnColumns = returnTable ? (tables.get(returnTable)?.columns ?? []) : (compositeCols.get(p.rettyprelid) ?? []);
    } else if (p.rettypname === 'record' && outCols.length > 0) {
      returnKind = 'composite';
      returnColumns = outCols;
    }
    const info: FunctionInfo = {
      schema,
      name: p.proname,
      args: inArgs,
      returnsSet: p.proretset,
      returnKind,
      returnColumns,
      returnTable,
      volatility: p.provolatile === 'i' ? 'immutable' : p.provolatile === 's' ? 'stable' : 'volatile',
    };
    const list = functions.get(p.proname) ?? [];
    list.push(info);
    functions.set(p.proname, list);
  }
  return { schema, tables, functions, loadedAt: Date.now() };
}

/** Loads lazily, and reloads on demand (a request naming something unknown), at most every `minReloadMs`. */
export class SchemaCache {
  private current: Promise<Catalog> | null = null;
  constructor(
    private readonly db: pg.Pool,
    private readonly schema = 'public',
    private readonly minReloadMs = 250,
  ) {}

  get(): Promise<Catalog> {
    if (!this.current) {
      const loading = loadCatalog(this.db, this.schema);
      this.current = loading;
      loading.catch(() => {
        if (this.current === loading) this.current = null;
      });
    }
    return this.current;
  }

  /** Reloads unless the cached catalog is younger than minReloadMs; returns whether it reloaded. */
  async refresh(): Promise<boolean> {
    const cached = this.current ? await this.current.catch(() => null) : null;
    if (cached && Date.now() - cached.loadedAt < this.minReloadMs) return false;
    this.current = null;
    await this.get();
    return true;
  }
}
