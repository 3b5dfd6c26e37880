import { describe, expect, it } from 'vitest';
import { i420Size, rgbaToI420, rgbToYuv601, rgbToYuv709 } from './color';

describe('rgbToYuv601', () => {
  it('maps black, white and the primaries to BT.601 limited range', () => {
    expect(rgbToYuv601(0, 0, 0)).toEqual([16, 128, 128]);
    expect(rgbToYuv601(255, 255, 255)).toEqual([235, 128, 128]);
    expect(rgbToYuv601(255, 0, 0)).toEqual([81, 90, 240]);
    expect(rgbToYuv601(0, 255, 0)).toEqual([145, 54, 34]);
    expect(rgbToYuv601(0, 0, 255)).toEqual([41, 240, 110]);
  });
});

describe('rgbaToI420', () => {
  it('lays out Y, then U, then V, averaging chroma over 2x2 blocks', () => {
    // 4x2: left 2x2 block red, right 2x2 block blue.
    const rgba = new Uint8Array(4 * 2 * 4);
    for (let y = 0; y < 2; y++)
      for (let x = 0; x < 4; x++) {
        const i = (y * 4 + x) * 4;
        rgba.set(x < 2 ? [255, 0, 0, 255] : [0, 0, 255, 255], i);
      }
    const out = rgbaToI420(rgba, 4, 2);
    expect(out.length).toBe(i420Size(4, 2));
    expect(Array.from(out.subarray(0, 8))).toEqual([81, 81, 41, 41, 81, 81, 41, 41]);
    expect(Array.from(out.subarray(8, 10))).toEqual([90, 240]);
    expect(Array.from(out.subarray(10, 12))).toEqual([240, 110]);
  });

  it('refuses odd sizes', () => {
    expect(() => i420Size(3, 2)).toThrow(/even/);
  });
});

describe('rgbToYuv709', () => {
  it('gives BT.709 limited range: white, black, pure red and blue', () => {
    expect(rgbToYuv709(255, 255, 255)).toEqual([235, 128, 128]);
    expect(rgbToYuv709(0, 0, 0)).toEqual([16, 128, 128]);
    expect(rgbToYuv709(255, 0, 0)).toEqual([63, 102, 240]);
    expect(rgbToYuv709(0, 0, 255)).toEqual([32, 240, 118]);
  });
});
