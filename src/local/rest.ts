/**
 * `/rest/v1`: the PostgREST subset that postgrest-js speaks, over a pg.Pool.
 * Each request runs in its own transaction as the JWT's role with the claims
 * in `request.jwt.claims`, so row level security decides what it may touch.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type pg from 'pg';
import { BodyError, bearerToken, headerList, headerValue, readJson, sendEmpty, sendJson, sendJsonText } from './http.js';
import { API_ROLES, type JwtClaims, JwtError, verifyJwt } from './jwt.js';
import { inTransaction } from './dbClient.js';
import { type Catalog, type FunctionInfo, SchemaCache, type TableInfo } from './rest/catalog.js';
import { PostgrestError, parseError, toPostgrestError } from './rest/errors.js';

/** Rows a read answers at most (supabase/config.toml's `max_rows`, as the hosted API applies it). */
export const MAX_ROWS = 1000;
import { type ParsedQuery, emptyNode, parseQuery } from './rest/parse.js';
import { argValue, buildDelete, buildInsert, buildRead, buildRpc, buildUpdate, chooseFunction, type SqlQuery } from './rest/sql.js';

export { API_ROLES };

export interface RestOptions {
  pool: pg.Pool;
  jwtSecret: string;
  /** The exposed schema; default 'public'. */
  schema?: string;
  /** Per-request statement timeout; default 8 s (the hosted default for signed-in users). */
  statementTimeoutMs?: number;
}

export interface RestHandler {
  /** `path` is the part after `/rest/v1`, e.g. `/streams` or `/rpc/invite_guest`. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, search: URLSearchParams): Promise<void>;
  readonly schemaCache: SchemaCache;
}

interface Prefer {
  singleObject: boolean;
  return?: 'representation' | 'minimal' | 'headers-only';
  count: boolean;
  resolution?: 'merge' | 'ignore';
  missingDefault: boolean;
  rollback: boolean;
  maxAffected?: number;
}

interface ResultRow {
  body: string | null;
  page_total: number;
  total?: string | number | null;
}

function parsePrefer(req: IncomingMessage): Prefer {
  const prefer: Prefer = { singleObject: false, count: false, missingDefault: false, rollback: false };
  for (const token of headerList(req, 'prefer')) {
    const [key, value] = token.split('=').map((s) => s.trim());
    if (key === 'return' && (value === 'representation' || value === 'minimal' || value === 'headers-only')) prefer.return = value;
    else if (key === 'count' && (value === 'exact' || value === 'planned' || value === 'estimated')) prefer.count = true;
    else if (key === 'resolution' && value === 'merge-duplicates') prefer.resolution = 'merge';
    else if (key === 'resolution' && value === 'ignore-duplicates') prefer.resolution = 'ignore';
    else if (key === 'missing') prefer.missingDefault = value === 'default';
    else if (key === 'tx') prefer.rollback = value === 'rollback';
    else if (key === 'max-affected' && value && /^\d+$/.test(value)) prefer.maxAffected = Number(value);
    else if (key === 'params' && value === 'single-object') prefer.singleObject = true;
  }
  return prefer;
}

function parseAccept(req: IncomingMessage): { singular: boolean; stripNulls: boolean } {
  const header = headerValue(req, 'accept');
  if (!header) return { singular: false, stripNulls: false };
  for (const media of header.split(',')) {
    const [type = '', ...params] = media.split(';').map((s) => s.trim().toLowerCase());
    const stripNulls = params.includes('nulls=stripped');
    if (type === '*/*' || type === 'application/json' || type === 'application/*' || type === 'application/vnd.pgrst.array+json') {
      return { singular: false, stripNulls };
    }
    if (type === 'application/vnd.pgrst.object+json') return { singular: true, stripNulls };
  }
  throw new PostgrestError(406, 'PGRST107', `None of these media types are available: ${header}`);
}

function contentRange(offset: number, count: number, total: number | null): string {
  const totalText = total === null ? '*' : String(total);
  return count > 0 ? `${offset}-${offset + count - 1}/${totalText}` : `*/${totalText}`;
}

/** `Range: 0-9` (items). */
function parseRange(req: IncomingMessage): { offset: number; limit?: number } | null {
  const header = headerValue(req, 'range');
  if (!header) return null;
  const m = /^(?:items=)?\s*(\d+)-(\d*)\s*$/.exec(header);
  if (!m?.[1]) return null;
  const offset = Number(m[1]);
  if (m[2] === '' || m[2] === undefined) return { offset };
  const last = Number(m[2]);
  if (last < offset) throw new PostgrestError(416, 'PGRST103', 'Requested range not satisfiable', { details: `bad range ${header}` });
  return { offset, limit: last - offset + 1 };
}

function singularError(count: number): PostgrestError {
  return new PostgrestError(406, 'PGRST116', 'Cannot coerce the result to a single JSON object', {
    details: `The result contains ${count} rows`,
  });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalidBody(details: string): PostgrestError {
  return new PostgrestError(400, 'PGRST102', 'Empty or invalid json', { details });
}

export function createRestHandler(opts: RestOptions): RestHandler {
  const schema = opts.schema ?? 'public';
  const cache = new SchemaCache(opts.pool, schema);
  const timeout = `${opts.statementTimeoutMs ?? 8000}ms`;

  async function authenticate(req: IncomingMessage, search: URLSearchParams): Promise<JwtClaims> {
    const token = bearerToken(req) ?? headerValue(req, 'apikey') ?? search.get('apikey');
    if (!token) {
      throw new PostgrestError(401, 'PGRST302', 'No API key found in request', {
        hint: 'No `apikey` request header or url param was found.',
      });
    }
    let claims: JwtClaims;
    try {
      claims = await verifyJwt(token, opts.jwtSecret);
    } catch (err) {
      if (err instanceof JwtError && err.reason === 'jwt_expired') throw new PostgrestError(401, 'PGRST303', 'JWT expired');
      throw new PostgrestError(401, 'PGRST301', (err as Error).message);
    }
    if (!(API_ROLES as readonly string[]).includes(claims.role)) {
      throw new PostgrestError(401, 'PGRST301', `JWT role "${claims.role}" is not one of ${API_ROLES.join(', ')}`);
    }
    return claims;
  }

  /** Runs `sql` in a transaction as the caller; `decide` sees the row and may veto the commit by throwing. */
  async function run(
    req: IncomingMessage,
    claims: JwtClaims,
    sql: SqlQuery,
    readOnly: boolean,
    rollback: boolean,
    decide: (row: ResultRow) => void,
  ): Promise<ResultRow> {
    return inTransaction(
      opts.pool,
      async (client) => {
        await client.query(
          `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
                  set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $4, true),
                  set_config('request.jwt.claim.email', $5, true), set_config('request.method', $6, true),
                  set_config('request.path', $7, true), set_config('request.headers', $8, true),
                  set_config('statement_timeout', $9, true)`,
          [
            claims.role,
            JSON.stringify(claims),
            typeof claims.sub === 'string' ? claims.sub : '',
            claims.role,
            typeof claims.email === 'string' ? claims.email : '',
            req.method ?? 'GET',
            (req.url ?? '').split('?')[0] ?? '',
            JSON.stringify(requestHeaders(req)),
            timeout,
          ],
        );
        const result = await client.query<ResultRow>(sql.text, sql.values);
        const row = result.rows[0] ?? { body: null, page_total: 0 };
        decide(row);
        return row;
      },
      { begin: readOnly ? 'begin isolation level read committed read only' : 'begin', end: rollback ? 'rollback' : 'commit' },
    );
  }

  async function withCatalog<T>(fn: (catalog: Catalog) => Promise<T>): Promise<T> {
    try {
      return await fn(await cache.get());
    } catch (err) {
      if (err instanceof PostgrestError && err.schemaMiss && (await cache.refresh())) return fn(await cache.get());
      throw err;
    }
  }

  function tableOf(catalog: Catalog, name: string): TableInfo {
    const table = catalog.tables.get(name);
    if (!table) {
      throw new PostgrestError(404, 'PGRST205', `Could not find the table '${schema}.${name}' in the schema cache`, { schemaMiss: true });
    }
    return table;
  }

  function applyRange(req: IncomingMessage, query: ParsedQuery): number {
    const root = query.nodes.get('') ?? emptyNode();
    query.nodes.set('', root);
    const range = parseRange(req);
    if (range) {
      root.offset = (root.offset ?? 0) + range.offset;
      if (range.limit !== undefined) root.limit = root.limit === undefined ? range.limit : Math.min(root.limit, range.limit);
    }
    // At most MAX_ROWS a read, as the hosted API answers (its max_rows): a client pages past them.
    root.limit = root.limit === undefined ? MAX_ROWS : Math.min(root.limit, MAX_ROWS);
    return root.offset ?? 0;
  }

  async function read(req: IncomingMessage, res: ServerResponse, claims: JwtClaims, name: string, search: URLSearchParams): Promise<void> {
    const accept = parseAccept(req);
    const prefer = parsePrefer(req);
    const query = parseQuery(search);
    const offset = applyRange(req, query);
    const row = await withCatalog(async (catalog) => {
      const sql = buildRead(catalog, tableOf(catalog, name), query, { count: prefer.count, ...accept });
      return run(req, claims, sql, true, false, (r) => {
        if (accept.singular && r.page_total !== 1) throw singularError(r.page_total);
      });
    });
    answerRead(req, res, row, offset, accept.singular, prefer.count);
  }

  function answerRead(req: IncomingMessage, res: ServerResponse, row: ResultRow, offset: number, singular: boolean, counted: boolean): void {
    const total = counted && row.total !== undefined && row.total !== null ? Number(row.total) : null;
    // PostgREST: an offset past the counted total (not at it) cannot be satisfied.
    if (total !== null && offset > total) {
      throw new PostgrestError(416, 'PGRST103', 'Requested range not satisfiable', {
        details: `An offset of ${offset} was requested, but there are only ${total} rows.`,
      });
    }
    const headers = { 'content-range': contentRange(offset, row.page_total, total) };
    const partial = !singular && total !== null && (offset > 0 || offset + row.page_total < total);
    sendJsonText(req, res, partial ? 206 : 200, row.body ?? (singular ? 'null' : '[]'), headers);
  }

  async function write(
    req: IncomingMessage,
    res: ServerResponse,
    claims: JwtClaims,
    name: string,
    search: URLSearchParams,
    method: 'POST' | 'PATCH' | 'DELETE',
  ): Promise<void> {
    const accept = parseAccept(req);
    const prefer = parsePrefer(req);
    const query = parseQuery(search);
    const body = method === 'DELETE' ? undefined : await readJson(req);
    const returning = prefer.return === 'representation';
    const out = { count: false, returning, ...accept };
    const row = await withCatalog(async (catalog) => {
      const table = tableOf(catalog, name);
      let sql: SqlQuery;
      if (method === 'POST') {
        const rows = Array.isArray(body) ? body : [body];
        if (!rows.every(isPlainObject)) throw invalidBody('the body must be a JSON object or an array of objects');
        sql = buildInsert(catalog, table, rows, query, { ...out, missingDefault: prefer.missingDefault, resolution: prefer.resolution });
      } else if (method === 'PATCH') {
        if (!isPlainObject(body)) throw invalidBody('the body must be a JSON object');
        sql = buildUpdate(catalog, table, body, query, out);
      } else {
        sql = buildDelete(catalog, table, query, out);
      }
      return run(req, claims, sql, false, prefer.rollback, (r) => {
        if (prefer.maxAffected !== undefined && r.page_total > prefer.maxAffected) {
          throw new PostgrestError(400, 'PGRST124', 'Query result exceeds max-affected preference constraint', {
            details: `The query affects ${r.page_total} rows`,
          });
        }
        if (accept.singular && r.page_total !== 1) throw singularError(r.page_total);
      });
    });
    const headers: Record<string, string> = { 'content-range': `*/${prefer.count ? row.page_total : '*'}` };
    if (prefer.return) headers['preference-applied'] = `return=${prefer.return}`;
    if (returning) {
      sendJsonText(req, res, method === 'POST' ? 201 : 200, row.body ?? (accept.singular ? 'null' : '[]'), headers);
    } else {
      sendEmpty(res, method === 'POST' ? 201 : 204, headers);
    }
  }

  async function rpc(req: IncomingMessage, res: ServerResponse, claims: JwtClaims, name: string, search: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    const accept = parseAccept(req);
    const prefer = parsePrefer(req);
    const readOnly = method === 'GET' || method === 'HEAD';
    if (prefer.singleObject) throw new PostgrestError(400, 'PGRST100', 'Prefer: params=single-object is not supported by this server');
    let body: Record<string, unknown> = {};
    if (!readOnly) {
      const parsed = await readJson(req);
      if (parsed !== undefined && !isPlainObject(parsed)) throw invalidBody('the arguments must be a JSON object');
      body = parsed ?? {};
    }
    const result = await withCatalog(async (catalog) => {
      const args = new Map<string, unknown>();
      let query: ParsedQuery;
      let fn: FunctionInfo;
      if (readOnly) {
        // GET: query parameters named like an argument are arguments; the rest filter the result.
        const argNames = new Set((catalog.functions.get(name) ?? []).flatMap((f) => f.args.map((a) => a.name)));
        query = parseQuery(search, argNames);
        fn = chooseFunction(catalog, name, [...new Set([...search.keys()].filter((k) => argNames.has(k)))]);
        for (const arg of fn.args) {
          const values = search.getAll(arg.name);
          if (values.length > 1) throw new PostgrestError(400, 'PGRST100', `argument "${arg.name}" given more than once`);
          if (values[0] !== undefined) args.set(arg.name, values[0]);
        }
      } else {
        query = parseQuery(search);
        fn = chooseFunction(catalog, name, Object.keys(body));
        for (const arg of fn.args) if (arg.name in body) args.set(arg.name, argValue(body[arg.name], arg.typeName));
      }
      const offset = applyRange(req, query);
      const sql = buildRpc(catalog, fn, args, query, { count: prefer.count, ...accept });
      const row = await run(req, claims, sql, readOnly, prefer.rollback, (r) => {
        if (accept.singular && r.page_total !== 1) throw singularError(r.page_total);
      });
      return { sql, offset, row };
    });
    if (result.sql.isVoid) {
      sendEmpty(res, 204);
      return;
    }
    answerRead(req, res, result.row, result.offset, accept.singular, prefer.count);
  }

  /**
   * The API's description, as PostgREST gives it: the tables and functions the caller's role may
   * use, not every one of the schema (service-role-only tables, functions whose EXECUTE was revoked).
   */
  async function openApi(req: IncomingMessage, res: ServerResponse, role: string): Promise<void> {
    const catalog = await cache.get();
    const { rows } = await opts.pool.query<{ kind: 'table' | 'function'; name: string }>(
      `select 'table' as kind, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relname = any($2::text[])
          and (has_table_privilege($3, c.oid, 'SELECT') or has_table_privilege($3, c.oid, 'INSERT')
            or has_table_privilege($3, c.oid, 'UPDATE') or has_table_privilege($3, c.oid, 'DELETE'))
       union
       select distinct 'function', p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = $1 and p.proname = any($4::text[]) and has_function_privilege($3, p.oid, 'EXECUTE')`,
      [schema, [...catalog.tables.keys()], role, [...catalog.functions.keys()]],
    );
    const paths: Record<string, object> = {};
    for (const r of rows.filter((x) => x.kind === 'table').sort((a, b) => a.name.localeCompare(b.name))) paths[`/${r.name}`] = {};
    for (const r of rows.filter((x) => x.kind === 'function').sort((a, b) => a.name.localeCompare(b.name))) paths[`/rpc/${r.name}`] = {};
    sendJsonText(req, res, 200, JSON.stringify({ swagger: '2.0', info: { title: 'Roast Live Studio REST', version: '1' }, basePath: '/', paths }));
  }

  async function handle(req: IncomingMessage, res: ServerResponse, path: string, search: URLSearchParams): Promise<void> {
    let role = 'anon';
    try {
      const params = new URLSearchParams(search);
      params.delete('apikey');
      const claims = await authenticate(req, search);
      role = claims.role;
      const method = req.method ?? 'GET';
      const readish = method === 'GET' || method === 'HEAD';
      const profile = headerValue(req, readish ? 'accept-profile' : 'content-profile');
      if (profile && profile !== schema) {
        throw new PostgrestError(406, 'PGRST106', `The schema must be one of the following: ${schema}`);
      }
      const segments = path.split('/').filter(Boolean).map(decodePathSegment);
      if (segments.length === 0) {
        if (!readish) throw new PostgrestError(405, 'PGRST117', `Unsupported HTTP method: ${method}`);
        await openApi(req, res, role);
        return;
      }
      if (segments[0] === 'rpc' && segments.length === 2 && segments[1]) {
        if (!['GET', 'HEAD', 'POST'].includes(method)) throw new PostgrestError(405, 'PGRST117', `Unsupported HTTP method: ${method}`);
        await rpc(req, res, claims, segments[1], params);
        return;
      }
      if (segments.length !== 1 || !segments[0]) {
        throw new PostgrestError(404, 'PGRST125', `Invalid path specified in request URL: ${path}`);
      }
      const table = segments[0];
      if (readish) await read(req, res, claims, table, params);
      else if (method === 'POST' || method === 'PATCH' || method === 'DELETE') await write(req, res, claims, table, params, method);
      else throw new PostgrestError(405, 'PGRST117', `Unsupported HTTP method: ${method}`);
    } catch (err) {
      const e =
        err instanceof BodyError
          ? err.reason === 'body_too_large'
            ? new PostgrestError(413, 'PGRST102', err.message)
            : new PostgrestError(400, 'PGRST102', 'Empty or invalid json', { details: err.message })
          : toPostgrestError(err, role);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const headers: Record<string, string> = {};
      // The rest of a body too large is not read: the connection goes with it.
      if (e.status === 413) headers.connection = 'close';
      if (e.status === 401) headers['www-authenticate'] = `Bearer error="invalid_token", error_description="${e.message.replace(/"/g, "'")}"`;
      sendJson(res, e.status, e.toBody(), headers);
    }
  }

  return { handle, schemaCache: cache };
}

/** A path segment with its %XX escapes decoded; a malformed escape is the client's error (400), not a database one. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw parseError(`Invalid percent-encoding in the request path: "${segment.slice(0, 100)}"`, 'Each % must be followed by two hex digits that form UTF-8.');
  }
}

function requestHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k === 'cookie') continue;
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.join(', ');
  }
  return out;
}
