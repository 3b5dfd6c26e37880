/**
 * The auth wrapper: the caller must send a user's JWT (`Authorization: Bearer …`), which Supabase
 * Auth confirms (`GET /auth/v1/user`); otherwise 401. The handler then gets a supabase-js client
 * that forwards the caller's Authorization header, so RLS decides what it may read and write,
 * and a service-role client for privileged writes made after the handler's own checks.
 */
import type { SupabaseClient, SupabaseClientOptions } from '@supabase/supabase-js';
import { supabaseConfig } from './config.ts';
import { errorResponse, UnauthorizedError, UpstreamError } from './errors.ts';
import type { FunctionDeps } from './deps.ts';

export interface AuthContext {
  user: { id: string; isAnonymous: boolean };
  /** The caller's client: every query runs under RLS as the caller. */
  db: SupabaseClient;
  /** A service-role client, created on first use; bypasses RLS. */
  admin(): SupabaseClient;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

function clientOptions(deps: FunctionDeps, authorization?: string): SupabaseClientOptions<'public'> {
  return {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { fetch: deps.fetch, ...(authorization ? { headers: { Authorization: authorization } } : {}) },
  };
}

export async function authenticate(req: Request, deps: FunctionDeps): Promise<AuthContext> {
  const header = req.headers.get('Authorization');
  if (!header) throw new UnauthorizedError('Missing Authorization header: sign in and send the access token');
  const token = BEARER.exec(header)?.[1];
  if (!token || token.split('.').length !== 3) throw new UnauthorizedError('Authorization header must be "Bearer <access token>"');

  const cfg = supabaseConfig(deps.env);
  const db = deps.createClient(cfg.url, cfg.anonKey, clientOptions(deps, `Bearer ${token}`));
  const { data, error } = await db.auth.getUser(token);
  if (error) {
    const status = (error as { status?: number }).status;
    if (status === undefined || status === 0 || status >= 500) {
      throw new UpstreamError(`Supabase Auth could not check the access token: ${error.message}`);
    }
    throw new UnauthorizedError(`Invalid or expired access token: ${error.message}`);
  }
  if (!data.user) throw new UnauthorizedError('Invalid or expired access token');

  let admin: SupabaseClient | undefined;
  return {
    user: { id: data.user.id, isAnonymous: data.user.is_anonymous === true },
    db,
    admin: () => (admin ??= deps.createClient(cfg.url, cfg.serviceRoleKey, clientOptions(deps))),
  };
}

/** Wraps a handler that needs a signed-in caller; any error becomes `{ error }` with its status. */
export function withAuth(
  deps: FunctionDeps,
  handler: (req: Request, auth: AuthContext) => Promise<Response>,
): (req: Request) => Promise<Response> {
  return async (req) => {
    try {
      return await handler(req, await authenticate(req, deps));
    } catch (err) {
      return errorResponse(err, deps.log ?? console.error);
    }
  };
}
