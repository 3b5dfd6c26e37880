/**
 * end-live: takes the host's stream off air. Marks it ended, closes the guests' seats, cancels
 * pending invitations and ends the stream's call sessions, atomically (`end_stream` in the
 * database), then revokes the TURN credentials handed out for its calls and deletes the stream's
 * Cloudflare live input, with those of the host's earlier streams whose deletion failed
 * (`_shared/liveInputs.ts`). A failure of either is logged, within a time limit: the stream has
 * ended all the same. Calling it again is harmless.
 */
import { z } from 'zod';
import { must } from '../_shared/db.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { createFunction, type Handler, uuidField } from '../_shared/http.ts';
import { deleteEndedLiveInputs } from '../_shared/liveInputs.ts';
import { loadHostedStream } from '../_shared/streams.ts';
import { revokeTurnCredentials, turnConfigForRevoking } from '../_shared/turnCredentials.ts';
import type { StreamRow } from '../_shared/types.ts';

export const endLiveBody = z.strictObject({ streamId: uuidField('streamId') });

export interface EndLiveResult {
  stream: StreamRow;
}

export function createEndLiveHandler(deps: FunctionDeps): Handler {
  return createFunction(deps, {
    name: 'end-live',
    body: endLiveBody,
    run: async ({ body, user, db, admin, env, fetch, now, log }): Promise<EndLiveResult> => {
      // Only the host may end it: checked here for a clear 403/404, and again by the database.
      await loadHostedStream(db, body.streamId, user.id, 'end it');
      // One transaction in the database (as the caller, so the same rules apply): the stream,
      // its seats, pending invitations and call sessions end together, with one stream_ended event.
      const stream = must<StreamRow>(await db.rpc('end_stream', { p_stream_id: body.streamId }).single(), 'end the stream');
      // Then, side by side (neither throws; a failure is logged: the stream has ended), the TURN credentials of its
      // calls stop working and its live input goes (the copy answered keeps its id: which input the stream used).
      await Promise.all([
        revokeTurnCredentials(admin(), fetch, turnConfigForRevoking(env, log), { streamId: stream.id }, now, log),
        deleteEndedLiveInputs(admin(), fetch, env, { hostId: user.id, streamId: stream.id, provider: stream.ingest_provider }, log),
      ]);
      return { stream };
    },
  });
}
