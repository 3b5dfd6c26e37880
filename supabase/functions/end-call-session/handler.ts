/**
 * end-call-session: the host closes one of the stream's call sessions; tokens for it are no
 * longer issued, and the TURN credentials handed out for it are revoked. Ending a session that
 * has already ended answers its original end time (and revokes what is still open).
 *
 * With `userId`, the host ends one participant's part in the call instead: a guest they removed
 * from the stage has their TURN credentials revoked (the call goes on for everyone else). The
 * guest must no longer hold a seat: a seated guest would only be handed new ones.
 */
import { z } from 'zod';
import { cloudflareTurnConfig } from '../_shared/config.ts';
import { maybe, must } from '../_shared/db.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../_shared/errors.ts';
import { createFunction, type Handler, uuidField } from '../_shared/http.ts';
import { revokeTurnCredentials } from '../_shared/turnCredentials.ts';
import type { CallSessionRow } from '../_shared/types.ts';

export const endCallSessionBody = z.strictObject({ sessionId: uuidField('sessionId'), userId: uuidField('userId').optional() });

export interface EndCallSessionResult {
  sessionId: string;
  /** When the call ended; null when only one participant's part ended (`userId`). */
  endedAt: string | null;
  /** TURN credentials revoked now, and those the TURN service would not revoke (logged). */
  credentialsRevoked: number;
  credentialsNotRevoked: number;
}

export function createEndCallSessionHandler(deps: FunctionDeps): Handler {
  return createFunction(deps, {
    name: 'end-call-session',
    body: endCallSessionBody,
    run: async ({ body, user, admin, env, fetch, now, log }): Promise<EndCallSessionResult> => {
      // Read with the service role so that a non-host gets a clear 403 whatever RLS shows them.
      const session = maybe<CallSessionRow>(
        await admin().from('call_sessions').select('*').eq('id', body.sessionId).maybeSingle(),
        'read the call session',
      );
      if (!session) throw new NotFoundError(`Call session ${body.sessionId} not found`);
      if (session.host_id !== user.id) throw new ForbiddenError('Only the host can end this call session');
      const revoke = (only: { userId?: string; issuedBefore?: string } = {}) =>
        revokeTurnCredentials(admin(), fetch, cloudflareTurnConfig(env), { callSessionIds: [session.id], ...only }, now, log);

      if (body.userId) {
        if (body.userId === session.host_id) throw new BadRequestError('userId is the host: the host leaves the call by ending it (leave out userId)');
        const seats = maybe<Array<{ left_at: string | null }>>(
          await admin().from('stream_guest_seats').select('left_at').eq('stream_id', session.stream_id).eq('user_id', body.userId),
          'read the guest’s seats',
        ) ?? [];
        if (seats.some((seat) => seat.left_at === null)) throw new ConflictError('That guest still holds a seat: remove them from the stage first');
        // Only what was issued while they held a seat: a guest seated again since has theirs.
        const lastLeft = seats.map((seat) => seat.left_at!).sort().at(-1);
        const outcome = lastLeft ? await revoke({ userId: body.userId, issuedBefore: lastLeft }) : { revoked: 0, failed: 0 };
        return { sessionId: session.id, endedAt: null, credentialsRevoked: outcome.revoked, credentialsNotRevoked: outcome.failed };
      }

      let endedAt = session.ended_at;
      if (!endedAt) {
        const ended = maybe<CallSessionRow>(
          await admin()
            .from('call_sessions')
            .update({ ended_at: now.toISOString() })
            .eq('id', session.id)
            .is('ended_at', null)
            .select('*')
            .maybeSingle(),
          'end the call session',
        );
        if (ended?.ended_at) endedAt = ended.ended_at;
        else {
          // Another request ended it in between: answer the time it recorded.
          const current = must<CallSessionRow>(
            await admin().from('call_sessions').select('*').eq('id', session.id).single(),
            'read the call session',
          );
          endedAt = current.ended_at ?? now.toISOString();
        }
      }
      const outcome = await revoke();
      return { sessionId: session.id, endedAt, credentialsRevoked: outcome.revoked, credentialsNotRevoked: outcome.failed };
    },
  });
}
