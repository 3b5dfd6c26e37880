/** The dependencies of a function deployed to (or served by) Deno. Only index.ts files import this. */
import { createClient } from '@supabase/supabase-js';
import type { FunctionDeps } from './deps.ts';

export function runtimeDeps(): FunctionDeps {
  return {
    env: Deno.env.toObject(),
    createClient,
    fetch: (input, init) => fetch(input, init),
    now: () => new Date(),
  };
}
