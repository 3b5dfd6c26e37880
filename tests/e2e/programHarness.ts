/**
 * Runs inside the page (bundled with its program worker by compositor.spec.ts):
 * drives the real Broadcaster and program worker with a bridge that stands in
 * for the native side and keeps what reaches it.
 */
import type { EncoderChoice, NativeBridge } from '../../src/shared/bridge';
import { decodeH264Unit } from '../../src/shared/bridge';
import { Broadcaster } from '../../src/renderer/src/media/Broadcaster';
import type { CompositorMode } from '../../src/renderer/src/media/programWorker';

interface SentFrame {
  channel: string;
  timestampMs: number;
  key: boolean;
}

/** A NativeBridge that chooses `video` for the program and records every video frame sent. */
function fakeBridge(video: 'i420' | 'h264', sent: SentFrame[]): NativeBridge {
  const choice: EncoderChoice = { encoder: video === 'h264' ? 'webcodecs' : 'libx264', video, note: 'test bridge' };
  return {
    invoke: (async (channel: string) => {
      if (channel === 'encoder:choose') return choice;
      if (channel === 'encoder:start') return { encoder: choice.encoder };
      return undefined;
    }) as NativeBridge['invoke'],
    send(channel, payload, timestampMs) {
      // Audio has its own clock and checks (the encoder session's tests); the program's video is looked at here.
      if (channel === 'encoder:audio') return;
      const key = channel === 'encoder:h264' ? decodeH264Unit(new Uint8Array(payload)).key : true;
      sent.push({ channel, timestampMs, key });
    },
    on: () => () => {},
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a Broadcaster of `width`x`height` in `mode` and asks for its program
 * track: the compositor it ended with, or the error it gave, and its log.
 */
export async function start(width: number, height: number, mode: CompositorMode) {
  const logs: string[] = [];
  const problems: string[] = [];
  const broadcaster = new Broadcaster(document.body, fakeBridge('i420', []), width, height, 30, (m) => logs.push(m), mode);
  broadcaster.onProblem = (m) => problems.push(m);
  try {
    const track = await broadcaster.captureProgram();
    track?.stop();
    return { compositor: broadcaster.compositor, error: null, logs, problems };
  } catch (err) {
    return { compositor: broadcaster.compositor, error: (err as Error).message, logs, problems };
  } finally {
    await broadcaster.dispose();
  }
}

/**
 * Goes live for `seconds` with the fake camera as the one participant and
 * returns what reached the bridge: the frames' times (which must increase),
 * keyframes, and the problems told.
 */
export async function live(mode: CompositorMode, video: 'i420' | 'h264', seconds: number) {
  const sent: SentFrame[] = [];
  const logs: string[] = [];
  const problems: string[] = [];
  const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
  const broadcaster = new Broadcaster(document.body, fakeBridge(video, sent), 640, 360, 30, (m) => logs.push(m), mode);
  broadcaster.onProblem = (m) => problems.push(m);
  broadcaster.setParticipants([{ id: 'host', label: 'Host', stream: camera }]);
  await broadcaster.goLive({ publishUrl: 'rtmp://127.0.0.1/live/test', width: 640, height: 360, fps: 30 }, () => {});
  await pause(seconds * 1000);
  await broadcaster.stop();
  const disposeStarted = performance.now();
  await broadcaster.dispose();
  const disposeMs = performance.now() - disposeStarted;
  for (const t of camera.getTracks()) t.stop();
  let notIncreasing = 0;
  for (let i = 1; i < sent.length; i++) if (sent[i]!.timestampMs <= sent[i - 1]!.timestampMs) notIncreasing += 1;
  return {
    compositor: broadcaster.compositor,
    frames: sent.length,
    channels: [...new Set(sent.map((f) => f.channel))],
    firstKey: sent[0]?.key ?? null,
    notIncreasing,
    repeated: broadcaster.framesRepeated,
    disposeMs,
    logs,
    problems,
  };
}

/**
 * Goes live with raw pictures while the program is still (the one
 * participant's camera off: their avatar tile, which never changes): how many
 * pictures reached the bridge in `seconds`. A session starts black until it
 * gets one, so the first must come at once, not when something changes.
 */
export async function liveStill(mode: CompositorMode, seconds: number) {
  const sent: SentFrame[] = [];
  const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
  const broadcaster = new Broadcaster(document.body, fakeBridge('i420', sent), 640, 360, 30, () => {}, mode);
  broadcaster.setParticipants([{ id: 'host', label: 'Host', stream: camera, cameraOn: false }]);
  // The avatar is drawn before the show, as in a studio where the host sat with the camera off.
  await pause(1000);
  const started = performance.now();
  await broadcaster.goLive({ publishUrl: 'rtmp://127.0.0.1/live/test', width: 640, height: 360, fps: 30 }, () => {});
  await pause(seconds * 1000);
  await broadcaster.stop();
  await broadcaster.dispose();
  for (const t of camera.getTracks()) t.stop();
  return { compositor: broadcaster.compositor, frames: sent.length, firstAfterMs: sent.length > 0 ? Math.round(sent[0]!.timestampMs - started) : null };
}

/**
 * Goes live with raw pictures through the page (no media port, as in
 * Electron) and blocks the page's thread for `blockMs` (a long render or
 * garbage collection): how many pictures made while it was blocked reached
 * the bridge afterwards, and how many the worker skipped instead.
 */
export async function liveBlocked(mode: CompositorMode, blockMs: number) {
  const sent: SentFrame[] = [];
  const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
  const broadcaster = new Broadcaster(document.body, fakeBridge('i420', sent), 640, 360, 30, () => {}, mode);
  broadcaster.setParticipants([{ id: 'host', label: 'Host', stream: camera }]);
  await broadcaster.goLive({ publishUrl: 'rtmp://127.0.0.1/live/test', width: 640, height: 360, fps: 30 }, () => {});
  await pause(1500);
  const skippedBefore = broadcaster.framesSkipped;
  const blockStart = performance.now();
  while (performance.now() - blockStart < blockMs) {
    // The page's thread is busy: nothing it is sent is handled meanwhile.
  }
  const blockEnd = performance.now();
  await pause(1500);
  const skipped = broadcaster.framesSkipped - skippedBefore;
  await broadcaster.stop();
  await broadcaster.dispose();
  for (const t of camera.getTracks()) t.stop();
  const madeWhileBlocked = sent.filter((f) => f.timestampMs >= blockStart && f.timestampMs < blockEnd).length;
  const after = sent.filter((f) => f.timestampMs >= blockEnd).length;
  return { compositor: broadcaster.compositor, madeWhileBlocked, skipped, after };
}

/**
 * Goes live twice with the same Broadcaster (End live, then Go live again, as
 * the studio does): the frames the second show sends, and how many of them
 * were made before it began (pictures of the first show left in flight).
 */
export async function liveTwice(mode: CompositorMode, video: 'i420' | 'h264', seconds: number) {
  const sent: SentFrame[] = [];
  const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
  const broadcaster = new Broadcaster(document.body, fakeBridge(video, sent), 640, 360, 30, () => {}, mode);
  broadcaster.setParticipants([{ id: 'host', label: 'Host', stream: camera }]);
  const options = { publishUrl: 'rtmp://127.0.0.1/live/test', width: 640, height: 360, fps: 30 };
  await broadcaster.goLive(options, () => {});
  await pause(seconds * 1000);
  await broadcaster.stop();
  await pause(500);
  const firstShow = sent.length;
  const secondStart = performance.now();
  await broadcaster.goLive(options, () => {});
  await pause(seconds * 1000);
  await broadcaster.stop();
  await broadcaster.dispose();
  for (const t of camera.getTracks()) t.stop();
  const second = sent.slice(firstShow);
  return { compositor: broadcaster.compositor, firstShow, secondShow: second.length, earlier: second.filter((f) => f.timestampMs < secondStart).length };
}

/**
 * Switches the participant's camera off and on every `everyMs` for `seconds`
 * (each switch ends one frame stream and starts another), keeps the program
 * running `settleMs` more, then disposes, collecting garbage where the page
 * may (--js-flags=--expose-gc). Returns the worker's count of the camera
 * frames it received and those it left unclosed (`auditFrames`).
 */
export async function switches(mode: CompositorMode, seconds: number, everyMs: number, settleMs: number) {
  const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
  const broadcaster = new Broadcaster(document.body, fakeBridge('i420', []), 640, 360, 30, () => {}, mode, { auditFrames: true });
  let cameraOn = true;
  let switched = 0;
  for (const end = performance.now() + seconds * 1000; performance.now() < end; switched++) {
    broadcaster.setParticipants([{ id: 'host', label: 'Host', stream: camera, cameraOn }]);
    cameraOn = !cameraOn;
    await pause(everyMs);
  }
  await pause(settleMs);
  await broadcaster.dispose();
  for (const t of camera.getTracks()) t.stop();
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  await pause(settleMs);
  return { switched, gc: typeof gc === 'function', frames: broadcaster.frameAudit };
}
