/**
 * A moderator's page: the other guests on stage, each with what the host's
 * seat menu offers a moderator (mute or release the microphone, turn the
 * camera off or release it, remove from the stage). Another moderator is
 * listed without actions: only the host moderates moderators. A mute or a
 * camera the host turned off is shown as the host's, and only the host
 * releases it.
 */
import { useState, type ReactNode } from 'react';
import type { GuestSeatRow } from '../../../../shared/domain';
import type { ModeratorAction } from '../../session/GuestSession';
import { useSecondTap } from '../useSecondTap';

export function ModeratorPanel({
  others,
  names,
  hostId,
  onAction,
  children,
}: {
  others: GuestSeatRow[];
  /** The stream's host: what they turned off is theirs to release. */
  hostId: string;
  names: Record<string, string>;
  onAction: (action: ModeratorAction, userId: string) => Promise<void>;
  /** More a moderator can do (inviting), under the list. */
  children?: ReactNode;
}) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** The seat whose Remove was tapped once: a second tap removes (a removal cannot be undone); it lapses after a while. */
  const [confirming, setConfirming] = useSecondTap<string>();

  const run = (action: ModeratorAction, seat: GuestSeatRow) => {
    setBusy(seat.user_id);
    setError(null);
    onAction(action, seat.user_id)
      .catch((err: Error) => setError(err.message))
      .finally(() => setBusy(null));
  };

  return (
    <section className="g-moderate" aria-label="Moderate the stage" data-testid="moderator-panel">
      <h2>You are a moderator</h2>
      <p className="muted small">The host made you one: you can invite guests, and mute, turn off the camera of, or remove the other guests.</p>
      {others.length === 0 ? <p className="muted small">No other guest is on stage.</p> : null}
      <ul>
        {others.map((seat) => {
          const name = names[seat.user_id] ?? `Guest on seat ${seat.seat_index + 1}`;
          const waiting = busy !== null;
          const hostMuted = seat.muted_by_host && seat.mic_muted_by === hostId;
          const hostCamera = seat.camera_disabled_by_host && seat.camera_disabled_by === hostId;
          return (
            <li key={seat.id} data-testid="moderated-guest" data-user={seat.user_id}>
              <span className="g-moderate-name">
                <strong>{name}</strong>
                <span className="muted small" data-testid="moderated-state">
                  {seat.is_moderator
                    ? 'moderator'
                    : [
                        seat.muted_by_host ? (hostMuted ? 'muted by the host' : 'muted by a moderator') : seat.mic_enabled ? 'mic on' : 'mic off',
                        seat.camera_disabled_by_host ? (hostCamera ? 'camera off by the host' : 'camera off by a moderator') : seat.camera_enabled ? 'camera on' : 'camera off',
                      ].join(' · ')}
                </span>
              </span>
              {seat.is_moderator ? null : (
                <span className="g-moderate-actions">
                  <button
                    type="button"
                    disabled={waiting || hostMuted}
                    title={hostMuted ? 'The host muted this microphone: only the host can release it' : undefined}
                    onClick={() => run(seat.muted_by_host ? 'unmute' : 'mute', seat)}
                    aria-label={`${seat.muted_by_host ? 'Release the microphone of' : 'Mute'} ${name}`}
                  >
                    {seat.muted_by_host ? 'Release mic' : 'Mute'}
                  </button>
                  <button
                    type="button"
                    disabled={waiting || hostCamera}
                    title={hostCamera ? 'The host turned this camera off: only the host can release it' : undefined}
                    onClick={() => run(seat.camera_disabled_by_host ? 'camera-release' : 'camera-off', seat)}
                    aria-label={`${seat.camera_disabled_by_host ? 'Release the camera of' : 'Turn off the camera of'} ${name}`}
                  >
                    {seat.camera_disabled_by_host ? 'Release camera' : 'Camera off'}
                  </button>
                  {confirming === seat.id ? (
                    <button
                      type="button"
                      className="danger"
                      disabled={waiting}
                      onClick={() => {
                        setConfirming(null);
                        run('remove', seat);
                      }}
                      aria-label={`Confirm: remove ${name} from the stage`}
                    >
                      Sure? Remove
                    </button>
                  ) : (
                    <button type="button" className="danger" disabled={waiting} onClick={() => setConfirming(seat.id)} aria-label={`Remove ${name} from the stage`}>
                      Remove
                    </button>
                  )}
                </span>
              )}
            </li>
          );
        })}
      </ul>
      {error ? (
        <p className="error-text" role="alert" data-testid="moderator-error">
          {error}
        </p>
      ) : null}
      {children}
    </section>
  );
}
