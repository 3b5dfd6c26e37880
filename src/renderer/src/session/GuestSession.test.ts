import { describe, expect, it } from 'vitest';
import { keepWaiting, offerKind } from './GuestSession';

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

describe("the guest's reading of the host's offers", () => {
  const ended = new Set(['old-1', 'old-2']);
  it('takes an offer on a new link as a new call, and one on its link as a renegotiation', () => {
    expect(offerKind('new', 'current', ended)).toBe('new-call');
    expect(offerKind('new', undefined, ended)).toBe('new-call');
    expect(offerKind(undefined, 'current', ended)).toBe('new-call');
    expect(offerKind('current', 'current', ended)).toBe('renegotiation');
  });

  it('ignores an offer on a link it gave up (an ICE restart crossing its new call)', () => {
    expect(offerKind('old-1', 'current', ended)).toBe('stale');
    expect(offerKind('old-2', undefined, ended)).toBe('stale');
  });
});
