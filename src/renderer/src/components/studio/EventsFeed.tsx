import { memo } from 'react';
import type { GuestEventRow } from '../../../../shared/domain';

/** One formatter for every row: toLocaleTimeString with options builds a new one per call (a studio hot spot with a long feed). */
const TIME = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' });

/**
 * What the line says after the name of whom the event is about: text that
 * starts with a space, or with "’s" for a possessive ("Gus’s camera…").
 */
const TEXT: Partial<Record<GuestEventRow['event_type'], string>> = {
  stream_started: ' went live',
  stream_ended: ' ended the stream',
  invited: ' was invited',
  invitation_declined: ' declined the invitation',
  invitation_expired: " didn't answer the invitation in time",
  invitation_cancelled: '’s invitation was cancelled',
  joined_live: ' joined the stage',
  left_live: ' left the stage',
  removed: ' was removed from the stage',
  moderator_added: ' is now a moderator',
  moderator_removed: ' is no longer a moderator',
};

/** Who switched a guest's microphone or camera, as the database recorded it ('self', 'host' or 'moderator'). */
function byWhom(e: GuestEventRow): string {
  return e.metadata.by === 'moderator' ? (e.actor_display_name ?? 'a moderator') : 'the host';
}

/**
 * One event as a line of the feed: the name of whom it is about, and the
 * rest. A microphone or camera event says who switched it, and a release by
 * the host (the switch stays off, the guest may turn it on) is not called an
 * unmute.
 */
export function describeEvent(e: GuestEventRow): { name: string; rest: string } {
  const name = e.display_name ?? e.actor_display_name ?? 'Someone';
  const self = e.metadata.by === 'self';
  const m = e.metadata;
  switch (e.event_type) {
    case 'muted_mic':
      return { name, rest: self ? ' turned their microphone off' : ` was muted by ${byWhom(e)}` };
    case 'unmuted_mic':
      if (self) return { name, rest: ' turned their microphone on' };
      return { name, rest: m.mic_enabled === false ? `’s microphone was released by ${byWhom(e)}: they can turn it on` : ` was unmuted by ${byWhom(e)}` };
    case 'camera_off':
      return { name, rest: self ? ' turned their camera off' : `’s camera was turned off by ${byWhom(e)}` };
    case 'camera_on':
      if (self) return { name, rest: ' turned their camera on' };
      return { name, rest: m.camera_enabled === false ? `’s camera was released by ${byWhom(e)}: they can turn it on` : `’s camera was turned on by ${byWhom(e)}` };
    case 'invitation_expired':
      // Invited again before answering: the old invitation gave way to the new one, nobody let it run out.
      if (m.replaced === true) return { name, rest: ' was invited again (the earlier invitation was replaced)' };
      return { name, rest: TEXT.invitation_expired! };
    case 'seat_locked':
    case 'seat_unlocked': {
      const verb = e.event_type === 'seat_locked' ? 'locked' : 'unlocked';
      return { name, rest: e.seat_index !== null ? ` ${verb} seat ${e.seat_index + 1}` : ` ${verb} a seat` };
    }
    default:
      return { name, rest: TEXT[e.event_type] ?? ` ${e.event_type.replace(/_/g, ' ')}` };
  }
}

/** The stream's guest events as a chat-style feed, newest first; redrawn only when the events change. */
export const EventsFeed = memo(function EventsFeed({ events }: { events: GuestEventRow[] }) {
  return (
    <ul className="list feed" data-testid="events" aria-live="polite">
      {events.length === 0 ? <li className="muted">Nothing yet.</li> : null}
      {events.map((e) => (
        <li key={e.id}>
          <EventLine event={e} />
          <time className="muted small">{TIME.format(new Date(e.created_at))}</time>
        </li>
      ))}
    </ul>
  );
});

function EventLine({ event }: { event: GuestEventRow }) {
  const { name, rest } = describeEvent(event);
  return (
    <span>
      <strong>{name}</strong>
      {rest}
    </span>
  );
}
