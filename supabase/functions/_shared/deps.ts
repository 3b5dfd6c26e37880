/** What every handler receives instead of reaching for globals, so it also runs in Node tests. */
import type { createClient } from '@supabase/supabase-js';
import type { Env } from './config.ts';

export interface FunctionDeps {
  /** The function's environment (Deno.env in production). */
  env: Env;
  createClient: typeof createClient;
  /** Used for Cloudflare and, through supabase-js, for Supabase. */
  fetch: typeof fetch;
  now: () => Date;
  /** Where server-side failures are reported; console.error by default. */
  log?: (message: string) => void;
}
