import { describe, expect, it } from 'vitest';
import { containsPattern } from './streamGuestService';
import { requireUuid } from './realtime';
import { BackendError } from './errors';

describe('profile search pattern', () => {
  it('wraps the text in wildcards, quoted for a logic tree', () => {
    expect(containsPattern('ann')).toBe('"*ann*"');
  });

  it('matches LIKE wildcards and quotes literally', () => {
    expect(containsPattern('50%_off')).toBe('"*50\\\\%\\\\_off*"');
    expect(containsPattern('say "hi", (me)')).toBe('"*say \\"hi\\", (me)*"');
  });

  it("turns PostgREST's own wildcard into a one-character match", () => {
    expect(containsPattern('a*b')).toBe('"*a_b*"');
  });
});

describe('ids in realtime filters', () => {
  it('accepts UUIDs and refuses anything else', () => {
    expect(requireUuid('4b0c7a5e-2f9b-4a57-9a59-2c1f1d5c2c11', 'stream id')).toBe('4b0c7a5e-2f9b-4a57-9a59-2c1f1d5c2c11');
    expect(() => requireUuid('x,stream_id=neq.0', 'stream id')).toThrow(BackendError);
  });
});
