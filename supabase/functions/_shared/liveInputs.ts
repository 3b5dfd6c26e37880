/**
 * The Cloudflare live inputs of ended streams. An ended stream never goes live again (start-live
 * makes a new stream and input), so its input is of no more use, and each show would otherwise
 * leave one on the account; deleting an input keeps the videos recorded from it. A deleted input
 * (or one Cloudflare no longer has) is forgotten: the stream's live_input_id is set to null, so a
 * deletion that failed is tried again by the host's next end-live, and one that worked is never
 * asked for twice.
 */
import type { SupabaseClient } from '@supabase/supabase-js';
import { deleteLiveInput } from './cloudflare.ts';
import { type CloudflareStreamConfig, cloudflareStreamConfig, type Env } from './config.ts';
import { UpstreamError } from './errors.ts';

/** How long one deletion may take before it counts as failed (ms): the caller's answer waits for it. */
export const LIVE_INPUT_DELETE_TIMEOUT_MS = 5000;
/** Inputs of a host's ended streams deleted at most per call (the stream just ended comes first). */
export const LIVE_INPUTS_PER_SWEEP = 4;
/** Ended streams with an input read per call, among which the others are picked. */
const LIVE_INPUTS_READ = 50;

/** The Stream settings, or null (logged) when they are not set or not usable: deleting is then left for later. */
function streamConfig(env: Env, log: (message: string) => void): CloudflareStreamConfig | null {
  try {
    return cloudflareStreamConfig(env);
  } catch (err) {
    log(`live inputs of ended streams are left on Cloudflare: ${(err as Error).message}`);
    return null;
  }
}

/**
 * Deletes the live inputs of `hostId`'s ended streams, `streamId`'s first (its ingest `provider`
 * says whether it had one), at most LIVE_INPUTS_PER_SWEEP of them, all at once, each within
 * LIVE_INPUT_DELETE_TIMEOUT_MS. Never throws: what fails is logged and left for the next call.
 * Returns the streams whose input is gone.
 */
export async function deleteEndedLiveInputs(
  admin: SupabaseClient,
  fetchFn: typeof fetch,
  env: Env,
  target: { hostId: string; streamId: string; provider: string },
  log: (message: string) => void,
): Promise<string[]> {
  // Settings read first: without them (the local ingest) there is nothing to delete, and nothing to read.
  const cfg = streamConfig(env, log);
  if (!cfg) {
    if (target.provider === 'cloudflare') log(`the live input of ended stream ${target.streamId} is left on Cloudflare: the Cloudflare Stream settings are not set here`);
    return [];
  }
  const { data, error } = await admin
    .from('streams')
    .select('id, live_input_id')
    .eq('host_id', target.hostId)
    .eq('status', 'ended')
    .eq('ingest_provider', 'cloudflare')
    .not('live_input_id', 'is', null)
    .limit(LIVE_INPUTS_READ);
  if (error) {
    log(`could not read the live inputs of ended streams: ${error.message}`);
    return [];
  }
  const rows = data as Array<{ id: string; live_input_id: string }>;
  // The stream just ended first; the others (deletions that failed before) in a random order, so a few that always
  // fail cannot keep the rest from ever being tried.
  const others = rows.filter((r) => r.id !== target.streamId);
  for (let i = others.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [others[i], others[j]] = [others[j]!, others[i]!];
  }
  const batch = [...rows.filter((r) => r.id === target.streamId), ...others].slice(0, LIVE_INPUTS_PER_SWEEP);
  if (batch.length === 0) return [];
  const timed: typeof fetch = (input, init) => fetchFn(input, { ...init, signal: AbortSignal.timeout(LIVE_INPUT_DELETE_TIMEOUT_MS) });
  const gone: string[] = [];
  await Promise.all(
    batch.map(async ({ id, live_input_id: uid }) => {
      try {
        await deleteLiveInput(timed, cfg, uid);
      } catch (err) {
        // Already gone at Cloudflare (deleted by hand, or by a call whose answer was lost): forgotten all the same.
        if (!(err instanceof UpstreamError && err.upstreamStatus === 404)) {
          log(`could not delete the live input ${uid} of ended stream ${id} (tried again at the next end-live): ${(err as Error).message}`);
          return;
        }
      }
      const { error: forgetError } = await admin.from('streams').update({ live_input_id: null }).eq('id', id).eq('live_input_id', uid);
      if (forgetError) log(`deleted the live input ${uid} of ended stream ${id} but could not forget it: ${forgetError.message}`);
      else gone.push(id);
    }),
  );
  return gone;
}
