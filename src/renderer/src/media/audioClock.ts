/**
 * The program mix's chunks carry the audio clock (the output device's crystal)
 * turned into the page's clock by an offset. The two clocks drift apart by
 * tens of parts per million, and the audio clock slips after a render glitch,
 * so the offset measured at go-live goes stale over a long show; the native
 * side places video by what it learns from audio, so lip-sync would slide
 * with it. The offset is measured again every few seconds and followed by at
 * most MAX_STEP_MS each time: fast enough for any crystal (100 ppm is 0.2 ms
 * in 2 s) and for a glitch within seconds, slow enough that consecutive
 * chunks never jump by more than the native side's audio timeline absorbs.
 */
export const REMEASURE_MS = 2000;
export const MAX_STEP_MS = 2;

/** The offset to use next, given the one in use and a fresh measurement (a measurement that is not a number changes nothing). */
export function followOffset(currentMs: number, measuredMs: number, maxStepMs = MAX_STEP_MS): number {
  if (!Number.isFinite(measuredMs)) return currentMs;
  const step = Math.max(-maxStepMs, Math.min(maxStepMs, measuredMs - currentMs));
  return currentMs + step;
}

/**
 * Page clock minus audio clock (ms) for the context now: getOutputTimestamp()
 * says when a sample reaches the output; it is rendered (and its input
 * captured) earlier by the context's buffering, so that much is taken off.
 * Before the device has called back (no performanceTime yet), currentTime is
 * the block being rendered now: now minus it is the offset already, with no
 * buffering to take off.
 */
export function measureOffsetMs(context: AudioContext): number {
  const ts = context.getOutputTimestamp();
  if (!ts.performanceTime) return performance.now() - context.currentTime * 1000;
  const aheadMs = ((context.baseLatency || 0) + (context.outputLatency || 0)) * 1000;
  return ts.performanceTime - (ts.contextTime ?? 0) * 1000 - aheadMs;
}
