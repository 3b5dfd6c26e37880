/** An invitation to go live, with its 20 s countdown and big Accept / Decline buttons. */
import { useEffect, useRef, type ReactNode } from 'react';
import { INVITATION_TTL_SECONDS, type GuestInvitationRow } from '../../../../shared/domain';
import { Countdown, useSecondsLeft } from '../Countdown';

export function InvitationCard({
  invitation,
  hostName,
  expiresAt = invitation.expires_at,
  busy,
  disabled = busy,
  onAccept,
  onDecline,
  children,
  takeFocus = false,
}: {
  invitation: GuestInvitationRow;
  hostName: string | null;
  /** When it expires on this page's clock (default: the database's expires_at as it is). */
  expiresAt?: string;
  /** This invitation is being accepted. */
  busy: boolean;
  /** Its buttons wait (this or another invitation or seat is being answered). */
  disabled?: boolean;
  onAccept: () => void;
  /** The first card takes the keyboard's focus where nothing holds it (the button that had it went as the card came). */
  takeFocus?: boolean;
  onDecline: () => void;
  children?: ReactNode;
}) {
  const left = useSecondsLeft(expiresAt);
  const share = Math.min(1, left / INVITATION_TTL_SECONDS);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // As the card comes first (it arrived, or the one before it was answered and went with the focus).
    if (takeFocus && (document.activeElement === null || document.activeElement === document.body)) heading.current?.focus();
  }, [takeFocus]);
  return (
    <article className="card invitation g-invitation" data-testid="invitation" aria-label="Invitation to go live">
      <header className="g-invitation-head">
        <div>
          <h2 ref={heading} tabIndex={-1}>
            {hostName ? `${hostName} invites you to go live` : 'You are invited to go live'}
          </h2>
          <p className="muted small">
            {invitation.seat_index !== null ? `Seat ${invitation.seat_index + 1}` : 'The next free seat'} · expires in{' '}
            <Countdown expiresAt={expiresAt} />
          </p>
        </div>
      </header>
      <div className="g-timebar" aria-hidden="true">
        <span style={{ transform: `scaleX(${share})` }} className={left <= 5 ? 'urgent' : undefined} />
      </div>
      {children}
      <div className="g-actions">
        <button type="button" className="primary g-big" onClick={onAccept} disabled={left === 0 || disabled} data-testid="accept">
          {busy ? 'Joining…' : 'Accept & join'}
        </button>
        <button type="button" className="g-big" onClick={onDecline} disabled={disabled} data-testid="decline">
          Decline
        </button>
      </div>
    </article>
  );
}
