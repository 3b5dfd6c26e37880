import { describe, expect, it } from 'vitest';
import { keepWaiting } from './GuestSession';

describe("the guest's connection watchdog", () => {
  it('waits for a link still connecting, up to a minute after the offer', () => {
    expect(keepWaiting('connecting', 20_000)).toBe(true);
    expect(keepWaiting('connecting', 59_999)).toBe(true);
    expect(keepWaiting('connecting', 60_000)).toBe(false);
  });

  it('calls again when the link made no progress or broke', () => {
    for (const state of ['new', 'failed', 'disconnected', 'closed'] as const) expect(keepWaiting(state, 20_000)).toBe(false);
  });
});
