/**
 * Guests of a stream: invitations, seats, moderation, the guest event log and
 * their live updates. Every write goes through a database function that
 * enforces the rule behind it (who may invite, the 20 s expiry, nine seats,
 * locked seats, host-only moderation); this service only calls them.
 */
import type { SupabaseClient } from '@supabase/supabase-js';
import type { GuestEventRow, GuestInvitationRow, GuestSeatRow, Profile, StreamRow } from '../../../shared/domain';
import { BackendError, toBackendError } from './errors';
import { requireUuid, watchTable, type Unsubscribe } from './realtime';
import { pageMethod, pageService } from './supabase';

export const PROFILE_SEARCH_LIMIT = 20;
export const EVENT_LIST_LIMIT = 50;

export interface ListEventsOptions {
  /** Newest first, at most this many (default 50, at most 200). */
  limit?: number;
  /** Only events after this id (for catching up after a reconnect). */
  afterId?: number;
}

/**
 * Invitation rows as they change (of a user, or of a stream, by the id given). With `onUnavailable`, live updates
 * that cannot start are told there and tried again (`onRejoin` once they hold).
 */
type InvitationWatch = (
  id: string,
  onChange: (row: GuestInvitationRow) => void,
  onRejoin?: () => void,
  onUnavailable?: (err: BackendError) => void,
) => Promise<Unsubscribe>;

export interface StreamGuestService {
  /** The host (or a moderator) invites a user, to a given seat or the next free one. */
  inviteGuest(streamId: string, inviteeId: string, seatIndex?: number | null): Promise<GuestInvitationRow>;
  /** The host (or a moderator) withdraws a pending invitation. */
  cancelInvitation(invitationId: string): Promise<GuestInvitationRow>;
  /** The invitee takes the seat; refused once the invitation expired. */
  acceptInvitation(invitationId: string): Promise<GuestSeatRow>;
  declineInvitation(invitationId: string): Promise<GuestInvitationRow>;
  /** Open invitations addressed to the user, newest first (stale ones are marked expired on the way). */
  listPendingInvitations(userId: string): Promise<GuestInvitationRow[]>;
  /** Invitations of a stream as its host or a moderator sees them, newest first. */
  listStreamInvitations(streamId: string, options?: { pendingOnly?: boolean }): Promise<GuestInvitationRow[]>;
  /** The caller leaves their seat. */
  leaveSeat(streamId: string): Promise<GuestSeatRow>;
  /** The host (or a moderator) takes a guest off their seat. */
  removeGuest(streamId: string, userId: string): Promise<GuestSeatRow>;
  /** The host (or a moderator) mutes a guest: the microphone goes off and the guest cannot turn it on until released. */
  muteGuest(streamId: string, userId: string): Promise<GuestSeatRow>;
  /** Releases the host's mute; the guest's own microphone switch stays as it was. */
  unmuteGuest(streamId: string, userId: string): Promise<GuestSeatRow>;
  /** The host (or a moderator) turns a guest's camera off; the guest cannot turn it on until released. */
  disableGuestCamera(streamId: string, userId: string): Promise<GuestSeatRow>;
  /** Releases the host's camera block; the guest's own camera switch stays as it was. */
  enableGuestCamera(streamId: string, userId: string): Promise<GuestSeatRow>;
  /** How loud a guest is in the program mix, 0–2 (1 unchanged). */
  setGuestVolume(streamId: string, userId: string, volume: number): Promise<GuestSeatRow>;
  /** A seated guest switches their own microphone; turning it on is refused (`muted_by_host`) while muted. */
  setMyMic(streamId: string, enabled: boolean): Promise<GuestSeatRow>;
  /** A seated guest switches their own camera; turning it on is refused (`camera_disabled_by_host`) while blocked. */
  setMyCamera(streamId: string, enabled: boolean): Promise<GuestSeatRow>;
  lockSeat(streamId: string, seatIndex: number): Promise<StreamRow>;
  unlockSeat(streamId: string, seatIndex: number): Promise<StreamRow>;
  /** Only the host grants or revokes a seated guest's moderator role. */
  setModerator(streamId: string, userId: string, isModerator: boolean): Promise<GuestSeatRow>;
  /** Occupied seats of a stream, by seat index. */
  listActiveSeats(streamId: string): Promise<GuestSeatRow[]>;
  /** The seats the user still holds, in any stream (a page reloaded on stage finds its seat here). */
  listMyActiveSeats(userId: string): Promise<GuestSeatRow[]>;
  /**
   * The database's clock, read now: its time, and when the request left and
   * its answer came on the page's clock (the time lies in between).
   */
  readServerClock(): Promise<{ serverTime: string; sentAt: number; receivedAt: number }>;
  /** The stream's guest event log, newest first; rows without a stored name get the profile's. */
  listEvents(streamId: string, options?: ListEventsOptions): Promise<GuestEventRow[]>;
  getProfiles(ids: string[]): Promise<Profile[]>;
  /** Users whose display name or username contains the text (case-insensitive), at most 20. */
  searchProfiles(text: string, options?: { limit?: number }): Promise<Profile[]>;
  /** Invitations addressed to the user as they are made, answered, cancelled or expire. */
  subscribeInvitations: InvitationWatch;
  /** Invitations of a stream as its host sees them change. */
  subscribeStreamInvitations: InvitationWatch;
  /**
   * Seats of a stream: taken, changed (mute, camera, moderator, volume) and
   * left. `onRejoin` (here and in the other subscriptions) is called when the
   * subscription came back after a drop: changes meanwhile were missed.
   */
  subscribeSeats(streamId: string, onChange: (row: GuestSeatRow) => void, onRejoin?: () => void): Promise<Unsubscribe>;
  /** New entries of the stream's guest event log. */
  /** With `onUnavailable`, live updates that cannot start are said and tried again, instead of rejecting (see watchTable). */
  subscribeEvents(streamId: string, onEvent: (row: GuestEventRow) => void, onRejoin?: () => void, onUnavailable?: (err: BackendError) => void): Promise<Unsubscribe>;
}

/** Escapes text for an ILIKE pattern inside a PostgREST logic tree: `*text*`, quoted. */
export function containsPattern(text: string): string {
  // `*` is PostgREST's wildcard and cannot be escaped: it matches any one character instead.
  const like = text.replace(/[\\%_]/g, '\\$&').replace(/\*/g, '_');
  return `"*${like.replace(/[\\"]/g, '\\$&')}*"`;
}

export function createStreamGuestService(client: SupabaseClient): StreamGuestService {
  async function rpc<T>(fn: string, args: Record<string, unknown>, context: string): Promise<T> {
    const { data, error } = await client.rpc(fn, args);
    if (error) throw toBackendError(context, error);
    if (data === null || data === undefined) throw new BackendError('empty_response', `${context}: the backend sent no answer`);
    return data as T;
  }

  const moderate = (streamId: string, userId: string, change: Record<string, unknown>, context: string) =>
    rpc<GuestSeatRow>('moderate_guest', { p_stream_id: streamId, p_user_id: userId, ...change }, context);

  const setMyMedia = (streamId: string, change: Record<string, unknown>, context: string) =>
    rpc<GuestSeatRow>('set_my_media', { p_stream_id: streamId, ...change }, context);

  const setSeatLocked = (streamId: string, seatIndex: number, locked: boolean, context: string) =>
    rpc<StreamRow>('set_seat_locked', { p_stream_id: streamId, p_seat_index: seatIndex, p_locked: locked }, context);

  /** The caller's invitations (as invitee, host or moderator), newest first; stale ones are marked expired first. */
  async function listInvitations(streamId: string | null): Promise<GuestInvitationRow[]> {
    const { data, error } = await client.rpc('list_invitations', { p_stream_id: streamId });
    if (error) throw toBackendError('Could not load invitations', error);
    return (data ?? []) as GuestInvitationRow[];
  }

  async function getProfiles(ids: string[]): Promise<Profile[]> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const { data, error } = await client.from('profiles').select('*').in('id', unique);
    if (error) throw toBackendError('Could not load profiles', error);
    return (data ?? []) as Profile[];
  }

  return {
    inviteGuest: (streamId, inviteeId, seatIndex) =>
      rpc('invite_guest', { p_stream_id: streamId, p_invitee_id: inviteeId, p_seat_index: seatIndex ?? null }, 'Invitation failed'),
    cancelInvitation: (invitationId) => rpc('cancel_invitation', { p_invitation_id: invitationId }, 'Could not cancel the invitation'),
    acceptInvitation: (invitationId) => rpc('accept_invitation', { p_invitation_id: invitationId }, 'Could not join'),
    declineInvitation: (invitationId) => rpc('decline_invitation', { p_invitation_id: invitationId }, 'Could not decline'),

    // list_invitations marks the stale ones expired by the database's clock: what is still pending is open. This
    // page's own clock is not asked (a phone's may run seconds off); its countdown is the caller's (serverClock).
    async listPendingInvitations(userId) {
      return (await listInvitations(null)).filter((row) => row.invitee_id === userId && row.status === 'pending');
    },

    async listStreamInvitations(streamId, options = {}) {
      const rows = await listInvitations(streamId);
      if (!options.pendingOnly) return rows;
      return rows.filter((row) => row.status === 'pending');
    },

    leaveSeat: (streamId) => rpc('leave_seat', { p_stream_id: streamId }, 'Could not leave'),
    removeGuest: (streamId, userId) => rpc('remove_guest', { p_stream_id: streamId, p_user_id: userId }, 'Could not remove the guest'),
    muteGuest: (streamId, userId) => moderate(streamId, userId, { p_muted: true }, 'Could not mute the guest'),
    unmuteGuest: (streamId, userId) => moderate(streamId, userId, { p_muted: false }, 'Could not unmute the guest'),
    disableGuestCamera: (streamId, userId) => moderate(streamId, userId, { p_camera_disabled: true }, "Could not turn off the guest's camera"),
    enableGuestCamera: (streamId, userId) => moderate(streamId, userId, { p_camera_disabled: false }, "Could not allow the guest's camera"),
    setGuestVolume: (streamId, userId, volume) => moderate(streamId, userId, { p_volume: volume }, "Could not set the guest's volume"),
    setMyMic: (streamId, enabled) =>
      setMyMedia(streamId, { p_mic_enabled: enabled }, enabled ? 'Could not turn your microphone on' : 'Could not turn your microphone off'),
    setMyCamera: (streamId, enabled) =>
      setMyMedia(streamId, { p_camera_enabled: enabled }, enabled ? 'Could not turn your camera on' : 'Could not turn your camera off'),
    lockSeat: (streamId, seatIndex) => setSeatLocked(streamId, seatIndex, true, 'Could not lock the seat'),
    unlockSeat: (streamId, seatIndex) => setSeatLocked(streamId, seatIndex, false, 'Could not unlock the seat'),
    setModerator: (streamId, userId, isModerator) =>
      rpc(
        'set_moderator',
        { p_stream_id: streamId, p_user_id: userId, p_is_moderator: isModerator },
        isModerator ? 'Could not make the guest a moderator' : 'Could not revoke the moderator role',
      ),

    async listActiveSeats(streamId) {
      const { data, error } = await client
        .from('stream_guest_seats')
        .select('*')
        .eq('stream_id', streamId)
        .is('left_at', null)
        .order('seat_index', { ascending: true });
      if (error) throw toBackendError('Could not load seats', error);
      return (data ?? []) as GuestSeatRow[];
    },

    async listMyActiveSeats(userId) {
      const { data, error } = await client
        .from('stream_guest_seats')
        .select('*')
        .eq('user_id', requireUuid(userId, 'user id'))
        .is('left_at', null)
        .order('joined_at', { ascending: false });
      if (error) throw toBackendError('Could not load your seats', error);
      return (data ?? []) as GuestSeatRow[];
    },

    async readServerClock() {
      const sentAt = Date.now();
      const serverTime = await rpc<string>('server_now', {}, 'Could not read the server clock');
      return { serverTime, sentAt, receivedAt: Date.now() };
    },

    async listEvents(streamId, options = {}) {
      const limit = Math.min(Math.max(Math.trunc(options.limit ?? EVENT_LIST_LIMIT), 1), 200);
      let query = client.from('stream_guest_events').select('*').eq('stream_id', streamId);
      if (options.afterId !== undefined) query = query.gt('id', options.afterId);
      const { data, error } = await query.order('id', { ascending: false }).limit(limit);
      if (error) throw toBackendError('Could not load the stream events', error);
      const rows = (data ?? []) as GuestEventRow[];
      const unnamed = rows.filter((r) => r.display_name === null && r.user_id !== null).map((r) => r.user_id as string);
      if (unnamed.length === 0) return rows;
      const names = new Map((await getProfiles(unnamed)).map((p) => [p.id, p.display_name ?? p.username]));
      return rows.map((r) => (r.display_name === null && r.user_id !== null ? { ...r, display_name: names.get(r.user_id) ?? null } : r));
    },

    getProfiles,

    async searchProfiles(text, options = {}) {
      const needle = text.trim();
      if (needle === '') return [];
      const limit = Math.min(Math.max(Math.trunc(options.limit ?? PROFILE_SEARCH_LIMIT), 1), PROFILE_SEARCH_LIMIT);
      const pattern = containsPattern(needle);
      const { data, error } = await client
        .from('profiles')
        .select('*')
        .or(`display_name.ilike.${pattern},username.ilike.${pattern}`)
        .order('display_name', { ascending: true })
        .limit(limit);
      if (error) throw toBackendError('Could not search for users', error);
      return (data ?? []) as Profile[];
    },

    subscribeInvitations: async (userId, onChange, onRejoin, onUnavailable) =>
      watchTable(client, 'invitations', {
        table: 'stream_guest_invitations',
        filter: `invitee_id=eq.${requireUuid(userId, 'user id')}`,
        onRow: onChange,
        ...(onRejoin ? { onRejoin } : {}),
        ...(onUnavailable ? { onUnavailable } : {}),
      }),
    subscribeStreamInvitations: async (streamId, onChange, onRejoin, onUnavailable) =>
      watchTable(client, 'stream-invitations', {
        table: 'stream_guest_invitations',
        filter: `stream_id=eq.${requireUuid(streamId, 'stream id')}`,
        onRow: onChange,
        ...(onRejoin ? { onRejoin } : {}),
        ...(onUnavailable ? { onUnavailable } : {}),
      }),
    subscribeSeats: async (streamId, onChange, onRejoin) =>
      watchTable(client, 'seats', {
        table: 'stream_guest_seats',
        filter: `stream_id=eq.${requireUuid(streamId, 'stream id')}`,
        onRow: onChange,
        ...(onRejoin ? { onRejoin } : {}),
      }),
    subscribeEvents: async (streamId, onEvent, onRejoin, onUnavailable) =>
      watchTable(client, 'events', {
        table: 'stream_guest_events',
        filter: `stream_id=eq.${requireUuid(streamId, 'stream id')}`,
        events: ['INSERT'],
        onRow: onEvent,
        ...(onUnavailable ? { onUnavailable } : {}),
        ...(onRejoin ? { onRejoin } : {}),
      }),
  };
}

const page = pageService(createStreamGuestService);

export const inviteGuest = pageMethod(page, 'inviteGuest');
export const cancelInvitation = pageMethod(page, 'cancelInvitation');
export const acceptInvitation = pageMethod(page, 'acceptInvitation');
export const declineInvitation = pageMethod(page, 'declineInvitation');
export const listPendingInvitations = pageMethod(page, 'listPendingInvitations');
export const listStreamInvitations = pageMethod(page, 'listStreamInvitations');
export const leaveSeat = pageMethod(page, 'leaveSeat');
export const removeGuest = pageMethod(page, 'removeGuest');
export const muteGuest = pageMethod(page, 'muteGuest');
export const unmuteGuest = pageMethod(page, 'unmuteGuest');
export const disableGuestCamera = pageMethod(page, 'disableGuestCamera');
export const enableGuestCamera = pageMethod(page, 'enableGuestCamera');
export const setGuestVolume = pageMethod(page, 'setGuestVolume');
export const setMyMic = pageMethod(page, 'setMyMic');
export const setMyCamera = pageMethod(page, 'setMyCamera');
export const lockSeat = pageMethod(page, 'lockSeat');
export const unlockSeat = pageMethod(page, 'unlockSeat');
export const setModerator = pageMethod(page, 'setModerator');
export const listActiveSeats = pageMethod(page, 'listActiveSeats');
export const listMyActiveSeats = pageMethod(page, 'listMyActiveSeats');
export const readServerClock = pageMethod(page, 'readServerClock');
export const listEvents = pageMethod(page, 'listEvents');
export const getProfiles = pageMethod(page, 'getProfiles');
export const searchProfiles = pageMethod(page, 'searchProfiles');
export const subscribeInvitations = pageMethod(page, 'subscribeInvitations');
export const subscribeStreamInvitations = pageMethod(page, 'subscribeStreamInvitations');
export const subscribeSeats = pageMethod(page, 'subscribeSeats');
export const subscribeEvents = pageMethod(page, 'subscribeEvents');
