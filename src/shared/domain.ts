/** Domain limits and row types shared by every side of the app. */

export const MAX_GUESTS = 9;
export const SEAT_COUNT = 9;
export const INVITATION_TTL_SECONDS = 20;

export type StreamStatus = 'idle' | 'live' | 'ended';
export type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'expired' | 'cancelled';

export type GuestEventType =
  | 'invited'
  | 'invitation_declined'
  | 'invitation_expired'
  | 'invitation_cancelled'
  | 'joined_live'
  | 'left_live'
  | 'removed'
  | 'muted_mic'
  | 'unmuted_mic'
  | 'camera_off'
  | 'camera_on'
  | 'seat_locked'
  | 'seat_unlocked'
  | 'moderator_added'
  | 'moderator_removed'
  | 'stream_started'
  | 'stream_ended';

export interface Profile {
  id: string;
  username: string | null;
  display_name: string | null;
  avatar_url: string | null;
  created_at: string;
}

export interface StreamRow {
  id: string;
  host_id: string;
  title: string;
  status: StreamStatus;
  ingest_provider: 'local' | 'cloudflare';
  live_input_id: string | null;
  playback_url: string | null;
  locked_seats: number[];
  started_at: string | null;
  ended_at: string | null;
  created_at: string;
}

export interface GuestSeatRow {
  id: string;
  stream_id: string;
  user_id: string;
  seat_index: number;
  mic_enabled: boolean;
  camera_enabled: boolean;
  muted_by_host: boolean;
  camera_disabled_by_host: boolean;
  /** Who turned muted_by_host on: a mute the host turned on is lifted by the host only. */
  mic_muted_by: string | null;
  /** Who turned camera_disabled_by_host on (see mic_muted_by). */
  camera_disabled_by: string | null;
  is_moderator: boolean;
  volume: number;
  call_session_id: string | null;
  joined_at: string;
  left_at: string | null;
  /** Who removed the guest, when they were removed. */
  removed_by: string | null;
  /** Counts up with each change of the row: of two copies, the higher is newer. */
  version: number;
}

/** Whether `row` is at least as new as `held` (the same seat): an older copy must not replace a newer one. */
export function isSeatUpdate(held: GuestSeatRow | undefined, row: GuestSeatRow): boolean {
  return !held || (row.version ?? 0) >= (held.version ?? 0);
}

export interface GuestInvitationRow {
  id: string;
  stream_id: string;
  host_id: string;
  invitee_id: string;
  /** Who sent it: the host or a moderator. */
  invited_by: string | null;
  seat_index: number | null;
  status: InvitationStatus;
  created_at: string;
  expires_at: string;
  responded_at: string | null;
}

export interface GuestEventRow {
  id: number;
  stream_id: string;
  user_id: string | null;
  actor_id: string | null;
  event_type: GuestEventType;
  /** Name of the user the event is about. */
  display_name: string | null;
  /** Name of the user who acted (the host or a moderator), when someone else did. */
  actor_display_name: string | null;
  seat_index: number | null;
  metadata: Record<string, unknown>;
  created_at: string;
}

const STREAM_PHASES: readonly StreamStatus[] = ['idle', 'live', 'ended'];

/**
 * The later of two readings of a stream's row, when a read and a live change
 * may arrive in either order: a stream only moves forward (idle, live, ended),
 * so a row whose status is behind the one held is an older reading and is
 * not taken. Otherwise the row that came last wins.
 */
export function laterStreamRow(held: StreamRow | null, row: StreamRow): StreamRow {
  if (!held || held.id !== row.id) return row;
  return STREAM_PHASES.indexOf(row.status) < STREAM_PHASES.indexOf(held.status) ? held : row;
}

/** Event rows from a list and from live changes, in any order: newest first, each once, at most `keep`. */
export function mergeEvents(held: readonly GuestEventRow[], rows: readonly GuestEventRow[], keep: number): GuestEventRow[] {
  const byId = new Map(held.map((e) => [e.id, e]));
  for (const row of rows) byId.set(row.id, row);
  return [...byId.values()].sort((a, b) => b.id - a.id).slice(0, keep);
}

/**
 * Name of the private Realtime channel carrying the WebRTC signaling between a
 * stream's host and one guest. Only those two may join it, so a message on it
 * can only come from one of them: a guest cannot speak for another guest.
 */
export function signalingChannelName(streamId: string, guestId: string): string {
  return `stream:${streamId}:signaling:${guestId}`;
}

/** Seconds left on an invitation at `nowMs`, never negative. */
export function secondsLeft(expiresAt: string, nowMs: number): number {
  const left = (Date.parse(expiresAt) - nowMs) / 1000;
  return left > 0 ? Math.ceil(left) : 0;
}
