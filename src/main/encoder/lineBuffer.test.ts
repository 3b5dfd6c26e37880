import { describe, expect, it } from 'vitest';
import { LineBuffer } from './lineBuffer';

describe('LineBuffer', () => {
  it('keeps a line split across chunks until it is complete, and hands over the rest at the end', () => {
    const lines = new LineBuffer();
    expect(lines.push('[tls @ 0x5584] ')).toEqual([]);
    expect(lines.push('Error in the pull function.\n[tls @ 0x5584] IO error')).toEqual(['[tls @ 0x5584] Error in the pull function.']);
    expect(lines.push(': Connection timed out\r')).toEqual([]);
    expect(lines.push('\nlast line without an end')).toEqual(['[tls @ 0x5584] IO error: Connection timed out']);
    expect(lines.flush()).toEqual(['last line without an end']);
    expect(lines.flush()).toEqual([]);
  });

  it('hands over a line that never ends once it is too long to wait for', () => {
    const lines = new LineBuffer(8);
    expect(lines.push('12345')).toEqual([]);
    expect(lines.push('6789')).toEqual(['123456789']);
    expect(lines.push('a\n')).toEqual(['a']);
  });
});
