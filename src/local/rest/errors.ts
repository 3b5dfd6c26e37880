/** PostgREST-shaped errors: `{code, message, details, hint}` with PostgREST's HTTP statuses. */
import { AppError } from '../../shared/errors.js';

export interface PostgrestErrorBody {
  code: string;
  message: string;
  details: string | null;
  hint: string | null;
}

export class PostgrestError extends AppError {
  readonly status: number;
  readonly code: string;
  readonly details: string | null;
  readonly hint: string | null;
  /** Raised because the schema cache lacks a table, column or function: worth one reload and retry. */
  readonly schemaMiss: boolean;
  constructor(
    status: number,
    code: string,
    message: string,
    opts: { details?: string | null; hint?: string | null; schemaMiss?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, { cause: opts.cause });
    this.status = status;
    this.code = code;
    this.details = opts.details ?? null;
    this.hint = opts.hint ?? null;
    this.schemaMiss = opts.schemaMiss ?? false;
  }
  toBody(): PostgrestErrorBody {
    return { code: this.code, details: this.details, hint: this.hint, message: this.message };
  }
}

/** A query string or header the server cannot parse or does not support (PGRST100, HTTP 400). */
export function parseError(message: string, details?: string): PostgrestError {
  return new PostgrestError(400, 'PGRST100', message, { details: details ?? null });
}

export function unknownColumn(table: string, column: string): PostgrestError {
  return new PostgrestError(400, '42703', `column ${table}.${column} does not exist`, { schemaMiss: true });
}

interface PgErrorLike {
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
}

/**
 * An error the database server sent (it carries a SQLSTATE). A socket's error
 * has a code too (EPIPE, EPERM, EBUSY are five capitals), but also a syscall
 * or an errno: that is the connection failing, not the database refusing.
 */
function isPgError(err: unknown): err is PgErrorLike {
  if (!(err instanceof Error)) return false;
  const e = err as PgErrorLike & { syscall?: unknown; errno?: unknown };
  if (e.syscall !== undefined || e.errno !== undefined) return false;
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code);
}

/** HTTP status PostgREST answers for a SQLSTATE. */
export function statusForSqlState(code: string, role: string): number {
  if (code === '42501') return role === 'anon' ? 401 : 403;
  if (/^PT\d{3}$/.test(code)) return Number(code.slice(2));
  const exact: Record<string, number> = {
    '23503': 409,
    '23505': 409,
    '25006': 405,
    '42883': 404,
    '42P01': 404,
    '42P17': 500,
    P0001: 400,
    '21000': 400,
    '57014': 500,
  };
  if (exact[code] !== undefined) return exact[code];
  const byClass: Record<string, number> = {
    '08': 503,
    '09': 500,
    '0L': 403,
    '0P': 403,
    '25': 500,
    '28': 403,
    '2D': 500,
    '38': 500,
    '39': 500,
    '3B': 500,
    '40': 500,
    '53': 503,
    '54': 500,
    '55': 500,
    '57': 500,
    '58': 500,
    F0: 500,
    HV: 500,
    P0: 500,
    XX: 500,
  };
  return byClass[code.slice(0, 2)] ?? 400;
}

/** Converts anything thrown while serving a request into a PostgrestError. */
export function toPostgrestError(err: unknown, role: string): PostgrestError {
  if (err instanceof PostgrestError) return err;
  if (isPgError(err)) {
    const code = err.code ?? 'XX000';
    return new PostgrestError(statusForSqlState(code, role), code, err.message, {
      details: err.detail ?? null,
      hint: err.hint ?? null,
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  const unavailable = databaseUnavailable(err);
  if (unavailable) return new PostgrestError(unavailable.status, unavailable.code, unavailable.message, { details: message, cause: err });
  return new PostgrestError(500, 'PGRST000', 'Database connection error', { details: message, cause: err });
}

/**
 * A request the database never answered, as PostgREST tells it (worth a retry, unlike a 500): no
 * connection of the pool came free in time (504 PGRST003), or the connection failed or was lost
 * (503: a socket error, or node-postgres's "Connection terminated…"). Null for anything else.
 */
export function databaseUnavailable(err: unknown): { status: 503 | 504; code: string; message: string } | null {
  if (!(err instanceof Error) || isPgError(err)) return null;
  const e: Error = err;
  if (e.message === 'timeout exceeded when trying to connect') return { status: 504, code: 'PGRST003', message: 'Timed out acquiring connection from connection pool.' };
  const socket = (e as { syscall?: unknown }).syscall !== undefined || (e as { errno?: unknown }).errno !== undefined;
  if (socket || e.message.startsWith('Connection terminated')) return { status: 503, code: 'PGRST000', message: 'Database connection error' };
  return null;
}
