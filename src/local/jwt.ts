/** HS256 JWTs for the local backend: access tokens, the anon and service-role keys. */
import { SignJWT, jwtVerify, errors } from 'jose';

/** The secret of the Supabase CLI's local stack; override with JWT_SECRET. */
export const DEFAULT_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

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
