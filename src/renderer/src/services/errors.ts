/**
 * The one error every backend service throws. `reason` is machine-readable:
 * the database's HINT where its functions give one (`not_host`, `seat_locked`,
 * `invitation_expired`, ...), otherwise a reason derived from the SQLSTATE,
 * the HTTP status of an edge function or the failure's kind. `message` is fit
 * to show to a person.
 */
import { AppError } from '../../../shared/errors';

/** Reasons the database functions give in their HINT (supabase/migrations). */
export const DATABASE_REASONS = [
  'not_signed_in',
  'not_host',
  'stream_not_found',
  'stream_ended',
  'stream_not_live',
  'too_many_invitations',
  'invitee_not_found',
  'invitee_is_host',
  'invalid_seat',
  'seat_locked',
  'already_seated',
  'seats_full',
  'invitation_not_found',
  'invitation_expired',
  'invitation_not_pending',
  'not_seated',
  'invalid_volume',
  'invalid_argument',
  'muted_by_host',
  'camera_disabled_by_host',
  'removed_from_stream',
  'removed_by_host',
  'status_managed',
  'stream_identity',
] as const;

/** Reasons the services derive when the backend names none. */
export const GENERIC_REASONS = [
  'forbidden',
  'not_found',
  'conflict',
  'rate_limited',
  'rejected',
  'invalid_request',
  'method_not_allowed',
  'server_error',
  'upstream_failed',
  'network_error',
  'realtime_unavailable',
  'empty_response',
  'auth_failed',
  'display_name_required',
  'backend_error',
] as const;

export type KnownReason = (typeof DATABASE_REASONS)[number] | (typeof GENERIC_REASONS)[number];
/** A known reason, or one a newer backend sends that this build does not list yet. */
export type BackendErrorReason = KnownReason | (string & {});

export class BackendError extends AppError {
  declare readonly reason: BackendErrorReason;
  /** HTTP status of the failed request, where there was one. */
  readonly status: number | null;
  constructor(reason: BackendErrorReason, message: string, options: { status?: number | null; cause?: unknown } = {}) {
    super(reason, message, { cause: options.cause });
    this.status = options.status ?? null;
  }
}

/** What supabase-js hands back for a failed query or RPC (PostgrestError) or auth call (AuthError). */
export interface BackendErrorLike {
  message?: string;
  code?: string;
  hint?: string | null;
  details?: string | null;
  status?: number;
}

/** A stable reason: lower-case words joined by underscores (a HINT that is prose is not one). */
const REASON_RE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$|^[a-z]{3,}$/;

const SQLSTATE_REASONS: Record<string, KnownReason> = {
  '42501': 'forbidden',
  PT404: 'not_found',
  PGRST116: 'not_found',
  '23505': 'conflict',
  '23503': 'conflict',
  P0001: 'rejected',
  PGRST301: 'not_signed_in',
  PGRST302: 'not_signed_in',
  PGRST303: 'not_signed_in',
};

/** The reason of a database (PostgREST) error: its HINT, else one read from its SQLSTATE. */
export function databaseReason(error: BackendErrorLike): BackendErrorReason {
  const hint = error.hint?.trim();
  if (hint && REASON_RE.test(hint)) return hint;
  const code = error.code ?? '';
  if (SQLSTATE_REASONS[code]) return SQLSTATE_REASONS[code];
  if (code === '') return 'network_error';
  if (code.startsWith('PGRST1')) return 'invalid_request';
  return 'backend_error';
}

/** A failed query or RPC as a BackendError: `context` says what was being done. */
export function toBackendError(context: string, error: BackendErrorLike | null | undefined): BackendError {
  if (!error) return new BackendError('empty_response', `${context}: the backend sent no answer`);
  const message = error.message?.trim() || 'unknown error';
  return new BackendError(databaseReason(error), `${context}: ${message}`, { status: error.status ?? null, cause: error });
}

/** A failed Supabase Auth call as a BackendError. */
export function authError(context: string, error: BackendErrorLike | null | undefined): BackendError {
  if (!error) return new BackendError('auth_failed', `${context}: no user came back`);
  const code = error.code ?? '';
  const reason = REASON_RE.test(code) ? code : error.status === 0 || error.status === undefined ? 'network_error' : 'auth_failed';
  return new BackendError(reason, `${context}: ${error.message ?? 'unknown error'}`, { status: error.status ?? null, cause: error });
}

const STATUS_REASONS: Record<number, KnownReason> = {
  400: 'invalid_request',
  401: 'not_signed_in',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  429: 'rate_limited',
  502: 'upstream_failed',
};

function statusReason(status: number): KnownReason {
  return STATUS_REASONS[status] ?? (status >= 500 ? 'server_error' : 'backend_error');
}

/** Per-call meaning of a status (e.g. a 403 from a host-only function means `not_host`). */
export type StatusReasons = Partial<Record<number, BackendErrorReason>>;

/**
 * A failed edge-function call (`functions.invoke`) as a BackendError, with the
 * function's `{ error }` body as the message when it sent one.
 */
export async function functionError(context: string, error: unknown, statusReasons: StatusReasons = {}): Promise<BackendError> {
  if (!error) return new BackendError('empty_response', `${context}: the function sent no answer`);
  const name = (error as { name?: string }).name;
  const response = (error as { context?: unknown }).context;
  if (name === 'FunctionsHttpError' && response instanceof Response) {
    const status = response.status;
    const reason = statusReasons[status] ?? statusReason(status);
    const text = await response
      .clone()
      .text()
      .catch(() => '');
    let detail = text.trim();
    try {
      const body = JSON.parse(text) as { error?: unknown; message?: unknown };
      if (typeof body.error === 'string') detail = body.error;
      else if (typeof body.message === 'string') detail = body.message;
    } catch {
      // Not JSON: the text itself (or the status) says what happened.
    }
    return new BackendError(reason, `${context}: ${detail || `HTTP ${status}`}`, { status, cause: error });
  }
  if (name === 'FunctionsFetchError') {
    // A request past its time limit (timedFetch) says so, rather than "could not be reached".
    const cause = (error as { context?: unknown }).context;
    const timedOut = cause instanceof Error && cause.name === 'TimeoutError';
    return new BackendError('network_error', `${context}: ${timedOut ? cause.message : 'the backend could not be reached'}`, { cause: error });
  }
  if (name === 'FunctionsRelayError') {
    return new BackendError('upstream_failed', `${context}: the function could not be reached`, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BackendError('backend_error', `${context}: ${message}`, { cause: error });
}
