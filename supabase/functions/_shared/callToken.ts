/**
 * Call tokens: short-lived HS256 JWTs that admit one user to one call session of a stream.
 * Whoever relays the call (the host's signaling, the Calls proxy) verifies them with the same secret.
 */
import { errors, jwtVerify, SignJWT } from 'jose';
import { MIN_CALL_TOKEN_SECRET_LENGTH } from './config.ts';

export { MIN_CALL_TOKEN_SECRET_LENGTH };
export const CALL_TOKEN_AUDIENCE = 'roast-live-call';
export const CALL_TOKEN_TTL_SECONDS = 600;

export type CallRole = 'host' | 'guest';

export interface CallTokenSubject {
  userId: string;
  sessionId: string;
  streamId: string;
  role: CallRole;
}

export interface CallTokenClaims {
  sub: string;
  sid: string;
  stream_id: string;
  role: CallRole;
  aud: string;
  iat: number;
  exp: number;
}

export type CallTokenErrorReason = 'expired' | 'invalid' | 'weak_secret';

export class CallTokenError extends Error {
  readonly reason: CallTokenErrorReason;
  constructor(reason: CallTokenErrorReason, message: string) {
    super(message);
    this.name = 'CallTokenError';
    this.reason = reason;
  }
}

const encoder = new TextEncoder();

function key(secret: string): Uint8Array {
  if (secret.length < MIN_CALL_TOKEN_SECRET_LENGTH) {
    throw new CallTokenError('weak_secret', `call token secret must be at least ${MIN_CALL_TOKEN_SECRET_LENGTH} characters`);
  }
  return encoder.encode(secret);
}

export async function signCallToken(
  subject: CallTokenSubject,
  secret: string,
  now: Date = new Date(),
  ttlSeconds: number = CALL_TOKEN_TTL_SECONDS,
): Promise<{ token: string; claims: CallTokenClaims; expiresAt: Date }> {
  const iat = Math.floor(now.getTime() / 1000);
  const claims: CallTokenClaims = {
    sub: subject.userId,
    sid: subject.sessionId,
    stream_id: subject.streamId,
    role: subject.role,
    aud: CALL_TOKEN_AUDIENCE,
    iat,
    exp: iat + ttlSeconds,
  };
  const token = await new SignJWT({ sid: claims.sid, stream_id: claims.stream_id, role: claims.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setAudience(claims.aud)
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp)
    .sign(key(secret));
  return { token, claims, expiresAt: new Date(claims.exp * 1000) };
}

function isString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

/** Verifies signature, audience and expiry; `sessionId` / `streamId` pin it to one session or stream. */
export async function verifyCallToken(
  token: string,
  secret: string,
  options: { now?: Date; sessionId?: string; streamId?: string } = {},
): Promise<CallTokenClaims> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key(secret), {
      algorithms: ['HS256'],
      audience: CALL_TOKEN_AUDIENCE,
      currentDate: options.now,
      requiredClaims: ['sub', 'iat', 'exp'],
    }));
  } catch (err) {
    if (err instanceof CallTokenError) throw err;
    if (err instanceof errors.JWTExpired) throw new CallTokenError('expired', 'call token expired');
    throw new CallTokenError('invalid', `invalid call token: ${(err as Error).message}`);
  }
  const { sub, sid, stream_id, role, iat, exp } = payload;
  if (!isString(sub) || !isString(sid) || !isString(stream_id) || (role !== 'host' && role !== 'guest')) {
    throw new CallTokenError('invalid', 'invalid call token: missing sub, sid, stream_id or role');
  }
  if (typeof iat !== 'number' || typeof exp !== 'number') throw new CallTokenError('invalid', 'invalid call token: bad iat or exp');
  if (options.sessionId !== undefined && sid !== options.sessionId) {
    throw new CallTokenError('invalid', 'call token is for another call session');
  }
  if (options.streamId !== undefined && stream_id !== options.streamId) {
    throw new CallTokenError('invalid', 'call token is for another stream');
  }
  return { sub, sid, stream_id, role, aud: CALL_TOKEN_AUDIENCE, iat, exp };
}
