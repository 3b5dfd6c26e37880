/**
 * end-call-session: the host closes one of the stream's call sessions; tokens for it are no
 * longer issued. Ending a session that has already ended answers its original end time.
 */
import { z } from 'zod';
import { maybe, must } from '../_shared/db.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { ForbiddenError, NotFoundError } from '../_shared/errors.ts';
import { createFunction, type Handler, uuidField } from '../_shared/http.ts';
import type { CallSessionRow } from '../_shared/types.ts';

export const endCallSessionBody = z.strictObject({ sessionId: uuidField('sessionId') });

export interface EndCallSessionResult {
  sessionId: string;
  endedAt: string;
}

export function createEndCallSessionHandler(deps: FunctionDeps): Handler {
  return createFunction(deps, {
    name: 'end-call-session',
    body: endCallSessionBody,
    run: async ({ body, user, admin, now }): Promise<EndCallSessionResult> => {
      // Read with the service role so that a non-host gets a clear 403 whatever RLS shows them.
      const session = maybe<CallSessionRow>(
        await admin().from('call_sessions').select('*').eq('id', body.sessionId).maybeSingle(),
        'read the call session',
      );
      if (!session) throw new NotFoundError(`Call session ${body.sessionId} not found`);
      if (session.host_id !== user.id) throw new ForbiddenError('Only the host can end this call session');
      if (session.ended_at) return { sessionId: session.id, endedAt: session.ended_at };

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
      if (ended?.ended_at) return { sessionId: ended.id, endedAt: ended.ended_at };
      // Another request ended it in between: answer the time it recorded.
      const current = must<CallSessionRow>(
        await admin().from('call_sessions').select('*').eq('id', session.id).single(),
        'read the call session',
      );
      return { sessionId: current.id, endedAt: current.ended_at ?? now.toISOString() };
    },
  });
}
