/**
 * A guest page light enough for nine on two cores: its camera is a small
 * canvas of one colour at 5 frames a second, handed out by getUserMedia (an
 * init script of the context; the app's path from getUserMedia on is the
 * same), and its microphone comes without echo cancellation, noise
 * suppression and gain control. Chromium gives one browser one fake camera,
 * so this also gives each guest of a shared browser a camera of its own. The
 * microphone processing runs in the one audio service the guests' pages
 * share, and took a fifth of a core here for nine — on a guest's own phone it
 * is that phone's work, not the host's.
 */
import type { Browser, Page } from 'playwright-core';

export type Rgb = [number, number, number];

/** Nine guest colours, far enough apart to tell each guest's tile from the others (and from the host's red) in a decoded frame. */
export const GUEST_COLOURS: readonly Rgb[] = [
  [32, 176, 64],
  [32, 80, 224],
  [224, 192, 32],
  [224, 32, 192],
  [32, 208, 208],
  [240, 240, 240],
  [128, 128, 128],
  [96, 32, 128],
  [144, 240, 96],
];

export async function lightGuestPage(browser: Browser, rgb: Rgb, viewport = { width: 400, height: 600 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  await context.addInitScript((colour: number[]) => {
    const devices = navigator.mediaDevices;
    const original = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (constraints?: MediaStreamConstraints) => {
      const raw = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
      const audio = constraints?.audio ? { ...(typeof constraints.audio === 'object' ? constraints.audio : {}), ...raw } : constraints?.audio;
      const stream = await original({ ...constraints, audio });
      if (!constraints?.video) return stream;
      const canvas = document.createElement('canvas');
      canvas.width = 160;
      canvas.height = 90;
      const ctx = canvas.getContext('2d')!;
      const paint = () => {
        ctx.fillStyle = `rgb(${colour.join(',')})`;
        ctx.fillRect(0, 0, 160, 90);
      };
      paint();
      // A still colour needs few frames: five a second keep nine uplinks (and the host's nine decoders) light on two cores.
      setInterval(paint, 200);
      const track = canvas.captureStream(5).getVideoTracks()[0]!;
      for (const t of stream.getVideoTracks()) {
        stream.removeTrack(t);
        t.stop();
      }
      stream.addTrack(track);
      return stream;
    };
  }, rgb);
  return context.newPage();
}
