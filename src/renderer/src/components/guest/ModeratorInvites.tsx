/**
 * A moderator invites from their own page, as the host does from the studio
 * (the database lets a stream's moderators invite and cancel): search by name
 * or paste an id, and the stream's invitations with their countdowns, kept
 * live from the stream's invitation rows.
 */
import { useEffect, useRef, useState } from 'react';
import type { GuestInvitationRow } from '../../../../shared/domain';
import { cancelInvitation, inviteGuest, listStreamInvitations, searchProfiles, subscribeStreamInvitations } from '../../services/streamGuestService';
import { pollWhileUnavailable } from '../../services/realtime';
import { InvitePanel } from '../studio/InvitePanel';
import { useProfileNames } from './useProfileNames';

/** How long after a countdown ran out the list is read again (reading it has the database mark the invitation expired). */
const RAN_OUT_RELIST_MS = 1500;

const READ_FAILED = "Could not read the stream's invitations";
const LIVE_DOWN = 'The invitations may change late: live updates are unavailable';

const newestFirst = (a: GuestInvitationRow, b: GuestInvitationRow) => Date.parse(b.created_at) - Date.parse(a.created_at);

export function ModeratorInvites({ streamId, hostId, localTime }: { streamId: string; hostId: string; localTime: (serverTime: string) => string }) {
  const [invitations, setInvitations] = useState<GuestInvitationRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  const relistRef = useRef<() => void>(() => {});

  const upsert = (row: GuestInvitationRow) => setInvitations((list) => [row, ...list.filter((x) => x.id !== row.id)].sort(newestFirst));

  useEffect(() => {
    let cancelled = false;
    let off: () => void = () => {};
    const relist = () =>
      listStreamInvitations(streamId)
        .then((rows) => {
          if (cancelled) return;
          setInvitations([...rows].sort(newestFirst));
          setError((e) => (e?.startsWith(READ_FAILED) ? null : e));
        })
        .catch((err: Error) => !cancelled && setError(`${READ_FAILED}: ${err.message}`));
    relistRef.current = () => void relist();
    // Live updates that cannot start are tried again; until they hold, the list is read every few seconds.
    const poll = pollWhileUnavailable(() => void relist());
    const unavailable = (err: Error) => {
      if (cancelled) return;
      setError(`${LIVE_DOWN} (${err.message}); trying again.`);
      poll.start();
    };
    const rejoined = () => {
      poll.stop();
      setError((e) => (e?.startsWith(LIVE_DOWN) ? null : e));
      void relist();
    };
    subscribeStreamInvitations(streamId, (row) => !cancelled && upsert(row), rejoined, unavailable)
      .then((unsubscribe) => (cancelled ? unsubscribe() : (off = unsubscribe)))
      .then(relist)
      .catch((err: Error) => !cancelled && setError(err.message));
    return () => {
      cancelled = true;
      poll.stop();
      off();
    };
  }, [streamId]);

  const names = useProfileNames(invitations.map((i) => i.invitee_id));

  return (
    <div data-testid="moderator-invites">
      <InvitePanel
        enabled
        invitations={invitations}
        names={names}
        hostId={hostId}
        search={searchProfiles}
        invite={async (inviteeId) => upsert(await inviteGuest(streamId, inviteeId))}
        cancel={async (invitationId) => upsert(await cancelInvitation(invitationId))}
        onRanOut={() => setTimeout(() => relistRef.current(), RAN_OUT_RELIST_MS)}
        localTime={localTime}
      />
      {error ? (
        <p className="error-text" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
