/**
 * Parses the PostgREST query language (the subset postgrest-js emits) into a
 * small syntax tree. Pure: no catalog, no SQL. Anything outside the subset is
 * a PGRST100 error, never silently ignored.
 */
import { parseError, PostgrestError } from './errors.js';

export interface JsonPathStep {
  arrow: '->' | '->>';
  key: string;
}

/** A column, optionally followed by a JSON path (`data->a->>b`). */
export interface Field {
  name: string;
  path: JsonPathStep[];
}

export type SelectItem =
  | { kind: 'star' }
  | { kind: 'column'; field: Field; alias?: string; cast?: string }
  | { kind: 'embed'; relation: string; alias?: string; hint?: string; inner: boolean; select: SelectItem[] };

export const FILTER_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch', 'is', 'isdistinct', 'in', 'cs', 'cd', 'ov'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];
const UNSUPPORTED_OPS = new Set(['sl', 'sr', 'nxl', 'nxr', 'adj', 'fts', 'plfts', 'phfts', 'wfts']);

export type IsValue = 'null' | 'not_null' | 'true' | 'false' | 'unknown';

export interface Condition {
  kind: 'condition';
  field: Field;
  negate: boolean;
  op: FilterOp;
  /** A string for every operator but `in` (a list) and `is` (an IsValue). */
  value: string | string[];
}

export interface Logic {
  kind: 'logic';
  op: 'and' | 'or';
  negate: boolean;
  children: FilterNode[];
}

export type FilterNode = Condition | Logic;

export interface OrderTerm {
  field: Field;
  direction?: 'asc' | 'desc';
  nulls?: 'first' | 'last';
}

/** Filters, order and paging for the root (path '') or one embedded resource (path 'a' or 'a.b'). */
export interface NodeQuery {
  filters: FilterNode[];
  order: OrderTerm[];
  limit?: number;
  offset?: number;
}

export interface ParsedQuery {
  select: SelectItem[];
  nodes: Map<string, NodeQuery>;
  onConflict?: string[];
  columns?: string[];
}


export function emptyNode(): NodeQuery {
  return { filters: [], order: [] };
}

/**
 * Parses all query parameters except `skip` (an RPC's GET arguments).
 * `params` keeps order and repeats, like URLSearchParams.
 */
export function parseQuery(params: Iterable<[string, string]>, skip: ReadonlySet<string> = new Set()): ParsedQuery {
  const result: ParsedQuery = { select: [{ kind: 'star' }], nodes: new Map([['', emptyNode()]]) };
  const node = (path: string): NodeQuery => {
    let n = result.nodes.get(path);
    if (!n) {
      n = emptyNode();
      result.nodes.set(path, n);
    }
    return n;
  };
  let sawSelect = false;
  for (const [key, value] of params) {
    if (skip.has(key)) continue;
    if (key === 'select') {
      if (sawSelect) throw parseError('"select" given more than once');
      sawSelect = true;
      result.select = parseSelect(value);
      continue;
    }
    if (key === 'on_conflict') {
      result.onConflict = parseNameList(value, 'on_conflict');
      continue;
    }
    if (key === 'columns') {
      result.columns = parseNameList(value, 'columns');
      continue;
    }
    const { path, last } = splitKey(key);
    if (last === 'order') {
      node(path).order.push(...parseOrder(value));
    } else if (last === 'limit' || last === 'offset') {
      if (!/^\d+$/.test(value)) throw parseError(`"${key}" must be a non-negative integer`, `got "${value}"`);
      node(path)[last] = Number(value);
    } else if (last === 'or' || last === 'and' || last === 'not.or' || last === 'not.and') {
      const negate = last.startsWith('not.');
      const op = negate ? (last.slice(4) as 'or' | 'and') : (last as 'or' | 'and');
      node(path).filters.push({ kind: 'logic', op, negate, children: parseLogicList(value, key) });
    } else {
      node(path).filters.push(parseCondition(parseField(last), value));
    }
  }
  return result;
}

/** 'a.b.col' → path 'a.b', last 'col'; 'a.not.or' → path 'a', last 'not.or'; dots after '->' belong to the JSON path. */
function splitKey(key: string): { path: string; last: string } {
  const arrow = key.indexOf('->');
  const head = arrow === -1 ? key : key.slice(0, arrow);
  const tail = arrow === -1 ? '' : key.slice(arrow);
  const parts = head.split('.');
  let lastCount = 1;
  if (parts.length >= 2 && parts[parts.length - 2] === 'not' && (parts[parts.length - 1] === 'or' || parts[parts.length - 1] === 'and')) {
    lastCount = 2;
  }
  const last = parts.slice(parts.length - lastCount).join('.') + tail;
  const path = parts.slice(0, parts.length - lastCount).join('.');
  if (parts.some((p) => p === '')) throw parseError(`failed to parse parameter name "${key}"`);
  return { path, last };
}

/** Splits on commas outside parentheses and double quotes. */
export function splitTopLevel(text: string, what: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth < 0) throw parseError(`failed to parse ${what}`, `unbalanced ")" in "${text}"`);
    } else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted || depth !== 0) throw parseError(`failed to parse ${what}`, `unbalanced quotes or parentheses in "${text}"`);
  out.push(text.slice(start));
  return out;
}

function unquote(text: string): string {
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    return text.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return text;
}

const NAME_RE = /^[^\s,()"'`;:!.\->]+$/;

function parseName(raw: string, what: string): string {
  const text = raw.trim();
  if (text.startsWith('"')) {
    const name = unquote(text);
    if (!text.endsWith('"') || name === '') throw parseError(`failed to parse ${what}`, `bad quoted name ${text}`);
    return name;
  }
  if (!NAME_RE.test(text)) throw parseError(`failed to parse ${what}`, `unexpected name "${text}"`);
  return text;
}

function parseNameList(value: string, what: string): string[] {
  const names = splitTopLevel(value, what).map((n) => parseName(n, what));
  if (names.length === 0) throw parseError(`"${what}" is empty`);
  return names;
}

/** `col`, `"my col"`, `data->a->>b`, `data->0`. */
export function parseField(text: string): Field {
  const parts = text.split(/(->>|->)/);
  const name = parseName(parts[0] ?? '', `field "${text}"`);
  const path: JsonPathStep[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    const arrow = parts[i] as '->' | '->>';
    const key = unquote((parts[i + 1] ?? '').trim());
    if (key === '') throw parseError(`failed to parse JSON path in "${text}"`);
    path.push({ arrow, key });
  }
  return { name, path };
}

/** The `select` parameter. */
export function parseSelect(value: string): SelectItem[] {
  if (value.trim() === '') return [{ kind: 'star' }];
  return splitTopLevel(value, 'select').map((raw) => parseSelectItem(raw.trim(), value));
}

const CAST_RE = /^[a-z][a-z0-9_ ]*(\[\])?$/;

function parseSelectItem(raw: string, whole: string): SelectItem {
  if (raw === '') throw parseError('failed to parse select parameter', `empty item in "${whole}"`);
  if (raw === '*') return { kind: 'star' };
  if (raw.startsWith('...')) throw parseError('spread embedding ("...") is not supported by this server', raw);
  let alias: string | undefined;
  let rest = raw;
  const aliasMatch = /^("(?:[^"\\]|\\.)+"|[^\s,()"'`;:!.\->]+):(?!:)/.exec(raw);
  if (aliasMatch?.[1]) {
    alias = parseName(aliasMatch[1], 'select alias');
    rest = raw.slice(aliasMatch[0].length);
  }
  const paren = rest.indexOf('(');
  if (paren !== -1) {
    if (!rest.endsWith(')')) throw parseError('failed to parse select parameter', `unexpected text after ")" in "${raw}"`);
    const head = rest.slice(0, paren);
    const inner = rest.slice(paren + 1, -1);
    if (/(^|\.)(count|sum|avg|min|max)$/.test(head) && (inner === '' || head.includes('.'))) {
      throw new PostgrestError(400, 'PGRST123', 'Use of aggregate functions is not allowed');
    }
    const [relation, ...modifiers] = head.split('!');
    let hint: string | undefined;
    let inner_ = false;
    for (const m of modifiers) {
      if (m === 'inner') inner_ = true;
      else if (m === 'left') inner_ = false;
      else if (hint === undefined) hint = parseName(m, 'embedding hint');
      else throw parseError('failed to parse select parameter', `more than one embedding hint in "${raw}"`);
    }
    return {
      kind: 'embed',
      relation: parseName(relation ?? '', 'embedded resource'),
      ...(alias !== undefined ? { alias } : {}),
      ...(hint !== undefined ? { hint } : {}),
      inner: inner_,
      select: inner.trim() === '' ? [] : splitTopLevel(inner, 'select').map((r) => parseSelectItem(r.trim(), whole)),
    };
  }
  let cast: string | undefined;
  const castAt = rest.lastIndexOf('::');
  if (castAt !== -1) {
    cast = rest.slice(castAt + 2).trim().toLowerCase();
    rest = rest.slice(0, castAt);
    if (!CAST_RE.test(cast) || !ALLOWED_CASTS.has(cast.replace(/\[\]$/, ''))) {
      throw parseError('failed to parse select parameter', `cast to "${cast}" is not supported`);
    }
  }
  return { kind: 'column', field: parseField(rest), ...(alias !== undefined ? { alias } : {}), ...(cast !== undefined ? { cast } : {}) };
}

export const ALLOWED_CASTS = new Set([
  'text',
  'varchar',
  'char',
  'int',
  'int2',
  'int4',
  'int8',
  'integer',
  'smallint',
  'bigint',
  'numeric',
  'real',
  'float4',
  'float8',
  'double precision',
  'boolean',
  'bool',
  'uuid',
  'json',
  'jsonb',
  'date',
  'time',
  'timestamp',
  'timestamptz',
  'interval',
]);

/** `order=a.desc.nullslast,b` */
export function parseOrder(value: string): OrderTerm[] {
  return splitTopLevel(value, 'order').map((raw) => {
    const text = raw.trim();
    if (text.includes('(')) throw parseError('ordering by an embedded resource is not supported by this server', text);
    let rest = text;
    const term: { direction?: 'asc' | 'desc'; nulls?: 'first' | 'last' } = {};
    for (;;) {
      const m = /\.(asc|desc|nullsfirst|nullslast)$/.exec(rest);
      if (!m?.[1]) break;
      rest = rest.slice(0, -m[0].length);
      if (m[1] === 'asc' || m[1] === 'desc') {
        if (term.direction) throw parseError(`failed to parse order (${text})`);
        term.direction = m[1];
      } else {
        if (term.nulls) throw parseError(`failed to parse order (${text})`);
        term.nulls = m[1] === 'nullsfirst' ? 'first' : 'last';
      }
    }
    if (rest === '') throw parseError(`failed to parse order (${text})`);
    return { field: parseField(rest), ...term };
  });
}

/** `(a.eq.1,and(b.gt.2,c.is.null))` */
function parseLogicList(value: string, key: string): FilterNode[] {
  const text = value.trim();
  if (!text.startsWith('(') || !text.endsWith(')')) {
    throw parseError(`failed to parse logic tree (${value})`, `"${key}" expects a parenthesised list`);
  }
  const inner = text.slice(1, -1);
  if (inner.trim() === '') throw parseError(`failed to parse logic tree (${value})`, 'empty list');
  return splitTopLevel(inner, 'logic tree').map((item) => parseLogicItem(item.trim(), value));
}

function parseLogicItem(item: string, whole: string): FilterNode {
  const logic = /^(not\.)?(and|or)\(/.exec(item);
  if (logic?.[2]) {
    return {
      kind: 'logic',
      op: logic[2] as 'and' | 'or',
      negate: logic[1] !== undefined,
      children: parseLogicList(item.slice(logic[0].length - 1), whole),
    };
  }
  // field.op.value: the field ends at the first ".<operator>." (or ".not.<operator>.").
  const dot = item.search(/\.(?:not\.)?[a-z]+(?:\([a-z_]+\))*\./);
  if (dot <= 0) throw parseError(`failed to parse logic tree (${whole})`, `bad condition "${item}"`);
  return parseCondition(parseField(item.slice(0, dot)), item.slice(dot + 1), true);
}

/** `eq.5`, `not.in.(1,2)`, `is.null`. Inside a logic tree, values may be double-quoted. */
export function parseCondition(field: Field, raw: string, inLogic = false): Condition {
  let rest = raw;
  let negate = false;
  if (rest.startsWith('not.')) {
    negate = true;
    rest = rest.slice(4);
  }
  const m = /^([a-z]+)(\((?:any|all)\))?(\([a-z_]+\))?\./.exec(rest);
  if (!m?.[1]) throw parseError(`failed to parse filter (${raw})`, `expected "<operator>.<value>"`);
  const opName = m[1];
  if (m[2] || m[3] || UNSUPPORTED_OPS.has(opName)) {
    throw parseError(`operator "${m[0].slice(0, -1)}" is not supported by this server`, `filter (${raw})`);
  }
  if (!(FILTER_OPS as readonly string[]).includes(opName)) {
    throw parseError(`failed to parse filter (${raw})`, `unknown operator "${opName}"`);
  }
  const op = opName as FilterOp;
  let value = rest.slice(m[0].length);
  if (op === 'in') {
    const list = value.trim();
    if (!list.startsWith('(') || !list.endsWith(')')) throw parseError(`failed to parse filter (${raw})`, 'in expects (a,b,...)');
    const inner = list.slice(1, -1);
    const items = inner === '' ? [] : splitTopLevel(inner, 'in list').map((v) => unquote(v));
    return { kind: 'condition', field, negate, op, value: items };
  }
  if (op === 'is') {
    const v = value.toLowerCase();
    if (!['null', 'not_null', 'true', 'false', 'unknown'].includes(v)) {
      throw parseError(`failed to parse filter (${raw})`, `"is" accepts null, not_null, true, false or unknown`);
    }
    return { kind: 'condition', field, negate, op, value: v };
  }
  if (inLogic) value = unquote(value);
  if (op === 'like' || op === 'ilike') value = value.replace(/\*/g, '%');
  return { kind: 'condition', field, negate, op, value };
}
