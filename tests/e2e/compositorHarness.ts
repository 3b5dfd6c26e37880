/** Runs inside the page (bundled by compositor.spec.ts): drives the real Compositor. */
import { rgbaToI420, rgbToYuv709 } from '../../src/shared/color';
import { Compositor } from '../../src/renderer/src/media/Compositor';
import { createProgram } from '../../src/renderer/src/media/gl';
import { I420Compositor } from '../../src/renderer/src/media/I420Compositor';
import { framePicture, PROGRAM_COLOR_SPACE } from '../../src/renderer/src/media/framePicture';
import { gridLayout } from '../../src/shared/layout';

function pattern(width: number, height: number): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#ff0000';
  ctx.fillRect(0, 0, width / 2, height / 2);
  ctx.fillStyle = '#00ff00';
  ctx.fillRect(width / 2, 0, width / 2, height / 2);
  ctx.fillStyle = '#0000ff';
  ctx.fillRect(0, height / 2, width / 2, height / 2);
  const gradient = ctx.createLinearGradient(width / 2, 0, width, 0);
  gradient.addColorStop(0, '#000000');
  gradient.addColorStop(1, '#ffffff');
  ctx.fillStyle = gradient;
  ctx.fillRect(width / 2, height / 2, width / 2, height / 2);
  return canvas;
}

/** Starts a readback of the last composite and waits (bounded) for its I420 frame. */
async function readBack(compositor: Compositor): Promise<Uint8Array> {
  compositor.beginReadback(0);
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 10));
    const frames = compositor.collect((n) => new Uint8Array(n));
    if (frames.length > 0) return frames[0]!.frame;
  }
  throw new Error('the readback did not finish within 2 s');
}

export async function compareI420(width: number, height: number) {
  const source = pattern(width, height);
  const reference = rgbaToI420(source.getContext('2d')!.getImageData(0, 0, width, height).data, width, height);
  const canvas = document.createElement('canvas');
  const compositor = new Compositor(canvas, width, height);
  compositor.setSource({ id: 'pattern', element: source });
  compositor.setScene([{ sourceId: 'pattern', rect: { x: 0, y: 0, width, height }, crop: { x: 0, y: 0, width: 1, height: 1 }, z: 0, visible: true }]);
  compositor.render();
  const out = await readBack(compositor);
  compositor.dispose();
  let maxDiff = 0;
  let over2 = 0;
  for (let i = 0; i < out.length; i++) {
    const d = Math.abs(out[i]! - reference[i]!);
    if (d > maxDiff) maxDiff = d;
    if (d > 2) over2++;
  }
  return { bytes: out.length, maxDiff, over2, ySample: [out[10 * width + 10]!] };
}

/**
 * The worker path: VideoFrames pushed into a Compositor on an OffscreenCanvas.
 * Checks the picture, that only the newest frame is kept (older ones are
 * closed), and that nothing is recomposed when nothing changed.
 */
export async function videoFrames(width: number, height: number) {
  const source = pattern(width, height);
  const reference = rgbaToI420(source.getContext('2d')!.getImageData(0, 0, width, height).data, width, height);
  const compositor = new Compositor(new OffscreenCanvas(width, height), width, height);
  compositor.setSource({ id: 'cam' });
  const stale = new VideoFrame(source, { timestamp: 0 });
  const fresh = new VideoFrame(source, { timestamp: 33_000 });
  compositor.pushFrame('cam', stale);
  compositor.pushFrame('cam', fresh);
  const staleClosed = stale.format === null;
  compositor.setScene([{ sourceId: 'cam', rect: { x: 0, y: 0, width, height }, crop: { x: 0, y: 0, width: 1, height: 1 }, z: 0, visible: true }]);
  const size = compositor.sourceSize('cam');
  const changedBefore = compositor.hasChanges;
  compositor.compose();
  const uploadedClosed = fresh.format === null;
  const changedAfter = compositor.hasChanges;
  const out = await readBack(compositor);
  // A frame for a source that is gone is closed at once.
  compositor.removeSource('cam');
  const orphan = new VideoFrame(source, { timestamp: 66_000 });
  compositor.pushFrame('cam', orphan);
  const orphanClosed = orphan.format === null;
  compositor.dispose();
  let maxDiff = 0;
  for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i]! - reference[i]!));
  return { maxDiff, size, staleClosed, uploadedClosed, changedBefore, changedAfter, orphanClosed };
}

export async function errors(): Promise<string[]> {
  const messages: string[] = [];
  try {
    new Compositor(document.createElement('canvas'), 1278, 720);
  } catch (err) {
    messages.push((err as Error).message);
  }
  const gl = document.createElement('canvas').getContext('webgl2')!;
  try {
    createProgram(gl, '#version 300 es\nvoid main() { gl_Position = vec4(0.0); }', '#version 300 es\nthis is not glsl', 'broken');
  } catch (err) {
    messages.push((err as Error).message);
  }
  const compositor = new Compositor(document.createElement('canvas'), 640, 360);
  compositor.dispose();
  compositor.dispose();
  messages.push('disposed twice without error');
  return messages;
}

/**
 * The CPU path: VideoFrames of each layout a browser hands out (I420, NV12,
 * packed RGB) read into I420 pictures, and the I420Compositor's program
 * against the WebGL2 compositor's for the same scene.
 */
export async function cpuPath(width: number, height: number) {
  const source = pattern(width, height);
  const rgba = source.getContext('2d')!.getImageData(0, 0, width, height).data;
  const reference = rgbaToI420(rgba, width, height);
  const diff = (a: Uint8Array, b: Uint8Array, n: number) => {
    let max = 0;
    for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
    return max;
  };
  const n = reference.length;
  const meanDiff = (a: Uint8Array, b: Uint8Array, count: number) => {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += Math.abs(a[i]! - b[i]!);
    return sum / count;
  };
  const results: Record<string, number | string> = {};

  // Frames made from bytes say BT.709 unless told: these bytes are BT.601, as a camera's are.
  const i420 = new VideoFrame(reference, { format: 'I420', codedWidth: width, codedHeight: height, timestamp: 0, colorSpace: PROGRAM_COLOR_SPACE });
  const fromI420 = await framePicture(i420, {});
  results.i420Format = i420.format!;
  results.i420 = diff(fromI420.data, reference, n);
  i420.close();

  const nv12 = new Uint8Array(width * height * 1.5);
  nv12.set(reference.subarray(0, width * height));
  const q = (width / 2) * (height / 2);
  for (let i = 0; i < q; i++) {
    nv12[width * height + 2 * i] = reference[width * height + i]!;
    nv12[width * height + 2 * i + 1] = reference[width * height + q + i]!;
  }
  const nv12Frame = new VideoFrame(nv12, { format: 'NV12', codedWidth: width, codedHeight: height, timestamp: 0, colorSpace: PROGRAM_COLOR_SPACE });
  results.nv12 = diff((await framePicture(nv12Frame, {})).data, reference, n);
  nv12Frame.close();

  // The same picture in BT.709 (as many HD webcams send): put back into BT.601 within a step or two.
  const as709 = rgbaToI420(rgba, width, height, rgbToYuv709);
  const bt709Frame = new VideoFrame(as709, { format: 'I420', codedWidth: width, codedHeight: height, timestamp: 0, colorSpace: { matrix: 'bt709', primaries: 'bt709', transfer: 'bt709', fullRange: false } });
  results.bt709 = meanDiff((await framePicture(bt709Frame, {})).data, reference, n);
  results.bt709Before = meanDiff(as709, reference, n);
  bt709Frame.close();

  const rgbaFrame = new VideoFrame(rgba, { format: 'RGBA', codedWidth: width, codedHeight: height, timestamp: 0 });
  results.rgba = diff((await framePicture(rgbaFrame, {})).data, reference, n);
  rgbaFrame.close();

  // A canvas frame: whatever layout the browser picks (or none), the same picture.
  const canvasFrame = new VideoFrame(source, { timestamp: 0 });
  results.canvasFormat = String(canvasFrame.format);
  results.canvas = diff((await framePicture(canvasFrame, {})).data, reference, n);
  canvasFrame.close();

  // Four tiles of the same source: CPU compositor against WebGL2.
  const cpu = new I420Compositor(width, height);
  const gpu = new Compositor(new OffscreenCanvas(width, height), width, height);
  const ids = ['a', 'b', 'c', 'd'];
  const scene = gridLayout(ids.map((id) => ({ id, width, height })), width, height);
  for (const id of ids) {
    cpu.setSource(id);
    cpu.setPicture(id, fromI420);
    gpu.setSource({ id });
    gpu.pushFrame(id, new VideoFrame(source, { timestamp: 0 }));
  }
  cpu.setScene(scene);
  gpu.setScene(scene);
  const cpuOut = cpu.compose().data;
  gpu.compose();
  const gpuOut = await readBack(gpu);
  gpu.dispose();
  let over8 = 0;
  for (let i = 0; i < n; i++) if (Math.abs(cpuOut[i]! - gpuOut[i]!) > 8) over8++;
  results.cpuVsGpuOver8 = over8 / n;
  // The centre of the top-left tile's red quadrant, in both.
  const at = (width / 8) | 0;
  results.cpuRedY = cpuOut[(height / 8) * width + at]!;
  results.gpuRedY = gpuOut[(height / 8) * width + at]!;
  return results;
}

