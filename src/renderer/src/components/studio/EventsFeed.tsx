import { memo } from 'react';
import type { GuestEventRow } from '../../../../shared/domain';

/** One formatter for every row: toLocaleTimeString with options builds a new one per call (a studio hot spot with a long feed). */
const TIME = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' });

const TEXT: Partial<Record<GuestEventRow['event_type'], string>> = {
  stream_started: 'went live',
  stream_ended: 'ended the stream',
  invited: 'was invited',
  invitation_declined: 'declined the invitation',
  invitation_expired: "didn't answer in time",
  invitation_cancelled: 'invitation was cancelled',
  joined_live: 'joined the stage',
  left_live: 'left the stage',
  removed: 'was removed from the stage',
  muted_mic: 'was muted',
  unmuted_mic: 'was unmuted',
  camera_off: 'camera turned off',
  camera_on: 'camera turned on',
  seat_locked: 'locked a seat',
  seat_unlocked: 'unlocked a seat',
  moderator_added: 'is now a moderator',
  moderator_removed: 'is no longer a moderator',
};

export function describeEvent(e: GuestEventRow): string {
  return TEXT[e.event_type] ?? e.event_type.replace(/_/g, ' ');
}

/** The stream's guest events as a chat-style feed, newest first; redrawn only when the events change. */
export const EventsFeed = memo(function EventsFeed({ events }: { events: GuestEventRow[] }) {
  return (
    <ul className="list feed" data-testid="events" aria-live="polite">
      {events.length === 0 ? <li className="muted">Nothing yet.</li> : null}
      {events.map((e) => (
        <li key={e.id}>
          <span>
            <strong>{e.display_name ?? e.actor_display_name ?? 'Someone'}</strong> {describeEvent(e)}
            {e.seat_index !== null && (e.event_type === 'seat_locked' || e.event_type === 'seat_unlocked') ? ` (seat ${e.seat_index + 1})` : ''}
          </span>
          <time className="muted small">{TIME.format(new Date(e.created_at))}</time>
        </li>
      ))}
    </ul>
  );
});
