import { describe, expect, it } from 'vitest';
import { coverCrop, evenEdge, gridLayout, gridShape, MAX_PROGRAM_SOURCES, programLayout, PROGRAM_LAYOUTS, shownSourceIds } from './layout';

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
    [11, 3, 4],
  ])('%i participants → %ix%i', (n, rows, cols) => {
    expect(gridShape(n)).toEqual({ rows, cols });
  });

  it('refuses impossible counts', () => {
    expect(() => gridShape(12)).toThrow(/at most 11 sources/);
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

describe('programLayout', () => {
  const s = (id: string) => ({ id, width: 640, height: 360 });
  const four = [s('host'), s('a'), s('b'), s('c')];

  it('grid is the even grid', () => {
    expect(programLayout('grid', four, 1280, 720)).toEqual(gridLayout(four, 1280, 720));
  });

  it('grid takes the host, nine guests and a shared screen: eleven tiles in 3x4, none overlapping', () => {
    const eleven = [s('screen'), s('host'), ...Array.from({ length: 9 }, (_, i) => s(`g${i}`))];
    const items = programLayout('grid', eleven, 1280, 720, 'screen');
    expect(items).toHaveLength(11);
    expect(items[0]!.sourceId).toBe('screen');
    expect(items.slice(0, 4).map((i) => i.rect.width)).toEqual([320, 320, 320, 320]);
    const area = items.reduce((sum, i) => sum + i.rect.width * i.rect.height, 0);
    expect(area).toBe((1280 * 720 * 11) / 12);
  });

  it('side-by-side shows the focus and the next one in two halves', () => {
    const items = programLayout('side-by-side', four, 1280, 720, 'b');
    expect(items.map((i) => [i.sourceId, i.rect])).toEqual([
      ['b', { x: 0, y: 0, width: 640, height: 720 }],
      ['host', { x: 640, y: 0, width: 640, height: 720 }],
    ]);
  });

  it('pip puts the second source small, above the first, inside the frame', () => {
    const [main, small] = programLayout('pip', four, 1280, 720);
    expect(main!.rect).toEqual({ x: 0, y: 0, width: 1280, height: 720 });
    expect(small!.z).toBeGreaterThan(main!.z);
    expect(small!.rect.x + small!.rect.width).toBeLessThanOrEqual(1280);
    expect(small!.rect.y + small!.rect.height).toBeLessThanOrEqual(720);
    expect(small!.rect.width).toBe(320);
  });

  it('spotlight gives the focus 3/4 and stacks the rest exactly in the strip', () => {
    const items = programLayout('spotlight', four, 1280, 720, 'c');
    expect(items[0]).toMatchObject({ sourceId: 'c', rect: { x: 0, y: 0, width: 960, height: 720 } });
    const strip = items.slice(1);
    expect(strip.map((i) => i.sourceId)).toEqual(['host', 'a', 'b']);
    expect(strip.reduce((h, i) => h + i.rect.height, 0)).toBe(720);
    expect(strip.every((i) => i.rect.x === 960 && i.rect.width === 320)).toBe(true);
  });

  it('falls back to the full frame for one source, whatever the layout', () => {
    for (const kind of PROGRAM_LAYOUTS) expect(programLayout(kind, [s('host')], 1280, 720)[0]!.rect).toEqual({ x: 0, y: 0, width: 1280, height: 720 });
  });
});

describe('tile edges', () => {
  it('fall on even pixels in every layout, for 1 to 11 sources at 720p and 1080p, and grids still tile the canvas', () => {
    for (const [width, height] of [
      [1280, 720],
      [1920, 1080],
    ] as const) {
      for (let n = 1; n <= MAX_PROGRAM_SOURCES; n++) {
        const sources = Array.from({ length: n }, (_, i) => ({ id: `s${i}`, width: 640, height: 360 }));
        for (const kind of PROGRAM_LAYOUTS) {
          for (const { rect } of programLayout(kind, sources, width, height)) {
            const edges = [rect.x, rect.y, rect.x + rect.width, rect.y + rect.height];
            expect(edges.every((e) => e % 2 === 0), `${kind} ${n} at ${width}x${height}: ${JSON.stringify(rect)}`).toBe(true);
            expect(rect.width > 0 && rect.height > 0 && rect.x + rect.width <= width && rect.y + rect.height <= height).toBe(true);
          }
        }
        const { rows, cols } = gridShape(n);
        if (rows * cols === n) {
          const area = gridLayout(sources, width, height).reduce((sum, i) => sum + i.rect.width * i.rect.height, 0);
          expect(area).toBe(width * height);
        }
      }
    }
    expect([evenEdge(426.67), evenEdge(427), evenEdge(102.9), evenEdge(45)]).toEqual([426, 428, 102, 46]);
  });
});

describe('shownSourceIds', () => {
  const ids = ['host', 'a', 'b', 'c'];

  it('names every source of a grid or spotlight, and the two a picture-in-picture or side-by-side shows', () => {
    expect([...shownSourceIds('grid', ids)]).toEqual(ids);
    expect([...shownSourceIds('spotlight', ids, 'b')].sort()).toEqual([...ids].sort());
    expect([...shownSourceIds('pip', ids)]).toEqual(['host', 'a']);
    expect([...shownSourceIds('side-by-side', ids, 'c')].sort()).toEqual(['c', 'host'].sort());
    expect([...shownSourceIds('pip', ['host'])]).toEqual(['host']);
    expect(shownSourceIds('grid', []).size).toBe(0);
  });
});
