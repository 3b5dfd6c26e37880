/**
 * What the viewer page does when HLS playback fails: a live stream's
 * playlist or segments can be missing for a while (the ingest reconnecting,
 * the first segments not cut yet), and a decoder can stumble on one bad
 * segment. Those are retried; what keeps failing is said in words, with a
 * way to try again by hand.
 */
import type { StreamStatus } from '../../../shared/domain';

export type PlaybackFailure = 'network' | 'media' | 'other';

export type RecoveryStep =
  | { action: 'reload'; delayMs: number; note: string }
  | { action: 'recover-media'; note: string }
  | { action: 'give-up'; message: string };

/** Network retries wait this long, doubling, up to NETWORK_RETRY_MAX_MS. */
export const NETWORK_RETRY_FIRST_MS = 2_000;
export const NETWORK_RETRY_MAX_MS = 15_000;
/** Decoder recoveries allowed within MEDIA_WINDOW_MS before playback gives up. */
export const MEDIA_RECOVERIES = 2;
export const MEDIA_WINDOW_MS = 60_000;

export interface RecoveryState {
  /** Network failures in a row since playback last moved on. */
  networkFailures: number;
  /** When recent decoder recoveries were tried (ms). */
  mediaRecoveries: number[];
}

export const freshRecovery = (): RecoveryState => ({ networkFailures: 0, mediaRecoveries: [] });

/**
 * The next step after a fatal playback error of this kind, and the state
 * after it. A network failure is retried for as long as the stream is live
 * (it ends the page's playback only when the stream row says it ended); a
 * decoder failure is recovered twice a minute at most.
 */
export function nextRecovery(kind: PlaybackFailure, state: RecoveryState, nowMs: number, details: string): { step: RecoveryStep; state: RecoveryState } {
  if (kind === 'network') {
    const networkFailures = state.networkFailures + 1;
    const delayMs = Math.min(NETWORK_RETRY_FIRST_MS * 2 ** (networkFailures - 1), NETWORK_RETRY_MAX_MS);
    return {
      step: { action: 'reload', delayMs, note: `The stream is not reaching this page (${details}); trying again in ${Math.round(delayMs / 1000)} s…` },
      state: { ...state, networkFailures },
    };
  }
  if (kind === 'media') {
    const recent = state.mediaRecoveries.filter((t) => nowMs - t < MEDIA_WINDOW_MS);
    if (recent.length < MEDIA_RECOVERIES) {
      return { step: { action: 'recover-media', note: `The player stumbled (${details}) and is recovering…` }, state: { ...state, mediaRecoveries: [...recent, nowMs] } };
    }
    return {
      step: { action: 'give-up', message: `The player could not decode the stream (${details}), again after ${MEDIA_RECOVERIES} recoveries.` },
      state: { ...state, mediaRecoveries: recent },
    };
  }
  return { step: { action: 'give-up', message: `Playback failed (${details}).` }, state };
}

/** What the page says about a stream that is not playing (null while it is live). */
export function statusMessage(status: StreamStatus): string | null {
  switch (status) {
    case 'live':
      return null;
    case 'ended':
      return 'This stream has ended.';
    default:
      return 'This stream has not started yet. It will play here as soon as it goes live.';
  }
}
