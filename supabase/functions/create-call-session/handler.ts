/**
 * create-call-session: opens a call for the host's stream — a Cloudflare Calls SFU session when
 * its secrets are set, otherwise a peer-to-peer call with the host as the hub. Guests join it
 * with tokens from generate-call-token. A stream that ends while the session is being made gets
 * no session (409): the database refuses the insert (the call_session_guard migration). A host
 * keeps at most MAX_OPEN_CALLS_PER_HOST calls open: opening another ends the oldest (their TURN
 * credentials are revoked).
 */
import { LIMITS, takeSlot } from '../_shared/rateLimit.ts';
import { z } from 'zod';
import { createCallsSession } from '../_shared/cloudflare.ts';
import { cloudflareCallsConfig } from '../_shared/config.ts';
import { must } from '../_shared/db.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { ConflictError } from '../_shared/errors.ts';
import { createFunction, type Handler, uuidField } from '../_shared/http.ts';
import { loadHostedStream } from '../_shared/streams.ts';
import { revokeTurnCredentials, turnConfigForRevoking } from '../_shared/turnCredentials.ts';
import type { CallProvider, CallSessionRow } from '../_shared/types.ts';
import type { CloudflareTurnConfig } from '../_shared/config.ts';
import type { SupabaseClient } from '@supabase/supabase-js';

/**
 * A host's open calls: the newest few stay open, older ones end. A studio opens one call a
 * broadcast; calls left open by studios that closed without ending them (and a client calling
 * in a loop) would otherwise pile up, each able to hand out TURN credentials.
 */
export const MAX_OPEN_CALLS_PER_HOST = 3;

export const createCallSessionBody = z.strictObject({ streamId: uuidField('streamId') });

export interface CreateCallSessionResult {
  sessionId: string;
  provider: CallProvider;
  streamId: string;
}

export function createCreateCallSessionHandler(deps: FunctionDeps): Handler {
  return createFunction(deps, {
    name: 'create-call-session',
    body: createCallSessionBody,
    run: async ({ body, user, db, admin, env, fetch, now, log }): Promise<CreateCallSessionResult> => {
      const calls = cloudflareCallsConfig(env);
      const stream = await loadHostedStream(db, body.streamId, user.id, 'open its call');
      if (stream.status === 'ended') throw new ConflictError(`Stream ${stream.id} has ended`);
      // A call hands out TURN credentials: only a show on air opens one (asked before Cloudflare is).
      if (stream.status !== 'live') throw new ConflictError(`Stream ${stream.id} is not live: go live before opening its call`);

      const provider: CallProvider = calls ? 'cloudflare' : 'p2p';
      // A Calls session spends the account's quota: a host opens so many a while.
      if (calls) await takeSlot(admin(), user.id, LIMITS.createCallSession, log);
      const cfSessionId = calls ? await createCallsSession(fetch, calls) : null;
      const session = must<CallSessionRow>(
        await admin()
          .from('call_sessions')
          .insert({ stream_id: stream.id, host_id: user.id, provider, cf_session_id: cfSessionId })
          .select('*')
          .single(),
        'create the call session',
      );
      await endOldCalls(admin(), fetch, turnConfigForRevoking(env, log), user.id, now, log);
      return { sessionId: session.id, provider, streamId: stream.id };
    },
  });
}

/** Ends the host's open calls older than their MAX_OPEN_CALLS_PER_HOST newest, and revokes their TURN credentials; never throws. */
async function endOldCalls(
  admin: SupabaseClient,
  fetchFn: typeof fetch,
  turn: CloudflareTurnConfig | null,
  hostId: string,
  now: Date,
  log: (message: string) => void,
): Promise<void> {
  const { data, error } = await admin
    .from('call_sessions')
    .select('id')
    .eq('host_id', hostId)
    .is('ended_at', null)
    .order('created_at', { ascending: false })
    .order('id')
    .range(MAX_OPEN_CALLS_PER_HOST, MAX_OPEN_CALLS_PER_HOST + 99);
  if (error) {
    log(`could not read the host's open calls: ${error.message}`);
    return;
  }
  const old = (data as Array<{ id: string }>).map((r) => r.id);
  if (old.length === 0) return;
  const ended = await admin.from('call_sessions').update({ ended_at: now.toISOString() }).in('id', old).is('ended_at', null);
  if (ended.error) {
    log(`could not end the host's ${old.length} older call(s): ${ended.error.message}`);
    return;
  }
  log(`ended ${old.length} older open call(s) of host ${hostId}`);
  await revokeTurnCredentials(admin, fetchFn, turn, { callSessionIds: old }, now, log);
}
