import { useEffect, useRef, useState } from 'react';
import type { GuestInvitationRow, GuestSeatRow } from '../../../shared/domain';
import { Countdown, useSecondsLeft } from '../components/Countdown';
import { openCamera } from '../media/capture';
import { acceptInvitation, declineInvitation, listPendingInvitations, subscribeInvitations } from '../services/streamGuestService';
import { GuestSession, type GuestLinkState } from '../session/GuestSession';
import { useStore } from '../store';
import { SignIn } from './SignIn';
import { useRestoreSession } from './useRestoreSession';

export function Guest() {
  const { ready, error } = useRestoreSession();
  const userId = useStore((s) => s.userId);
  if (!ready) return <main className="guest">Loading…</main>;
  if (error) return <main className="guest error-text">{error}</main>;
  if (!userId) {
    return (
      <main className="centered">
        <SignIn role="guest" />
      </main>
    );
  }
  return <GuestHome userId={userId} />;
}

interface OnStage {
  seat: GuestSeatRow;
  hostId: string;
  local: MediaStream;
}

function GuestHome({ userId }: { userId: string }) {
  const [invitations, setInvitations] = useState<GuestInvitationRow[]>([]);
  const [stage, setStage] = useState<OnStage | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const displayName = useStore((s) => s.displayName);

  useEffect(() => {
    let unsubscribe = () => {};
    let cancelled = false;
    const upsert = (row: GuestInvitationRow) =>
      setInvitations((list) => [row, ...list.filter((x) => x.id !== row.id)].filter((x) => x.status === 'pending'));
    listPendingInvitations(userId)
      .then((rows) => !cancelled && setInvitations(rows))
      .catch((err: Error) => setMessage(err.message));
    subscribeInvitations(userId, upsert)
      .then((off) => (cancelled ? off() : (unsubscribe = off)))
      .catch((err: Error) => setMessage(err.message));
    return () => {
      cancelled = true;
      unsubscribe();
    };
  }, [userId]);

  const accept = async (inv: GuestInvitationRow) => {
    setMessage(null);
    let local: MediaStream | null = null;
    try {
      local = await openCamera({ width: 640, height: 360, frameRate: 30 });
      const seat = await acceptInvitation(inv.id);
      setInvitations((list) => list.filter((x) => x.id !== inv.id));
      setStage({ seat, hostId: inv.host_id, local });
    } catch (err) {
      local?.getTracks().forEach((t) => t.stop());
      setMessage((err as Error).message);
    }
  };
  const decline = async (inv: GuestInvitationRow) => {
    setInvitations((list) => list.filter((x) => x.id !== inv.id));
    await declineInvitation(inv.id).catch((err: Error) => setMessage(err.message));
  };

  if (stage) {
    return (
      <GuestStage
        userId={userId}
        stage={stage}
        onLeft={(why) => {
          stage.local.getTracks().forEach((t) => t.stop());
          setStage(null);
          setMessage(why);
        }}
      />
    );
  }

  return (
    <main className="guest" data-testid="guest">
      <header className="topbar">
        <strong>
          <span className="brand-dot" /> Roast Live
        </strong>
        <span className="muted">
          {displayName} · your id <code data-testid="user-id">{userId}</code>
        </span>
      </header>
      <section className="guest-body">
        <p className="muted">Waiting for an invitation from a host. Share your id with them.</p>
        {message ? <p className="error-text" role="alert">{message}</p> : null}
        {invitations.map((inv) => (
          <InvitationCard key={inv.id} invitation={inv} onAccept={() => void accept(inv)} onDecline={() => void decline(inv)} />
        ))}
      </section>
    </main>
  );
}

function InvitationCard({ invitation, onAccept, onDecline }: { invitation: GuestInvitationRow; onAccept: () => void; onDecline: () => void }) {
  const left = useSecondsLeft(invitation.expires_at);
  return (
    <div className="card invitation" data-testid="invitation" role="dialog" aria-label="Invitation to go live">
      <h3>You are invited to go live</h3>
      <p>
        Join the stream on {invitation.seat_index !== null ? `seat ${invitation.seat_index + 1}` : 'the next free seat'} — expires in{' '}
        <Countdown expiresAt={invitation.expires_at} />
      </p>
      <div className="row">
        <button className="primary" onClick={onAccept} disabled={left === 0} data-testid="accept">
          Accept
        </button>
        <button onClick={onDecline} data-testid="decline">
          Decline
        </button>
      </div>
      {left === 0 ? <p className="muted">This invitation has expired.</p> : null}
    </div>
  );
}

function GuestStage({ userId, stage, onLeft }: { userId: string; stage: OnStage; onLeft: (why: string | null) => void }) {
  const programRef = useRef<HTMLVideoElement>(null);
  const selfRef = useRef<HTMLVideoElement>(null);
  const sessionRef = useRef<GuestSession | null>(null);
  const [state, setState] = useState<GuestLinkState>('connecting');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (selfRef.current) selfRef.current.srcObject = stage.local;
    const session = new GuestSession({
      streamId: stage.seat.stream_id,
      hostId: stage.hostId,
      userId,
      local: stage.local,
      onProgram: (stream) => {
        const el = programRef.current;
        if (el && el.srcObject !== stream) {
          el.srcObject = stream;
          void el.play().catch(() => {});
        }
      },
      onState: setState,
    });
    sessionRef.current = session;
    session.start().catch((err: Error) => setError(err.message));
    return () => {
      void session.close();
    };
  }, [stage, userId]);

  const leave = async () => {
    await sessionRef.current?.leave().catch((err: Error) => setError(err.message));
    onLeft('You left the stage.');
  };

  return (
    <main className="guest stage" data-testid="guest-stage" data-link={state}>
      <header className="topbar">
        <strong>
          <span className="brand-dot" /> On stage · seat {stage.seat.seat_index + 1}
        </strong>
        <span className={`pill link-${state}`} data-testid="link-state">
          {state}
        </span>
        <button className="danger" onClick={() => void leave()} data-testid="leave">
          Leave
        </button>
      </header>
      <section className="guest-program">
        <video ref={programRef} autoPlay playsInline data-testid="program-view" />
        <video ref={selfRef} className="self-view" autoPlay playsInline muted />
      </section>
      {error ? <p className="error-text" role="alert">{error}</p> : null}
    </main>
  );
}
