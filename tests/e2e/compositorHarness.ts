/** Runs inside the page (bundled by compositor.spec.ts): drives the real Compositor. */
import { rgbaToI420 } from '../../src/shared/color';
import { Compositor } from '../../src/renderer/src/media/Compositor';
import { createProgram } from '../../src/renderer/src/media/gl';

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

export async function compareI420(width: number, height: number) {
  const source = pattern(width, height);
  const reference = rgbaToI420(source.getContext('2d')!.getImageData(0, 0, width, height).data, width, height);
  const canvas = document.createElement('canvas');
  const compositor = new Compositor(canvas, width, height);
  compositor.setSource({ id: 'pattern', element: source });
  compositor.setScene([{ sourceId: 'pattern', rect: { x: 0, y: 0, width, height }, crop: { x: 0, y: 0, width: 1, height: 1 }, z: 0, visible: true }]);
  compositor.render();
  compositor.beginReadback(0);
  let frames: Array<{ frame: Uint8Array }> = [];
  for (let i = 0; i < 200 && frames.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
    frames = compositor.collect((n) => new Uint8Array(n));
  }
  compositor.dispose();
  const out = frames[0]!.frame;
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
  compositor.beginReadback(0);
  let frames: Array<{ frame: Uint8Array }> = [];
  for (let i = 0; i < 200 && frames.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
    frames = compositor.collect((n) => new Uint8Array(n));
  }
  // A frame for a source that is gone is closed at once.
  compositor.removeSource('cam');
  const orphan = new VideoFrame(source, { timestamp: 66_000 });
  compositor.pushFrame('cam', orphan);
  const orphanClosed = orphan.format === null;
  compositor.dispose();
  const out = frames[0]!.frame;
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
