/**
 * Broadcast health as OBS reports it: frames lagged by rendering, frames
 * skipped by encoding lag, frames dropped by the network — each a share of
 * the output frames, warning at 1 % and error at 5 % — and render time per
 * frame against the frame budget (warning above 75 %). Audio the encoder had
 * to repair (silence for audio that came late or not at all, audio trimmed
 * because it came after its place) is a share of the output's duration, with
 * the same thresholds.
 */
import type { EncoderStats } from './bridge';

export type HealthLevel = 'ok' | 'warn' | 'error';

export interface HealthCounter {
  count: number;
  percent: number;
  level: HealthLevel;
}

export interface BroadcastHealth {
  laggedByRendering: HealthCounter;
  skippedByEncoding: HealthCounter;
  droppedByNetwork: HealthCounter;
  render: { ms: number; budgetMs: number; percentOfBudget: number; level: HealthLevel };
  /** Audio disturbed (the larger of the silence filled in and the late audio trimmed), in ms (count) and as a share of the output's duration. */
  audioRepaired: HealthCounter;
  level: HealthLevel;
}

export const WARN_PERCENT = 1;
export const ERROR_PERCENT = 5;
export const RENDER_WARN_SHARE = 0.75;

function counter(count: number, total: number): HealthCounter {
  const percent = total > 0 ? (count / total) * 100 : 0;
  return { count, percent, level: percent >= ERROR_PERCENT ? 'error' : percent >= WARN_PERCENT ? 'warn' : 'ok' };
}

const rank: Record<HealthLevel, number> = { ok: 0, warn: 1, error: 2 };

/**
 * Where the program's clock runs (the renderer): the output's slots since
 * going live and those it did not serve in time. A still picture served on
 * time is not lag, though the encoder repeats it.
 */
export interface RenderingSlots {
  slots: number;
  lagged: number;
  /**
   * Pictures the renderer's side skipped because what comes after it could not take them (its
   * H.264 encoder full, the bridge's socket backed up): frames skipped by encoding lag too,
   * though the native encoder never saw them.
   */
  skipped?: number;
}

/**
 * The health counters. Frames lagged by rendering come from `rendering` when
 * the program's clock counts them; without it, from the output's repeats
 * (which also count a picture that did not change).
 */
export function broadcastHealth(
  stats: Pick<EncoderStats, 'framesWritten' | 'framesRepeated' | 'framesDropped' | 'framesDroppedInFfmpeg' | 'framesDroppedNetwork' | 'audioFilledMs' | 'audioTrimmedMs'>,
  renderMs: number,
  fps: number,
  rendering?: RenderingSlots,
): BroadcastHealth {
  // Every output frame is either a new one or a repeat; drops never reach the output (those ffmpeg dropped
  // were written to it, and are taken out of the new ones here, else counted twice).
  const output = Math.max(0, stats.framesWritten - (stats.framesDroppedInFfmpeg ?? 0)) + stats.framesRepeated;
  const skippedBefore = rendering?.skipped ?? 0;
  const attempted = output + stats.framesDropped + stats.framesDroppedNetwork + skippedBefore;
  const budgetMs = 1000 / fps;
  const share = budgetMs > 0 ? renderMs / budgetMs : 0;
  const render = { ms: renderMs, budgetMs, percentOfBudget: share * 100, level: (share > RENDER_WARN_SHARE ? 'warn' : 'ok') as HealthLevel };
  const result = {
    laggedByRendering: rendering ? counter(rendering.lagged, rendering.slots) : counter(stats.framesRepeated, output),
    skippedByEncoding: counter(stats.framesDropped + skippedBefore, attempted),
    droppedByNetwork: counter(stats.framesDroppedNetwork, attempted),
    render,
    // Audio that came late is usually counted twice, as the silence written in its place and as the audio then trimmed:
    // the larger of the two is the time the program's sound was disturbed.
    audioRepaired: counter(Math.max(stats.audioFilledMs ?? 0, stats.audioTrimmedMs ?? 0), fps > 0 ? (output * 1000) / fps : 0),
  };
  const level = [result.laggedByRendering, result.skippedByEncoding, result.droppedByNetwork, render, result.audioRepaired].reduce<HealthLevel>(
    (worst, c) => (rank[c.level] > rank[worst] ? c.level : worst),
    'ok',
  );
  return { ...result, level };
}
