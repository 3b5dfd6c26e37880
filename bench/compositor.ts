/**
 * Benchmark 1: compositor ms/frame for 1, 4 and 10 sources at 720p and 1080p,
 * WebGL2 (upload → composite → GPU I420 → readback) against Canvas2D doing the
 * same layout and conversion on the CPU, and against the CPU I420 compositor
 * (I420 camera frames scaled straight into the program), side by side in one
 * Chromium.
 *
 *   npx tsx bench/compositor.ts [--frames N] [--smoke]
 *
 * Prints one JSON line per case and a table.
 */
import { launchChromium } from '../tests/support/chromium';
import { bundleHarness } from '../tests/support/bundle';

const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const framesArg = args.indexOf('--frames');
const frames = framesArg >= 0 ? Number(args[framesArg + 1]) : smoke ? 5 : 60;
const sizes = smoke ? [[1280, 720]] : [[1280, 720], [1920, 1080]];
const counts = smoke ? [1, 4] : [1, 4, 10];

const code = await bundleHarness('bench/compositorHarness.ts', 'CompositorBench');
const browser = await launchChromium();
const page = await browser.newPage();
await page.setContent('<!doctype html><body></body>');
await page.addScriptTag({ content: code });
const renderer = await page.evaluate(() => {
  const gl = document.createElement('canvas').getContext('webgl2');
  const info = gl?.getExtension('WEBGL_debug_renderer_info');
  return info && gl ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : 'unknown';
});
console.log(JSON.stringify({ bench: 'compositor', renderer, frames }));

const rows: string[] = [];
for (const [width, height] of sizes) {
  for (const count of counts) {
    const result = await page.evaluate(
      async ([c, w, h, n]) => {
        const b = (window as unknown as { CompositorBench: Record<string, (...a: number[]) => Promise<{ msPerFrame: number }>> }).CompositorBench;
        const gl = await b.webgl!(c!, w!, h!, n!);
        const c2d = await b.canvas2d!(c!, w!, h!, n!);
        const cpu = await b.cpuI420!(c!, w!, h!, n!);
        return { webgl: gl.msPerFrame, canvas2d: c2d.msPerFrame, cpuI420: cpu.msPerFrame };
      },
      [count, width!, height!, frames],
    );
    const ratio = result.canvas2d / result.webgl;
    const line = { bench: 'compositor', sources: count, width, height, webglMs: +result.webgl.toFixed(2), canvas2dMs: +result.canvas2d.toFixed(2), cpuI420Ms: +result.cpuI420.toFixed(2), canvas2dOverWebgl: +ratio.toFixed(2), cpuI420OverWebgl: +(result.cpuI420 / result.webgl).toFixed(2) };
    console.log(JSON.stringify(line));
    rows.push(`${String(count).padStart(3)} sources ${width}x${height}: WebGL2 ${result.webgl.toFixed(1).padStart(6)} ms  Canvas2D ${result.canvas2d.toFixed(1).padStart(6)} ms (ratio ${ratio.toFixed(2)})  CPU I420 ${result.cpuI420.toFixed(1).padStart(6)} ms (ratio ${(result.cpuI420 / result.webgl).toFixed(2)})`);
  }
}
await browser.close();
console.log(`\nCompositor ms/frame (${renderer}, ${frames} frames each):\n${rows.join('\n')}`);
