/**
 * I420 pictures on the CPU: the planes a decoded camera frame already has,
 * scaled and placed without ever becoming RGBA. Pure functions over typed
 * arrays (no DOM), used by the CPU program compositor (I420Compositor.ts).
 */

/** One plane: where it starts in `data` and the bytes per row. */
export interface Plane {
  offset: number;
  stride: number;
}

/** An I420 picture: Y at full size, U and V at half size (rounded up). */
export interface I420Picture {
  width: number;
  height: number;
  data: Uint8Array;
  planes: [y: Plane, u: Plane, v: Plane];
}

export const chromaSize = (n: number) => (n + 1) >> 1;

/** A tightly packed I420 picture (what the encoder takes), optionally over an existing buffer. */
export function packedPicture(width: number, height: number, data?: Uint8Array): I420Picture {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`picture size must be positive integers, got ${width}x${height}`);
  }
  const cw = chromaSize(width);
  const ch = chromaSize(height);
  const bytes = width * height + 2 * cw * ch;
  if (data && data.length < bytes) throw new RangeError(`an I420 ${width}x${height} picture needs ${bytes} bytes, got ${data.length}`);
  return {
    width,
    height,
    data: data ?? new Uint8Array(bytes),
    planes: [
      { offset: 0, stride: width },
      { offset: width * height, stride: cw },
      { offset: width * height + cw * ch, stride: cw },
    ],
  };
}

/** Integer pixel rectangle. */
export interface PixelRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Normalised source rectangle (0..1), like a scene item's crop. */
export interface UnitRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Fixed-point (8-bit) bilinear sampling tables for one axis. */
interface Axis {
  i0: Int32Array;
  i1: Int32Array;
  f: Int32Array;
}

function axis(srcSize: number, cropStart: number, cropSize: number, dstSize: number): Axis {
  const i0 = new Int32Array(dstSize);
  const i1 = new Int32Array(dstSize);
  const f = new Int32Array(dstSize);
  const step = cropSize / dstSize;
  for (let i = 0; i < dstSize; i++) {
    // Pixel centres: destination i samples the source at cropStart + (i + 0.5) * step - 0.5.
    let pos = cropStart + (i + 0.5) * step - 0.5;
    if (pos < 0) pos = 0;
    if (pos > srcSize - 1) pos = srcSize - 1;
    const p0 = Math.floor(pos);
    i0[i] = p0;
    i1[i] = Math.min(p0 + 1, srcSize - 1);
    f[i] = Math.round((pos - p0) * 256);
  }
  return { i0, i1, f };
}

const axisCache = new Map<string, Axis>();

function cachedAxis(srcSize: number, cropStart: number, cropSize: number, dstSize: number): Axis {
  const key = `${srcSize}:${cropStart}:${cropSize}:${dstSize}`;
  let a = axisCache.get(key);
  if (!a) {
    if (axisCache.size > 256) axisCache.clear();
    a = axis(srcSize, cropStart, cropSize, dstSize);
    axisCache.set(key, a);
  }
  return a;
}

/**
 * Scales the `crop` (in source pixels, may be fractional) of one plane into
 * `dst` (integer pixels) with bilinear filtering. A crop the same size as the
 * destination at whole-pixel offsets is copied row by row.
 */
export function scalePlane(
  src: Uint8Array,
  srcPlane: Plane,
  srcWidth: number,
  srcHeight: number,
  crop: { x: number; y: number; width: number; height: number },
  dst: Uint8Array,
  dstPlane: Plane,
  rect: PixelRect,
): void {
  const { width: dw, height: dh } = rect;
  if (dw <= 0 || dh <= 0 || srcWidth <= 0 || srcHeight <= 0) return;
  const ss = srcPlane.stride;
  const so = srcPlane.offset;
  const ds = dstPlane.stride;
  const dOff = dstPlane.offset + rect.y * ds + rect.x;
  if (crop.width === dw && crop.height === dh && Number.isInteger(crop.x) && Number.isInteger(crop.y) && crop.x >= 0 && crop.y >= 0 && crop.x + dw <= srcWidth && crop.y + dh <= srcHeight) {
    for (let j = 0; j < dh; j++) {
      const s = so + (crop.y + j) * ss + crop.x;
      dst.set(src.subarray(s, s + dw), dOff + j * ds);
    }
    return;
  }
  const ax = cachedAxis(srcWidth, crop.x, crop.width, dw);
  const ay = cachedAxis(srcHeight, crop.y, crop.height, dh);
  const x0 = ax.i0;
  const x1 = ax.i1;
  const fx = ax.f;
  for (let j = 0; j < dh; j++) {
    const r0 = so + ay.i0[j]! * ss;
    const r1 = so + ay.i1[j]! * ss;
    const fy = ay.f[j]!;
    let d = dOff + j * ds;
    for (let i = 0; i < dw; i++) {
      const a0 = x0[i]!;
      const a1 = x1[i]!;
      const w = fx[i]!;
      const p = src[r0 + a0]!;
      const q = src[r1 + a0]!;
      const top = (p << 8) + (src[r0 + a1]! - p) * w;
      const bottom = (q << 8) + (src[r1 + a1]! - q) * w;
      dst[d++] = ((top << 8) + (bottom - top) * fy + 32768) >> 16;
    }
  }
}

/**
 * Draws the `crop` (normalised) of a picture into `rect` (luma pixels) of
 * `dst`. Chroma covers the rect's half-pixel footprint, rounded outwards, so
 * tiles at odd positions share a chroma column with their neighbour (the
 * program's layouts put every edge on an even pixel: `evenEdge`).
 */
export function drawPicture(src: I420Picture, crop: UnitRect, dst: I420Picture, rect: PixelRect): void {
  const x0 = Math.max(0, rect.x);
  const y0 = Math.max(0, rect.y);
  const x1 = Math.min(dst.width, rect.x + rect.width);
  const y1 = Math.min(dst.height, rect.y + rect.height);
  if (x1 <= x0 || y1 <= y0) return;
  // A rect clipped by the canvas keeps its scale: clip the crop by the same share.
  const cx = crop.x + ((x0 - rect.x) / rect.width) * crop.width;
  const cy = crop.y + ((y0 - rect.y) / rect.height) * crop.height;
  const cw = ((x1 - x0) / rect.width) * crop.width;
  const chh = ((y1 - y0) / rect.height) * crop.height;
  const lumaCrop = { x: cx * src.width, y: cy * src.height, width: cw * src.width, height: chh * src.height };
  scalePlane(src.data, src.planes[0], src.width, src.height, lumaCrop, dst.data, dst.planes[0], { x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  const sw = chromaSize(src.width);
  const sh = chromaSize(src.height);
  const dx0 = x0 >> 1;
  const dy0 = y0 >> 1;
  const dx1 = Math.min(chromaSize(dst.width), chromaSize(x1));
  const dy1 = Math.min(chromaSize(dst.height), chromaSize(y1));
  // Destination luma X samples source luma S(X); the chroma rect covers luma [2*dx0, 2*dx1).
  const sx = (X: number) => lumaCrop.x + ((X - x0) * lumaCrop.width) / (x1 - x0);
  const sy = (Y: number) => lumaCrop.y + ((Y - y0) * lumaCrop.height) / (y1 - y0);
  const chromaCrop = { x: sx(dx0 * 2) / 2, y: sy(dy0 * 2) / 2, width: (sx(dx1 * 2) - sx(dx0 * 2)) / 2, height: (sy(dy1 * 2) - sy(dy0 * 2)) / 2 };
  const chromaRect = { x: dx0, y: dy0, width: dx1 - dx0, height: dy1 - dy0 };
  for (const p of [1, 2] as const) scalePlane(src.data, src.planes[p], sw, sh, chromaCrop, dst.data, dst.planes[p], chromaRect);
}

/** Fills a rect of a picture with one colour (Y, U, V). */
export function fillRect(dst: I420Picture, rect: PixelRect, [y, u, v]: readonly [number, number, number]): void {
  const x0 = Math.max(0, rect.x);
  const y0 = Math.max(0, rect.y);
  const x1 = Math.min(dst.width, rect.x + rect.width);
  const y1 = Math.min(dst.height, rect.y + rect.height);
  if (x1 <= x0 || y1 <= y0) return;
  const [py, pu, pv] = dst.planes;
  for (let j = y0; j < y1; j++) dst.data.fill(y, py.offset + j * py.stride + x0, py.offset + j * py.stride + x1);
  const cx0 = x0 >> 1;
  const cx1 = chromaSize(x1);
  for (let j = y0 >> 1; j < chromaSize(y1); j++) {
    dst.data.fill(u, pu.offset + j * pu.stride + cx0, pu.offset + j * pu.stride + cx1);
    dst.data.fill(v, pv.offset + j * pv.stride + cx0, pv.offset + j * pv.stride + cx1);
  }
}

/** Byte order of a packed 32-bit RGB picture. */
export type RgbOrder = 'rgba' | 'bgra';

/**
 * Packed RGBA/BGRA (alpha ignored) → I420, BT.601 limited range, chroma from
 * the mean of each 2x2 block: the same numbers as `rgbaToI420` in
 * src/shared/color.ts, without its per-pixel allocations.
 */
export function rgbToPicture(rgb: Uint8Array | Uint8ClampedArray, width: number, height: number, stride = width * 4, order: RgbOrder = 'rgba', out?: I420Picture): I420Picture {
  const pic = out ?? packedPicture(width, height);
  const [py, pu, pv] = pic.planes;
  const d = pic.data;
  const ri = order === 'rgba' ? 0 : 2;
  const bi = 2 - ri;
  const clamp = (x: number) => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));
  for (let y = 0; y < height; y++) {
    let s = y * stride;
    let o = py.offset + y * py.stride;
    for (let x = 0; x < width; x++, s += 4) {
      d[o++] = clamp(16 + (65.481 * rgb[s + ri]! + 128.553 * rgb[s + 1]! + 24.966 * rgb[s + bi]!) / 255);
    }
  }
  const cw = chromaSize(width);
  const ch = chromaSize(height);
  for (let cy = 0; cy < ch; cy++) {
    const ya = cy * 2;
    const yb = Math.min(ya + 1, height - 1);
    for (let cx = 0; cx < cw; cx++) {
      const xa = cx * 2;
      const xb = Math.min(xa + 1, width - 1);
      const a = ya * stride + xa * 4;
      const b = ya * stride + xb * 4;
      const c = yb * stride + xa * 4;
      const e = yb * stride + xb * 4;
      const r = (rgb[a + ri]! + rgb[b + ri]! + rgb[c + ri]! + rgb[e + ri]!) / 4 / 255;
      const g = (rgb[a + 1]! + rgb[b + 1]! + rgb[c + 1]! + rgb[e + 1]!) / 4 / 255;
      const bl = (rgb[a + bi]! + rgb[b + bi]! + rgb[c + bi]! + rgb[e + bi]!) / 4 / 255;
      d[pu.offset + cy * pu.stride + cx] = clamp(128 - 37.797 * r - 74.203 * g + 112.0 * bl);
      d[pv.offset + cy * pv.stride + cx] = clamp(128 + 112.0 * r - 93.786 * g - 18.214 * bl);
    }
  }
  return pic;
}

/** NV12 (Y, then interleaved UV) → I420 planes, into `out`. */
export function nv12ToPicture(src: Uint8Array, width: number, height: number, y: Plane, uv: Plane, out?: I420Picture): I420Picture {
  const pic = out ?? packedPicture(width, height);
  const [py, pu, pv] = pic.planes;
  const d = pic.data;
  for (let j = 0; j < height; j++) d.set(src.subarray(y.offset + j * y.stride, y.offset + j * y.stride + width), py.offset + j * py.stride);
  const cw = chromaSize(width);
  for (let j = 0; j < chromaSize(height); j++) {
    let s = uv.offset + j * uv.stride;
    let u = pu.offset + j * pu.stride;
    let v = pv.offset + j * pv.stride;
    for (let i = 0; i < cw; i++) {
      d[u++] = src[s++]!;
      d[v++] = src[s++]!;
    }
  }
  return pic;
}

/** What a frame says of its colours (a VideoColorSpace's fields that change the numbers). */
export interface PlaneColors {
  matrix?: string | null;
  fullRange?: boolean | null;
}

const clamp8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/**
 * Rewrites an I420 picture in place as BT.601 limited range, the program's own
 * colours, when its frame says otherwise: full range (JPEG-style webcams) is
 * scaled into 16–235 / 16–240, and BT.709 (many HD webcams) is converted to
 * BT.601 (through the two matrices, at each chroma sample). Pictures already
 * in BT.601 limited range (cameras here, WebRTC-decoded frames) are left
 * alone. Returns whether it changed anything.
 */
export function toProgramColors(p: I420Picture, colors: PlaneColors): boolean {
  const full = colors.fullRange === true;
  const bt709 = colors.matrix === 'bt709';
  if (!full && !bt709) return false;
  const { width, height, data } = p;
  const [yP, uP, vP] = p.planes;
  const cw = chromaSize(width);
  const ch = chromaSize(height);
  if (full) {
    const lumaLut = new Uint8Array(256);
    const chromaLut = new Uint8Array(256);
    for (let v = 0; v < 256; v++) {
      lumaLut[v] = clamp8(16 + (v * 219) / 255);
      chromaLut[v] = clamp8(128 + ((v - 128) * 224) / 255);
    }
    for (let row = 0; row < height; row++) {
      const at = yP.offset + row * yP.stride;
      for (let x = 0; x < width; x++) data[at + x] = lumaLut[data[at + x]!]!;
    }
    for (const plane of [uP, vP]) {
      for (let row = 0; row < ch; row++) {
        const at = plane.offset + row * plane.stride;
        for (let x = 0; x < cw; x++) data[at + x] = chromaLut[data[at + x]!]!;
      }
    }
  }
  if (bt709) {
    // BT.709 → RGB → BT.601, both limited range, folded into one step per chroma sample:
    // Y' = Y + 0.19172·(V−128) + 0.09932·(U−128); U' = 128 + 0.98985·(U−128) − 0.11067·(V−128);
    // V' = 128 + 0.98338·(V−128) − 0.07246·(U−128).
    for (let cy = 0; cy < ch; cy++) {
      for (let cx = 0; cx < cw; cx++) {
        const ui = uP.offset + cy * uP.stride + cx;
        const vi = vP.offset + cy * vP.stride + cx;
        const u = data[ui]! - 128;
        const v = data[vi]! - 128;
        const dy = 0.19172 * v + 0.09932 * u;
        for (let yy = cy * 2; yy < Math.min(cy * 2 + 2, height); yy++) {
          const row = yP.offset + yy * yP.stride;
          for (let xx = cx * 2; xx < Math.min(cx * 2 + 2, width); xx++) data[row + xx] = clamp8(data[row + xx]! + dy);
        }
        data[ui] = clamp8(128 + 0.98985 * u - 0.11067 * v);
        data[vi] = clamp8(128 + 0.98338 * v - 0.07246 * u);
      }
    }
  }
  return true;
}
