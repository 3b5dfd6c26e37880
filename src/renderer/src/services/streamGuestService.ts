import type { RealtimeChannel } from '@supabase/supabase-js';
import type { GuestInvitationRow, GuestSeatRow, Profile } from '../../../shared/domain';
import { getSupabase, toBackendError } from './supabase';

/** The host (or a moderator) invites a user to a seat; the database enforces who may. */
export async function inviteGuest(streamId: string, inviteeId: string, seatIndex?: number): Promise<GuestInvitationRow> {
  const supabase = await getSupabase();
  const { data, error } = await supabase.rpc('invite_guest', {
    p_stream_id: streamId,
    p_invitee_id: inviteeId,
    p_seat_index: seatIndex ?? null,
  });
  if (error) throw toBackendError('Invitation failed', error);
  return data as GuestInvitationRow;
}

export async function acceptInvitation(invitationId: string): Promise<GuestSeatRow> {
  const supabase = await getSupabase();
  const { data, error } = await supabase.rpc('accept_invitation', { p_invitation_id: invitationId });
  if (error) throw toBackendError('Could not join', error);
  return data as GuestSeatRow;
}

export async function declineInvitation(invitationId: string): Promise<void> {
  const supabase = await getSupabase();
  const { error } = await supabase.rpc('decline_invitation', { p_invitation_id: invitationId });
  if (error) throw toBackendError('Could not decline', error);
}

export async function leaveSeat(streamId: string): Promise<void> {
  const supabase = await getSupabase();
  const { error } = await supabase.rpc('leave_seat', { p_stream_id: streamId });
  if (error) throw toBackendError('Could not leave', error);
}

export async function listPendingInvitations(userId: string): Promise<GuestInvitationRow[]> {
  const supabase = await getSupabase();
  const { data, error } = await supabase
    .from('stream_guest_invitations')
    .select('*')
    .eq('invitee_id', userId)
    .eq('status', 'pending')
    .gt('expires_at', new Date().toISOString())
    .order('created_at', { ascending: false });
  if (error) throw toBackendError('Could not load invitations', error);
  return (data ?? []) as GuestInvitationRow[];
}

export async function listActiveSeats(streamId: string): Promise<GuestSeatRow[]> {
  const supabase = await getSupabase();
  const { data, error } = await supabase
    .from('stream_guest_seats')
    .select('*')
    .eq('stream_id', streamId)
    .is('left_at', null)
    .order('seat_index', { ascending: true });
  if (error) throw toBackendError('Could not load seats', error);
  return (data ?? []) as GuestSeatRow[];
}

export async function getProfiles(ids: string[]): Promise<Profile[]> {
  if (ids.length === 0) return [];
  const supabase = await getSupabase();
  const { data, error } = await supabase.from('profiles').select('*').in('id', ids);
  if (error) throw toBackendError('Could not load profiles', error);
  return (data ?? []) as Profile[];
}

/** Live invitation changes for the invitee; returns the unsubscribe. */
export async function subscribeInvitations(userId: string, onChange: (row: GuestInvitationRow) => void): Promise<() => void> {
  const supabase = await getSupabase();
  const channel: RealtimeChannel = supabase
    .channel(`invitations:${userId}`)
    .on(
      'postgres_changes',
      { event: '*', schema: 'public', table: 'stream_guest_invitations', filter: `invitee_id=eq.${userId}` },
      (payload) => onChange(payload.new as GuestInvitationRow),
    )
    .subscribe();
  return () => void supabase.removeChannel(channel);
}

/** Live seat changes of a stream; returns the unsubscribe. */
export async function subscribeSeats(streamId: string, onChange: (row: GuestSeatRow) => void): Promise<() => void> {
  const supabase = await getSupabase();
  const channel = supabase
    .channel(`seats:${streamId}`)
    .on(
      'postgres_changes',
      { event: '*', schema: 'public', table: 'stream_guest_seats', filter: `stream_id=eq.${streamId}` },
      (payload) => onChange(payload.new as GuestSeatRow),
    )
    .subscribe();
  return () => void supabase.removeChannel(channel);
}

/** Live invitation changes seen by the host of a stream. */
export async function subscribeStreamInvitations(streamId: string, onChange: (row: GuestInvitationRow) => void): Promise<() => void> {
  const supabase = await getSupabase();
  const channel = supabase
    .channel(`stream-invitations:${streamId}`)
    .on(
      'postgres_changes',
      { event: '*', schema: 'public', table: 'stream_guest_invitations', filter: `stream_id=eq.${streamId}` },
      (payload) => onChange(payload.new as GuestInvitationRow),
    )
    .subscribe();
  return () => void supabase.removeChannel(channel);
}
