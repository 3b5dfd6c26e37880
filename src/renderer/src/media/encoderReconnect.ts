/**
 * What the studio does when its bridge to the encoder closed mid-show (the
 * browser studio's socket): the studio server keeps the broadcast a few
 * seconds for the page to come back, so the first request (which reopens the
 * connection) asks for it (`encoder:resume`); when nothing is there to go on
 * with, the encoder is started again with the show's options. A few attempts,
 * with growing pauses; the caller says when the show no longer wants it.
 */
import type { EncoderStartInput, EncoderStartResult, NativeBridge } from '../../../shared/bridge';

/** The pause before each attempt (ms): at once, then after 1, 2, 4 and 8 s. */
export const BRIDGE_RESTART_DELAYS_MS: readonly number[] = [0, 1000, 2000, 4000, 8000];

export type ReconnectOutcome =
  /** The encoder the page started runs on: the same ingest connection and recording. */
  | { kind: 'resumed'; result: EncoderStartResult }
  /** A new encoder runs with the show's options. */
  | { kind: 'started'; result: EncoderStartResult }
  /** Every attempt failed; `last` is the last reason. */
  | { kind: 'failed'; last: string }
  /** The show ended (or started anew) meanwhile: nothing was done after that. */
  | { kind: 'cancelled' };

export interface ReconnectDeps {
  bridge: Pick<NativeBridge, 'invoke'>;
  options: EncoderStartInput;
  /** Whether the show still wants this encoder (checked before and after each request). */
  wanted: () => boolean;
  delaysMs?: readonly number[];
  sleep?: (ms: number) => Promise<void>;
  log?: (message: string) => void;
}

export async function reconnectEncoder(deps: ReconnectDeps): Promise<ReconnectOutcome> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let last = '';
  let resumable = true;
  for (const delayMs of deps.delaysMs ?? BRIDGE_RESTART_DELAYS_MS) {
    if (delayMs > 0) await sleep(delayMs);
    if (!deps.wanted()) return { kind: 'cancelled' };
    try {
      if (resumable) {
        const kept = await deps.bridge.invoke('encoder:resume').catch((err: Error & { reason?: string }) => {
          // A native side without this request (an older one) starts a new encoder instead.
          if (err.reason === 'bridge_invalid_message') return null;
          throw err;
        });
        if (!deps.wanted()) return { kind: 'cancelled' };
        if (kept) return { kind: 'resumed', result: kept };
        // Nothing to go on with now (the wait ran out, the encoder gave up, another server): from here on, a new one.
        resumable = false;
      }
      const result = await deps.bridge.invoke('encoder:start', deps.options);
      // End live came while it started (the native side cancels a start its stop overtakes): nothing here is the show's now.
      if (!deps.wanted()) return { kind: 'cancelled' };
      return { kind: 'started', result };
    } catch (err) {
      last = (err as Error).message;
      deps.log?.(`encoder restart after its connection closed failed: ${last}`);
    }
  }
  return { kind: 'failed', last };
}
