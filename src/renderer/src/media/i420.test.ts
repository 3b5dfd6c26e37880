import { describe, expect, it } from 'vitest';
import { rgbaToI420, rgbToYuv601 } from '../../../shared/color';
import { gridLayout, programLayout } from '../../../shared/layout';
import { BACKGROUND_RGB, I420Compositor } from './I420Compositor';
import { chromaSize, drawPicture, nv12ToPicture, packedPicture, rgbToPicture, scalePlane, toProgramColors, type I420Picture } from './i420';

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s >>> 24;
  };
}

function solid(width: number, height: number, rgb: [number, number, number]): I420Picture {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < rgba.length; i += 4) rgba.set([...rgb, 255], i);
  return rgbToPicture(rgba, width, height);
}

const yAt = (p: I420Picture, x: number, y: number) => p.data[p.planes[0].offset + y * p.planes[0].stride + x]!;
const uvAt = (p: I420Picture, x: number, y: number) => [1, 2].map((k) => p.data[p.planes[k]!.offset + (y >> 1) * p.planes[k]!.stride + (x >> 1)]!);

describe('rgbToPicture', () => {
  it('gives the reference conversion (BT.601 limited, 2x2 chroma mean)', () => {
    const rnd = seeded(7);
    const w = 64;
    const h = 36;
    const rgba = new Uint8Array(w * h * 4).map(() => rnd());
    const reference = rgbaToI420(rgba, w, h);
    const out = rgbToPicture(rgba, w, h).data;
    expect(out.length).toBe(reference.length);
    let maxDiff = 0;
    for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i]! - reference[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1);
  });

  it('reads BGRA and row strides', () => {
    const w = 4;
    const h = 2;
    const stride = 24;
    const bgra = new Uint8Array(stride * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) bgra.set([200, 100, 50, 255], y * stride + x * 4);
    const pic = rgbToPicture(bgra, w, h, stride, 'bgra');
    const [y, u, v] = rgbToYuv601(50, 100, 200);
    expect(yAt(pic, 3, 1)).toBe(y);
    expect(uvAt(pic, 2, 0)).toEqual([u, v]);
  });

  it('handles odd sizes (the last chroma sample covers the edge pixels)', () => {
    const pic = solid(5, 3, [255, 0, 0]);
    expect(pic.data.length).toBe(5 * 3 + 2 * chromaSize(5) * chromaSize(3));
    const [, u, v] = rgbToYuv601(255, 0, 0);
    expect(uvAt(pic, 4, 2)).toEqual([u, v]);
  });
});

describe('scalePlane', () => {
  const plane = (w: number, h: number, f: (x: number, y: number) => number) => {
    const data = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = f(x, y);
    return data;
  };

  it('copies a same-size crop exactly', () => {
    const src = plane(8, 6, (x, y) => x * 10 + y);
    const dst = new Uint8Array(10 * 8);
    scalePlane(src, { offset: 0, stride: 8 }, 8, 6, { x: 2, y: 1, width: 4, height: 3 }, dst, { offset: 0, stride: 10 }, { x: 5, y: 4, width: 4, height: 3 });
    expect(dst[4 * 10 + 5]).toBe(21);
    expect(dst[6 * 10 + 8]).toBe(53);
    expect(dst[3 * 10 + 5]).toBe(0);
    expect(dst[4 * 10 + 9]).toBe(0);
  });

  it('halves by averaging each 2x2 block', () => {
    const src = plane(4, 4, (x, y) => (x + y) * 20);
    const dst = new Uint8Array(4);
    scalePlane(src, { offset: 0, stride: 4 }, 4, 4, { x: 0, y: 0, width: 4, height: 4 }, dst, { offset: 0, stride: 2 }, { x: 0, y: 0, width: 2, height: 2 });
    // Block (0,0): 0,20,20,40 → 20; block (1,1): 80,100,100,120 → 100.
    expect([...dst]).toEqual([20, 60, 60, 100]);
  });

  it('upscales smoothly: constant stays constant, a ramp stays monotonic and in range', () => {
    const flat = plane(3, 3, () => 77);
    const out = new Uint8Array(16 * 16);
    scalePlane(flat, { offset: 0, stride: 3 }, 3, 3, { x: 0, y: 0, width: 3, height: 3 }, out, { offset: 0, stride: 16 }, { x: 0, y: 0, width: 16, height: 16 });
    expect(out.every((v) => v === 77)).toBe(true);
    const ramp = plane(4, 1, (x) => x * 80);
    const row = new Uint8Array(32);
    scalePlane(ramp, { offset: 0, stride: 4 }, 4, 1, { x: 0, y: 0, width: 4, height: 1 }, row, { offset: 0, stride: 32 }, { x: 0, y: 0, width: 32, height: 1 });
    for (let i = 1; i < 32; i++) expect(row[i]!).toBeGreaterThanOrEqual(row[i - 1]!);
    expect(row[0]).toBe(0);
    expect(row[31]).toBe(240);
  });
});

describe('drawPicture', () => {
  it('fills exactly its rect (odd position) with the source, leaving the rest alone', () => {
    const dst = packedPicture(32, 18);
    dst.data.fill(0);
    const src = solid(16, 9, [0, 255, 0]);
    const [y, u, v] = rgbToYuv601(0, 255, 0);
    drawPicture(src, { x: 0, y: 0, width: 1, height: 1 }, dst, { x: 3, y: 5, width: 11, height: 7 });
    expect(yAt(dst, 3, 5)).toBe(y);
    expect(yAt(dst, 13, 11)).toBe(y);
    expect(yAt(dst, 2, 5)).toBe(0);
    expect(yAt(dst, 14, 11)).toBe(0);
    expect(yAt(dst, 3, 4)).toBe(0);
    expect(yAt(dst, 3, 12)).toBe(0);
    expect(uvAt(dst, 8, 8)).toEqual([u, v]);
  });

  it('shows the crop: the right half of a left-red/right-blue source is blue', () => {
    const rgba = new Uint8Array(8 * 4 * 4);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 8; x++) rgba.set(x < 4 ? [255, 0, 0, 255] : [0, 0, 255, 255], (y * 8 + x) * 4);
    const src = rgbToPicture(rgba, 8, 4);
    const dst = packedPicture(8, 8);
    drawPicture(src, { x: 0.5, y: 0, width: 0.5, height: 1 }, dst, { x: 0, y: 0, width: 8, height: 8 });
    const blue = rgbToYuv601(0, 0, 255);
    for (const [x, yy] of [[2, 0], [7, 7], [4, 3]] as const) {
      expect(yAt(dst, x, yy)).toBe(blue[0]);
      expect(uvAt(dst, x, yy)).toEqual([blue[1], blue[2]]);
    }
  });

  it('clips a rect that leaves the canvas without changing its scale', () => {
    const src = solid(4, 4, [255, 255, 255]);
    const dst = packedPicture(8, 8);
    dst.data.fill(0);
    drawPicture(src, { x: 0, y: 0, width: 1, height: 1 }, dst, { x: 6, y: 6, width: 4, height: 4 });
    expect(yAt(dst, 7, 7)).toBe(235);
    expect(yAt(dst, 5, 7)).toBe(0);
  });
});

describe('nv12ToPicture', () => {
  it('splits interleaved chroma into U and V planes', () => {
    const w = 4;
    const h = 2;
    const src = new Uint8Array(w * h + w);
    src.fill(50, 0, w * h);
    src.set([10, 20, 11, 21], w * h);
    const pic = nv12ToPicture(src, w, h, { offset: 0, stride: w }, { offset: w * h, stride: w });
    expect(yAt(pic, 3, 1)).toBe(50);
    expect(uvAt(pic, 0, 0)).toEqual([10, 20]);
    expect(uvAt(pic, 2, 0)).toEqual([11, 21]);
  });
});

describe('I420Compositor', () => {
  const colours: Array<[number, number, number]> = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
  ];

  function stage(n: number) {
    const c = new I420Compositor(1280, 720);
    const ids = colours.slice(0, n).map((_, i) => `p${i}`);
    for (const [i, id] of ids.entries()) {
      c.setSource(id);
      c.setPicture(id, solid(320, 180, colours[i]!));
    }
    c.setScene(gridLayout(ids.map((id) => ({ id, ...c.sourceSize(id) })), 1280, 720));
    return { c, ids };
  }

  it('lays out each source in its tile, background where there is none', () => {
    const { c } = stage(3);
    const out = c.compose();
    expect(c.lastDrawn).toBe(3);
    const items = gridLayout(['a', 'b', 'c'].map((id) => ({ id, width: 16, height: 9 })), 1280, 720);
    for (const [i, it] of items.entries()) {
      const cx = Math.round(it.rect.x + it.rect.width / 2);
      const cy = Math.round(it.rect.y + it.rect.height / 2);
      const [y, u, v] = rgbToYuv601(...colours[i]!);
      expect(yAt(out, cx, cy)).toBe(y);
      expect(uvAt(out, cx, cy)).toEqual([u, v]);
    }
    // The last row is centred: its left corner is background.
    expect(yAt(out, 10, 700)).toBe(rgbToYuv601(...BACKGROUND_RGB)[0]);
  });

  it("keeps each tile's colour up to its edges: no chroma shared with a neighbour (3x3 at 720p, 427-pixel thirds)", () => {
    const c = new I420Compositor(1280, 720);
    const ids = Array.from({ length: 9 }, (_, i) => `p${i}`);
    const rgb = (i: number) => colours[i % colours.length]!;
    for (const [i, id] of ids.entries()) {
      c.setSource(id);
      c.setPicture(id, solid(320, 180, rgb(i)));
    }
    const items = gridLayout(ids.map((id) => ({ id, ...c.sourceSize(id) })), 1280, 720);
    c.setScene(items);
    const out = c.compose();
    for (const [i, { rect }] of items.entries()) {
      const [, u, v] = rgbToYuv601(...rgb(i));
      const mid = rect.y + (rect.height >> 1);
      // The first and last luma columns of the tile, each with its chroma sample.
      for (const x of [rect.x, rect.x + rect.width - 1]) expect(uvAt(out, x, mid), `tile ${i} at x ${x}`).toEqual([u, v]);
      const centre = rect.x + (rect.width >> 1);
      for (const y of [rect.y, rect.y + rect.height - 1]) expect(uvAt(out, centre, y), `tile ${i} at y ${y}`).toEqual([u, v]);
    }
  });

  it('redraws only the tiles whose source has a new picture, and nothing when nothing changed', () => {
    const { c } = stage(4);
    c.compose();
    expect(c.hasChanges).toBe(false);
    c.setPicture('p2', solid(320, 180, [255, 255, 255]));
    expect(c.hasChanges).toBe(true);
    const out = c.compose();
    expect(c.lastDrawn).toBe(1);
    expect(yAt(out, 320, 540)).toBe(235);
    expect(yAt(out, 960, 540)).toBe(rgbToYuv601(255, 255, 0)[0]);
  });

  it('redraws every tile in z order where tiles overlap (picture in picture)', () => {
    const { c } = stage(2);
    c.setScene(programLayout('pip', ['p0', 'p1'].map((id) => ({ id, ...c.sourceSize(id) })), 1280, 720, 'p0'));
    c.compose();
    c.setPicture('p0', solid(320, 180, [0, 0, 0]));
    const out = c.compose();
    expect(c.lastDrawn).toBe(2);
    // The small picture (green) stays on top of the refreshed full-frame one.
    expect(yAt(out, 1280 - 60 - 80, 720 - 30 - 45)).toBe(rgbToYuv601(0, 255, 0)[0]);
    expect(yAt(out, 100, 100)).toBe(16);
  });

  it('a removed source leaves its tile to the background on the next layout', () => {
    const { c } = stage(2);
    c.compose();
    c.removeSource('p1');
    c.setScene(gridLayout([{ id: 'p0', ...c.sourceSize('p0') }], 1280, 720));
    const out = c.compose();
    expect(yAt(out, 640, 360)).toBe(rgbToYuv601(255, 0, 0)[0]);
    expect(() => new I420Compositor(1279, 720)).toThrow(/even/);
  });
});

describe('toProgramColors', () => {
  /** A 2x2 picture of one colour, as Y, U, V bytes. */
  const solid = (y: number, u: number, v: number) => {
    const p = packedPicture(2, 2);
    p.data.set([y, y, y, y, u, v]);
    return p;
  };
  const yuv = (p: I420Picture) => [p.data[0], p.data[4], p.data[5]];
  const expectWithinAStep = (got: Array<number | undefined>, reference: number[]) =>
    reference.forEach((r, i) => expect(Math.abs(got[i]! - r), `component ${i}`).toBeLessThanOrEqual(1));

  it('leaves BT.601 limited range (cameras here, WebRTC-decoded frames) and unknown colours alone', () => {
    const p = solid(81, 90, 240);
    expect(toProgramColors(p, { matrix: 'smpte170m', fullRange: false })).toBe(false);
    expect(toProgramColors(p, {})).toBe(false);
    expect(yuv(p)).toEqual([81, 90, 240]);
  });

  it('scales full range into 16–235 and 16–240', () => {
    const white = solid(255, 128, 128);
    expect(toProgramColors(white, { matrix: 'smpte170m', fullRange: true })).toBe(true);
    expect(yuv(white)).toEqual([235, 128, 128]);
    const extremes = solid(0, 0, 255);
    toProgramColors(extremes, { matrix: 'bt470bg', fullRange: true });
    expect(yuv(extremes)).toEqual([16, 16, 240]);
  });

  it('converts BT.709 to BT.601: pure red and pure blue land within a step of the reference', () => {
    // Red (R=1, G=B=0): BT.709 limited Y 63, U 102, V 240; BT.601 limited Y 81.5, U 90.2, V 240.
    const red = solid(63, 102, 240);
    toProgramColors(red, { matrix: 'bt709', fullRange: false });
    expectWithinAStep(yuv(red), [81.5, 90.2, 240]);
    // Blue (B=1): BT.709 Y 32, U 240, V 118; BT.601 Y 41, U 240, V 110.
    const blue = solid(32, 240, 118);
    toProgramColors(blue, { matrix: 'bt709' });
    expectWithinAStep(yuv(blue), [41, 240, 110]);
    // Grey has no chroma: unchanged.
    const grey = solid(126, 128, 128);
    toProgramColors(grey, { matrix: 'bt709' });
    expect(yuv(grey)).toEqual([126, 128, 128]);
  });
});
