/** Errors of the edge functions: one base class with an HTTP status and a machine-readable reason. */
import { corsHeaders } from './cors.ts';

export type FunctionErrorReason =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'rate_limited'
  | 'upstream_failed'
  | 'misconfigured'
  | 'internal';

const STATUS: Record<FunctionErrorReason, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  rate_limited: 429,
  upstream_failed: 502,
  misconfigured: 500,
  internal: 500,
};

export class FunctionError extends Error {
  readonly reason: FunctionErrorReason;
  readonly status: number;
  constructor(reason: FunctionErrorReason, message: string) {
    super(message);
    this.name = 'FunctionError';
    this.reason = reason;
    this.status = STATUS[reason];
  }
}

export class BadRequestError extends FunctionError {
  constructor(message: string) {
    super('bad_request', message);
    this.name = 'BadRequestError';
  }
}

export class UnauthorizedError extends FunctionError {
  constructor(message: string) {
    super('unauthorized', message);
    this.name = 'UnauthorizedError';
  }
}

export class ForbiddenError extends FunctionError {
  constructor(message: string) {
    super('forbidden', message);
    this.name = 'ForbiddenError';
  }
}

export class NotFoundError extends FunctionError {
  constructor(message: string) {
    super('not_found', message);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends FunctionError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ConflictError';
  }
}

/** The caller used up their calls of this function for a while: `retryAfterSeconds` says how long. */
export class RateLimitedError extends FunctionError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super('rate_limited', message);
    this.name = 'RateLimitedError';
  }
}

/** A Cloudflare API (or another service the function calls) failed. */
export class UpstreamError extends FunctionError {
  /** `upstreamStatus`: the HTTP status the service answered, when it answered one. */
  constructor(message: string, readonly upstreamStatus: number | null = null) {
    super('upstream_failed', message);
    this.name = 'UpstreamError';
  }
}

/** A secret or URL the function needs is missing or inconsistent. */
export class ConfigError extends FunctionError {
  constructor(message: string) {
    super('misconfigured', message);
    this.name = 'ConfigError';
  }
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...corsHeaders, 'Content-Type': 'application/json', ...headers },
  });
}

/** `{ error }` with the error's status; anything that is not a FunctionError becomes a 500 and is logged. */
export function errorResponse(err: unknown, log: (message: string) => void): Response {
  if (err instanceof FunctionError) {
    if (err.status >= 500) log(`${err.name}: ${err.message}`);
    const headers: Record<string, string> =
      err.reason === 'method_not_allowed' ? { Allow: 'POST, OPTIONS' } : err instanceof RateLimitedError ? { 'Retry-After': String(err.retryAfterSeconds) } : {};
    return jsonResponse({ error: err.message }, err.status, headers);
  }
  log(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return jsonResponse({ error: 'Internal error' }, 500);
}
