/**
 * The multi-guest rules as the database enforces them, exercised through
 * supabase-js as real users: who may invite, the invitation expiry, nine
 * seats, locked seats, who may read invitations, and who may join the
 * stream's private signaling channel.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBackend, startLocalBackend } from '../../src/local/gateway.js';
import { MAX_GUESTS, signalingChannelName } from '../../src/shared/domain.js';

interface User {
  sb: SupabaseClient;
  id: string;
}

let backend: LocalBackend;

async function signIn(name: string): Promise<User> {
  const sb = createClient(backend.apiUrl, backend.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
  });
  const { data, error } = await sb.auth.signInAnonymously({ options: { data: { display_name: name } } });
  if (error || !data.user) throw new Error(`sign-in failed: ${error?.message}`);
  return { sb, id: data.user.id };
}

async function newStream(host: User, status: 'idle' | 'live' = 'live'): Promise<string> {
  const { data, error } = await host.sb.from('streams').insert({ host_id: host.id, title: 'roast night', status }).select('id').single();
  if (error || !data) throw new Error(`stream insert failed: ${error?.message}`);
  return data.id as string;
}

async function invite(by: User, streamId: string, invitee: User, seat?: number) {
  return by.sb.rpc('invite_guest', { p_stream_id: streamId, p_invitee_id: invitee.id, ...(seat === undefined ? {} : { p_seat_index: seat }) });
}

async function activeSeats(streamId: string): Promise<Array<{ user_id: string; seat_index: number }>> {
  const { rows } = await backend.pool.query<{ user_id: string; seat_index: number }>(
    'select user_id, seat_index from public.stream_guest_seats where stream_id = $1 and left_at is null order by seat_index',
    [streamId],
  );
  return rows;
}

beforeAll(async () => {
  backend = await startLocalBackend({ port: 0, ephemeralDb: true, dbPort: 0 });
});

afterAll(async () => {
  await backend?.stop();
});

describe('guest invitations and seats', () => {
  let host: User;
  let guest: User;
  let stranger: User;
  let streamId: string;

  beforeAll(async () => {
    [host, guest, stranger] = await Promise.all([signIn('Host'), signIn('Guest'), signIn('Stranger')]);
    streamId = await newStream(host);
  });

  it('refuses invitations from anyone but the host', async () => {
    const res = await invite(stranger, streamId, guest);
    expect(res.error?.code).toBe('42501');
    expect(res.error?.hint).toBe('not_host');
    expect(res.status).toBe(403);
    const { rows } = await backend.pool.query('select 1 from public.stream_guest_invitations where stream_id = $1', [streamId]);
    expect(rows).toHaveLength(0);
  });

  it('refuses an expired invitation and changes nothing', async () => {
    const inv = await invite(host, streamId, guest, 4);
    expect(inv.error).toBeNull();
    const invitationId = (inv.data as { id: string }).id;
    await backend.pool.query("update public.stream_guest_invitations set expires_at = now() - interval '1 second' where id = $1", [invitationId]);

    const accept = await guest.sb.rpc('accept_invitation', { p_invitation_id: invitationId });
    expect(accept.error?.code).toBe('P0001');
    expect(accept.error?.hint).toBe('invitation_expired');
    expect(accept.error?.message).toBe('This invitation has expired');

    expect(await activeSeats(streamId)).toEqual([]);
    const { rows } = await backend.pool.query<{ status: string }>('select status from public.stream_guest_invitations where id = $1', [invitationId]);
    expect(rows[0]?.status).toBe('pending');
    const events = await backend.pool.query("select 1 from public.stream_guest_events where stream_id = $1 and event_type = 'joined_live'", [streamId]);
    expect(events.rows).toHaveLength(0);

    // Declining it afterwards records the expiry instead.
    const declined = await guest.sb.rpc('decline_invitation', { p_invitation_id: invitationId });
    expect(declined.error).toBeNull();
    expect((declined.data as { status: string }).status).toBe('expired');
  });

  it('seats the invitee who accepts in time, on the invited seat', async () => {
    const inv = await invite(host, streamId, guest, 4);
    expect(inv.error).toBeNull();
    const accept = await guest.sb.rpc('accept_invitation', { p_invitation_id: (inv.data as { id: string }).id });
    expect(accept.error).toBeNull();
    expect(accept.data).toMatchObject({ stream_id: streamId, user_id: guest.id, seat_index: 4, left_at: null });

    const seats = await stranger.sb.from('stream_guest_seats').select('user_id,seat_index').eq('stream_id', streamId).is('left_at', null);
    expect(seats.data).toEqual([{ user_id: guest.id, seat_index: 4 }]);

    const events = await stranger.sb.from('stream_guest_events').select('event_type,display_name').eq('stream_id', streamId).order('id');
    expect(events.data?.map((e) => e.event_type)).toEqual(['invited', 'invitation_expired', 'invited', 'joined_live']);
    expect(events.data?.at(-1)?.display_name).toBe('Guest');

    const again = await invite(host, streamId, guest);
    expect(again.error?.hint).toBe('already_seated');
  });

  it('shows invitations only to the host and the invitee', async () => {
    const asHost = await host.sb.from('stream_guest_invitations').select('id').eq('stream_id', streamId);
    expect(asHost.data?.length).toBeGreaterThan(0);
    const asGuest = await guest.sb.from('stream_guest_invitations').select('invitee_id').eq('stream_id', streamId);
    expect(asGuest.data?.length).toBe(asHost.data?.length);
    expect(asGuest.data?.every((r) => r.invitee_id === guest.id)).toBe(true);
    const asStranger = await stranger.sb.from('stream_guest_invitations').select('id').eq('stream_id', streamId);
    expect(asStranger.error).toBeNull();
    expect(asStranger.data).toEqual([]);

    const forged = await stranger.sb.from('stream_guest_invitations').insert({ stream_id: streamId, host_id: host.id, invitee_id: stranger.id });
    expect(forged.error?.code).toBe('42501');
    const forgedSeat = await stranger.sb.from('stream_guest_seats').insert({ stream_id: streamId, user_id: stranger.id, seat_index: 0 });
    expect(forgedSeat.error?.code).toBe('42501');
  });

  it('lets only the host and seated guests into the signaling channel', async () => {
    const topic = signalingChannelName(streamId);
    const allowed = async (u: User | null, t = topic): Promise<unknown> => {
      const sb = u?.sb ?? createClient(backend.apiUrl, backend.anonKey, { realtime: { transport: WebSocket as never } });
      const { data, error } = await sb.rpc('realtime_topic_allowed', { p_topic: t });
      expect(error).toBeNull();
      return data;
    };
    expect(await allowed(host)).toBe(true);
    expect(await allowed(guest)).toBe(true);
    expect(await allowed(stranger)).toBe(false);
    expect(await allowed(null)).toBe(false);
    expect(await allowed(host, `stream:${streamId}:chat`)).toBe(false);
    expect(await allowed(host, 'stream:not-a-uuid:signaling')).toBe(false);
    expect(await allowed(host, `xstream:${streamId}:signaling`)).toBe(false);

    const left = await guest.sb.rpc('leave_seat', { p_stream_id: streamId });
    expect(left.error).toBeNull();
    expect(await allowed(guest)).toBe(false);
    const leftAgain = await guest.sb.rpc('leave_seat', { p_stream_id: streamId });
    expect(leftAgain.error?.hint).toBe('not_seated');
  });

  it('lets the host cancel and the invitee decline', async () => {
    const first = await invite(host, streamId, stranger);
    const cancelByInvitee = await stranger.sb.rpc('cancel_invitation', { p_invitation_id: (first.data as { id: string }).id });
    expect(cancelByInvitee.error?.code).toBe('42501');
    const cancelled = await host.sb.rpc('cancel_invitation', { p_invitation_id: (first.data as { id: string }).id });
    expect((cancelled.data as { status: string }).status).toBe('cancelled');

    const second = await invite(host, streamId, stranger);
    const declined = await stranger.sb.rpc('decline_invitation', { p_invitation_id: (second.data as { id: string }).id });
    expect((declined.data as { status: string }).status).toBe('declined');
    const acceptDeclined = await stranger.sb.rpc('accept_invitation', { p_invitation_id: (second.data as { id: string }).id });
    expect(acceptDeclined.error?.hint).toBe('invitation_not_pending');
  });
});

describe('nine seats', () => {
  it('seats nine guests, skips locked seats, refuses a tenth, and lets a moderator invite', async () => {
    const host = await signIn('Busy Host');
    const guests = await Promise.all(Array.from({ length: MAX_GUESTS + 1 }, (_, i) => signIn(`Guest ${i + 1}`)));
    const streamId = await newStream(host, 'idle');
    const lock = await host.sb.from('streams').update({ locked_seats: [0] }).eq('id', streamId);
    expect(lock.error).toBeNull();

    const invitations: string[] = [];
    for (const g of guests) {
      const res = await invite(host, streamId, g);
      expect(res.error).toBeNull();
      invitations.push((res.data as { id: string }).id);
    }
    const lockedInvite = await invite(host, streamId, guests[0] as User, 0);
    expect(lockedInvite.error?.hint).toBe('seat_locked');
    invitations[0] = ((await invite(host, streamId, guests[0] as User)).data as { id: string }).id;

    // Eight guests fill the unlocked seats 1..8; seat 0 stays locked.
    for (let i = 0; i < 8; i++) {
      const res = await (guests[i] as User).sb.rpc('accept_invitation', { p_invitation_id: invitations[i] });
      expect(res.error).toBeNull();
      expect((res.data as { seat_index: number }).seat_index).toBe(i + 1);
    }
    const noSeat = await (guests[8] as User).sb.rpc('accept_invitation', { p_invitation_id: invitations[8] });
    expect(noSeat.error?.hint).toBe('seats_full');

    const unlock = await host.sb.from('streams').update({ locked_seats: [] }).eq('id', streamId);
    expect(unlock.error).toBeNull();
    const ninth = await (guests[8] as User).sb.rpc('accept_invitation', { p_invitation_id: invitations[8] });
    expect(ninth.error).toBeNull();
    expect((ninth.data as { seat_index: number }).seat_index).toBe(0);
    expect(await activeSeats(streamId)).toHaveLength(MAX_GUESTS);

    const tenth = await (guests[9] as User).sb.rpc('accept_invitation', { p_invitation_id: invitations[9] });
    expect(tenth.error?.code).toBe('P0001');
    expect(tenth.error?.hint).toBe('seats_full');
    expect(await activeSeats(streamId)).toHaveLength(MAX_GUESTS);

    const full = await invite(host, streamId, guests[9] as User);
    expect(full.error?.hint).toBe('seats_full');

    // A seated moderator may invite once a seat frees up; a plain guest may not.
    const mod = guests[1] as User;
    await backend.pool.query('update public.stream_guest_seats set is_moderator = true where stream_id = $1 and user_id = $2 and left_at is null', [streamId, mod.id]);
    expect((await (guests[2] as User).sb.rpc('leave_seat', { p_stream_id: streamId })).error).toBeNull();
    const byGuest = await invite(guests[3] as User, streamId, guests[9] as User);
    expect(byGuest.error?.hint).toBe('not_host');
    const byMod = await invite(mod, streamId, guests[9] as User);
    expect(byMod.error).toBeNull();
    expect((byMod.data as { host_id: string }).host_id).toBe(host.id);
  });
});

describe('moderation', () => {
  it('lets the host mute, appoint and remove; a guest only switches their own media', async () => {
    const [host, guest, other] = await Promise.all([signIn('Mod Host'), signIn('Mod Guest'), signIn('Mod Other')]);
    const streamId = await newStream(host);
    for (const g of [guest, other]) {
      const inv = await invite(host, streamId, g);
      expect((await g.sb.rpc('accept_invitation', { p_invitation_id: (inv.data as { id: string }).id })).error).toBeNull();
    }

    const own = await guest.sb.rpc('set_my_media', { p_stream_id: streamId, p_mic_enabled: false });
    expect(own.data).toMatchObject({ mic_enabled: false, camera_enabled: true });
    const direct = await guest.sb.from('stream_guest_seats').update({ muted_by_host: false }).eq('user_id', guest.id).select();
    expect(direct.error?.code).toBe('42501');

    const byGuest = await other.sb.rpc('moderate_guest', { p_stream_id: streamId, p_user_id: guest.id, p_muted: true });
    expect(byGuest.error?.hint).toBe('not_host');
    const muted = await host.sb.rpc('moderate_guest', { p_stream_id: streamId, p_user_id: guest.id, p_muted: true, p_volume: 1.5 });
    expect(muted.data).toMatchObject({ muted_by_host: true, volume: 1.5 });
    const tooLoud = await host.sb.rpc('moderate_guest', { p_stream_id: streamId, p_user_id: guest.id, p_volume: 3 });
    expect(tooLoud.error?.hint).toBe('invalid_volume');

    expect((await host.sb.rpc('moderate_guest', { p_stream_id: streamId, p_user_id: other.id, p_is_moderator: true })).error).toBeNull();
    const removedByMod = await other.sb.rpc('remove_guest', { p_stream_id: streamId, p_user_id: guest.id });
    expect(removedByMod.error).toBeNull();
    expect((removedByMod.data as { left_at: string | null }).left_at).not.toBeNull();

    const locked = await other.sb.rpc('set_seat_locked', { p_stream_id: streamId, p_seat_index: 7, p_locked: true });
    expect((locked.data as { locked_seats: number[] }).locked_seats).toEqual([7]);

    const events = await host.sb.from('stream_guest_events').select('event_type').eq('stream_id', streamId).order('id');
    expect(events.data?.map((e) => e.event_type).slice(-4)).toEqual(['muted_mic', 'moderator_added', 'removed', 'seat_locked']);
  });
});
