/**
 * end-call-session: the host closes one of the stream's call sessions; tokens for it are no
 * longer issued, and the TURN credentials handed out for it are revoked. Ending a session that
 * has already ended answers its original end time (and revokes what is still open).
 *
 * With `userId`, the host ends one former guest's part in the call instead: the TURN credentials
 * issued to them before their last seat closed are revoked (the call goes on for everyone else). A
 * guest who is seated again keeps what their present seat was given.
 *
 * With `formerGuests: true`, the same for everyone who was on the stream's stage and is no longer:
 * a studio that resumes a show asks it, since guests removed (by a moderator) or gone while no
 * studio was there to ask for each one still hold what they were given.
 */
import { z } from 'zod';
import { maybe, must } from '../_shared/db.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { BadRequestError, ForbiddenError, NotFoundError } from '../_shared/errors.ts';
import { createFunction, type Handler, uuidField } from '../_shared/http.ts';
import { revokeTurnCredentials, turnConfigForRevoking } from '../_shared/turnCredentials.ts';
import type { CallSessionRow } from '../_shared/types.ts';

export const endCallSessionBody = z
  .strictObject({
    sessionId: uuidField('sessionId'),
    userId: uuidField('userId').optional(),
    formerGuests: z.literal(true, { error: 'formerGuests is true or left out' }).optional(),
  })
  .refine((body) => !(body.userId && body.formerGuests), { error: 'Give userId (one former guest) or formerGuests (all of them), not both' });

interface SeatSpan {
  user_id: string;
  joined_at: string;
  left_at: string | null;
}

/**
 * Per guest who was on the stage before, what was issued to them before this time is theirs to lose:
 * for one with no seat now, their last seat's end; for one seated again, the present seat's start (it
 * keeps what this seat was given), as `userId` does for one guest.
 */
export function staleCredentialsBefore(seats: readonly SeatSpan[], hostId: string): Map<string, string> {
  const before = new Map<string, string>();
  const later = (a: string | undefined, b: string) => (!a || Date.parse(b) > Date.parse(a) ? b : a);
  const current = new Map(seats.filter((s) => s.left_at === null).map((s) => [s.user_id, s.joined_at]));
  for (const seat of seats) {
    if (seat.left_at === null || seat.user_id === hostId) continue;
    before.set(seat.user_id, current.get(seat.user_id) ?? later(before.get(seat.user_id), seat.left_at));
  }
  return before;
}

export interface EndCallSessionResult {
  sessionId: string;
  /** When the call ended; null when only some participants' part ended (`userId`, `formerGuests`). */
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
      const revoke = () => revokeTurnCredentials(admin(), fetch, turnConfigForRevoking(env, log), { callSessionIds: [session.id] }, now, log);

      if (body.formerGuests) {
        const seats = maybe<SeatSpan[]>(
          await admin().from('stream_guest_seats').select('user_id, joined_at, left_at').eq('stream_id', session.stream_id),
          'read the stream’s seats',
        ) ?? [];
        const total = { revoked: 0, failed: 0 };
        for (const [userId, issuedBefore] of staleCredentialsBefore(seats, session.host_id)) {
          const outcome = await revokeTurnCredentials(admin(), fetch, turnConfigForRevoking(env, log), { streamId: session.stream_id, userId, issuedBefore }, now, log);
          total.revoked += outcome.revoked;
          total.failed += outcome.failed;
        }
        return { sessionId: session.id, endedAt: null, credentialsRevoked: total.revoked, credentialsNotRevoked: total.failed };
      }

      if (body.userId) {
        if (body.userId === session.host_id) throw new BadRequestError('userId is the host: the host leaves the call by ending it (leave out userId)');
        const seats = maybe<Array<{ joined_at: string; left_at: string | null }>>(
          await admin().from('stream_guest_seats').select('joined_at, left_at').eq('stream_id', session.stream_id).eq('user_id', body.userId),
          'read the guest’s seats',
        ) ?? [];
        // What was issued before their last seat closed; a guest seated again since keeps what this seat got.
        const current = seats.find((seat) => seat.left_at === null);
        const before = current ? current.joined_at : seats.map((seat) => seat.left_at!).sort((a, b) => Date.parse(a) - Date.parse(b)).at(-1);
        // Every call of the stream: a studio reloaded mid-show opened a new call while the old one stayed open.
        const outcome = before
          ? await revokeTurnCredentials(admin(), fetch, turnConfigForRevoking(env, log), { streamId: session.stream_id, userId: body.userId, issuedBefore: before }, now, log)
          : { revoked: 0, failed: 0 };
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
