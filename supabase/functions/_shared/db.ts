/** supabase-js results to values or FunctionErrors. */
import type { PostgrestError } from '@supabase/supabase-js';
import { ConflictError, ForbiddenError, FunctionError, NotFoundError } from './errors.ts';

interface Result<T> {
  data: T | null;
  error: PostgrestError | null;
}

/**
 * Maps a PostgREST error to a status: RLS refusals are 403, unique violations 409, a database
 * function's "not found" (PT404) 404 and its refusal by a rule (P0001, e.g. the stream has ended)
 * 409 with its own message; the rest 500.
 */
export function databaseError(action: string, error: PostgrestError): FunctionError {
  const detail = error.message || error.code || 'unknown error';
  switch (error.code) {
    case '42501':
      return new ForbiddenError(`Not allowed to ${action}: ${detail}`);
    case 'PGRST116':
      return new NotFoundError(`Nothing found to ${action}`);
    case '23505':
      return new ConflictError(`Could not ${action}: ${detail}`);
    case 'PT404':
      return new NotFoundError(detail);
    case 'P0001':
      return new ConflictError(detail);
    default:
      return new FunctionError('internal', `Could not ${action}: ${detail}`);
  }
}

/** The data of a query that must return something. */
export function must<T>(result: Result<T>, action: string): T {
  if (result.error) throw databaseError(action, result.error);
  if (result.data === null) throw new NotFoundError(`Nothing found to ${action}`);
  return result.data;
}

/** The data of a `maybeSingle()` query: null when there is no row. */
export function maybe<T>(result: Result<T>, action: string): T | null {
  if (result.error) throw databaseError(action, result.error);
  return result.data;
}
