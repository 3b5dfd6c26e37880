/**
 * The page's requests to the backend, each with a time limit. A request the
 * backend never answers (a server stuck on a lock, a connection that went
 * silent) would otherwise hold whatever awaits it for good: Go live would stay
 * "starting" with End live out of reach. Past its limit a request is aborted
 * and fails with a TimeoutError that names it, so the caller's usual error
 * path runs (Go live undoes its start and says why).
 */

/** Limits by path prefix; the first that matches applies. */
export interface FetchLimits {
  /** Edge functions: start-live may wait up to 40 s for another call's live input. */
  functionsMs: number;
  /** Everything else: REST reads and writes, auth. */
  defaultMs: number;
}

export const PAGE_FETCH_LIMITS: FetchLimits = { functionsMs: 60_000, defaultMs: 20_000 };

/**
 * A request past its limit. Its code marks it as aborted: supabase-js retries
 * a GET that failed on the network (three more times), and a request that hung
 * once would then hold its caller four times as long.
 */
export class RequestTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ABORT_ERR';
}

function describe(input: RequestInfo | URL, init: RequestInit | undefined): { method: string; path: string } {
  const url = input instanceof Request ? input.url : String(input);
  const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // Not an absolute URL: shown as given.
  }
  return { method, path };
}

/** `fetch` with a limit per request; a caller's own signal still aborts it as before. */
export function timedFetch(base: typeof fetch, limits: FetchLimits = PAGE_FETCH_LIMITS): typeof fetch {
  return (input, init) => {
    const { method, path } = describe(input, init);
    const limitMs = path.includes('/functions/v1/') ? limits.functionsMs : limits.defaultMs;
    const controller = new AbortController();
    const callerSignal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    const onCallerAbort = () => controller.abort(callerSignal?.reason);
    if (callerSignal?.aborted) onCallerAbort();
    else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new RequestTimeoutError(`the backend did not answer ${method} ${path} within ${Math.round(limitMs / 1000)} s`));
    }, limitMs);
    const done = () => {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    };
    return base(input, { ...init, signal: controller.signal }).then(
      (response) => {
        done();
        return response;
      },
      (err: unknown) => {
        done();
        throw timedOut ? (controller.signal.reason as RequestTimeoutError) : err;
      },
    );
  };
}
