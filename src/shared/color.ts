/**
 * BT.601 limited-range RGB → YUV, the conversion the compositor's shader does
 * on the GPU (ffmpeg's default for untagged yuv420p). Inputs 0..255.
 */
export function rgbToYuv601(r: number, g: number, b: number): [y: number, u: number, v: number] {
  const rn = r / 255;
  const gn = g / 255;
  const bn = b / 255;
  const y = 16 + 65.481 * rn + 128.553 * gn + 24.966 * bn;
  const u = 128 - 37.797 * rn - 74.203 * gn + 112.0 * bn;
  const v = 128 + 112.0 * rn - 93.786 * gn - 18.214 * bn;
  return [clampByte(y), clampByte(u), clampByte(v)];
}

/** BT.709 limited-range RGB → YUV (many HD webcams send it). Inputs 0..255. */
export function rgbToYuv709(r: number, g: number, b: number): [y: number, u: number, v: number] {
  const y = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  return [clampByte(16 + 219 * y), clampByte(128 + (224 * (b / 255 - y)) / 1.8556), clampByte(128 + (224 * (r / 255 - y)) / 1.5748)];
}

function clampByte(x: number): number {
  return Math.min(255, Math.max(0, Math.round(x)));
}

/** Size in bytes of an I420 frame. */
export function i420Size(width: number, height: number): number {
  if (width % 2 !== 0 || height % 2 !== 0) throw new RangeError(`I420 needs even dimensions, got ${width}x${height}`);
  return width * height * 1.5;
}

/**
 * Reference RGBA → I420 on the CPU (chroma = average of each 2x2 block); used
 * to check the GPU path and by tests. BT.601 unless another conversion is given.
 */
export function rgbaToI420(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number, toYuv = rgbToYuv601): Uint8Array {
  const out = new Uint8Array(i420Size(width, height));
  const uOffset = width * height;
  const vOffset = uOffset + (width / 2) * (height / 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      out[y * width + x] = toYuv(rgba[i]!, rgba[i + 1]!, rgba[i + 2]!)[0];
    }
  }
  for (let cy = 0; cy < height / 2; cy++) {
    for (let cx = 0; cx < width / 2; cx++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
        const i = ((cy * 2 + dy) * width + cx * 2 + dx) * 4;
        r += rgba[i]!;
        g += rgba[i + 1]!;
        b += rgba[i + 2]!;
      }
      const [, u, v] = toYuv(r / 4, g / 4, b / 4);
      out[uOffset + cy * (width / 2) + cx] = u;
      out[vOffset + cy * (width / 2) + cx] = v;
    }
  }
  return out;
}
