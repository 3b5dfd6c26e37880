/**
 * `/auth/v1`: the part of the Supabase Auth API that supabase-js uses for
 * anonymous and email/password accounts. Users live in `auth.users` (bcrypt
 * via pgcrypto), sessions in `auth.sessions`, rotating refresh tokens in
 * `auth.refresh_tokens`; access tokens are HS256 JWTs. No email is sent:
 * sign-ups are confirmed at once, as with `mailer_autoconfirm`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type pg from 'pg';
import { inTransaction } from './dbClient.js';
import { AppError } from '../shared/errors.js';
import { BodyError, bearerToken, readJson, sendEmpty, sendJson, withoutTrailingSlashes } from './http.js';
import { databaseUnavailable } from './rest/errors.js';
import { type JwtClaims, JwtError, signJwt, verifyJwt } from './jwt.js';

export const API_VERSION_HEADER = 'x-supabase-api-version';
export const API_VERSION = '2024-01-01';
const MIN_PASSWORD_LENGTH = 6;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export class AuthApiError extends AppError {
  readonly status: number;
  readonly extra: Record<string, unknown>;
  constructor(status: number, reason: string, message: string, extra: Record<string, unknown> = {}) {
    super(reason, message);
    this.status = status;
    this.extra = extra;
  }
}

export interface AuthOptions {
  pool: pg.Pool;
  jwtSecret: string;
  /** The `iss` claim: `<api url>/auth/v1`, known once the server listens. */
  issuer: () => string;
  accessTokenTtlSeconds?: number;
  /** A rotated refresh token still answers for this long (two tabs refreshing at once). */
  refreshReuseSeconds?: number;
}

export interface AuthHandler {
  /** `path` is the part after `/auth/v1`, e.g. `/token`. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, search: URLSearchParams): Promise<void>;
}

interface UserRow {
  id: string;
  aud: string;
  role: string;
  email: string | null;
  phone: string | null;
  email_confirmed_at: Date | null;
  phone_confirmed_at: Date | null;
  confirmed_at: Date | null;
  last_sign_in_at: Date | null;
  raw_app_meta_data: Record<string, unknown>;
  raw_user_meta_data: Record<string, unknown>;
  banned_until: Date | null;
  is_anonymous: boolean;
  created_at: Date;
  updated_at: Date;
}

const USER_COLUMNS = `id, aud, role, email, phone, email_confirmed_at, phone_confirmed_at, confirmed_at, last_sign_in_at,
  raw_app_meta_data, raw_user_meta_data, banned_until, is_anonymous, created_at, updated_at`;

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

/** The user object of the Auth API. */
export function userJson(u: UserRow): Record<string, unknown> {
  const provider = typeof u.raw_app_meta_data.provider === 'string' ? u.raw_app_meta_data.provider : null;
  const identities =
    u.email && provider === 'email'
      ? [
          {
            identity_id: u.id,
            id: u.id,
            user_id: u.id,
            identity_data: { email: u.email, email_verified: u.email_confirmed_at !== null, phone_verified: false, sub: u.id },
            provider: 'email',
            last_sign_in_at: iso(u.last_sign_in_at),
            created_at: iso(u.created_at),
            updated_at: iso(u.updated_at),
            email: u.email,
          },
        ]
      : [];
  return {
    id: u.id,
    aud: u.aud,
    role: u.role,
    email: u.email ?? '',
    email_confirmed_at: iso(u.email_confirmed_at),
    phone: u.phone ?? '',
    confirmed_at: iso(u.confirmed_at),
    last_sign_in_at: iso(u.last_sign_in_at),
    app_metadata: u.raw_app_meta_data,
    user_metadata: u.raw_user_meta_data,
    identities,
    created_at: iso(u.created_at),
    updated_at: iso(u.updated_at),
    is_anonymous: u.is_anonymous,
  };
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new AuthApiError(400, 'validation_failed', `${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new AuthApiError(400, 'validation_failed', `${key} must be a string`);
  // PostgreSQL text cannot hold a NUL character: refused here, as invalid input, not failed in the database.
  if (v.includes('\u0000')) throw new AuthApiError(400, 'validation_failed', `${key} must not contain a NUL character`);
  return v;
}

function checkEmail(email: string): string {
  const e = email.trim().toLowerCase();
  // The length first: the pattern's cost grows with the square of what it is given.
  if (e.length > 255 || !EMAIL_RE.test(e)) throw new AuthApiError(400, 'validation_failed', 'Unable to validate email address: invalid format');
  return e;
}

function checkPassword(password: string | undefined): string {
  if (password === undefined) throw new AuthApiError(422, 'validation_failed', 'Signup requires a valid password');
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new AuthApiError(422, 'weak_password', `Password should be at least ${MIN_PASSWORD_LENGTH} characters.`, {
      weak_password: { reasons: ['length'] },
    });
  }
  if (password.length > 72) throw new AuthApiError(422, 'weak_password', 'Password cannot be longer than 72 characters', { weak_password: { reasons: ['length'] } });
  return password;
}

/** Merges user metadata like the Auth API: top-level keys replace, null removes. */
function mergeMetadata(current: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const next = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  return next;
}

export function createAuthHandler(opts: AuthOptions): AuthHandler {
  const ttl = opts.accessTokenTtlSeconds ?? 3600;
  const reuseSeconds = opts.refreshReuseSeconds ?? 10;

  function tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(opts.pool, fn);
  }

  async function newRefreshToken(client: pg.PoolClient, userId: string, sessionId: string, parent: string | null): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    await client.query('insert into auth.refresh_tokens (token, user_id, session_id, parent) values ($1, $2, $3, $4)', [
      token,
      userId,
      sessionId,
      parent,
    ]);
    return token;
  }

  async function sessionAnswer(user: UserRow, sessionId: string, sessionCreated: Date, refreshToken: string): Promise<Record<string, unknown>> {
    const now = Math.floor(Date.now() / 1000);
    const claims: JwtClaims = {
      aud: 'authenticated',
      iss: opts.issuer(),
      sub: user.id,
      email: user.email ?? '',
      phone: user.phone ?? '',
      app_metadata: user.raw_app_meta_data,
      user_metadata: user.raw_user_meta_data,
      role: 'authenticated',
      aal: 'aal1',
      amr: [{ method: user.is_anonymous ? 'anonymous' : 'password', timestamp: Math.floor(sessionCreated.getTime() / 1000) }],
      session_id: sessionId,
      is_anonymous: user.is_anonymous,
    };
    const accessToken = await signJwt(claims, opts.jwtSecret, ttl);
    return {
      access_token: accessToken,
      token_type: 'bearer',
      expires_in: ttl,
      expires_at: now + ttl,
      refresh_token: refreshToken,
      user: userJson(user),
    };
  }

  async function startSession(client: pg.PoolClient, user: UserRow): Promise<Record<string, unknown>> {
    const sessionId = randomUUID();
    const { rows } = await client.query<{ created_at: Date }>('insert into auth.sessions (id, user_id) values ($1, $2) returning created_at', [
      sessionId,
      user.id,
    ]);
    const refresh = await newRefreshToken(client, user.id, sessionId, null);
    return sessionAnswer(user, sessionId, rows[0]?.created_at ?? new Date(), refresh);
  }

  async function signup(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const data = asObject(body.data, 'data');
    if (optionalString(body, 'phone') !== undefined) throw new AuthApiError(400, 'phone_provider_disabled', 'Phone signups are disabled');
    const emailRaw = optionalString(body, 'email');
    const password = optionalString(body, 'password');
    return tx(async (client) => {
      let user: UserRow | undefined;
      if (emailRaw === undefined) {
        if (password !== undefined) throw new AuthApiError(400, 'validation_failed', 'Signup requires an email address');
        const { rows } = await client.query<UserRow>(
          `insert into auth.users (id, email, raw_app_meta_data, raw_user_meta_data, is_anonymous, last_sign_in_at)
           values ($1, null, $2, $3, true, now()) returning ${USER_COLUMNS}`,
          [randomUUID(), { provider: 'anonymous', providers: ['anonymous'] }, data],
        );
        user = rows[0];
      } else {
        const email = checkEmail(emailRaw);
        const pw = checkPassword(password);
        const existing = await client.query('select 1 from auth.users where lower(email) = $1', [email]);
        if (existing.rowCount) throw new AuthApiError(422, 'user_already_exists', 'User already registered');
        try {
          const { rows } = await client.query<UserRow>(
            `insert into auth.users (id, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, last_sign_in_at)
             values ($1, $2, extensions.crypt($3, extensions.gen_salt('bf', 10)), now(), $4, $5, now()) returning ${USER_COLUMNS}`,
            [randomUUID(), email, pw, { provider: 'email', providers: ['email'] }, data],
          );
          user = rows[0];
        } catch (err) {
          if ((err as { code?: string }).code === '23505') throw new AuthApiError(422, 'user_already_exists', 'User already registered');
          throw err;
        }
      }
      if (!user) throw new AuthApiError(500, 'unexpected_failure', 'user was not created');
      return startSession(client, user);
    });
  }

  async function passwordGrant(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const emailRaw = optionalString(body, 'email');
    const password = optionalString(body, 'password');
    if (optionalString(body, 'phone') !== undefined) throw new AuthApiError(400, 'phone_provider_disabled', 'Phone logins are disabled');
    if (emailRaw === undefined || password === undefined) throw new AuthApiError(400, 'validation_failed', 'missing email or phone');
    const invalid = new AuthApiError(400, 'invalid_credentials', 'Invalid login credentials');
    return tx(async (client) => {
      const { rows } = await client.query<UserRow & { ok: boolean }>(
        `select ${USER_COLUMNS}, encrypted_password is not null and encrypted_password = extensions.crypt($2, encrypted_password) as ok
         from auth.users where lower(email) = $1 and deleted_at is null`,
        [emailRaw.trim().toLowerCase(), password],
      );
      const found = rows[0];
      if (!found?.ok) throw invalid;
      if (found.banned_until && found.banned_until.getTime() > Date.now()) throw new AuthApiError(400, 'user_banned', 'User is banned');
      const updated = await client.query<UserRow>(`update auth.users set last_sign_in_at = now() where id = $1 returning ${USER_COLUMNS}`, [found.id]);
      return startSession(client, updated.rows[0] ?? found);
    });
  }

  async function refreshGrant(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const token = optionalString(body, 'refresh_token');
    if (token === undefined) throw new AuthApiError(400, 'validation_failed', 'refresh_token required');
    // Set when an old token is used again: its session is deleted after the refusal rolled the transaction back.
    let reusedSession: string | null = null;
    const refreshed = tx(async (client) => {
      const { rows } = await client.query<{
        token: string;
        revoked: boolean;
        session_id: string;
        user_id: string;
        updated_at: Date;
        session_created: Date;
        not_after: Date | null;
      }>(
        `select rt.token, rt.revoked, rt.session_id, rt.user_id, rt.updated_at, s.created_at as session_created, s.not_after
         from auth.refresh_tokens rt join auth.sessions s on s.id = rt.session_id
         where rt.token = $1 for update of rt, s`,
        [token],
      );
      const rt = rows[0];
      if (!rt) throw new AuthApiError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
      if (rt.not_after && rt.not_after.getTime() <= Date.now()) throw new AuthApiError(400, 'session_expired', 'Invalid Refresh Token: Session Expired');
      const userRows = await client.query<UserRow>(`select ${USER_COLUMNS} from auth.users where id = $1 and deleted_at is null`, [rt.user_id]);
      const user = userRows.rows[0];
      if (!user) throw new AuthApiError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
      if (user.banned_until && user.banned_until.getTime() > Date.now()) throw new AuthApiError(400, 'user_banned', 'User is banned');
      let next: string;
      if (rt.revoked) {
        const withinReuse = Date.now() - rt.updated_at.getTime() <= reuseSeconds * 1000;
        const active = await client.query<{ token: string }>(
          'select token from auth.refresh_tokens where session_id = $1 and not revoked order by id desc limit 1',
          [rt.session_id],
        );
        const current = active.rows[0]?.token;
        if (!withinReuse || !current) {
          // A reused old token: the token family may have leaked, so the session ends. Committed on its own
          // (the error below rolls this transaction back), before the refusal is answered.
          reusedSession = rt.session_id;
          throw new AuthApiError(400, 'refresh_token_already_used', 'Invalid Refresh Token: Already Used');
        }
        next = current;
      } else {
        await client.query('update auth.refresh_tokens set revoked = true, updated_at = now() where token = $1', [rt.token]);
        next = await newRefreshToken(client, user.id, rt.session_id, rt.token);
      }
      await client.query('update auth.sessions set refreshed_at = now(), updated_at = now() where id = $1', [rt.session_id]);
      return sessionAnswer(user, rt.session_id, rt.session_created, next);
    });
    try {
      return await refreshed;
    } catch (err) {
      if (reusedSession) await opts.pool.query('delete from auth.sessions where id = $1', [reusedSession]);
      throw err;
    }
  }

  /** The caller's verified claims and current user row. */
  async function currentUser(req: IncomingMessage): Promise<{ claims: JwtClaims; user: UserRow }> {
    const token = bearerToken(req);
    if (!token) throw new AuthApiError(401, 'no_authorization', 'This endpoint requires a valid Bearer token');
    let claims: JwtClaims;
    try {
      claims = await verifyJwt(token, opts.jwtSecret);
    } catch (err) {
      const detail = err instanceof JwtError && err.reason === 'jwt_expired' ? 'token has invalid claims: token is expired' : 'unable to parse or verify signature';
      throw new AuthApiError(403, 'bad_jwt', `invalid JWT: ${detail}`);
    }
    if (typeof claims.sub !== 'string' || claims.sub === '') throw new AuthApiError(403, 'bad_jwt', 'invalid claim: missing sub claim');
    // Only a session's own access token speaks for its user here: another token signed with the same secret (a call
    // token for the media, made for another audience) must not read or change the account, nor outlive a logout.
    if (claims.aud !== 'authenticated' || claims.role !== 'authenticated' || typeof claims.session_id !== 'string') {
      throw new AuthApiError(403, 'bad_jwt', 'invalid JWT: not an access token of a signed-in session');
    }
    const s = await opts.pool.query('select 1 from auth.sessions where id = $1 and user_id = $2', [claims.session_id, claims.sub]);
    if (!s.rowCount) throw new AuthApiError(403, 'session_not_found', 'Session from session_id claim in JWT does not exist');
    const { rows } = await opts.pool.query<UserRow>(`select ${USER_COLUMNS} from auth.users where id = $1 and deleted_at is null`, [claims.sub]);
    const user = rows[0];
    if (!user) throw new AuthApiError(403, 'user_not_found', 'User from sub claim in JWT does not exist');
    return { claims, user };
  }

  async function updateUser(req: IncomingMessage, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { claims, user } = await currentUser(req);
    const data = body.data === undefined ? undefined : asObject(body.data, 'data');
    const emailRaw = optionalString(body, 'email');
    const passwordRaw = optionalString(body, 'password');
    if (optionalString(body, 'phone') !== undefined) throw new AuthApiError(400, 'phone_provider_disabled', 'Phone logins are disabled');
    return tx(async (client) => {
      const sets: string[] = [];
      const values: unknown[] = [user.id];
      if (data !== undefined) {
        values.push(mergeMetadata(user.raw_user_meta_data, data));
        sets.push(`raw_user_meta_data = $${values.length}`);
      }
      if (passwordRaw !== undefined) {
        values.push(checkPassword(passwordRaw));
        sets.push(`encrypted_password = extensions.crypt($${values.length}, extensions.gen_salt('bf', 10))`);
        // As GoTrue does: a new password signs out every other session (a stolen refresh token dies with the old password).
        await client.query('delete from auth.sessions where user_id = $1 and id <> $2', [user.id, claims.session_id]);
      }
      if (emailRaw !== undefined) {
        const email = checkEmail(emailRaw);
        if (email !== user.email) {
          const taken = await client.query('select 1 from auth.users where lower(email) = $1 and id <> $2', [email, user.id]);
          if (taken.rowCount) throw new AuthApiError(422, 'email_exists', 'A user with this email address has already been registered');
          const providers = new Set([...(Array.isArray(user.raw_app_meta_data.providers) ? user.raw_app_meta_data.providers : []), 'email']);
          providers.delete('anonymous');
          values.push(email);
          sets.push(`email = $${values.length}, email_confirmed_at = now(), is_anonymous = false`);
          values.push({ ...user.raw_app_meta_data, provider: 'email', providers: [...providers] });
          sets.push(`raw_app_meta_data = $${values.length}`);
        }
      }
      if (sets.length === 0) return userJson(user);
      try {
        const { rows } = await client.query<UserRow>(`update auth.users set ${sets.join(', ')}, updated_at = now() where id = $1 returning ${USER_COLUMNS}`, values);
        return userJson(rows[0] ?? user);
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new AuthApiError(422, 'email_exists', 'A user with this email address has already been registered');
        throw err;
      }
    });
  }

  async function logout(req: IncomingMessage, search: URLSearchParams): Promise<void> {
    const { claims, user } = await currentUser(req);
    const scope = search.get('scope') ?? 'global';
    const sessionId = typeof claims.session_id === 'string' ? claims.session_id : null;
    if (scope === 'local') {
      if (sessionId) await opts.pool.query('delete from auth.sessions where id = $1', [sessionId]);
    } else if (scope === 'others') {
      await opts.pool.query('delete from auth.sessions where user_id = $1 and id is distinct from $2', [user.id, sessionId]);
    } else if (scope === 'global') {
      await opts.pool.query('delete from auth.sessions where user_id = $1', [user.id]);
    } else {
      throw new AuthApiError(400, 'validation_failed', 'Unsupported logout scope');
    }
  }

  const settings = {
    external: { anonymous_users: true, email: true, phone: false },
    disable_signup: false,
    mailer_autoconfirm: true,
    phone_autoconfirm: false,
    sms_provider: '',
    saml_enabled: false,
  };

  async function handle(req: IncomingMessage, res: ServerResponse, path: string, search: URLSearchParams): Promise<void> {
    const headers = { [API_VERSION_HEADER]: API_VERSION };
    const method = req.method ?? 'GET';
    try {
      const route = `${method} ${withoutTrailingSlashes(path) || '/'}`;
      const body = async (): Promise<Record<string, unknown>> => asObject(await readJson(req), 'request body');
      switch (route) {
        case 'POST /signup':
          sendJson(res, 200, await signup(await body()), headers);
          return;
        case 'POST /token': {
          const grant = search.get('grant_type');
          if (grant === 'password') sendJson(res, 200, await passwordGrant(await body()), headers);
          else if (grant === 'refresh_token') sendJson(res, 200, await refreshGrant(await body()), headers);
          else throw new AuthApiError(400, 'validation_failed', `unsupported_grant_type: ${grant ?? '(none)'}`);
          return;
        }
        case 'GET /user':
          sendJson(res, 200, userJson((await currentUser(req)).user), headers);
          return;
        case 'PUT /user':
          sendJson(res, 200, await updateUser(req, await body()), headers);
          return;
        case 'POST /logout':
          await logout(req, search);
          sendEmpty(res, 204, headers);
          return;
        case 'GET /settings':
          sendJson(res, 200, settings, headers);
          return;
        case 'GET /health':
          sendJson(res, 200, { version: 'local', name: 'GoTrue', description: 'Roast Live Studio local auth' }, headers);
          return;
        case 'GET /.well-known/jwks.json':
          sendJson(res, 200, { keys: [] }, headers);
          return;
        default:
          throw new AuthApiError(404, 'not_found', `${method} /auth/v1${path} is not served here`);
      }
    } catch (err) {
      let e: AuthApiError;
      if (err instanceof AuthApiError) e = err;
      else if (err instanceof BodyError && err.reason === 'body_too_large') e = new AuthApiError(413, 'request_too_large', err.message);
      else if (err instanceof BodyError) e = new AuthApiError(400, 'bad_json', `Could not parse request body as JSON: ${err.message}`);
      else if (/^22/.test(String((err as { code?: unknown }).code ?? ''))) {
        // The database refused a value of the request (SQLSTATE class 22, data exception): bad input, not a failure.
        e = new AuthApiError(400, 'validation_failed', `A value in the request is not valid: ${(err as Error).message}`);
      } else if (databaseUnavailable(err)) {
        // No database connection came free in time (504, GoTrue's request_timeout), or the connection was lost (503):
        // worth a retry, not a failure of the request.
        const status = databaseUnavailable(err)!.status;
        e = new AuthApiError(status, status === 504 ? 'request_timeout' : 'unexpected_failure', `The database is not available just now; try again. (${(err as Error).message})`);
      } else e = new AuthApiError(500, 'unexpected_failure', (err as Error).message);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // The rest of a body too large is not read: the connection goes with it (as on REST).
      sendJson(res, e.status, { code: e.reason, msg: e.message, ...e.extra }, e.status === 413 ? { ...headers, connection: 'close' } : headers);
    }
  }

  return { handle };
}
