import { createClient } from '@supabase/supabase-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { RequestTimeoutError, timedFetch } from './timedFetch';

/** A fetch that answers only when told to, and rejects with the signal's reason when aborted (as fetch does). */
function pendingFetch() {
  const calls: Array<{ url: string; signal: AbortSignal; answer: (r: Response) => void }> = [];
  const base = ((input: RequestInfo | URL, init?: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init!.signal!;
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      calls.push({ url: String(input), signal, answer: resolve });
    })) as typeof fetch;
  return { base, calls };
}

const limits = { functionsMs: 60_000, defaultMs: 20_000 };

afterEach(() => {
  vi.useRealTimers();
});

describe('timedFetch', () => {
  it('fails a request the backend never answers with a TimeoutError naming it', async () => {
    vi.useFakeTimers();
    const { base, calls } = pendingFetch();
    const request = timedFetch(base, limits)('http://127.0.0.1:54321/rest/v1/stream_guest_seats?select=*', { method: 'GET' });
    const outcome = request.then(
      () => null,
      (e: unknown) => e,
    );
    await vi.advanceTimersByTimeAsync(19_999);
    expect(calls[0]!.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const err = await outcome;
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as Error).name).toBe('TimeoutError');
    expect((err as Error).message).toBe('the backend did not answer GET /rest/v1/stream_guest_seats within 20 s');
  });

  it('gives edge functions the longer limit', async () => {
    vi.useFakeTimers();
    const { base, calls } = pendingFetch();
    const outcome = timedFetch(base, limits)('http://h/functions/v1/start-live', { method: 'POST' }).catch((e: Error) => e);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(calls[0]!.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(((await outcome) as Error).message).toBe('the backend did not answer POST /functions/v1/start-live within 60 s');
  });

  it('passes an answer through and stops its timer', async () => {
    vi.useFakeTimers();
    const { base, calls } = pendingFetch();
    const request = timedFetch(base, limits)('http://h/auth/v1/user');
    calls[0]!.answer(new Response('{"id":"u"}', { status: 200 }));
    const response = await request;
    expect(await response.json()).toEqual({ id: 'u' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps the caller’s own abort: its reason, not a timeout', async () => {
    const { base } = pendingFetch();
    const caller = new AbortController();
    const request = timedFetch(base, limits)('http://h/rest/v1/streams', { signal: caller.signal });
    const reason = new DOMException('The user aborted a request.', 'AbortError');
    caller.abort(reason);
    await expect(request).rejects.toBe(reason);
  });

  it('passes a network failure through unchanged', async () => {
    const failure = new TypeError('fetch failed');
    const base = (() => Promise.reject(failure)) as typeof fetch;
    await expect(timedFetch(base, limits)('http://h/rest/v1/streams')).rejects.toBe(failure);
  });
});

describe('timedFetch under supabase-js', () => {
  it('is not retried by the REST client: one request, one time limit', async () => {
    vi.useFakeTimers();
    const { base, calls } = pendingFetch();
    const client = createClient('http://h', 'anon-key', {
      auth: { persistSession: false, autoRefreshToken: false },
      global: { fetch: timedFetch(base, limits) },
      realtime: { transport: WebSocket as never },
    });
    const read = client.from('stream_guest_seats').select('*');
    const outcome = Promise.resolve(read);
    await vi.advanceTimersByTimeAsync(60_000);
    const { error } = await outcome;
    expect(calls).toHaveLength(1);
    expect(error?.message).toBe('TimeoutError: the backend did not answer GET /rest/v1/stream_guest_seats within 20 s');
  });
});
