/** HS256 JWTs for the local backend: access tokens, the anon and service-role keys. */
import { randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, errors } from 'jose';
import type pg from 'pg';
import { inTransaction } from './dbClient.js';

/**
 * The backend's own JWT secret, kept in its database (`roast_local.settings`,
 * out of reach of the API's roles): made at random the first time, the same
 * for as long as the data lives. Not the Supabase CLI's well-known demo
 * secret, with which any web page could sign itself a service-role key for
 * the gateway on 127.0.0.1. JWT_SECRET (the `jwtSecret` option) overrides it.
 */
export async function storedJwtSecret(pool: pg.Pool): Promise<string> {
  return storedSetting(pool, 'jwt_secret', () => randomBytes(32).toString('base64url'));
}

/** `roast_local.settings`, made if missing, locked for the transaction: processes sharing one database take turns. */
export async function lockSettings(client: pg.PoolClient): Promise<void> {
  await client.query("select pg_advisory_xact_lock(hashtext('roast_local.settings'))");
  await client.query('create schema if not exists roast_local');
  await client.query('revoke all on schema roast_local from public');
  await client.query('create table if not exists roast_local.settings (name text primary key, value text not null)');
}

/**
 * A setting of the backend kept in `roast_local.settings` (a schema the API's roles cannot
 * use): `make()` gives its value the first time; processes sharing one database make it once.
 */
export async function storedSetting(pool: pg.Pool, name: string, make: () => string): Promise<string> {
  return inTransaction(pool, async (client) => {
    await lockSettings(client);
    await client.query('insert into roast_local.settings (name, value) values ($1, $2) on conflict (name) do nothing', [name, make()]);
    const { rows } = await client.query<{ value: string }>('select value from roast_local.settings where name = $1', [name]);
    return rows[0]!.value;
  });
}

export interface JwtClaims {
  sub?: string;
  role: string;
  aud?: string | string[];
  exp?: number;
  iat?: number;
  iss?: string;
  email?: string;
  session_id?: string;
  is_anonymous?: boolean;
  [claim: string]: unknown;
}

export class JwtError extends Error {
  readonly reason: 'jwt_expired' | 'jwt_invalid';
  constructor(reason: 'jwt_expired' | 'jwt_invalid', message: string) {
    super(message);
    this.name = 'JwtError';
    this.reason = reason;
  }
}

const encoder = new TextEncoder();

export async function signJwt(claims: JwtClaims, secret: string, expiresInSeconds?: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt(claims.iat ?? now);
  if (expiresInSeconds !== undefined) jwt.setExpirationTime(now + expiresInSeconds);
  return jwt.sign(encoder.encode(secret));
}

export async function verifyJwt(token: string, secret: string): Promise<JwtClaims> {
  try {
    const { payload } = await jwtVerify(token, encoder.encode(secret), { algorithms: ['HS256'] });
    if (typeof payload.role !== 'string') throw new JwtError('jwt_invalid', 'JWT has no role claim');
    return payload as JwtClaims;
  } catch (err) {
    if (err instanceof JwtError) throw err;
    if (err instanceof errors.JWTExpired) throw new JwtError('jwt_expired', 'JWT expired');
    throw new JwtError('jwt_invalid', `invalid JWT: ${(err as Error).message}`);
  }
}

/** The long-lived API keys, as the Supabase CLI derives them from the secret. */
export async function makeApiKeys(secret: string): Promise<{ anonKey: string; serviceRoleKey: string }> {
  const exp = Math.floor(Date.now() / 1000) + 10 * 365 * 24 * 3600;
  const [anonKey, serviceRoleKey] = await Promise.all([
    signJwt({ iss: 'supabase-demo', role: 'anon', exp }, secret),
    signJwt({ iss: 'supabase-demo', role: 'service_role', exp }, secret),
  ]);
  return { anonKey, serviceRoleKey };
}

/** The roles a token may carry to reach the database through the API (REST, Realtime). */
export const API_ROLES = ['anon', 'authenticated', 'service_role'] as const;
