import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { loadConfig } from '../config';

let client: Promise<SupabaseClient> | null = null;

/**
 * The one supabase-js client of the page. Each tab keeps its own session
 * (sessionStorage), so a host and a guest can share one browser profile.
 */
export function getSupabase(): Promise<SupabaseClient> {
  if (!client) {
    client = loadConfig().then((config) =>
      createClient(config.supabaseUrl, config.supabaseAnonKey, {
        auth: { storage: window.sessionStorage, persistSession: true, autoRefreshToken: true },
      }),
    );
  }
  return client;
}

/** An error from the backend with the message a person can act on. */
export class BackendError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'BackendError';
    this.reason = reason;
  }
}

export function toBackendError(context: string, error: { message?: string; code?: string } | null | undefined): BackendError {
  return new BackendError(error?.code ?? 'backend_error', `${context}: ${error?.message ?? 'unknown error'}`);
}

/** Reads the `{ error }` body of a failed edge-function call. */
export async function functionError(context: string, error: unknown): Promise<BackendError> {
  const ctx = (error as { context?: Response }).context;
  if (ctx && typeof ctx.json === 'function') {
    try {
      const body = (await ctx.json()) as { error?: string };
      if (body.error) return new BackendError(`http_${ctx.status}`, `${context}: ${body.error}`);
    } catch {
      /* fall through to the generic message */
    }
  }
  return new BackendError('function_error', `${context}: ${(error as Error).message ?? String(error)}`);
}
