import { afterEach, describe, expect, it, vi } from 'vitest';
import { isSeated, type SeatCheck } from './seatCheck';

function check(overrides: Partial<SeatCheck> & { seated?: { value: boolean } } = {}) {
  const seated = overrides.seated ?? { value: false };
  const listeners = new Set<() => void>();
  const c: SeatCheck & { change: (v: boolean) => void; listeners: Set<() => void> } = {
    seatedNow: () => seated.value,
    subscribe: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    query: () => new Promise<boolean>(() => {}),
    timeoutMs: 10_000,
    ...overrides,
    change: (v) => {
      seated.value = v;
      for (const fn of [...listeners]) fn();
    },
    listeners,
  };
  return c;
}

describe('isSeated', () => {
  afterEach(() => vi.useRealTimers());

  it('is true at once when the studio already has the seat, without asking the database', async () => {
    const query = vi.fn(async () => false);
    await expect(isSeated(check({ seated: { value: true }, query }))).resolves.toBe(true);
    expect(query).not.toHaveBeenCalled();
  });

  it("takes the database's answer when it comes first", async () => {
    await expect(isSeated(check({ query: async () => true }))).resolves.toBe(true);
    await expect(isSeated(check({ query: async () => false }))).resolves.toBe(false);
  });

  it('is true when the seat row arrives by Realtime while the query hangs, and stops listening', async () => {
    const c = check();
    const result = isSeated(c);
    await Promise.resolve();
    c.change(false); // another seat changed: still waiting
    c.change(true);
    await expect(result).resolves.toBe(true);
    expect(c.listeners.size).toBe(0);
  });

  it('fails with a clear error when neither answers in time, and stops listening', async () => {
    vi.useFakeTimers();
    const c = check({ timeoutMs: 10_000 });
    const result = isSeated(c);
    const assertion = expect(result).rejects.toThrow('the seat check had no answer in 10 s');
    await vi.advanceTimersByTimeAsync(10_000);
    await assertion;
    expect(c.listeners.size).toBe(0);
  });

  it('passes on a failing query as an error', async () => {
    await expect(isSeated(check({ query: async () => Promise.reject(new Error('connection refused')) }))).rejects.toThrow('connection refused');
  });
});
