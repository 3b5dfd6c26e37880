/** Debian's Chromium under Playwright, with fake devices (see docs/architecture.md). */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumFlags(fakeVideo?: string, fakeAudio?: string): string[] {
  return [
    '--no-sandbox',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    ...(fakeVideo ? [`--use-file-for-fake-video-capture=${fakeVideo}`] : []),
    ...(fakeAudio ? [`--use-file-for-fake-audio-capture=${fakeAudio}`] : []),
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    '--autoplay-policy=no-user-gesture-required',
  ];
}

export async function launchChromium(fakeVideo?: string, fakeAudio?: string): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: chromiumFlags(fakeVideo, fakeAudio) });
}
