import { describe, expect, it } from 'vitest';
import { matroskaFrameHeader, matroskaVideoHeader, readMatroskaFrames } from './matroska';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

describe('matroska video stream', () => {
  it('starts with an EBML header, a live segment of unknown size and an I420 V_UNCOMPRESSED track', () => {
    const header = matroskaVideoHeader(1280, 720);
    expect([...header.subarray(0, 4)]).toEqual([0x1a, 0x45, 0xdf, 0xa3]);
    const text = Buffer.from(header).toString('latin1');
    expect(text).toContain('matroska');
    expect(text).toContain('V_UNCOMPRESSED');
    expect(text).toContain('I420');
    const segment = text.indexOf('\x18\x53\x80\x67');
    expect([...header.subarray(segment + 4, segment + 12)]).toEqual([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    // PixelWidth 1280 and PixelHeight 720 as two-byte unsigned integers.
    expect(text).toContain('\xb0\x82\x05\x00');
    expect(text).toContain('\xba\x82\x02\xd0');
  });

  it('frames read back with their timestamps and bytes, without copying the picture into the header', () => {
    const a = new Uint8Array(1_382_400).fill(7);
    const b = new Uint8Array(1_382_400).fill(9);
    const header = matroskaFrameHeader(0, a.byteLength);
    expect(header.byteLength).toBeLessThan(32);
    const stream = concat([matroskaVideoHeader(1280, 720), header, a, matroskaFrameHeader(70_000_123, b.byteLength), b]);
    const frames = readMatroskaFrames(stream);
    expect(frames.map((f) => f.timestampMs)).toEqual([0, 70_000_123]);
    expect(frames.map((f) => [f.data.byteLength, f.data[0], f.data.at(-1)])).toEqual([
      [1_382_400, 7, 7],
      [1_382_400, 9, 9],
    ]);
  });

  it('reads a stream cut anywhere as the frames that arrived whole', () => {
    const f = new Uint8Array(100).fill(3);
    const stream = concat([matroskaVideoHeader(16, 16), matroskaFrameHeader(5, 100), f, matroskaFrameHeader(40, 100), f]);
    expect(readMatroskaFrames(stream.subarray(0, stream.byteLength - 1)).map((x) => x.timestampMs)).toEqual([5]);
    expect(readMatroskaFrames(stream).map((x) => x.timestampMs)).toEqual([5, 40]);
  });

  it('refuses timestamps that are negative or not whole milliseconds', () => {
    expect(() => matroskaFrameHeader(-1, 10)).toThrow(RangeError);
    expect(() => matroskaFrameHeader(1.5, 10)).toThrow(RangeError);
  });
});
