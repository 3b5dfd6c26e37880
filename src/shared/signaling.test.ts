import { describe, expect, it } from 'vitest';
import { parseSignal } from './signaling';

const a = '11111111-1111-4111-8111-111111111111';
const b = '22222222-2222-4222-8222-222222222222';

describe('parseSignal', () => {
  it('accepts each well-formed kind', () => {
    expect(parseSignal({ kind: 'hello', from: a, to: b })).toEqual({ kind: 'hello', from: a, to: b });
    expect(parseSignal({ kind: 'description', from: a, to: b, description: { type: 'offer', sdp: 'v=0' } })?.kind).toBe('description');
    expect(parseSignal({ kind: 'candidate', from: a, to: b, candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } })?.kind).toBe('candidate');
    expect(parseSignal({ kind: 'bye', from: a, to: b })?.kind).toBe('bye');
  });

  it('carries the call a hello belongs to (the same on every repeat), and accepts none from older guests', () => {
    const call = '44444444-4444-4444-8444-444444444444';
    expect(parseSignal({ kind: 'hello', from: a, to: b, call })).toEqual({ kind: 'hello', from: a, to: b, call });
    expect(parseSignal({ kind: 'hello', from: a, to: b, call: 'again' })).toBeNull();
  });

  it('carries the link a description or candidate belongs to, and accepts none from older peers', () => {
    const link = '33333333-3333-4333-8333-333333333333';
    const offer = parseSignal({ kind: 'description', from: a, to: b, link, description: { type: 'offer', sdp: 'v=0' } });
    expect(offer?.kind === 'description' && offer.link).toBe(link);
    const legacy = parseSignal({ kind: 'candidate', from: a, to: b, candidate: { candidate: '' } });
    expect(legacy?.kind === 'candidate' && legacy.link).toBeUndefined();
    expect(parseSignal({ kind: 'candidate', from: a, to: b, link: 'not-a-link', candidate: { candidate: '' } })).toBeNull();
  });

  it('carries the uplink cap the host asks a guest for, within sane bounds', () => {
    const cap = { maxWidth: 320, maxHeight: 180, maxBitrateKbps: 250, maxFramerate: 15 };
    const msg = parseSignal({ kind: 'uplink', from: a, to: b, cap });
    expect(msg?.kind === 'uplink' && msg.cap).toEqual(cap);
    expect(parseSignal({ kind: 'uplink', from: a, to: b, cap: { ...cap, maxBitrateKbps: 1e9 } })).toBeNull();
    expect(parseSignal({ kind: 'uplink', from: a, to: b, cap: { ...cap, extra: 1 } })).toBeNull();
  });

  it("carries how far behind a guest's page shows the program, in whole milliseconds", () => {
    const msg = parseSignal({ kind: 'view', from: a, to: b, behindMs: 12_000 });
    expect(msg?.kind === 'view' && msg.behindMs).toBe(12_000);
    expect(parseSignal({ kind: 'view', from: a, to: b, behindMs: 0 })).not.toBeNull();
    for (const behindMs of [-1, 1.5, 1e9, '5', null]) expect(parseSignal({ kind: 'view', from: a, to: b, behindMs })).toBeNull();
  });

  it('rejects malformed messages without throwing', () => {
    expect(parseSignal(null)).toBeNull();
    expect(parseSignal('offer')).toBeNull();
    expect(parseSignal({ kind: 'hello', from: 'me', to: b })).toBeNull();
    expect(parseSignal({ kind: 'description', from: a, to: b, description: { type: 'rollback', sdp: '' } })).toBeNull();
    expect(parseSignal({ kind: 'launch', from: a, to: b })).toBeNull();
  });
});
