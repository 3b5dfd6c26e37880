/**
 * What each page costs to open: the JavaScript it downloads and the time from
 * navigation until it shows its first screen (the sign-in form of the guest
 * page and the studio, the viewer page's message), on a CPU slowed down as a
 * phone's is (CDP `Emulation.setCPUThrottlingRate`), each round in a fresh
 * browser context (nothing cached). Guests open their page on phones and on
 * busy machines: a page that needs less code is on screen sooner.
 *
 *   npx tsx bench/pageLoad.ts [--rounds 5] [--throttle 4,12] [--smoke]
 */
import { startApp } from '../tests/support/app';
import { launchChromium } from '../tests/support/chromium';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const smoke = args.includes('--smoke');
const rounds = opt('rounds', smoke ? 1 : 5);
const throttleArg = args.includes('--throttle') ? args[args.indexOf('--throttle') + 1] ?? '' : smoke ? '4' : '4,12';
const throttles = throttleArg.split(',').map(Number);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error(`--rounds must be 1 to 50, got ${rounds}`);
if (throttles.some((t) => !(t >= 1 && t <= 20))) throw new Error(`--throttle takes rates in [1, 20] separated by commas, got "${throttleArg}"`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

const app = await startApp();
const browser = await launchChromium();
const summary: string[] = [];
try {
  const base = app.studioUrl.replace(/#.*$/, '');
  const pages = [
    { name: 'guest', url: `${base}#/guest`, shown: '[data-testid="sign-in"]' },
    { name: 'studio', url: `${base}#/studio`, shown: '[data-testid="sign-in"]' },
    // Without a stream id the viewer page shows its frame and says what is missing: its first screen.
    { name: 'watch', url: `${base}#/watch`, shown: '[data-testid="watch"]' },
  ];
  for (const throttle of throttles) {
    for (const p of pages) {
      const times: number[] = [];
      let jsBytes = 0;
      let jsFiles = 0;
      for (let round = 0; round < rounds; round++) {
        const context = await browser.newContext();
        const page = await context.newPage();
        const cdp = await context.newCDPSession(page);
        await cdp.send('Network.enable');
        await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
        let bytes = 0;
        let files = 0;
        const scripts = new Set<string>();
        cdp.on('Network.responseReceived', (e: { requestId: string; type: string }) => {
          if (e.type === 'Script') scripts.add(e.requestId);
        });
        cdp.on('Network.loadingFinished', (e: { requestId: string; encodedDataLength: number }) => {
          if (!scripts.has(e.requestId)) return;
          bytes += e.encodedDataLength;
          files += 1;
        });
        const started = performance.now();
        await page.goto(p.url);
        await page.waitForSelector(p.shown, { timeout: 120_000 });
        times.push(performance.now() - started);
        jsBytes = bytes;
        jsFiles = files;
        await context.close();
      }
      const line = { bench: 'page-load', page: p.name, rounds, cpuThrottle: throttle, jsFiles, jsKb: Math.round(jsBytes / 1024), medianMs: Math.round(median(times)), minMs: Math.round(Math.min(...times)), maxMs: Math.round(Math.max(...times)) };
      console.log(JSON.stringify(line));
      summary.push(`${p.name} page: ${line.jsKb} kB of JavaScript in ${jsFiles} files; first screen after ${line.medianMs} ms median (${line.minMs}–${line.maxMs}) at ${throttle}x slower CPU`);
    }
  }
} finally {
  await browser.close();
  await app.stop();
}
console.log(`\n${summary.join('\n')}`);
