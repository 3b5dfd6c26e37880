/** Runs inside Chromium (bundled by bench/compositor.ts): WebGL2 compositor, the CPU I420 compositor and Canvas2D doing the same layout. */
import { gridLayout, type SceneItem } from '../src/shared/layout';
import { rgbaToI420 } from '../src/shared/color';
import { Compositor } from '../src/renderer/src/media/Compositor';
import { I420Compositor } from '../src/renderer/src/media/I420Compositor';
import { framePicture, PROGRAM_COLOR_SPACE, type FrameScratch } from '../src/renderer/src/media/framePicture';

function makeSources(count: number): HTMLCanvasElement[] {
  return Array.from({ length: count }, () => {
    const c = document.createElement('canvas');
    c.width = 640;
    c.height = 360;
    return c;
  });
}

/** Changes every source each frame, as live cameras do. */
function paint(sources: HTMLCanvasElement[], frame: number): void {
  sources.forEach((c, i) => {
    const ctx = c.getContext('2d')!;
    ctx.fillStyle = `hsl(${(i * 37 + frame * 3) % 360} 70% 45%)`;
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.fillStyle = '#fff';
    ctx.fillRect((frame * 8) % c.width, 0, 16, c.height);
  });
}

function layout(sources: HTMLCanvasElement[], width: number, height: number): SceneItem[] {
  return gridLayout(sources.map((c, i) => ({ id: `s${i}`, width: c.width, height: c.height })), width, height);
}

export interface BenchResult {
  msPerFrame: number;
  frames: number;
}

/** WebGL2: upload, composite, GPU I420, readback — waiting for each frame's readback. */
export async function webgl(count: number, width: number, height: number, frames: number): Promise<BenchResult> {
  const sources = makeSources(count);
  const compositor = new Compositor(document.createElement('canvas'), width, height);
  sources.forEach((element, i) => compositor.setSource({ id: `s${i}`, element }));
  compositor.setScene(layout(sources, width, height));
  const run = async (n: number) => {
    for (let f = 0; f < n; f++) {
      paint(sources, f);
      sources.forEach((_, i) => compositor.markDirty(`s${i}`));
      compositor.render();
      compositor.beginReadback(f);
      let got = 0;
      while (got === 0) {
        got = compositor.collect((b) => new Uint8Array(b)).length;
        if (got === 0) await new Promise((r) => setTimeout(r, 0));
      }
    }
  };
  await run(5);
  const paintOnly = timePaint(sources, frames);
  const start = performance.now();
  await run(frames);
  const total = performance.now() - start;
  compositor.dispose();
  return { msPerFrame: (total - paintOnly) / frames, frames };
}

/**
 * CPU I420: each source delivers an I420 VideoFrame (as a decoded camera
 * does), read with copyTo, scaled into its tile; the program is copied out
 * for the encoder. No GL.
 */
export async function cpuI420(count: number, width: number, height: number, frames: number): Promise<BenchResult> {
  const sources = makeSources(count);
  // Camera-like input: a few I420 pictures per source, cycled (so every frame differs).
  const variants = 4;
  const pictures = sources.map((c) =>
    Array.from({ length: variants }, (_, v) => {
      paint([c], v * 7);
      return rgbaToI420(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data, c.width, c.height);
    }),
  );
  const compositor = new I420Compositor(width, height);
  const scratch: FrameScratch[] = sources.map(() => ({}));
  sources.forEach((_, i) => compositor.setSource(`s${i}`));
  compositor.setScene(layout(sources, width, height));
  const run = async (n: number) => {
    for (let f = 0; f < n; f++) {
      for (let i = 0; i < sources.length; i++) {
        // BT.601, as a camera's frames say (made from bytes, a frame says BT.709 unless told).
        const frame = new VideoFrame(pictures[i]![f % variants]!, { format: 'I420', codedWidth: 640, codedHeight: 360, timestamp: f, colorSpace: PROGRAM_COLOR_SPACE });
        compositor.setPicture(`s${i}`, await framePicture(frame, scratch[i]!));
        frame.close();
      }
      compositor.compose().data.slice();
    }
  };
  await run(5);
  const start = performance.now();
  await run(frames);
  return { msPerFrame: (performance.now() - start) / frames, frames };
}

/** Canvas2D: drawImage per tile with the same crops, getImageData, I420 on the CPU. */
export async function canvas2d(count: number, width: number, height: number, frames: number): Promise<BenchResult> {
  const sources = makeSources(count);
  const out = document.createElement('canvas');
  out.width = width;
  out.height = height;
  const ctx = out.getContext('2d', { willReadFrequently: true })!;
  const items = layout(sources, width, height);
  const run = (n: number) => {
    for (let f = 0; f < n; f++) {
      paint(sources, f);
      ctx.fillStyle = '#121217';
      ctx.fillRect(0, 0, width, height);
      items.forEach((item, i) => {
        const s = sources[i]!;
        ctx.drawImage(
          s,
          item.crop.x * s.width,
          item.crop.y * s.height,
          item.crop.width * s.width,
          item.crop.height * s.height,
          item.rect.x,
          item.rect.y,
          item.rect.width,
          item.rect.height,
        );
      });
      rgbaToI420(ctx.getImageData(0, 0, width, height).data, width, height);
    }
  };
  run(3);
  const paintOnly = timePaint(sources, frames);
  const start = performance.now();
  run(frames);
  const total = performance.now() - start;
  return { msPerFrame: (total - paintOnly) / frames, frames };
}

function timePaint(sources: HTMLCanvasElement[], frames: number): number {
  const start = performance.now();
  for (let f = 0; f < frames; f++) paint(sources, f);
  return performance.now() - start;
}
