/**
 * end-live: takes the host's stream off air. Marks it ended, closes the guests' seats, cancels
 * pending invitations and ends the stream's call sessions. Calling it again finishes any cleanup
 * a failed call left behind. A Cloudflare live input is left as it is: Stream ends the broadcast
 * when the encoder disconnects, and the recording stays available.
 */
import { z } from 'zod';
import { must } from '../_shared/db.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { createFunction, type Handler, uuidField } from '../_shared/http.ts';
import { displayName, loadHostedStream, recordEvent } from '../_shared/streams.ts';
import type { StreamRow } from '../_shared/types.ts';

export const endLiveBody = z.strictObject({ streamId: uuidField('streamId') });

export interface EndLiveResult {
  stream: StreamRow;
}

export function createEndLiveHandler(deps: FunctionDeps): Handler {
  return createFunction(deps, {
    name: 'end-live',
    body: endLiveBody,
    run: async ({ body, user, db, admin, now, log }): Promise<EndLiveResult> => {
      let stream = await loadHostedStream(db, body.streamId, user.id, 'end it');
      const at = now.toISOString();
      const wasEnded = stream.status === 'ended';

      if (!wasEnded) {
        stream = must<StreamRow>(
          await admin().from('streams').update({ status: 'ended', ended_at: at }).eq('id', stream.id).select('*').single(),
          'end the stream',
        );
      }

      const seats = must<{ id: string }[]>(
        await admin()
          .from('stream_guest_seats')
          .update({ left_at: at })
          .eq('stream_id', stream.id)
          .is('left_at', null)
          .select('id'),
        'close the guest seats',
      );
      const invitations = must<{ id: string }[]>(
        await admin()
          .from('stream_guest_invitations')
          .update({ status: 'cancelled', responded_at: at })
          .eq('stream_id', stream.id)
          .eq('status', 'pending')
          .select('id'),
        'cancel the pending invitations',
      );
      const sessions = must<{ id: string }[]>(
        await admin()
          .from('call_sessions')
          .update({ ended_at: at })
          .eq('stream_id', stream.id)
          .is('ended_at', null)
          .select('id'),
        'end the call sessions',
      );

      if (!wasEnded) {
        await recordEvent(
          admin(),
          {
            streamId: stream.id,
            userId: user.id,
            actorId: user.id,
            type: 'stream_ended',
            displayName: await displayName(db, user.id),
            metadata: { seatsClosed: seats.length, invitationsCancelled: invitations.length, callSessionsEnded: sessions.length },
          },
          log,
        );
      }
      return { stream };
    },
  });
}
