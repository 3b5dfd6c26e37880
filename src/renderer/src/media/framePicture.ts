/**
 * A VideoFrame's pixels as an I420 picture for the CPU compositor. Decoded
 * camera and WebRTC frames are I420 (or NV12) in memory: their planes are
 * copied as they are, then put in the program's BT.601 limited range where the
 * frame says it is BT.709 or full range (toProgramColors). Packed RGB frames (screen capture, canvases) are
 * converted; anything else (GPU-backed frames) is drawn on a small 2D canvas
 * first. Buffers are reused between frames of one source.
 */
import { nv12ToPicture, packedPicture, rgbToPicture, toProgramColors, type I420Picture, type Plane } from './i420';

/** A reusable staging buffer per source (copyTo's destination). */
export interface FrameScratch {
  staging?: Uint8Array;
  picture?: I420Picture;
  canvas?: OffscreenCanvas;
}

function staging(scratch: FrameScratch, bytes: number): Uint8Array {
  if (!scratch.staging || scratch.staging.length < bytes) scratch.staging = new Uint8Array(bytes);
  return scratch.staging;
}

function picture(scratch: FrameScratch, width: number, height: number): I420Picture {
  const p = scratch.picture;
  if (p && p.width === width && p.height === height) return p;
  scratch.picture = packedPicture(width, height);
  return scratch.picture;
}

const toPlane = (layout: PlaneLayout): Plane => ({ offset: layout.offset, stride: layout.stride });

/**
 * Copies the frame's visible pixels into an I420 picture (the frame stays
 * open: the caller closes it). The picture is `scratch.picture`, reused.
 */
export async function framePicture(frame: VideoFrame, scratch: FrameScratch): Promise<I420Picture> {
  const { width, height } = frame.visibleRect ?? { width: frame.codedWidth, height: frame.codedHeight };
  switch (frame.format) {
    case 'I420':
    case 'I420A': {
      // The planes land packed in the order Y, U, V (A after, ignored): that is an I420 picture already.
      const buffer = staging(scratch, frame.allocationSize());
      const layout = await frame.copyTo(buffer);
      const copied: I420Picture = { width, height, data: buffer, planes: [toPlane(layout[0]!), toPlane(layout[1]!), toPlane(layout[2]!)] };
      // The copy is this source's own buffer: a camera in BT.709 or full range is put in the program's colours there.
      toProgramColors(copied, frame.colorSpace ?? {});
      return copied;
    }
    case 'NV12': {
      const buffer = staging(scratch, frame.allocationSize());
      const layout = await frame.copyTo(buffer);
      const converted = nv12ToPicture(buffer, width, height, toPlane(layout[0]!), toPlane(layout[1]!), picture(scratch, width, height));
      toProgramColors(converted, frame.colorSpace ?? {});
      return converted;
    }
    case 'RGBA':
    case 'RGBX':
    case 'BGRA':
    case 'BGRX': {
      const buffer = staging(scratch, frame.allocationSize());
      const layout = await frame.copyTo(buffer);
      const order = frame.format.startsWith('RGB') ? 'rgba' : 'bgra';
      return rgbToPicture(buffer.subarray(layout[0]!.offset), width, height, layout[0]!.stride, order, picture(scratch, width, height));
    }
    default: {
      // No CPU-readable layout (e.g. a frame on the GPU): let a 2D canvas read it.
      if (!scratch.canvas || scratch.canvas.width !== width || scratch.canvas.height !== height) scratch.canvas = new OffscreenCanvas(width, height);
      const ctx = scratch.canvas.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D | null;
      if (!ctx) throw new Error('framePicture: no 2D context to read the frame');
      ctx.drawImage(frame, 0, 0, width, height);
      const rgba = ctx.getImageData(0, 0, width, height).data;
      return rgbToPicture(rgba, width, height, width * 4, 'rgba', picture(scratch, width, height));
    }
  }
}

/** A still picture (an avatar tile) as I420. */
export function bitmapPicture(bitmap: ImageBitmap): I420Picture {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new Error('bitmapPicture: no 2D context to read the picture');
  ctx.drawImage(bitmap, 0, 0);
  const width = bitmap.width - (bitmap.width % 2);
  const height = bitmap.height - (bitmap.height % 2);
  return rgbToPicture(ctx.getImageData(0, 0, width, height).data, width, height);
}

/** BT.601 limited range: how the compositor's I420 is meant to be read (and what the encoder assumes). */
export const PROGRAM_COLOR_SPACE: VideoColorSpaceInit = { matrix: 'smpte170m', primaries: 'smpte170m', transfer: 'smpte170m', fullRange: false };
