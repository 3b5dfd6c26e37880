/**
 * Per-account limits on what spends the account's Cloudflare quota (live inputs, TURN
 * credentials): a slot is taken in the database (take_function_slot) before Cloudflare is asked.
 * Past the limit the caller gets a 429 saying how long to wait. A limiter that cannot be read
 * (the database busy) lets the call through and says so in the log: a show is not stopped for it.
 */
import type { SupabaseClient } from '@supabase/supabase-js';
import { RateLimitedError } from './errors.ts';

export interface FunctionLimit {
  /** The name the calls are counted under. */
  action: string;
  /** What a person did too often, in words ("went live"). */
  what: string;
  max: number;
  windowSeconds: number;
}

/** Generous for a show (a host restarting a few times, a guest on a weak network rejoining), tight for a loop. */
export const LIMITS = {
  startLive: { action: 'start-live', what: 'went live', max: 12, windowSeconds: 600 },
  createCallSession: { action: 'create-call-session', what: 'opened a call', max: 12, windowSeconds: 600 },
  generateCallToken: { action: 'generate-call-token', what: 'joined a call', max: 40, windowSeconds: 600 },
} as const satisfies Record<string, FunctionLimit>;

export async function takeSlot(admin: SupabaseClient, userId: string, limit: FunctionLimit, log: (message: string) => void): Promise<void> {
  const { data, error } = await admin.rpc('take_function_slot', {
    p_user_id: userId,
    p_action: limit.action,
    p_max: limit.max,
    p_window_seconds: limit.windowSeconds,
  });
  if (error) {
    log(`could not count ${limit.action} calls of ${userId}, so this one goes through: ${error.message}`);
    return;
  }
  const wait = typeof data === 'number' ? data : 0;
  if (wait > 0) {
    throw new RateLimitedError(
      `You ${limit.what} ${limit.max} times in the last ${Math.round(limit.windowSeconds / 60)} minutes: try again in ${wait} s`,
      wait,
    );
  }
}
