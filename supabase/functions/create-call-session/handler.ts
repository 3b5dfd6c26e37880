/**
 * create-call-session: opens a call for the host's stream — a Cloudflare Calls SFU session when
 * its secrets are set, otherwise a peer-to-peer call with the host as the hub. Guests join it
 * with tokens from generate-call-token. A stream that ends while the session is being made gets
 * no session (409): the database refuses the insert (the call_session_guard migration).
 */
import { z } from 'zod';
import { createCallsSession } from '../_shared/cloudflare.ts';
import { cloudflareCallsConfig } from '../_shared/config.ts';
import { must } from '../_shared/db.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { ConflictError } from '../_shared/errors.ts';
import { createFunction, type Handler, uuidField } from '../_shared/http.ts';
import { loadHostedStream } from '../_shared/streams.ts';
import type { CallProvider, CallSessionRow } from '../_shared/types.ts';

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
    run: async ({ body, user, db, admin, env, fetch }): Promise<CreateCallSessionResult> => {
      const calls = cloudflareCallsConfig(env);
      const stream = await loadHostedStream(db, body.streamId, user.id, 'open its call');
      if (stream.status === 'ended') throw new ConflictError(`Stream ${stream.id} has ended`);

      const provider: CallProvider = calls ? 'cloudflare' : 'p2p';
      const cfSessionId = calls ? await createCallsSession(fetch, calls) : null;
      const session = must<CallSessionRow>(
        await admin()
          .from('call_sessions')
          .insert({ stream_id: stream.id, host_id: user.id, provider, cf_session_id: cfSessionId })
          .select('*')
          .single(),
        'create the call session',
      );
      return { sessionId: session.id, provider, streamId: stream.id };
    },
  });
}
