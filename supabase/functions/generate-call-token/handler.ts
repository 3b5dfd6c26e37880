/**
 * generate-call-token: admits the host or a guest who holds a seat on the stream to one of its
 * call sessions. Answers a short-lived call token (see _shared/callToken.ts) and the ICE servers
 * to use: Cloudflare TURN credentials when its secrets are set, none otherwise (on one machine
 * or one network, host candidates connect). The TURN credentials are recorded, to be revoked by
 * end-call-session and end-live; a participant's credentials older than their three latest
 * requests in the call are revoked at once (each rejoin uses the new ones).
 */
import { LIMITS, takeSlot } from '../_shared/rateLimit.ts';
import type { SupabaseClient } from '@supabase/supabase-js';
import { z } from 'zod';
import { type CallRole, signCallToken } from '../_shared/callToken.ts';
import { generateIceServers } from '../_shared/cloudflare.ts';
import { callTokenSigningSecret, cloudflareTurnConfig } from '../_shared/config.ts';
import { maybe } from '../_shared/db.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { ForbiddenError, FunctionError, NotFoundError } from '../_shared/errors.ts';
import { createFunction, type Handler, uuidField } from '../_shared/http.ts';
import { loadStream } from '../_shared/streams.ts';
import { recordTurnCredentials, revokeSuperseded, revokeUsernames, turnUsernames } from '../_shared/turnCredentials.ts';
import type { CallSessionRow, IceServer } from '../_shared/types.ts';

/**
 * How long TURN credentials last. A relayed call keeps refreshing its allocation with the
 * credentials it started with, and TURN servers may refuse a refresh once they expired, so they
 * must outlast the longest show, not the 10-minute token that admits a guest to the call.
 */
export const ICE_CREDENTIALS_TTL_SECONDS = 86_400;

export const generateCallTokenBody = z.strictObject({
  streamId: uuidField('streamId'),
  sessionId: uuidField('sessionId'),
});

export interface GenerateCallTokenResult {
  token: string;
  expiresAt: string;
  role: CallRole;
  iceServers: IceServer[];
}

export function createGenerateCallTokenHandler(deps: FunctionDeps): Handler {
  return createFunction(deps, {
    name: 'generate-call-token',
    body: generateCallTokenBody,
    run: async ({ body, user, db, admin, env, fetch, now, log }): Promise<GenerateCallTokenResult> => {
      const secret = callTokenSigningSecret(env);
      const turn = cloudflareTurnConfig(env);
      const stream = await loadStream(db, body.streamId);

      let role: CallRole;
      if (stream.host_id === user.id) {
        role = 'host';
      } else {
        const seat = maybe<{ id: string }>(
          await db
            .from('stream_guest_seats')
            .select('id')
            .eq('stream_id', stream.id)
            .eq('user_id', user.id)
            .is('left_at', null)
            .limit(1)
            .maybeSingle(),
          'read your seat',
        );
        if (!seat) throw new ForbiddenError('Only the host or a seated guest of this stream can join its call');
        role = 'guest';
      }

      // Read with the service role: a guest may not see call_sessions under RLS, and the
      // participant check above is what admits them.
      const session = maybe<CallSessionRow>(
        await admin().from('call_sessions').select('*').eq('id', body.sessionId).eq('stream_id', stream.id).maybeSingle(),
        'read the call session',
      );
      if (!session) throw new NotFoundError(`Call session ${body.sessionId} not found for stream ${stream.id}`);
      if (session.ended_at) throw new NotFoundError(`Call session ${session.id} has ended`);

      // TURN credentials spend the account's quota: a participant mints so many a while.
      if (turn) await takeSlot(admin(), user.id, LIMITS.generateCallToken, log);
      const [signed, iceServers] = await Promise.all([
        signCallToken({ userId: user.id, sessionId: session.id, streamId: stream.id, role }, secret, now),
        turn ? generateIceServers(fetch, turn, ICE_CREDENTIALS_TTL_SECONDS) : Promise.resolve<IceServer[]>([]),
      ]);
      // Kept so that they can be revoked when this participant leaves the stage or the call ends.
      // Credentials that cannot be recorded could never be revoked: they are revoked now instead.
      let issued: string[];
      try {
        issued = await recordTurnCredentials(
          admin(),
          iceServers,
          { callSessionId: session.id, streamId: stream.id, userId: user.id },
          now,
          new Date(now.getTime() + ICE_CREDENTIALS_TTL_SECONDS * 1000),
        );
      } catch (err) {
        await revokeUsernames(admin(), fetch, turn, turnUsernames(iceServers), now, log);
        throw new FunctionError('internal', `Could not join the call: ${(err as Error).message}`);
      }
      // Removed, or the call ended, while the token was being made: no token for a place no longer
      // held, and credentials made meanwhile (whoever revoked what was recorded then did not see
      // these) are revoked here.
      if (!(await stillAdmitted(admin(), role, stream.id, session.id, user.id))) {
        await revokeUsernames(admin(), fetch, turn, issued, now, log);
        throw new ForbiddenError('You left the stage (or the call ended) while joining the call');
      }
      // A participant holds the credentials of their few latest requests in this call, not of every one.
      if (issued.length > 0) await revokeSuperseded(admin(), fetch, turn, { callSessionId: session.id, userId: user.id }, now, log);
      return { token: signed.token, expiresAt: signed.expiresAt.toISOString(), role, iceServers };
    },
  });
}

/** Whether the participant still holds their place: a guest their seat, and the call is open. */
async function stillAdmitted(admin: SupabaseClient, role: CallRole, streamId: string, sessionId: string, userId: string): Promise<boolean> {
  const session = maybe<{ ended_at: string | null }>(await admin.from('call_sessions').select('ended_at').eq('id', sessionId).maybeSingle(), 'read the call session');
  if (!session || session.ended_at) return false;
  if (role === 'host') return true;
  const seats = maybe<Array<{ id: string }>>(
    await admin.from('stream_guest_seats').select('id').eq('stream_id', streamId).eq('user_id', userId).is('left_at', null).limit(1),
    'read your seat',
  );
  return (seats ?? []).length > 0;
}
