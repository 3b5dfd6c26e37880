import { describe, expect, it } from 'vitest';
import { coverCrop, gridLayout, gridShape } from './layout';

describe('gridShape', () => {
  it.each([
    [0, 1, 1],
    [1, 1, 1],
    [2, 1, 2],
    [3, 2, 2],
    [4, 2, 2],
    [5, 2, 3],
    [6, 2, 3],
    [7, 3, 3],
    [9, 3, 3],
    [10, 3, 4],
  ])('%i participants → %ix%i', (n, rows, cols) => {
    expect(gridShape(n)).toEqual({ rows, cols });
  });

  it('refuses impossible counts', () => {
    expect(() => gridShape(11)).toThrow(/at most 10/);
    expect(() => gridShape(-1)).toThrow(RangeError);
    expect(() => gridShape(1.5)).toThrow(RangeError);
  });
});

describe('coverCrop', () => {
  it('crops the sides of a wide source for a tall tile', () => {
    const crop = coverCrop(1280, 720, 640, 720);
    expect(crop.height).toBe(1);
    expect(crop.width).toBeCloseTo(0.5);
    expect(crop.x).toBeCloseTo(0.25);
  });
  it('crops top and bottom of a tall source for a wide tile', () => {
    const crop = coverCrop(720, 1280, 1280, 720);
    expect(crop.width).toBe(1);
    expect(crop.y + crop.height / 2).toBeCloseTo(0.5);
  });
  it('keeps everything when aspects match, and for unknown sizes', () => {
    expect(coverCrop(640, 360, 1280, 720)).toEqual({ x: 0, y: 0, width: 1, height: 1 });
    expect(coverCrop(0, 0, 1280, 720)).toEqual({ x: 0, y: 0, width: 1, height: 1 });
  });
});

describe('gridLayout', () => {
  it('puts two sources side by side, each half the canvas', () => {
    const items = gridLayout(
      [
        { id: 'host', width: 1280, height: 720 },
        { id: 'guest', width: 640, height: 360 },
      ],
      1280,
      720,
    );
    expect(items.map((i) => i.rect)).toEqual([
      { x: 0, y: 0, width: 640, height: 720 },
      { x: 640, y: 0, width: 640, height: 720 },
    ]);
    expect(items[0]!.crop.width).toBeCloseTo(0.5);
  });

  it('tiles a full 3x3 grid exactly with no gaps or overlaps', () => {
    const sources = Array.from({ length: 9 }, (_, i) => ({ id: `s${i}`, width: 640, height: 360 }));
    const items = gridLayout(sources, 1280, 720);
    const area = items.reduce((sum, i) => sum + i.rect.width * i.rect.height, 0);
    expect(area).toBe(1280 * 720);
    expect(new Set(items.map((i) => `${i.rect.x},${i.rect.y}`)).size).toBe(9);
  });

  it('centres a short last row', () => {
    const sources = Array.from({ length: 3 }, (_, i) => ({ id: `s${i}`, width: 640, height: 360 }));
    const items = gridLayout(sources, 1280, 720);
    expect(items[2]!.rect).toEqual({ x: 320, y: 360, width: 640, height: 360 });
  });
});
