/** Tokens and caller-scoped SQL: what the database lets a JWT's owner see and do. */
import type pg from 'pg';
import { inTransaction } from '../dbClient.js';
import { API_ROLES, JwtError, verifyJwt, type JwtClaims } from '../jwt.js';
import { RealtimeError } from './errors.js';

export type { JwtClaims };

/** Verifies an HS256 token; a RealtimeError with reason `invalid_token` or `token_expired` otherwise. */
export async function verifyToken(token: unknown, secret: string): Promise<JwtClaims> {
  if (typeof token !== 'string' || token === '') throw new RealtimeError('invalid_token', 'a JWT is required');
  let claims: JwtClaims;
  try {
    claims = await verifyJwt(token, secret);
  } catch (err) {
    if (err instanceof JwtError && err.reason === 'jwt_expired') {
      throw new RealtimeError('token_expired', 'Token has expired');
    }
    throw new RealtimeError('invalid_token', `Invalid token: ${(err as Error).message}`);
  }
  // The API's roles only: a token made for another audience (a call token) is no key to the database's rows.
  if (!(API_ROLES as readonly string[]).includes(String(claims.role))) {
    throw new RealtimeError('invalid_token', `Invalid token: role "${String(claims.role)}" is not one of ${API_ROLES.join(', ')}`);
  }
  return claims;
}

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * How long one check may run (ms). A policy that never answers (a lock held
 * elsewhere, a slow function) fails its check instead of holding the
 * delivery of every change behind it, and the server's shutdown with it.
 */
export const CHECK_TIMEOUT_MS = 5000;

/**
 * Runs `fn` in a transaction as the token's owner: `role` from the claims and
 * `request.jwt.claims` set locally, as PostgREST does, and CHECK_TIMEOUT_MS as
 * its statement timeout. The transaction is rolled back: these are checks, they never write.
 */
export function asCaller<T>(pool: pg.Pool, claims: JwtClaims, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(
    pool,
    async (client) => {
      await client.query(
        "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true), set_config('statement_timeout', $3, true)",
        [claims.role, JSON.stringify(claims), `${CHECK_TIMEOUT_MS}ms`],
      );
      return fn(client);
    },
    { end: 'rollback' },
  );
}

/**
 * Whether the token's owner may use the private channel `subTopic` (the channel
 * name without `realtime:`): `public.realtime_topic_allowed(subTopic)` run as
 * the caller. The service role passes, as it bypasses RLS in Supabase.
 */
export async function topicAllowed(pool: pg.Pool, claims: JwtClaims, subTopic: string): Promise<boolean> {
  if (claims.role === 'service_role') return true;
  try {
    return await asCaller(pool, claims, async (client) => {
      const { rows } = await client.query<{ allowed: boolean | null }>('select public.realtime_topic_allowed($1) as allowed', [subTopic]);
      return rows[0]?.allowed === true;
    });
  } catch (err) {
    const code = pgCode(err);
    if (code === '42883') {
      throw new RealtimeError(
        'private_channels_unavailable',
        'Private channels are unavailable: the database has no function public.realtime_topic_allowed(text)',
      );
    }
    // The role does not exist or may not run the function: not allowed.
    if (code === '42501' || code === '22023' || code === '42704') return false;
    throw new RealtimeError('database_error', `authorization check failed: ${(err as Error).message}`);
  }
}

export function unauthorizedTopic(subTopic: string, action: 'read from' | 'write to'): RealtimeError {
  return new RealtimeError('unauthorized', `Unauthorized: You do not have permissions to ${action} this Channel topic: ${subTopic}`);
}

/** Whether a token's claims are past their expiry (a token without `exp` never expires here). */
export function tokenExpired(claims: JwtClaims): boolean {
  return typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now();
}
