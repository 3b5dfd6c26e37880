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
export function nextRecovery(
  kind: PlaybackFailure,
  state: RecoveryState,
  nowMs: number,
  code: string,
  httpStatus?: number,
): { step: RecoveryStep; state: RecoveryState } {
  const details = playbackWords(code, httpStatus);
  if (kind === 'network') {
    const networkFailures = state.networkFailures + 1;
    // A stream just gone live has no playlist until its first seconds are cut: looked for again every second a while.
    if (notReadyYet(code, httpStatus) && networkFailures <= NOT_READY_RETRIES) {
      return {
        step: { action: 'reload', delayMs: NOT_READY_RETRY_MS, note: "Waiting for the stream's first seconds…" },
        state: { ...state, networkFailures },
      };
    }
    const backoff = networkFailures - (notReadyYet(code, httpStatus) ? NOT_READY_RETRIES : 0);
    const delayMs = Math.min(NETWORK_RETRY_FIRST_MS * 2 ** (backoff - 1), NETWORK_RETRY_MAX_MS);
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

/** A live stream's playlist not found: its first segments are not cut yet, so it is looked for again every NOT_READY_RETRY_MS. */
export const NOT_READY_RETRY_MS = 1_000;
/** How many such looks before the usual growing pauses (a playlist that stays missing is a problem, not a start). */
export const NOT_READY_RETRIES = 30;

function notReadyYet(code: string, httpStatus: number | undefined): boolean {
  return code === 'manifestLoadError' && httpStatus === 404;
}

/** hls.js's error codes, as a viewer reads them. */
const PLAYBACK_WORDS: Record<string, string> = {
  manifestLoadError: 'its playlist could not be loaded',
  manifestLoadTimeOut: 'its playlist took too long to load',
  manifestParsingError: 'its playlist could not be read',
  manifestIncompatibleCodecsError: 'this browser cannot play its video',
  levelLoadError: 'its playlist could not be refreshed',
  levelLoadTimeOut: 'its playlist took too long to refresh',
  levelEmptyError: 'its playlist is empty',
  fragLoadError: 'a piece of the video could not be loaded',
  fragLoadTimeOut: 'a piece of the video took too long to load',
  fragParsingError: 'a piece of the video could not be read',
  fragDecryptError: 'a piece of the video could not be decrypted',
  bufferAppendError: 'a piece of the video could not be decoded',
  bufferAddCodecError: 'this browser cannot decode its video',
  bufferIncompatibleCodecsError: 'this browser cannot decode its video',
  bufferFullError: 'the player ran out of room for video',
  bufferStalledError: 'the video stopped arriving in time',
  internalException: 'an error inside the player',
};

/** A playback error in words (the player's code kept for anything not known here), with the HTTP status when there was one. */
export function playbackWords(code: string, httpStatus?: number): string {
  const words = PLAYBACK_WORDS[code] ?? `the player's error "${code}"`;
  return httpStatus && httpStatus >= 400 ? `${words}: HTTP ${httpStatus}` : words;
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
