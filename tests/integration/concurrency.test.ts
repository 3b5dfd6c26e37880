/**
 * Seats under contention: twenty invited users accept at the same moment,
 * each through their own supabase-js client. The stream row lock inside
 * accept_invitation serialises them: nine are seated, once each, on seats
 * 0..8, and eleven get a clear `seats_full`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_GUESTS } from '../../src/shared/domain.js';
import { startTestBackend, type TestBackend, type TestUser } from './helpers/backend.js';
import { accept, activeSeats, invite, must, newStream, snapshot } from './helpers/cohost.js';

const CONTENDERS = 20;

let t: TestBackend;

beforeAll(async () => {
  t = await startTestBackend();
});

afterAll(async () => {
  await t?.stop();
});

describe('concurrent accepts', () => {
  it('seat exactly nine of twenty, each on its own seat, and refuse the rest with seats_full', async () => {
    const host = await t.signIn('Crowded Host');
    const users = await Promise.all(Array.from({ length: CONTENDERS }, (_, i) => t.signIn(`Contender ${i + 1}`)));
    const streamId = await newStream(t, host);
    // Everyone is invited to seat 0 or no seat in particular: the seat choice itself is contended.
    const invitations: Array<{ user: TestUser; id: string }> = [];
    for (const [i, user] of users.entries()) {
      invitations.push({ user, id: must(await invite(host, streamId, user, i % 2 === 0 ? 0 : undefined), `invite ${user.name}`).id });
    }

    const results = await Promise.all(invitations.map(({ user, id }) => accept(user, id)));

    const seated = results.filter((r) => r.error === null);
    const refused = results.filter((r) => r.error !== null);
    expect(seated).toHaveLength(MAX_GUESTS);
    expect(refused).toHaveLength(CONTENDERS - MAX_GUESTS);
    for (const r of refused) {
      expect(r.status).toBe(400);
      expect(r.error).toMatchObject({ code: 'P0001', hint: 'seats_full', message: 'No free guest seat is left' });
    }
    expect(seated.map((r) => r.data?.seat_index).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);

    const seats = await activeSeats(t.pool, streamId);
    expect(seats.map((s) => s.seat_index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(seats.map((s) => s.user_id)).size).toBe(MAX_GUESTS);
    expect(new Set(seated.map((r) => r.data?.user_id))).toEqual(new Set(seats.map((s) => s.user_id)));

    // The winners' invitations are accepted, the others' still open; one joined_live each.
    const state = await snapshot(t.pool, streamId);
    const statuses = (state.invitations as Array<{ status: string; invitee_id: string }>).map((i) => i.status);
    expect(statuses.filter((s) => s === 'accepted')).toHaveLength(MAX_GUESTS);
    expect(statuses.filter((s) => s === 'pending')).toHaveLength(CONTENDERS - MAX_GUESTS);
    const joined = (state.events as Array<{ event_type: string; user_id: string; display_name: string }>).filter((e) => e.event_type === 'joined_live');
    expect(joined.map((e) => e.user_id).sort()).toEqual(seats.map((s) => s.user_id).sort());
    expect(joined.every((e) => /^Contender \d+$/.test(e.display_name))).toBe(true);
  });

  it('refuses callers without the right at once, without waiting for a stream another change holds', async () => {
    const host = await t.signIn('Busy Host');
    const [guest, stranger] = await Promise.all([t.signIn('Busy Guest'), t.signIn('Outside Oscar')]);
    const streamId = await newStream(t, host);
    must(await invite(host, streamId, guest, 0).then((r) => accept(guest, r.data!.id)), 'seat the guest');
    const before = await snapshot(t.pool, streamId);
    const holder = await t.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from public.streams where id = $1 for update', [streamId]);
      const calls: Array<[string, Record<string, unknown>, string]> = [
        ['end_stream', {}, 'not_host'],
        ['remove_guest', { p_user_id: guest.id }, 'not_host'],
        ['set_moderator', { p_user_id: guest.id, p_is_moderator: true }, 'not_host'],
        ['set_seat_locked', { p_seat_index: 3, p_locked: true }, 'not_host'],
        ['invite_guest', { p_invitee_id: guest.id }, 'not_host'],
        ['set_my_media', { p_mic_enabled: false }, 'not_seated'],
        ['leave_seat', {}, 'not_seated'],
      ];
      // Each answer arrives while the lock is still held (it is let go only after all have answered, or 20 s).
      const answers = await Promise.race([
        Promise.all(calls.map(([fn, args]) => stranger.sb.rpc(fn, { p_stream_id: streamId, ...args }))),
        new Promise<null>((r) => setTimeout(() => r(null), 20_000)),
      ]);
      expect(answers, 'a refusal waited for the stream').not.toBeNull();
      for (const [i, [fn, , hint]] of calls.entries()) expect(answers![i]!.error, fn).toMatchObject({ hint });
    } finally {
      await holder.query('commit');
      holder.release();
    }
    expect(await snapshot(t.pool, streamId)).toEqual(before);
  });

  it('refuses an accept that waited for the stream past the end of its invitation', async () => {
    const host = await t.signIn('Queued Host');
    const guest = await t.signIn('Late Lou');
    const streamId = await newStream(t, host);
    const invitation = must(await invite(host, streamId, guest), 'invite');
    await t.pool.query("update public.stream_guest_invitations set created_at = now() - interval '18500 milliseconds', expires_at = now() + interval '1500 milliseconds' where id = $1", [invitation.id]);
    // Another change of the stream holds its row while the accept arrives, until after the invitation ran out.
    const holder = await t.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from public.streams where id = $1 for update', [streamId]);
      const accepting = accept(guest, invitation.id);
      await new Promise((r) => setTimeout(r, 2500));
      await holder.query('commit');
      const answer = await accepting;
      expect(answer.error).toMatchObject({ code: 'P0001', hint: 'invitation_expired', message: 'This invitation has expired' });
    } finally {
      holder.release();
    }
    expect(await activeSeats(t.pool, streamId)).toEqual([]);
  });

  it('lets one of two simultaneous accepts of the same invitation through, on different clients of the invitee', async () => {
    const host = await t.signIn('Double Host');
    const guest = await t.signIn('Double Guest');
    const second = t.anon();
    const session = (await guest.sb.auth.getSession()).data.session;
    if (!session) throw new Error('no session');
    const signedIn = await second.auth.setSession({ access_token: session.access_token, refresh_token: session.refresh_token });
    expect(signedIn.error).toBeNull();
    const streamId = await newStream(t, host);
    const inv = must(await invite(host, streamId, guest), 'invite');

    const results = await Promise.all([accept(guest, inv.id), second.rpc('accept_invitation', { p_invitation_id: inv.id })]);
    expect(results.filter((r) => r.error === null)).toHaveLength(1);
    expect(results.find((r) => r.error)?.error).toMatchObject({ code: 'P0001', hint: 'invitation_not_pending' });
    expect(await activeSeats(t.pool, streamId)).toHaveLength(1);
  });
});

describe('concurrent invitations of one person', () => {
  it('hold the per-minute limit when sent on several streams at once', async () => {
    const host = await t.signIn('Busy Host');
    const { rows } = await t.pool.query<{ n: number }>('select public.max_invitations_per_minute() as n');
    const limit = Number(rows[0]!.n);
    const streams = await Promise.all([newStream(t, host), newStream(t, host), newStream(t, host)]);
    const perStream = Math.ceil((limit + 15) / streams.length);
    const invitees = await Promise.all(Array.from({ length: perStream * streams.length }, (_, i) => t.signIn(`Invitee ${i + 1}`)));
    // Each stream's own lock serialises its invitations only: the three streams' go in parallel.
    const results = await Promise.all(invitees.map((user, i) => invite(host, streams[i % streams.length]!, user)));
    const sent = results.filter((r) => r.error === null);
    const refused = results.filter((r) => r.error !== null);
    expect(sent).toHaveLength(limit);
    for (const r of refused) expect(r.error).toMatchObject({ code: 'P0001', hint: 'too_many_invitations' });
    const { rows: made } = await t.pool.query<{ n: string }>('select count(*) as n from public.stream_guest_invitations where invited_by = $1', [host.id]);
    expect(Number(made[0]!.n)).toBe(limit);
  });
});
