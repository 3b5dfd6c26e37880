/**
 * postgres_changes filters as realtime-js writes them: `col=op.value`, several
 * joined by `,` (all must hold), `not.` negates, values may be quoted
 * PostgREST-style (`name=eq."a,b"`), `in.(a,"b,c")` lists values.
 * Only the operators hosted Supabase Realtime evaluates are taken (eq, neq,
 * lt, lte, gt, gte, in); pattern and regular-expression operators (like,
 * ilike, match, imatch) and the rest are refused at join: each filter runs on
 * every changed row, so its cost must stay linear in the row and the filter,
 * and a filter that works here must work on a hosted project.
 * Comparison follows the column's PostgreSQL type where it matters (numbers,
 * booleans, timestamps, uuids); SQL NULL makes a comparison unknown, so it
 * never matches (also under `not.`).
 */
import { RealtimeError } from './errors.js';

export const FILTER_OPERATORS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in'] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

/** Hosted Realtime's bound on an `in` list. */
export const MAX_IN_VALUES = 100;
/** Longest value (each `in` item too), in characters. */
export const MAX_FILTER_VALUE_LENGTH = 1024;
/** Most conditions in one filter. */
export const MAX_FILTER_CONDITIONS = 16;

export interface FilterCondition {
  column: string;
  op: FilterOperator;
  negate: boolean;
  /** The value for every operator but `in`. */
  value: string;
  /** The list for `in`. */
  values: string[];
}

function invalid(filter: string, why: string): RealtimeError {
  const shown = filter.length > 120 ? `${filter.slice(0, 120)}…` : filter;
  return new RealtimeError('invalid_filter', `invalid filter "${shown}": ${why}`);
}

/** Splits at `sep` outside double quotes and parentheses. */
function splitTopLevel(text: string, sep: string): string[] | null {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '(') depth++;
    else if (ch === ')') {
      depth--;
      if (depth < 0) return null;
    } else if (ch === sep && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted || depth !== 0) return null;
  parts.push(text.slice(start));
  return parts;
}

function unquote(raw: string): string | null {
  if (!raw.startsWith('"')) return raw;
  if (raw.length < 2 || !raw.endsWith('"')) return null;
  let out = '';
  for (let i = 1; i < raw.length - 1; i++) {
    const ch = raw[i]!;
    if (ch === '\\') {
      i++;
      if (i >= raw.length - 1) return null;
      out += raw[i];
    } else if (ch === '"') return null;
    else out += ch;
  }
  return out;
}

function parseCondition(filter: string, text: string): FilterCondition {
  const eq = text.indexOf('=');
  if (eq <= 0) throw invalid(filter, `"${text}" is not column=operator.value`);
  const column = text.slice(0, eq).trim();
  if (column === '' || /["(),]/.test(column)) throw invalid(filter, `bad column name "${column}"`);
  let rest = text.slice(eq + 1);
  let negate = false;
  if (rest.startsWith('not.')) {
    negate = true;
    rest = rest.slice(4);
  }
  const dot = rest.indexOf('.');
  if (dot < 0) throw invalid(filter, `"${text}" has no operator`);
  const op = rest.slice(0, dot) as FilterOperator;
  if (!FILTER_OPERATORS.includes(op)) {
    throw invalid(filter, `operator "${rest.slice(0, dot)}" is not supported (Realtime filters take ${FILTER_OPERATORS.join(', ')})`);
  }
  const rawValue = rest.slice(dot + 1);
  const condition: FilterCondition = { column, op, negate, value: '', values: [] };
  if (op === 'in') {
    if (!rawValue.startsWith('(') || !rawValue.endsWith(')')) throw invalid(filter, 'in needs a list: in.(a,b)');
    const items = splitTopLevel(rawValue.slice(1, -1), ',');
    if (!items) throw invalid(filter, 'unbalanced quotes or parentheses');
    if (items.length > MAX_IN_VALUES) throw invalid(filter, `an in list takes at most ${MAX_IN_VALUES} values`);
    const values = items.map((item) => unquote(item.trim()));
    if (values.some((v) => v === null)) throw invalid(filter, 'bad quoting in the in list');
    if (values.some((v) => v!.length > MAX_FILTER_VALUE_LENGTH)) throw tooLong(filter);
    condition.values = values as string[];
    return condition;
  }
  const value = unquote(rawValue);
  if (value === null) throw invalid(filter, 'bad quoting');
  if (value.length > MAX_FILTER_VALUE_LENGTH) throw tooLong(filter);
  condition.value = value;
  return condition;
}

function tooLong(filter: string): RealtimeError {
  return invalid(filter, `a value is longer than ${MAX_FILTER_VALUE_LENGTH} characters`);
}

/** Parses a filter string; an empty or absent filter means "every row". */
export function parseFilter(filter: string | undefined | null): FilterCondition[] {
  if (filter === undefined || filter === null || filter.trim() === '') return [];
  const parts = splitTopLevel(filter, ',');
  if (!parts) throw invalid(filter, 'unbalanced quotes or parentheses');
  if (parts.length > MAX_FILTER_CONDITIONS) throw invalid(filter, `a filter takes at most ${MAX_FILTER_CONDITIONS} conditions`);
  return parts.map((part) => parseCondition(filter, part));
}

const NUMERIC_TYPES = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'oid']);
const TIME_TYPES = new Set(['timestamptz', 'timestamp', 'date']);

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function parseBool(text: string): boolean | null {
  const t = text.trim().toLowerCase();
  if (['t', 'true', 'yes', 'on', '1', 'y'].includes(t)) return true;
  if (['f', 'false', 'no', 'off', '0', 'n'].includes(t)) return false;
  return null;
}

/** -1, 0 or 1; null when the two cannot be compared as the column's type. */
export function compareAs(type: string | undefined, recordValue: unknown, filterValue: string): number | null {
  if (recordValue === null || recordValue === undefined) return null;
  if (type && NUMERIC_TYPES.has(type)) {
    const a = typeof recordValue === 'number' ? recordValue : Number(recordValue);
    const b = Number(filterValue.trim());
    if (filterValue.trim() === '' || Number.isNaN(a) || Number.isNaN(b)) return null;
    return a === b ? 0 : a < b ? -1 : 1;
  }
  if (type === 'bool' || typeof recordValue === 'boolean') {
    const a = typeof recordValue === 'boolean' ? recordValue : parseBool(asText(recordValue));
    const b = parseBool(filterValue);
    if (a === null || b === null) return null;
    return a === b ? 0 : a ? 1 : -1;
  }
  if (type && TIME_TYPES.has(type)) {
    const a = Date.parse(asText(recordValue));
    const b = Date.parse(filterValue);
    if (!Number.isNaN(a) && !Number.isNaN(b)) return a === b ? 0 : a < b ? -1 : 1;
  }
  if (typeof recordValue === 'number' && !type) {
    const b = Number(filterValue);
    if (filterValue.trim() !== '' && !Number.isNaN(b)) return recordValue === b ? 0 : recordValue < b ? -1 : 1;
  }
  let a = asText(recordValue);
  let b = filterValue;
  if (type === 'uuid') {
    a = a.toLowerCase();
    b = b.toLowerCase();
  }
  return a === b ? 0 : a < b ? -1 : 1;
}

/** true / false, or null for SQL's unknown. */
function evaluate(cond: FilterCondition, record: Record<string, unknown>, type: string | undefined): boolean | null {
  const value = record[cond.column];
  const isNull = value === null || value === undefined;
  switch (cond.op) {
    case 'in': {
      if (isNull) return null;
      let unknown = false;
      for (const item of cond.values) {
        const cmp = compareAs(type, value, item);
        if (cmp === 0) return true;
        if (cmp === null) unknown = true;
      }
      return unknown ? null : false;
    }
    default: {
      const cmp = compareAs(type, value, cond.value);
      if (cmp === null) return null;
      switch (cond.op) {
        case 'eq':
          return cmp === 0;
        case 'neq':
          return cmp !== 0;
        case 'lt':
          return cmp < 0;
        case 'lte':
          return cmp <= 0;
        case 'gt':
          return cmp > 0;
        case 'gte':
          return cmp >= 0;
      }
      return null;
    }
  }
}

/**
 * Whether `record` passes every condition. `types` maps column names to
 * PostgreSQL type names (`int4`, `text`, `uuid`, …) as pg_type.typname gives them.
 */
export function matchesFilter(
  conditions: readonly FilterCondition[],
  record: Record<string, unknown> | null | undefined,
  types: ReadonlyMap<string, string> = new Map(),
): boolean {
  if (conditions.length === 0) return true;
  if (!record) return false;
  for (const cond of conditions) {
    const result = evaluate(cond, record, types.get(cond.column));
    if (result === null) return false;
    if ((cond.negate ? !result : result) === false) return false;
  }
  return true;
}
