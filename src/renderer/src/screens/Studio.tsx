import { useEffect, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { HealthBar } from '../components/HealthBar';
import { Countdown } from '../components/Countdown';
import { openCamera } from '../media/capture';
import { getNativeBridge } from '../native';
import { inviteGuest } from '../services/streamGuestService';
import { HostSession } from '../session/HostSession';
import { activeSeats, useStore } from '../store';
import { SignIn } from './SignIn';
import { useRestoreSession } from './useRestoreSession';

export function Studio() {
  const { ready, error: restoreError } = useRestoreSession();
  const userId = useStore((s) => s.userId);
  if (!ready) return <main className="studio">Loading…</main>;
  if (restoreError) return <main className="studio error-text">{restoreError}</main>;
  if (!userId) {
    return (
      <main className="centered">
        <SignIn role="host" />
      </main>
    );
  }
  return <StudioLive userId={userId} />;
}

function StudioLive({ userId }: { userId: string }) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const sessionRef = useRef<HostSession | null>(null);
  const [deviceError, setDeviceError] = useState<string | null>(null);
  const [sessionReady, setSessionReady] = useState(false);
  const [title, setTitle] = useState('Roast night');
  const [inviteeId, setInviteeId] = useState('');
  const [inviteError, setInviteError] = useState<string | null>(null);
  const displayName = useStore((s) => s.displayName);
  const { phase, stream, stats, encoder, error, playbackUrl } = useStore(
    useShallow((s) => ({ phase: s.phase, stream: s.stream, stats: s.stats, encoder: s.encoder, error: s.error, playbackUrl: s.playbackUrl })),
  );
  const seats = useStore(useShallow((s) => activeSeats(s.seats)));
  const invitations = useStore((s) => s.invitations);
  const links = useStore((s) => s.links);
  const names = useStore((s) => s.names);

  useEffect(() => {
    let disposed = false;
    let session: HostSession | null = null;
    (async () => {
      try {
        const [camera, bridge] = await Promise.all([openCamera(), getNativeBridge()]);
        if (disposed) {
          camera.getTracks().forEach((t) => t.stop());
          return;
        }
        session = new HostSession(canvasRef.current!, bridge, userId, displayName, camera);
        sessionRef.current = session;
        setSessionReady(true);
      } catch (err) {
        setDeviceError((err as Error).message);
      }
    })();
    return () => {
      disposed = true;
      session?.dispose();
      sessionRef.current = null;
      setSessionReady(false);
    };
  }, [userId, displayName]);

  const goLive = () => void sessionRef.current?.goLive(title).catch(() => {});
  const endLive = () => void sessionRef.current?.end().catch((err: Error) => useStore.getState().setBroadcast({ error: err.message }));
  const invite = async (event: React.FormEvent) => {
    event.preventDefault();
    setInviteError(null);
    if (!stream) return;
    try {
      const invitation = await inviteGuest(stream.id, inviteeId.trim());
      useStore.getState().upsertInvitation(invitation);
      setInviteeId('');
    } catch (err) {
      setInviteError((err as Error).message);
    }
  };

  return (
    <main className="studio" data-testid="studio" data-phase={phase}>
      <header className="topbar">
        <strong>
          <span className="brand-dot" /> Roast Live Studio
        </strong>
        <span className={`pill phase-${phase}`} data-testid="phase">
          {phase === 'live' ? 'LIVE' : phase}
        </span>
        <span className="muted">
          {displayName} · <code data-testid="user-id">{userId}</code>
        </span>
      </header>
      <section className="stage">
        <div className="program">
          <canvas ref={canvasRef} data-testid="program" />
          {deviceError ? <p className="error-text overlay" role="alert">{deviceError}</p> : null}
        </div>
        <aside className="panel">
          <div className="card">
            <h3>Broadcast</h3>
            {phase === 'idle' || phase === 'error' || phase === 'ended' ? (
              <>
                <label>
                  Title
                  <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={120} data-testid="title" />
                </label>
                <button className="primary" onClick={goLive} disabled={!!deviceError || !sessionReady} data-testid="go-live">
                  {sessionReady || deviceError ? 'Go live' : 'Starting camera…'}
                </button>
              </>
            ) : (
              <button className="danger" onClick={endLive} disabled={phase !== 'live'} data-testid="end-live">
                End live
              </button>
            )}
            {error ? <p className="error-text" role="alert">{error}</p> : null}
            {playbackUrl && stream ? (
              <p className="muted small">
                Viewers:{' '}
                <a href={`#/watch?stream=${stream.id}`} target="_blank" rel="noreferrer" data-testid="watch-link">
                  watch page
                </a>{' '}
                · <code>{playbackUrl}</code>
              </p>
            ) : null}
            <HealthBar stats={stats} encoder={encoder} />
          </div>
          <div className="card">
            <h3>Invite a guest</h3>
            <form onSubmit={invite} className="row">
              <input placeholder="Guest user id" value={inviteeId} onChange={(e) => setInviteeId(e.target.value)} disabled={phase !== 'live'} data-testid="invitee-id" />
              <button disabled={phase !== 'live' || !inviteeId.trim()} data-testid="invite">
                Invite
              </button>
            </form>
            {inviteError ? <p className="error-text" role="alert">{inviteError}</p> : null}
            <ul className="list" data-testid="invitations">
              {invitations.slice(0, 5).map((inv) => (
                <li key={inv.id} data-status={inv.status}>
                  {names[inv.invitee_id] ?? inv.invitee_id.slice(0, 8)} — {inv.status}
                  {inv.status === 'pending' ? <Countdown expiresAt={inv.expires_at} /> : null}
                </li>
              ))}
            </ul>
          </div>
          <div className="card">
            <h3>On stage ({seats.length}/9)</h3>
            <ul className="list" data-testid="seats">
              {seats.map((seat) => (
                <li key={seat.id} data-user={seat.user_id}>
                  Seat {seat.seat_index + 1}: {names[seat.user_id] ?? 'Guest'}{' '}
                  <span className="muted small" data-testid="link-state">{links[seat.user_id] ?? 'waiting'}</span>
                </li>
              ))}
            </ul>
          </div>
        </aside>
      </section>
    </main>
  );
}
