/**
 * The page's supabase-js client, and the binding of the service factories to
 * it. Nothing here touches a browser API until the client is first asked for,
 * so the services import in Node, where tests pass their own clients.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { loadConfig } from '../config';
import { timedFetch } from './timedFetch';

export { BackendError, functionError, toBackendError } from './errors';

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
        // No request waits for good on a backend that does not answer.
        global: { fetch: timedFetch(fetch.bind(globalThis)) },
      }),
    );
    // A failed start (config unreachable) may be retried by the next caller.
    client.catch(() => {
      client = null;
    });
  }
  return client;
}

/** A service made once, on first use, over the page's client. */
export function pageService<S>(factory: (client: SupabaseClient) => S | Promise<S>): () => Promise<S> {
  let service: Promise<S> | null = null;
  return () => {
    if (!service) {
      service = getSupabase().then(factory);
      service.catch(() => {
        service = null;
      });
    }
    return service;
  };
}

type AsyncMethodOf<S> = {
  [K in keyof S]: S[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof S];

/** One method of a page service as a plain function, for module-level exports. */
export function pageMethod<S, K extends AsyncMethodOf<S>>(service: () => Promise<S>, key: K): S[K] {
  const call = async (...args: unknown[]): Promise<unknown> => {
    const target = await service();
    return (target[key] as (...a: unknown[]) => Promise<unknown>)(...args);
  };
  return call as S[K];
}
