/**
 * Every co-hosting rule, table-driven, through the unmodified supabase-js
 * client as the real users: each forbidden action is refused with a clear
 * error and leaves the stream's rows exactly as they were; each allowed
 * counterpart succeeds and writes the right event with the display names.
 */
import type { PostgrestError } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signalingChannelName } from '../../src/shared/domain.js';
import { WRITE_AUTH_TTL_MS } from '../../src/local/realtime/connection.js';
import { startTestBackend, type TestBackend, type TestUser } from './helpers/backend.js';
import {
  accept,
  activeSeats,
  ageInvitation,
  eventsSince,
  fillSeats,
  type InvitationRow,
  invite,
  lastEventId,
  must,
  newStream,
  type Scene,
  scene,
  seat,
  seatOf,
  snapshot,
} from './helpers/cohost.js';

let t: TestBackend;

beforeAll(async () => {
  t = await startTestBackend({ realtime: true });
});

afterAll(async () => {
  await t?.stop();
});

interface Outcome {
  data: unknown;
  error: PostgrestError | null;
  status: number;
}

/** What a case's setup hands to its action. */
interface Ctx {
  invitationId?: string;
  hostInvitationId?: string;
  other?: Scene;
}

type Who = 'host' | 'guest' | 'mod' | 'stranger' | 'fan';

/** A setup step that must succeed and hands nothing on. */
async function step(res: PromiseLike<Outcome>, what: string): Promise<Ctx> {
  must(await res, what);
  return {};
}

const inviteFan = async (s: Scene, seatIndex?: number): Promise<Ctx> => ({
  invitationId: must(await invite(s.host, s.streamId, s.fan, seatIndex), 'invite the fan').id,
});

async function invitationOf(s: Scene, user: TestUser): Promise<string> {
  const { rows } = await t.pool.query<{ id: string }>(
    'select id from public.stream_guest_invitations where stream_id = $1 and invitee_id = $2 order by created_at desc limit 1',
    [s.streamId, user.id],
  );
  if (!rows[0]) throw new Error(`no invitation for ${user.name}`);
  return rows[0].id;
}

const moderate = (by: TestUser, s: Scene, target: TestUser, args: Record<string, unknown>) =>
  by.sb.rpc('moderate_guest', { p_stream_id: s.streamId, p_user_id: target.id, ...args });
const setModerator = (by: TestUser, s: Scene, target: TestUser, on: boolean) =>
  by.sb.rpc('set_moderator', { p_stream_id: s.streamId, p_user_id: target.id, p_is_moderator: on });
const lockSeat = (by: TestUser, s: Scene, seatIndex: number, locked: boolean) =>
  by.sb.rpc('set_seat_locked', { p_stream_id: s.streamId, p_seat_index: seatIndex, p_locked: locked });
/** Status of the context's invitations: `mod` is invitationId, `host` hostInvitationId. */
async function invitationStatuses(ctx: Ctx): Promise<Record<string, string | undefined>> {
  const { rows } = await t.pool.query<{ id: string; status: string }>('select id, status from public.stream_guest_invitations where id = any($1)', [
    [ctx.invitationId, ctx.hostInvitationId].filter(Boolean),
  ]);
  const of = (id?: string): string | undefined => rows.find((r) => r.id === id)?.status;
  return { mod: of(ctx.invitationId), ...(ctx.hostInvitationId ? { host: of(ctx.hostInvitationId) } : {}) };
}
const removeGuest = (by: TestUser, s: Scene, target: TestUser) => by.sb.rpc('remove_guest', { p_stream_id: s.streamId, p_user_id: target.id });
const myMedia = (u: TestUser, s: Scene, media: { mic?: boolean; camera?: boolean }) =>
  u.sb.rpc('set_my_media', { p_stream_id: s.streamId, p_mic_enabled: media.mic ?? null, p_camera_enabled: media.camera ?? null });

interface Refusal {
  code: string;
  hint?: string;
  message?: RegExp;
  status?: number;
}

interface Forbidden {
  name: string;
  setup?: (s: Scene) => Promise<Ctx>;
  act: (s: Scene, ctx: Ctx) => PromiseLike<Outcome>;
  /** The error, or 'hidden' when row level security shows nothing and changes nothing. */
  refused: Refusal | 'hidden';
}

const notHost = (message: RegExp): Refusal => ({ code: '42501', hint: 'not_host', message, status: 403 });
const denied: Refusal = { code: '42501', message: /permission denied/, status: 403 };

const forbidden: Forbidden[] = [
  // Who may invite, remove, mute, turn cameras off, lock seats.
  { name: 'a stranger invites', act: (s) => invite(s.stranger, s.streamId, s.fan), refused: notHost(/Only the host or a moderator can invite/) },
  { name: 'a seated guest invites', act: (s) => invite(s.guest, s.streamId, s.fan), refused: notHost(/Only the host or a moderator can invite/) },
  {
    name: 'a signed-out visitor invites',
    act: (s) => t.anon().rpc('invite_guest', { p_stream_id: s.streamId, p_invitee_id: s.fan.id }),
    refused: { code: '42501', message: /permission denied/, status: 401 },
  },
  {
    name: 'a stranger removes a guest',
    act: (s) => removeGuest(s.stranger, s, s.guest),
    refused: notHost(/Only the host or a moderator can remove/),
  },
  { name: 'a seated guest removes another', act: (s) => removeGuest(s.guest, s, s.mod), refused: notHost(/Only the host or a moderator can remove/) },
  {
    name: 'a seated guest mutes another',
    act: (s) => moderate(s.guest, s, s.mod, { p_muted: true }),
    refused: notHost(/Only the host or a moderator/),
  },
  {
    name: 'a stranger turns a camera off',
    act: (s) => moderate(s.stranger, s, s.guest, { p_camera_disabled: true }),
    refused: notHost(/Only the host or a moderator/),
  },
  { name: 'a seated guest locks a seat', act: (s) => lockSeat(s.guest, s, 5, true), refused: notHost(/Only the host or a moderator can lock/) },
  {
    name: 'a stranger unlocks a seat',
    setup: (s) => step(lockSeat(s.host, s, 5, true), 'lock'),
    act: (s) => lockSeat(s.stranger, s, 5, false),
    refused: notHost(/can lock seats/),
  },
  // Only the host appoints or dismisses moderators, and ends the stream.
  {
    name: 'a seated guest makes themselves moderator',
    act: (s) => setModerator(s.guest, s, s.guest, true),
    refused: notHost(/Only the host can appoint/),
  },
  { name: 'a moderator appoints a moderator', act: (s) => setModerator(s.mod, s, s.guest, true), refused: notHost(/Only the host can appoint/) },
  {
    name: 'a moderator appoints one through moderate_guest',
    act: (s) => moderate(s.mod, s, s.guest, { p_is_moderator: true }),
    refused: notHost(/Only the host can appoint/),
  },
  { name: 'a moderator dismisses themselves', act: (s) => setModerator(s.mod, s, s.mod, false), refused: notHost(/Only the host can appoint/) },
  {
    name: 'a moderator mutes another moderator',
    setup: async (s) => {
      await seat(s.host, s.streamId, s.fan);
      must(await setModerator(s.host, s, s.fan, true), 'appoint the fan');
      return {};
    },
    act: (s) => moderate(s.mod, s, s.fan, { p_muted: true }),
    refused: notHost(/Only the host can moderate a moderator/),
  },
  {
    name: 'a moderator ends the stream',
    act: (s) => s.mod.sb.rpc('end_stream', { p_stream_id: s.streamId }),
    refused: notHost(/Only the host can end/),
  },
  // What the host turned off stays off.
  {
    name: 'a guest unmutes after the host muted them',
    setup: (s) => step(moderate(s.host, s, s.guest, { p_muted: true }), 'mute'),
    act: (s) => myMedia(s.guest, s, { mic: true }),
    refused: { code: 'P0001', hint: 'muted_by_host', message: /The host muted your microphone/, status: 400 },
  },
  {
    name: 'a guest turns the camera on after the host turned it off',
    setup: (s) => step(moderate(s.host, s, s.guest, { p_camera_disabled: true }), 'camera off'),
    act: (s) => myMedia(s.guest, s, { camera: true }),
    refused: { code: 'P0001', hint: 'camera_disabled_by_host', message: /The host turned your camera off/, status: 400 },
  },
  {
    name: 'a guest lifts the host mute with a direct update',
    setup: (s) => step(moderate(s.host, s, s.guest, { p_muted: true }), 'mute'),
    act: (s) => s.guest.sb.from('stream_guest_seats').update({ muted_by_host: false, mic_enabled: true }).eq('user_id', s.guest.id),
    refused: denied,
  },
  {
    name: "a moderator releases the host's mute on themselves",
    setup: (s) => step(moderate(s.host, s, s.mod, { p_muted: true }), 'mute the moderator'),
    act: (s) => moderate(s.mod, s, s.mod, { p_muted: false }),
    refused: { code: '42501', hint: 'muted_by_host', message: /only the host can release it/, status: 403 },
  },
  {
    name: 'a moderator turns their camera back on after the host turned it off',
    setup: (s) => step(moderate(s.host, s, s.mod, { p_camera_disabled: true }), 'camera off'),
    act: (s) => moderate(s.mod, s, s.mod, { p_camera_disabled: false }),
    refused: { code: '42501', hint: 'camera_disabled_by_host', message: /only the host can release it/, status: 403 },
  },
  {
    name: "a moderator releases the host's mute on a guest",
    setup: (s) => step(moderate(s.host, s, s.guest, { p_muted: true }), 'the host mutes the guest'),
    act: (s) => moderate(s.mod, s, s.guest, { p_muted: false }),
    refused: { code: '42501', hint: 'muted_by_host', message: /^The host muted this microphone: only the host can release it$/, status: 403 },
  },
  {
    name: "a moderator lifts a mute the host put on after a moderator's (the host's now)",
    setup: async (s) => {
      await step(moderate(s.mod, s, s.guest, { p_muted: true }), 'the moderator mutes the guest');
      await step(moderate(s.host, s, s.guest, { p_muted: true }), 'the host mutes the guest too');
      await step(moderate(s.host, s, s.guest, { p_camera_disabled: true }), 'the host turns the camera off');
      return {};
    },
    act: (s) => moderate(s.mod, s, s.guest, { p_muted: false }),
    refused: { code: '42501', hint: 'muted_by_host', message: /only the host can release it/, status: 403 },
  },
  {
    name: "a moderator releases a camera the host turned off after a moderator had (the host's now)",
    setup: async (s) => {
      await step(moderate(s.mod, s, s.guest, { p_camera_disabled: true }), 'the moderator turns the camera off');
      await step(moderate(s.host, s, s.guest, { p_camera_disabled: true }), 'the host turns it off too');
      return {};
    },
    act: (s) => moderate(s.mod, s, s.guest, { p_camera_disabled: false }),
    refused: { code: '42501', hint: 'camera_disabled_by_host', message: /^The host turned this camera off: only the host can release it$/, status: 403 },
  },
  {
    name: "a moderator turns a guest's camera back on after the host turned it off",
    setup: (s) => step(moderate(s.host, s, s.guest, { p_camera_disabled: true }), 'the host turns the camera off'),
    act: (s) => moderate(s.mod, s, s.guest, { p_camera_disabled: false }),
    refused: { code: '42501', hint: 'camera_disabled_by_host', message: /^The host turned this camera off: only the host can release it$/, status: 403 },
  },
  {
    name: "a moderator undoes the host's mute by removing the guest and inviting them back (the new seat keeps it)",
    setup: async (s) => {
      await step(moderate(s.host, s, s.guest, { p_muted: true, p_camera_disabled: true, p_volume: 0.3 }), 'the host mutes, blinds and turns down the guest');
      await step(removeGuest(s.mod, s, s.guest), 'the moderator removes the guest');
      const again = await invite(s.mod, s.streamId, s.guest);
      must(again, 'the moderator invites the guest back');
      must(await accept(s.guest, (again.data as InvitationRow).id), 'the guest accepts');
      const back = await seatOf(t.pool, s.streamId, s.guest.id);
      expect(back).toMatchObject({ left_at: null, muted_by_host: true, mic_enabled: false, mic_muted_by: s.host.id });
      expect(back).toMatchObject({ camera_disabled_by_host: true, camera_enabled: false, camera_disabled_by: s.host.id, volume: 0.3 });
      return {};
    },
    act: (s) => moderate(s.mod, s, s.guest, { p_muted: false }),
    refused: { code: '42501', hint: 'muted_by_host', message: /^The host muted this microphone: only the host can release it$/, status: 403 },
  },
  {
    name: 'a guest muted by the host leaves and comes back unmuted',
    setup: async (s) => {
      await step(moderate(s.host, s, s.guest, { p_muted: true }), 'the host mutes the guest');
      await step(s.guest.sb.rpc('leave_seat', { p_stream_id: s.streamId }), 'the guest leaves');
      const again = await invite(s.mod, s.streamId, s.guest);
      must(again, 'a moderator invites the guest back');
      must(await accept(s.guest, (again.data as InvitationRow).id), 'the guest accepts');
      return {};
    },
    act: (s) => myMedia(s.guest, s, { mic: true }),
    refused: { code: 'P0001', hint: 'muted_by_host', message: /The host muted your microphone/, status: 400 },
  },
  {
    name: 'a moderator invites back a guest the host removed',
    setup: (s) => step(removeGuest(s.host, s, s.guest), 'the host removes the guest'),
    act: (s) => invite(s.mod, s.streamId, s.guest),
    refused: { code: '42501', hint: 'removed_by_host', message: /^The host removed this guest: only the host can invite them back$/, status: 403 },
  },
  {
    name: 'a moderator turns up the volume the host set on them',
    setup: (s) => step(moderate(s.host, s, s.mod, { p_volume: 0 }), 'the host turns the moderator down'),
    act: (s) => moderate(s.mod, s, s.mod, { p_volume: 2 }),
    refused: notHost(/^Only the host sets a guest's volume in the program$/),
  },
  {
    name: 'a moderator turns up a guest the host turned down to nothing',
    setup: (s) => step(moderate(s.host, s, s.guest, { p_volume: 0 }), 'the host turns the guest down'),
    act: (s) => moderate(s.mod, s, s.guest, { p_volume: 2 }),
    refused: notHost(/^Only the host sets a guest's volume in the program$/),
  },
  {
    name: 'a stranger switches media with no seat',
    act: (s) => myMedia(s.stranger, s, { mic: false }),
    refused: { code: 'P0001', hint: 'not_seated' },
  },
  // Invitations: only an open one, only the invitee's, only in time.
  {
    name: 'accepting an expired invitation',
    setup: async (s) => {
      const ctx = await inviteFan(s);
      await ageInvitation(t.pool, ctx.invitationId ?? '', 21);
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    refused: { code: 'P0001', hint: 'invitation_expired', message: /^This invitation has expired$/, status: 400 },
  },
  {
    name: "accepting a moderator's invitation after the host dismissed them",
    setup: async (s) => {
      const ctx = { invitationId: must(await invite(s.mod, s.streamId, s.fan), 'the moderator invites the fan').id };
      await step(setModerator(s.host, s, s.mod, false), 'dismiss the moderator');
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    // Cancelled when they stopped moderating (the accept would also refuse it as inviter_not_manager).
    refused: { code: 'P0001', hint: 'invitation_not_pending', message: /no longer open \(cancelled\)/, status: 400 },
  },
  {
    name: "accepting a moderator's invitation after the host removed them",
    setup: async (s) => {
      const ctx = { invitationId: must(await invite(s.mod, s.streamId, s.fan), 'the moderator invites the fan').id };
      await step(removeGuest(s.host, s, s.mod), 'remove the moderator');
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    // Cancelled when they stopped moderating (the accept would also refuse it as inviter_not_manager).
    refused: { code: 'P0001', hint: 'invitation_not_pending', message: /no longer open \(cancelled\)/, status: 400 },
  },
  {
    name: "accepting someone else's invitation",
    setup: inviteFan,
    act: (s, ctx) => accept(s.stranger, ctx.invitationId ?? ''),
    refused: { code: 'PT404', hint: 'invitation_not_found', message: /Invitation not found/, status: 404 },
  },
  {
    name: "the host accepting the invitee's invitation",
    setup: inviteFan,
    act: (s, ctx) => accept(s.host, ctx.invitationId ?? ''),
    refused: { code: 'PT404', hint: 'invitation_not_found' },
  },
  {
    name: 'accepting a declined invitation',
    setup: async (s) => {
      const ctx = await inviteFan(s);
      must(await s.fan.sb.rpc('decline_invitation', { p_invitation_id: ctx.invitationId }), 'decline');
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    refused: { code: 'P0001', hint: 'invitation_not_pending', message: /no longer open \(declined\)/, status: 400 },
  },
  {
    name: 'accepting a cancelled invitation',
    setup: async (s) => {
      const ctx = await inviteFan(s);
      must(await s.host.sb.rpc('cancel_invitation', { p_invitation_id: ctx.invitationId }), 'cancel');
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    refused: { code: 'P0001', hint: 'invitation_not_pending', message: /no longer open \(cancelled\)/ },
  },
  {
    name: 'accepting an invitation already used, after leaving',
    setup: async (s) => {
      must(await s.guest.sb.rpc('leave_seat', { p_stream_id: s.streamId }), 'leave');
      return { invitationId: await invitationOf(s, s.guest) };
    },
    act: (s, ctx) => accept(s.guest, ctx.invitationId ?? ''),
    refused: { code: 'P0001', hint: 'invitation_not_pending', message: /no longer open \(accepted\)/ },
  },
  {
    name: 'a removed guest re-accepting their old invitation',
    setup: async (s) => {
      must(await removeGuest(s.host, s, s.guest), 'remove');
      return { invitationId: await invitationOf(s, s.guest) };
    },
    act: (s, ctx) => accept(s.guest, ctx.invitationId ?? ''),
    refused: { code: 'P0001', hint: 'invitation_not_pending', message: /no longer open \(accepted\)/ },
  },
  {
    name: 'a removed guest seated by an invitation sent before the removal',
    setup: async (s) => {
      must(await removeGuest(s.host, s, s.guest), 'remove');
      // Written as the service role would: sent a second before the removal, still within its 20 s.
      const { rows } = await t.pool.query<{ id: string }>(
        `insert into public.stream_guest_invitations (stream_id, host_id, invitee_id, created_at)
         select $1, $2, $3, left_at - interval '1 second' from public.stream_guest_seats where stream_id = $1 and user_id = $3
         returning id`,
        [s.streamId, s.host.id, s.guest.id],
      );
      return { invitationId: rows[0]?.id };
    },
    act: (s, ctx) => accept(s.guest, ctx.invitationId ?? ''),
    refused: { code: 'P0001', hint: 'removed_from_stream', message: /You were removed from this stream/ },
  },
  {
    name: 'a 10th guest accepting',
    setup: async (s) => {
      const ctx = await inviteFan(s);
      await fillSeats(t, s, 7);
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    refused: { code: 'P0001', hint: 'seats_full', message: /No free guest seat is left/, status: 400 },
  },
  {
    name: 'accepting into a locked seat when every other seat is taken',
    setup: async (s) => {
      const ctx = await inviteFan(s, 8);
      must(await lockSeat(s.host, s, 8, true), 'lock seat 8');
      await fillSeats(t, s, 6);
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    refused: { code: 'P0001', hint: 'seats_full' },
  },
  {
    name: "declining someone else's invitation",
    setup: inviteFan,
    act: (s, ctx) => s.stranger.sb.rpc('decline_invitation', { p_invitation_id: ctx.invitationId }),
    refused: { code: 'PT404', hint: 'invitation_not_found' },
  },
  {
    name: 'the invitee cancelling (only the host or a moderator cancels)',
    setup: inviteFan,
    act: (s, ctx) => s.fan.sb.rpc('cancel_invitation', { p_invitation_id: ctx.invitationId }),
    refused: notHost(/Only the host or a moderator can cancel/),
  },
  {
    name: 'inviting into a locked seat',
    setup: (s) => step(lockSeat(s.host, s, 5, true), 'lock'),
    act: (s) => invite(s.host, s.streamId, s.fan, 5),
    refused: { code: 'P0001', hint: 'seat_locked' },
  },
  {
    name: 'inviting to any seat when every free seat is locked',
    setup: async (s) => {
      for (let seatIndex = 0; seatIndex < 9; seatIndex++) must(await lockSeat(s.host, s, seatIndex, true), `lock seat ${seatIndex}`);
      return {};
    },
    act: (s) => invite(s.host, s.streamId, s.fan),
    refused: { code: 'P0001', hint: 'seat_locked', message: /Every free guest seat is locked/ },
  },
  {
    name: 'inviting a guest who is already seated',
    act: (s) => invite(s.host, s.streamId, s.guest),
    refused: { code: 'P0001', hint: 'already_seated', message: /already on a seat/ },
  },
  { name: 'inviting the host as a guest', act: (s) => invite(s.mod, s.streamId, s.host), refused: { code: 'P0001', hint: 'invitee_is_host' } },
  {
    name: 'inviting to seat 9',
    act: (s) => invite(s.host, s.streamId, s.fan, 9),
    refused: { code: 'P0001', hint: 'invalid_seat', message: /between 0 and 8/ },
  },
  {
    name: 'inviting when all nine seats are taken',
    setup: async (s) => {
      await fillSeats(t, s, 7);
      return {};
    },
    act: (s) => invite(s.host, s.streamId, s.fan),
    refused: { code: 'P0001', hint: 'seats_full', message: /All 9 guest seats are taken/ },
  },
  { name: 'a volume above 2', act: (s) => moderate(s.host, s, s.guest, { p_volume: 3 }), refused: { code: 'P0001', hint: 'invalid_volume' } },
  {
    name: 'leaving a seat one does not hold',
    act: (s) => s.stranger.sb.rpc('leave_seat', { p_stream_id: s.streamId }),
    refused: { code: 'P0001', hint: 'not_seated' },
  },
  {
    name: 'accepting after the host ended the stream (which cancelled the invitation)',
    setup: async (s) => {
      const ctx = await inviteFan(s);
      must(await s.host.sb.rpc('end_stream', { p_stream_id: s.streamId }), 'end');
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    refused: { code: 'P0001', hint: 'stream_ended', message: /This stream has ended/ },
  },
  {
    name: 'inviting to an ended stream',
    setup: (s) => step(s.host.sb.rpc('end_stream', { p_stream_id: s.streamId }), 'end'),
    act: (s) => invite(s.host, s.streamId, s.fan),
    refused: { code: 'P0001', hint: 'stream_ended', message: /This stream has ended/ },
  },
  // Reading: invitations are the host's, the moderators' and the invitee's alone.
  {
    name: "a stranger reading the stream's invitations",
    setup: inviteFan,
    act: (s) => s.stranger.sb.from('stream_guest_invitations').select('*').eq('stream_id', s.streamId),
    refused: 'hidden',
  },
  {
    name: "a seated guest reading another user's invitations",
    setup: inviteFan,
    act: (s) => s.guest.sb.from('stream_guest_invitations').select('*').eq('invitee_id', s.fan.id),
    refused: 'hidden',
  },
  {
    name: "a stranger reading invitation states through the view",
    setup: inviteFan,
    act: (s) => s.stranger.sb.from('stream_guest_invitation_states').select('*').eq('stream_id', s.streamId),
    refused: 'hidden',
  },
  {
    name: "a stranger listing another stream's invitations",
    setup: inviteFan,
    act: (s) => s.stranger.sb.rpc('list_invitations', { p_stream_id: s.streamId }),
    refused: 'hidden',
  },
  // Direct writes that would bypass the RPCs.
  {
    name: 'a direct insert of a seat',
    act: (s) => s.fan.sb.from('stream_guest_seats').insert({ stream_id: s.streamId, user_id: s.fan.id, seat_index: 5 }),
    refused: denied,
  },
  {
    name: 'a direct update of a seat by the host',
    act: (s) => s.host.sb.from('stream_guest_seats').update({ seat_index: 7 }).eq('user_id', s.guest.id),
    refused: denied,
  },
  {
    name: 'a direct delete of a seat by the host',
    act: (s) => s.host.sb.from('stream_guest_seats').delete().eq('user_id', s.guest.id),
    refused: denied,
  },
  {
    name: 'a direct insert of an invitation',
    act: (s) => s.fan.sb.from('stream_guest_invitations').insert({ stream_id: s.streamId, host_id: s.host.id, invitee_id: s.fan.id }),
    refused: denied,
  },
  {
    name: 'the invitee accepting by a direct update',
    setup: inviteFan,
    act: (s, ctx) => s.fan.sb.from('stream_guest_invitations').update({ status: 'accepted' }).eq('id', ctx.invitationId ?? ''),
    refused: denied,
  },
  {
    name: 'the host stretching an invitation by a direct update',
    setup: inviteFan,
    act: (s, ctx) =>
      s.host.sb
        .from('stream_guest_invitations')
        .update({ expires_at: new Date(Date.now() + 3_600_000).toISOString() })
        .eq('id', ctx.invitationId ?? ''),
    refused: denied,
  },
  {
    name: 'a direct insert of an event',
    act: (s) => s.host.sb.from('stream_guest_events').insert({ stream_id: s.streamId, event_type: 'joined_live', display_name: 'Nobody' }),
    refused: denied,
  },
  {
    name: 'a direct insert of an event without signing in',
    act: (s) => t.anon().from('stream_guest_events').insert({ stream_id: s.streamId, event_type: 'joined_live' }),
    refused: { code: '42501', status: 401 },
  },
  {
    name: 'a direct update of an event',
    act: (s) => s.host.sb.from('stream_guest_events').update({ display_name: 'x' }).eq('stream_id', s.streamId),
    refused: denied,
  },
  { name: 'a direct delete of events', act: (s) => s.host.sb.from('stream_guest_events').delete().eq('stream_id', s.streamId), refused: denied },
  {
    name: 'the host ending the stream by a direct update of its status',
    act: (s) => s.host.sb.from('streams').update({ status: 'ended' }).eq('id', s.streamId),
    refused: { code: '42501', hint: 'status_managed', message: /start-live, end-live or end_stream/, status: 403 },
  },
  {
    name: 'a client creating a stream that is already live',
    act: (s) => s.host.sb.from('streams').insert({ host_id: s.host.id, title: 'forged live', status: 'live', started_at: new Date().toISOString() }),
    refused: { code: '42501', hint: 'status_managed', message: /goes live only through start-live/, status: 403 },
  },
  {
    name: 'a client creating a stream with a playback address of its own',
    act: (s) => s.host.sb.from('streams').insert({ host_id: s.host.id, title: 'forged playback', playback_url: 'https://elsewhere.example/live.m3u8' }),
    refused: { code: '42501', hint: 'ingest_managed', message: /set by start-live/, status: 403 },
  },
  {
    name: 'a client creating a stream on an ingest of its choice',
    act: (s) => s.host.sb.from('streams').insert({ host_id: s.host.id, title: 'forged provider', ingest_provider: 'cloudflare' }),
    refused: { code: '42501', hint: 'ingest_managed', message: /set by start-live/, status: 403 },
  },
  {
    name: "the host moving the stream's creation time (which decides the idle stream start-live takes)",
    act: (s) => s.host.sb.from('streams').update({ created_at: '2099-01-01T00:00:00Z' }).eq('id', s.streamId),
    refused: { code: '42501', hint: 'stream_identity', message: /keeps the time it was made/, status: 403 },
  },
  {
    name: "the host pointing the stream's playback elsewhere by a direct update",
    act: (s) => s.host.sb.from('streams').update({ playback_url: 'https://elsewhere.example/live.m3u8' }).eq('id', s.streamId),
    refused: { code: '42501', hint: 'ingest_managed', message: /set by start-live/, status: 403 },
  },
  {
    name: 'the host handing the stream to someone else',
    act: (s) => s.host.sb.from('streams').update({ host_id: s.mod.id }).eq('id', s.streamId),
    refused: { code: '42501' },
  },
  {
    name: "a stranger changing the stream's locked seats",
    act: (s) => s.stranger.sb.from('streams').update({ locked_seats: [2] }).eq('id', s.streamId).select('id'),
    refused: 'hidden',
  },
  {
    name: 'the host locking a seat that does not exist by a direct update',
    act: (s) => s.host.sb.from('streams').update({ locked_seats: [9] }).eq('id', s.streamId),
    refused: { code: '23514' },
  },
  {
    name: 'the host sending null for the locked seats (it would have unlocked them all)',
    setup: (s) => step(s.host.sb.from('streams').update({ locked_seats: [1, 4] }).eq('id', s.streamId), 'lock two seats'),
    act: (s) => s.host.sb.from('streams').update({ locked_seats: null }).eq('id', s.streamId),
    refused: { code: '22004', hint: 'invalid_argument', message: /locked_seats must be a list of seat numbers/, status: 400 },
  },
  {
    name: 'the host locking a seat of an ended stream by a direct update',
    setup: (s) => step(s.host.sb.rpc('end_stream', { p_stream_id: s.streamId }), 'end'),
    act: (s) => s.host.sb.from('streams').update({ locked_seats: [3] }).eq('id', s.streamId),
    refused: { code: 'P0001', hint: 'stream_ended' },
  },
];

describe('forbidden actions are refused and change nothing', () => {
  for (const { name, setup, act, refused } of forbidden) it(name, async () => {
    const s = await scene(t);
    const ctx = (await setup?.(s)) ?? {};
    const before = await snapshot(t.pool, s.streamId);
    const res = await act(s, ctx);
    if (refused === 'hidden') {
      expect(res.error).toBeNull();
      expect(res.data).toEqual([]);
    } else {
      expect(res.error, 'the request should be refused').not.toBeNull();
      expect(res.error?.code).toBe(refused.code);
      if (refused.hint) expect(res.error?.hint).toBe(refused.hint);
      if (refused.message) expect(res.error?.message).toMatch(refused.message);
      if (refused.status) expect(res.status).toBe(refused.status);
    }
    expect(await snapshot(t.pool, s.streamId)).toEqual(before);
  });
});

interface ExpectedEvent {
  type: string;
  user: Who | null;
  actor: Who | null;
  seat?: number | null;
  metadata?: Record<string, unknown>;
}

interface Allowed {
  name: string;
  setup?: (s: Scene) => Promise<Ctx>;
  act: (s: Scene, ctx: Ctx) => PromiseLike<Outcome> | Promise<Outcome>;
  events: ExpectedEvent[];
  check?: (s: Scene, ctx: Ctx, data: unknown) => Promise<void>;
}

const allowed: Allowed[] = [
  {
    name: 'the host invites',
    act: (s) => invite(s.host, s.streamId, s.fan, 4),
    events: [{ type: 'invited', user: 'fan', actor: 'host', seat: 4, metadata: { by: 'host' } }],
    check: async (_s, _c, data) => {
      const inv = data as InvitationRow;
      expect(inv.status).toBe('pending');
      expect(Date.parse(inv.expires_at) - Date.parse(inv.created_at)).toBe(20_000);
    },
  },
  {
    name: 'a moderator invites',
    act: (s) => invite(s.mod, s.streamId, s.fan),
    events: [{ type: 'invited', user: 'fan', actor: 'mod', metadata: { by: 'moderator' } }],
    check: async (s, _c, data) => expect(data).toMatchObject({ host_id: s.host.id, invited_by: s.mod.id, invitee_id: s.fan.id }),
  },
  {
    name: 'the invitee accepts onto the invited seat',
    setup: (s) => inviteFan(s, 6),
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    events: [{ type: 'joined_live', user: 'fan', actor: 'fan', seat: 6 }],
    check: async (s) => expect((await seatOf(t.pool, s.streamId, s.fan.id))?.seat_index).toBe(6),
  },
  {
    name: 'the invitee accepts; the invited seat was locked meanwhile, so the lowest free one',
    setup: async (s) => {
      const ctx = await inviteFan(s, 6);
      must(await lockSeat(s.host, s, 6, true), 'lock 6');
      must(await lockSeat(s.host, s, 2, true), 'lock 2');
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    events: [{ type: 'joined_live', user: 'fan', actor: 'fan', seat: 3 }],
  },
  {
    name: 'the invitee declines',
    setup: inviteFan,
    act: (s, ctx) => s.fan.sb.rpc('decline_invitation', { p_invitation_id: ctx.invitationId }),
    events: [{ type: 'invitation_declined', user: 'fan', actor: 'fan' }],
    check: async (_s, _c, data) => expect(data).toMatchObject({ status: 'declined' }),
  },
  {
    name: 'the host cancels',
    setup: inviteFan,
    act: (s, ctx) => s.host.sb.rpc('cancel_invitation', { p_invitation_id: ctx.invitationId }),
    events: [{ type: 'invitation_cancelled', user: 'fan', actor: 'host' }],
  },
  {
    name: 'a moderator cancels',
    setup: inviteFan,
    act: (s, ctx) => s.mod.sb.rpc('cancel_invitation', { p_invitation_id: ctx.invitationId }),
    events: [{ type: 'invitation_cancelled', user: 'fan', actor: 'mod', metadata: { by: 'moderator' } }],
  },
  {
    name: "dismissing a moderator cancels their open invitations, and only theirs",
    setup: async (s) => ({
      invitationId: must(await invite(s.mod, s.streamId, s.fan), 'the moderator invites the fan').id,
      hostInvitationId: must(await invite(s.host, s.streamId, s.stranger), 'the host invites the stranger').id,
    }),
    act: (s) => setModerator(s.host, s, s.mod, false),
    events: [
      { type: 'invitation_cancelled', user: 'fan', actor: 'host', metadata: { by: 'host', reason: 'inviter_not_manager' } },
      { type: 'moderator_removed', user: 'mod', actor: 'host' },
    ],
    check: async (_s, ctx) => expect(await invitationStatuses(ctx)).toEqual({ mod: 'cancelled', host: 'pending' }),
  },
  {
    name: "removing a moderator cancels their open invitations",
    setup: async (s) => ({ invitationId: must(await invite(s.mod, s.streamId, s.fan), 'the moderator invites the fan').id }),
    act: (s) => removeGuest(s.host, s, s.mod),
    events: [
      { type: 'invitation_cancelled', user: 'fan', actor: 'host', metadata: { by: 'host', reason: 'inviter_not_manager' } },
      { type: 'removed', user: 'mod', actor: 'host', seat: 1 },
    ],
    check: async (_s, ctx) => expect((await invitationStatuses(ctx)).mod).toBe('cancelled'),
  },
  {
    name: "a moderator leaving the stage cancels their open invitations",
    setup: async (s) => ({ invitationId: must(await invite(s.mod, s.streamId, s.fan), 'the moderator invites the fan').id }),
    act: (s) => s.mod.sb.rpc('leave_seat', { p_stream_id: s.streamId }),
    events: [
      { type: 'invitation_cancelled', user: 'fan', actor: 'mod', metadata: { by: 'moderator', reason: 'inviter_not_manager' } },
      { type: 'left_live', user: 'mod', actor: 'mod', seat: 1 },
    ],
    check: async (_s, ctx) => expect((await invitationStatuses(ctx)).mod).toBe('cancelled'),
  },
  {
    name: 'declining too late records the expiry',
    setup: async (s) => {
      const ctx = await inviteFan(s);
      await ageInvitation(t.pool, ctx.invitationId ?? '', 21);
      return ctx;
    },
    act: (s, ctx) => s.fan.sb.rpc('decline_invitation', { p_invitation_id: ctx.invitationId }),
    events: [{ type: 'invitation_expired', user: 'fan', actor: null }],
    check: async (_s, _c, data) => expect(data).toMatchObject({ status: 'expired' }),
  },
  {
    name: 'listing invitations expires the stale ones',
    setup: async (s) => {
      const ctx = await inviteFan(s);
      await ageInvitation(t.pool, ctx.invitationId ?? '', 25);
      // Before anyone touches it, reads already tell it is over.
      const state = await s.fan.sb.from('stream_guest_invitation_states').select('status, effective_status').eq('id', ctx.invitationId ?? '').single();
      expect(state.data).toEqual({ status: 'pending', effective_status: 'expired' });
      return ctx;
    },
    act: (s) => s.fan.sb.rpc('list_invitations', { p_stream_id: s.streamId }),
    events: [{ type: 'invitation_expired', user: 'fan', actor: null }],
    check: async (_s, ctx, data) => expect(data).toEqual([expect.objectContaining({ id: ctx.invitationId, status: 'expired' })]),
  },
  {
    name: 'the host removes a guest',
    act: (s) => removeGuest(s.host, s, s.guest),
    events: [{ type: 'removed', user: 'guest', actor: 'host', seat: 0, metadata: { by: 'host' } }],
    check: async (s) => expect(await seatOf(t.pool, s.streamId, s.guest.id)).toMatchObject({ left_at: expect.any(Date), removed_by: s.host.id }),
  },
  {
    name: 'a moderator removes a guest',
    act: (s) => removeGuest(s.mod, s, s.guest),
    events: [{ type: 'removed', user: 'guest', actor: 'mod', metadata: { by: 'moderator' } }],
  },
  {
    name: 'the host invites back a guest they removed',
    setup: (s) => step(removeGuest(s.host, s, s.guest), 'the host removes the guest'),
    act: (s) => invite(s.host, s.streamId, s.guest),
    events: [{ type: 'invited', user: 'guest', actor: 'host', metadata: { by: 'host' } }],
  },
  {
    name: "a guest a moderator muted comes back unmuted (a moderator's mute is any moderator's to lift)",
    setup: async (s) => {
      await step(moderate(s.mod, s, s.guest, { p_muted: true }), 'the moderator mutes the guest');
      await step(removeGuest(s.mod, s, s.guest), 'the moderator removes the guest');
      const again = await invite(s.mod, s.streamId, s.guest);
      must(again, 'the moderator invites the guest back');
      return { invitationId: (again.data as InvitationRow).id };
    },
    act: (s, ctx) => accept(s.guest, ctx.invitationId ?? ''),
    events: [{ type: 'joined_live', user: 'guest', actor: 'guest' }],
    check: async (s) => expect(await seatOf(t.pool, s.streamId, s.guest.id)).toMatchObject({ left_at: null, muted_by_host: false, mic_enabled: true, volume: 1 }),
  },
  {
    name: 'the host mutes a guest',
    act: (s) => moderate(s.host, s, s.guest, { p_muted: true }),
    events: [{ type: 'muted_mic', user: 'guest', actor: 'host', metadata: { by: 'host', mic_enabled: false, muted_by_host: true } }],
    check: async (s, _c, data) => expect(data).toMatchObject({ muted_by_host: true, mic_enabled: false, mic_muted_by: s.host.id }),
  },
  {
    name: "the host releases a moderator's mute; the moderator's own mute is theirs to release too",
    setup: (s) => step(moderate(s.mod, s, s.guest, { p_muted: true }), 'the moderator mutes the guest'),
    act: async (s) => {
      must(await moderate(s.host, s, s.guest, { p_muted: false }), 'the host releases it');
      must(await moderate(s.mod, s, s.guest, { p_muted: true }), 'the moderator mutes again');
      // Muting an already muted guest (the host changing their volume) takes nothing from the moderator's mute.
      must(await moderate(s.host, s, s.guest, { p_volume: 0.5 }), 'the host sets the volume');
      return moderate(s.mod, s, s.guest, { p_muted: false });
    },
    events: [
      { type: 'unmuted_mic', user: 'guest', actor: 'host', metadata: { by: 'host', muted_by_host: false } },
      { type: 'muted_mic', user: 'guest', actor: 'mod', metadata: { by: 'moderator', muted_by_host: true } },
      { type: 'unmuted_mic', user: 'guest', actor: 'mod', metadata: { by: 'moderator', muted_by_host: false } },
    ],
    check: async (_s, _c, data) => expect(data).toMatchObject({ muted_by_host: false, mic_muted_by: null }),
  },
  {
    name: "a moderator turns a guest's camera off",
    act: (s) => moderate(s.mod, s, s.guest, { p_camera_disabled: true }),
    events: [{ type: 'camera_off', user: 'guest', actor: 'mod', metadata: { by: 'moderator', camera_disabled_by_host: true } }],
    check: async (s, _c, data) => expect(data).toMatchObject({ camera_disabled_by_host: true, camera_enabled: false, camera_disabled_by: s.mod.id }),
  },
  {
    name: 'the host releases a mute, then the guest unmutes',
    setup: (s) => step(moderate(s.host, s, s.guest, { p_muted: true }), 'mute'),
    act: async (s) => {
      must(await moderate(s.host, s, s.guest, { p_muted: false }), 'release');
      return myMedia(s.guest, s, { mic: true });
    },
    events: [
      { type: 'unmuted_mic', user: 'guest', actor: 'host', metadata: { by: 'host', mic_enabled: false, muted_by_host: false } },
      { type: 'unmuted_mic', user: 'guest', actor: 'guest', metadata: { by: 'self', mic_enabled: true } },
    ],
  },
  {
    name: "a moderator releases the camera a moderator turned off, then the guest turns it on",
    setup: (s) => step(moderate(s.mod, s, s.guest, { p_camera_disabled: true }), 'camera off'),
    act: async (s) => {
      must(await moderate(s.mod, s, s.guest, { p_camera_disabled: false }), 'release');
      return myMedia(s.guest, s, { camera: true });
    },
    events: [
      { type: 'camera_on', user: 'guest', actor: 'mod', metadata: { camera_enabled: false, camera_disabled_by_host: false } },
      { type: 'camera_on', user: 'guest', actor: 'guest', metadata: { by: 'self', camera_enabled: true } },
    ],
  },
  {
    name: 'a guest mutes their own microphone',
    act: (s) => myMedia(s.guest, s, { mic: false }),
    events: [{ type: 'muted_mic', user: 'guest', actor: 'guest', metadata: { by: 'self' } }],
  },
  {
    name: 'a guest turns their own camera off and on',
    act: async (s) => {
      must(await myMedia(s.guest, s, { camera: false }), 'camera off');
      return myMedia(s.guest, s, { camera: true });
    },
    events: [
      { type: 'camera_off', user: 'guest', actor: 'guest' },
      { type: 'camera_on', user: 'guest', actor: 'guest' },
    ],
  },
  {
    name: 'the host locks a seat',
    act: (s) => lockSeat(s.host, s, 5, true),
    events: [{ type: 'seat_locked', user: null, actor: 'host', seat: 5 }],
    check: async (_s, _c, data) => expect(data).toMatchObject({ locked_seats: [5] }),
  },
  {
    name: 'a moderator unlocks a seat',
    setup: (s) => step(lockSeat(s.host, s, 5, true), 'lock'),
    act: (s) => lockSeat(s.mod, s, 5, false),
    events: [{ type: 'seat_unlocked', user: null, actor: 'mod', seat: 5 }],
  },
  {
    name: 'the host changes locked seats by a direct update, under the same rules',
    setup: (s) => step(lockSeat(s.host, s, 8, true), 'lock'),
    act: (s) => s.host.sb.from('streams').update({ locked_seats: [6, 3, 6] }).eq('id', s.streamId).select('locked_seats').single(),
    events: [
      { type: 'seat_locked', user: null, actor: 'host', seat: 3 },
      { type: 'seat_locked', user: null, actor: 'host', seat: 6 },
      { type: 'seat_unlocked', user: null, actor: 'host', seat: 8 },
    ],
    check: async (_s, _c, data) => expect(data).toEqual({ locked_seats: [3, 6] }),
  },
  {
    name: 'the host appoints a moderator',
    act: (s) => setModerator(s.host, s, s.guest, true),
    events: [{ type: 'moderator_added', user: 'guest', actor: 'host', seat: 0 }],
    check: async (_s, _c, data) => expect(data).toMatchObject({ is_moderator: true }),
  },
  {
    name: 'the host dismisses a moderator',
    act: (s) => setModerator(s.host, s, s.mod, false),
    events: [{ type: 'moderator_removed', user: 'mod', actor: 'host', seat: 1 }],
  },
  {
    name: 'a guest leaves',
    act: (s) => s.guest.sb.rpc('leave_seat', { p_stream_id: s.streamId }),
    events: [{ type: 'left_live', user: 'guest', actor: 'guest', seat: 0 }],
  },
  {
    name: 'a removed guest comes back on a new invitation',
    setup: (s) => step(removeGuest(s.host, s, s.guest), 'remove'),
    act: async (s) => accept(s.guest, must(await invite(s.host, s.streamId, s.guest), 're-invite').id),
    events: [
      { type: 'invited', user: 'guest', actor: 'host' },
      { type: 'joined_live', user: 'guest', actor: 'guest', seat: 0 },
    ],
  },
  {
    name: 'the 9th guest takes the last seat',
    setup: async (s) => {
      const ctx = await inviteFan(s);
      await fillSeats(t, s, 6);
      return ctx;
    },
    act: (s, ctx) => accept(s.fan, ctx.invitationId ?? ''),
    events: [{ type: 'joined_live', user: 'fan', actor: 'fan', seat: 8 }],
    check: async (s) => expect(await activeSeats(t.pool, s.streamId)).toHaveLength(9),
  },
  {
    name: 'the host ends the stream: every seat and open invitation closes',
    setup: inviteFan,
    act: (s) => s.host.sb.rpc('end_stream', { p_stream_id: s.streamId }),
    events: [{ type: 'stream_ended', user: 'host', actor: 'host', metadata: { seatsClosed: 2, invitationsCancelled: 1, callSessionsEnded: 0 } }],
    check: async (s, ctx, data) => {
      expect(data).toMatchObject({ status: 'ended', ended_at: expect.any(String) });
      expect(await activeSeats(t.pool, s.streamId)).toEqual([]);
      const { rows } = await t.pool.query('select status from public.stream_guest_invitations where id = $1', [ctx.invitationId]);
      expect(rows).toEqual([{ status: 'cancelled' }]);
      // Again: nothing left to close, nothing new logged.
      const again = await s.host.sb.rpc('end_stream', { p_stream_id: s.streamId });
      expect(again.error).toBeNull();
    },
  },
  {
    name: "the host ends the stream with a moderator's invitation open: one stream_ended event counts it",
    setup: async (s) => ({ invitationId: must(await invite(s.mod, s.streamId, s.fan), 'the moderator invites the fan').id }),
    act: (s) => s.host.sb.rpc('end_stream', { p_stream_id: s.streamId }),
    events: [{ type: 'stream_ended', user: 'host', actor: 'host', metadata: { seatsClosed: 2, invitationsCancelled: 1, callSessionsEnded: 0 } }],
    check: async (_s, ctx) => expect((await invitationStatuses(ctx)).mod).toBe('cancelled'),
  },
];

describe('allowed counterparts succeed and log the event with display names', () => {
  for (const { name, setup, act, events, check } of allowed) it(name, async () => {
    const s = await scene(t);
    const who = (w: Who | null): TestUser | null => (w ? s[w] : null);
    const ctx = (await setup?.(s)) ?? {};
    const since = await lastEventId(t.pool, s.streamId);
    const res = await act(s, ctx);
    expect(res.error).toBeNull();
    await check?.(s, ctx, res.data);
    const logged = await eventsSince(t.pool, s.streamId, since);
    expect(logged.map((e) => e.event_type)).toEqual(events.map((e) => e.type));
    events.forEach((e, i) => {
      const row = logged[i];
      expect(row).toMatchObject({
        user_id: who(e.user)?.id ?? null,
        display_name: who(e.user)?.name ?? null,
        actor_id: who(e.actor)?.id ?? null,
        actor_display_name: who(e.actor)?.name ?? null,
        ...(e.seat === undefined ? {} : { seat_index: e.seat }),
      });
      if (e.metadata) expect(row?.metadata).toMatchObject(e.metadata);
    });
  });
});

describe('a moderator whose account is deleted', () => {
  it('leaves no invitation standing: theirs are cancelled, and the invitee cannot accept one as the host\'s', async () => {
    const s = await scene(t);
    const inv = await invite(s.mod, s.streamId, s.fan);
    must(inv, 'the moderator invites the fan');
    const invitationId = (inv.data as InvitationRow).id;
    await t.pool.query('delete from auth.users where id = $1', [s.mod.id]);
    const { rows } = await t.pool.query<{ status: string }>('select status from public.stream_guest_invitations where id = $1', [invitationId]);
    expect(rows[0]?.status).toBe('cancelled');
    const accepted = await accept(s.fan, invitationId);
    expect(accepted.error).toMatchObject({ code: 'P0001', hint: 'invitation_not_pending' });
    const events = await eventsSince(t.pool, s.streamId, 0);
    expect(events.filter((e) => e.event_type === 'invitation_cancelled').at(-1)).toMatchObject({ user_id: s.fan.id, metadata: { reason: 'inviter_not_manager' } });
  });
});

describe("answers to an invitation that are refused do not wait for the stream's lock", () => {
  it('an invitee calling accept, decline and cancel on an invitation long answered is refused while the stream is locked', async () => {
    const s = await scene(t);
    const inv = await invite(s.host, s.streamId, s.fan);
    must(inv, 'invite the fan');
    const invitationId = (inv.data as InvitationRow).id;
    must(await s.fan.sb.rpc('decline_invitation', { p_invitation_id: invitationId }), 'the fan declines');
    const locker = await t.pool.connect();
    try {
      await locker.query('begin');
      await locker.query('select 1 from public.streams where id = $1 for update', [s.streamId]);
      // Each answer comes while the lock is held (refused before it): before, each queued behind it.
      const [accepted, declined, cancelled] = await Promise.all([
        accept(s.fan, invitationId),
        s.fan.sb.rpc('decline_invitation', { p_invitation_id: invitationId }),
        s.fan.sb.rpc('cancel_invitation', { p_invitation_id: invitationId }),
      ]);
      expect(accepted.error).toMatchObject({ code: 'P0001', hint: 'invitation_not_pending' });
      expect(declined.error).toMatchObject({ code: 'P0001', hint: 'invitation_not_pending' });
      expect(cancelled.error).toMatchObject({ code: '42501', hint: 'not_host', message: 'Only the host or a moderator can cancel an invitation' });
    } finally {
      await locker.query('rollback');
      locker.release();
    }
  });
});

describe('the audience', () => {
  it('reads the event feed without signing in, names included', async () => {
    const s = await scene(t);
    must(await moderate(s.host, s, s.guest, { p_muted: true }), 'mute');
    const feed = await t.anon().from('stream_guest_events').select('event_type, display_name, actor_display_name').eq('stream_id', s.streamId).order('id');
    expect(feed.error).toBeNull();
    expect(feed.data).toEqual([
      { event_type: 'invited', display_name: s.guest.name, actor_display_name: s.host.name },
      { event_type: 'joined_live', display_name: s.guest.name, actor_display_name: s.guest.name },
      { event_type: 'invited', display_name: s.mod.name, actor_display_name: s.host.name },
      { event_type: 'joined_live', display_name: s.mod.name, actor_display_name: s.mod.name },
      { event_type: 'moderator_added', display_name: s.mod.name, actor_display_name: s.host.name },
      { event_type: 'muted_mic', display_name: s.guest.name, actor_display_name: s.host.name },
    ]);
    const seats = await t.anon().from('stream_guest_seats').select('user_id, seat_index').eq('stream_id', s.streamId).is('left_at', null).order('seat_index');
    expect(seats.data).toEqual([
      { user_id: s.guest.id, seat_index: 0 },
      { user_id: s.mod.id, seat_index: 1 },
    ]);
    const invitations = await t.anon().from('stream_guest_invitations').select('id').eq('stream_id', s.streamId);
    expect(invitations.data ?? []).toEqual([]);
  });

  it('sees names on events the edge functions record with the service role', async () => {
    const s = await scene(t);
    // As end-live's recordEvent writes it.
    const service = t.service();
    const written = await service
      .from('stream_guest_events')
      .insert({ stream_id: s.streamId, user_id: s.host.id, actor_id: s.host.id, event_type: 'stream_ended', seat_index: null, metadata: {} });
    expect(written.error).toBeNull();
    const feed = await t.anon().from('stream_guest_events').select('display_name, actor_display_name').eq('stream_id', s.streamId).eq('event_type', 'stream_ended');
    expect(feed.data).toEqual([{ display_name: s.host.name, actor_display_name: s.host.name }]);
    const unknown = await service.from('stream_guest_events').insert({ stream_id: s.streamId, event_type: 'guest_waved' });
    expect(unknown.error).toMatchObject({ code: '23514' });
  });
});

describe('the schema holds the rules', () => {
  it('has one active seat per index and per user, and one open invitation per invitee', async () => {
    const { rows } = await t.pool.query<{ indexname: string; indexdef: string }>(
      `select indexname, indexdef from pg_indexes
        where schemaname = 'public' and tablename in ('stream_guest_seats', 'stream_guest_invitations')
          and indexdef like '%UNIQUE%' and indexdef like '%WHERE%'
        order by indexname`,
    );
    expect(rows.map((r) => r.indexdef.replace(/^.* USING btree /, ''))).toEqual([
      "(stream_id, invitee_id) WHERE (status = 'pending'::text)",
      '(stream_id, seat_index) WHERE (left_at IS NULL)',
      '(stream_id, user_id) WHERE (left_at IS NULL)',
    ]);

    // Even the service role cannot double-book.
    const s = await scene(t);
    const dupSeat = t.pool.query('insert into public.stream_guest_seats (stream_id, user_id, seat_index) values ($1, $2, 0)', [s.streamId, s.fan.id]);
    await expect(dupSeat).rejects.toMatchObject({ code: '23505', constraint: 'stream_guest_seats_active_seat_key' });
    const dupUser = t.pool.query('insert into public.stream_guest_seats (stream_id, user_id, seat_index) values ($1, $2, 5)', [s.streamId, s.guest.id]);
    await expect(dupUser).rejects.toMatchObject({ code: '23505', constraint: 'stream_guest_seats_active_user_key' });
    const badSeat = t.pool.query('insert into public.stream_guest_seats (stream_id, user_id, seat_index) values ($1, $2, 9)', [s.streamId, s.fan.id]);
    await expect(badSeat).rejects.toMatchObject({ code: '23514' });
    await inviteFan(s);
    const dupInvitation = t.pool.query('insert into public.stream_guest_invitations (stream_id, host_id, invitee_id) values ($1, $2, $3)', [
      s.streamId,
      s.host.id,
      s.fan.id,
    ]);
    await expect(dupInvitation).rejects.toMatchObject({ code: '23505', constraint: 'stream_guest_invitations_one_pending_key' });
    // The 20 s are fixed: a longer life is refused, a chosen one is overridden.
    const longer = t.pool.query("update public.stream_guest_invitations set expires_at = expires_at + interval '1 minute' where invitee_id = $1", [s.fan.id]);
    await expect(longer).rejects.toMatchObject({ code: '23514', constraint: 'stream_guest_invitations_lifetime' });
    const { rows: chosen } = await t.pool.query<{ life: number }>(
      `insert into public.stream_guest_invitations (stream_id, host_id, invitee_id, expires_at) values ($1, $2, $3, now() + interval '1 hour')
       returning extract(epoch from expires_at - created_at)::int as life`,
      [s.streamId, s.host.id, s.stranger.id],
    );
    expect(chosen).toEqual([{ life: 20 }]);
  });

  it('gives clients no write access to seats, invitations and events, and publishes them for Realtime', async () => {
    const { rows } = await t.pool.query<{ role: string; tbl: string; priv: string }>(
      `select r as role, tb as tbl, p as priv
         from unnest(array['anon', 'authenticated']) r,
              unnest(array['stream_guest_seats', 'stream_guest_invitations', 'stream_guest_events', 'stream_guest_invitation_states']) tb,
              unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
        where has_table_privilege(r, 'public.' || tb, p)`,
    );
    expect(rows).toEqual([]);
    const published = await t.pool.query<{ tablename: string }>(
      "select tablename from pg_publication_tables where pubname = 'supabase_realtime' and schemaname = 'public' order by tablename",
    );
    expect(published.rows.map((r) => r.tablename)).toEqual(
      expect.arrayContaining(['stream_guest_events', 'stream_guest_invitations', 'stream_guest_seats', 'streams']),
    );
    const internal = await t.pool.query<{ fn: string }>(
      `select p.proname as fn from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public' and p.proname in ('log_guest_event', 'expire_stale_invitations', 'log_media_changes', 'actor_role', 'streams_guard')
          and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute'))`,
    );
    expect(internal.rows).toEqual([]);
  });
});

describe('the signaling channel', () => {
  it("between the host and one guest is open to those two only, while the guest is seated", async () => {
    const a = await scene(t);
    const b = await scene(t);
    const allowed = async (u: TestUser | null, streamId: string, guest: TestUser): Promise<unknown> => {
      const { data, error } = await (u?.sb ?? t.anon()).rpc('realtime_topic_allowed', { p_topic: signalingChannelName(streamId, guest.id) });
      expect(error).toBeNull();
      return data;
    };
    expect(await allowed(a.host, a.streamId, a.guest)).toBe(true);
    expect(await allowed(a.guest, a.streamId, a.guest)).toBe(true);
    expect(await allowed(a.host, a.streamId, a.mod)).toBe(true);
    expect(await allowed(a.mod, a.streamId, a.mod)).toBe(true);
    // One guest cannot join another's channel (and so cannot speak as them): not even a moderator.
    expect(await allowed(a.mod, a.streamId, a.guest)).toBe(false);
    expect(await allowed(a.guest, a.streamId, a.mod)).toBe(false);
    expect(await allowed(a.stranger, a.streamId, a.guest)).toBe(false);
    expect(await allowed(a.stranger, a.streamId, a.stranger)).toBe(false);
    expect(await allowed(null, a.streamId, a.guest)).toBe(false);
    // Host and guests of one stream are strangers to another.
    expect(await allowed(a.host, b.streamId, b.guest)).toBe(false);
    expect(await allowed(a.guest, b.streamId, a.guest)).toBe(false);
    // Only the per-guest signaling topics exist (the shared one of earlier versions is refused).
    for (const topic of [`stream:${a.streamId}:signaling`, `stream:${a.streamId}:chat`, `stream:not-a-uuid:signaling:${a.guest.id}`, `xstream:${a.streamId}:signaling:${a.guest.id}`, '']) {
      const res = await a.host.sb.rpc('realtime_topic_allowed', { p_topic: topic });
      expect(res.data, topic).toBe(false);
    }
    // Leaving or removal closes the door; an invitation alone does not open it.
    must(await removeGuest(a.host, a, a.guest), 'remove');
    must(await a.mod.sb.rpc('leave_seat', { p_stream_id: a.streamId }), 'leave');
    await inviteFan(a);
    expect(await allowed(a.guest, a.streamId, a.guest)).toBe(false);
    expect(await allowed(a.mod, a.streamId, a.mod)).toBe(false);
    expect(await allowed(a.fan, a.streamId, a.fan)).toBe(false);
  });

  it('refuses a real Realtime client joining or sending on a channel not its own', async () => {
    const a = await scene(t);
    const b = await scene(t);
    const topicB = signalingChannelName(b.streamId, b.guest.id);
    const join = async (u: TestUser, topic: string) => {
      await u.sb.realtime.setAuth();
      const ch = u.sb.channel(topic, { config: { private: true, broadcast: { ack: true } } });
      const status = await new Promise<string>((resolve) => {
        ch.subscribe((st, err) => {
          if (st === 'SUBSCRIBED') resolve(st);
          else if (st === 'CHANNEL_ERROR' || st === 'TIMED_OUT') resolve(`${st}: ${err?.message ?? ''}`);
        });
      });
      return { ch, status };
    };

    const host = await join(b.host, topicB);
    expect(host.status).toBe('SUBSCRIBED');
    const heard: unknown[] = [];
    host.ch.on('broadcast', { event: '*' }, (m) => heard.push(m));
    const guest = await join(b.guest, topicB);
    expect(guest.status).toBe('SUBSCRIBED');
    expect(await guest.ch.send({ type: 'broadcast', event: 'hello', payload: { from: 'guest' } })).toBe('ok');

    const intruder = await join(a.guest, topicB);
    expect(intruder.status).toMatch(/^CHANNEL_ERROR: Unauthorized/);
    await a.guest.sb.removeChannel(intruder.ch);
    // A moderator seated on the same stream cannot join a fellow guest's channel either.
    const fellow = await join(b.mod, topicB);
    expect(fellow.status).toMatch(/^CHANNEL_ERROR: Unauthorized/);
    await b.mod.sb.removeChannel(fellow.ch);
    const otherHost = await join(a.host, topicB);
    expect(otherHost.status).toMatch(/^CHANNEL_ERROR: Unauthorized/);
    await a.host.sb.removeChannel(otherHost.ch);

    // Sending without joining: the REST broadcast checks the caller too.
    const token = (await a.guest.sb.auth.getSession()).data.session?.access_token ?? '';
    const sent = await fetch(`${t.apiUrl}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { apikey: t.anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ topic: topicB, event: 'offer', payload: { from: 'intruder' }, private: true }] }),
    });
    expect(sent.status).toBe(403);

    // Removed from the seat, the guest's sends are refused once the channel's write check is due
    // again (at most WRITE_AUTH_TTL_MS; hosted Realtime checks once per join).
    must(await removeGuest(b.host, b, b.guest), 'remove');
    await new Promise((r) => setTimeout(r, WRITE_AUTH_TTL_MS + 100));
    expect(await guest.ch.send({ type: 'broadcast', event: 'hello', payload: { from: 'removed' } })).toBe('error');
    await new Promise((r) => setTimeout(r, 200));
    expect(heard).toEqual([expect.objectContaining({ event: 'hello', payload: { from: 'guest' } })]);
  });
});

describe("the host's own stream row", () => {
  it('takes a new title directly, but not a new status', async () => {
    const host = await t.signIn('Backstage Host');
    const streamId = await newStream(t, host, 'idle');
    const live = await host.sb.from('streams').update({ status: 'live' }).eq('id', streamId);
    expect(live.error?.hint).toBe('status_managed');
    const renamed = await host.sb.from('streams').update({ title: 'renamed' }).eq('id', streamId).select('title').single();
    expect(renamed.data).toEqual({ title: 'renamed' });
  });
});

describe('what a client cannot choose', () => {
  it('a stream a client makes gets the time it is made, whatever the client sent', async () => {
    const host = await t.signIn('Host Early');
    const made = await host.sb.from('streams').insert({ host_id: host.id, title: 'backdated', created_at: '2099-01-01T00:00:00Z' }).select('created_at').single();
    expect(made.error).toBeNull();
    const { rows } = await t.pool.query<{ now: Date }>('select now() as now');
    expect(Math.abs(new Date((made.data as { created_at: string }).created_at).getTime() - rows[0]!.now.getTime())).toBeLessThan(60_000);
  });

  it('a name is readable: not empty, not spaces, no control characters; sign-up cleans one rather than refusing it', async () => {
    const user = await t.signIn('Plain Name');
    for (const display_name of ['', '   ', 'two\nlines', ' padded ']) {
      const named = await user.sb.from('profiles').update({ display_name }).eq('id', user.id);
      expect(named.error, JSON.stringify(display_name)).toMatchObject({ code: '23514' });
      expect(named.error?.message).toContain('profiles_display_name_readable');
    }
    for (const username of ['', 'two words', 'tab\there']) {
      const named = await user.sb.from('profiles').update({ username }).eq('id', user.id);
      expect(named.error?.message, JSON.stringify(username)).toContain('profiles_username_clean');
    }
    must(await user.sb.from('profiles').update({ display_name: 'Plain Name Again', username: 'plain.name' }).eq('id', user.id), 'a readable name');
    // No name at all is the default one, as a new account's.
    const unnamed = await user.sb.from('profiles').update({ display_name: null }).eq('id', user.id).select('display_name').single();
    expect(unnamed.data).toEqual({ display_name: `Guest-${user.id.slice(0, 4)}` });
    const up = await t.anon().auth.signInAnonymously({ options: { data: { display_name: 'Line\nBreak\tName' } } });
    expect(up.error).toBeNull();
    const blank = await t.anon().auth.signInAnonymously({ options: { data: { display_name: '\n\t ' } } });
    expect(blank.error).toBeNull();
    const { rows } = await t.pool.query<{ id: string; display_name: string }>('select id, display_name from public.profiles where id = any($1)', [
      [up.data.user!.id, blank.data.user!.id],
    ]);
    expect(rows.find((r) => r.id === up.data.user!.id)?.display_name).toBe('Line Break Name');
    expect(rows.find((r) => r.id === blank.data.user!.id)?.display_name).toBe(`Guest-${blank.data.user!.id.slice(0, 4)}`);
    // A long name whose 60th character is a space is cut and trimmed, not refused.
    const spaced = await t.anon().auth.signInAnonymously({ options: { data: { display_name: `${'a'.repeat(59)} b` } } });
    expect(spaced.error).toBeNull();
    const { rows: cut } = await t.pool.query<{ display_name: string }>('select display_name from public.profiles where id = $1', [spaced.data.user!.id]);
    expect(cut[0]!.display_name).toBe('a'.repeat(59));
  });

  it('an account named after its e-mail address (made before names stopped coming from it) is renamed, in the events feed too', async () => {
    const email = `old.timer+${Date.now()}@corp.example`;
    const prefix = email.split('@')[0]!;
    const up = await t.anon().auth.signUp({ email, password: 'a-password-of-some-length' });
    const id = up.data.user!.id;
    const chose = `chose.it+${Date.now()}@corp.example`;
    const keeper = await t.anon().auth.signUp({ email: chose, password: 'a-password-of-some-length', options: { data: { display_name: chose.split('@')[0] } } });
    // As such accounts were named, with an event that copied the name.
    await t.pool.query('update public.profiles set display_name = $2 where id = $1', [id, prefix]);
    const host = await t.signIn('Renaming Host');
    const streamId = await newStream(t, host);
    await t.pool.query(
      "insert into public.stream_guest_events (stream_id, user_id, actor_id, event_type, display_name, actor_display_name) values ($1, $2, $2, 'left_live', $3, $3)",
      [streamId, id, prefix],
    );
    const { rows: ran } = await t.pool.query<{ n: number }>('select public.unname_email_named_profiles() as n');
    expect(ran[0]!.n).toBeGreaterThanOrEqual(1);
    const named = `Guest-${id.slice(0, 4)}`;
    const { rows } = await t.pool.query<{ id: string; display_name: string }>('select id, display_name from public.profiles where id = any($1)', [[id, keeper.data.user!.id]]);
    expect(rows.find((r) => r.id === id)?.display_name).toBe(named);
    expect(rows.find((r) => r.id === keeper.data.user!.id)?.display_name).toBe(chose.split('@')[0]); // a name the person chose stays
    const { rows: events } = await t.pool.query('select display_name, actor_display_name from public.stream_guest_events where stream_id = $1 and user_id = $2', [streamId, id]);
    expect(events).toEqual([{ display_name: named, actor_display_name: named }]);
  });

  it('a new account without a display name is not shown by its e-mail address', async () => {
    const email = `jane.q.doe+${Date.now()}@corp.example`;
    const up = await t.anon().auth.signUp({ email, password: 'a-password-of-some-length' });
    expect(up.error).toBeNull();
    const { rows } = await t.pool.query<{ display_name: string }>('select display_name from public.profiles where id = $1', [up.data.user!.id]);
    expect(rows[0]!.display_name).toBe(`Guest-${up.data.user!.id.slice(0, 4)}`);
    expect(rows[0]!.display_name).not.toContain('jane');
  });
});

describe('limits against abuse', () => {
  it('a stream that is not live invites nobody', async () => {
    const host = await t.signIn('Idle Inviter');
    const target = await t.signIn('Idle Target');
    const streamId = await newStream(t, host, 'idle');
    const refused = await invite(host, streamId, target);
    expect(refused.error).toMatchObject({ hint: 'stream_not_live', message: 'Go live before inviting guests' });
    const { rows } = await t.pool.query('select 1 from public.stream_guest_invitations where stream_id = $1', [streamId]);
    expect(rows).toEqual([]);
  });

  /** Moves every invitation the user sent a minute and a second into the past. */
  const aMinuteLater = (inviter: TestUser) =>
    t.pool.query(
      "update public.stream_guest_invitations set created_at = created_at - interval '61 seconds', expires_at = expires_at - interval '61 seconds', responded_at = responded_at - interval '61 seconds' where invited_by = $1",
      [inviter.id],
    );

  it('one person sends at most max_invitations_per_minute() invitations a minute', async () => {
    const host = await t.signIn('Busy Inviter');
    const streamId = await newStream(t, host);
    const { rows } = await t.pool.query<{ n: number; each: number }>('select public.max_invitations_per_minute() as n, public.max_invitations_per_invitee_per_minute() as each');
    const { n: limit, each } = rows[0]!;
    const targets = await Promise.all(Array.from({ length: Math.ceil(limit / each) + 1 }, (_, i) => t.signIn(`Spammed ${i + 1}`)));
    for (let i = 0; i < limit; i++) must(await invite(host, streamId, targets[Math.floor(i / each)]!), `invitation ${i + 1}`);
    const refused = await invite(host, streamId, targets.at(-1)!);
    expect(refused.error).toMatchObject({ hint: 'too_many_invitations', message: 'Too many invitations in the last minute: wait a moment and invite again' });
    // A minute later, the host invites again.
    await aMinuteLater(host);
    must(await invite(host, streamId, targets[0]!), 'an invitation a minute later');
  });

  it('one person invites the same person at most max_invitations_per_invitee_per_minute() times a minute', async () => {
    const host = await t.signIn('Insistent Inviter');
    const [target, other] = await Promise.all([t.signIn('Pestered Pat'), t.signIn('Other Olga')]);
    const streamId = await newStream(t, host);
    const { rows } = await t.pool.query<{ each: number }>('select public.max_invitations_per_invitee_per_minute() as each');
    expect(rows[0]!.each).toBeGreaterThanOrEqual(3); // an invitation that runs out every 20 s, invited again each time
    for (let i = 0; i < rows[0]!.each; i++) must(await invite(host, streamId, target), `invitation ${i + 1}`);
    const refused = await invite(host, streamId, target);
    expect(refused.error).toMatchObject({ hint: 'too_many_invitations', message: 'You invited this person too often in the last minute: wait a moment and invite them again' });
    must(await invite(host, streamId, other), 'someone else is still invited');
    await aMinuteLater(host);
    must(await invite(host, streamId, target), 'the same person a minute later');
  });

  it('a call opens on a live stream only', async () => {
    const host = await t.signIn('Idle Caller');
    const streamId = await newStream(t, host, 'idle');
    await expect(
      t.pool.query("insert into public.call_sessions (stream_id, host_id, provider) values ($1, $2, 'p2p')", [streamId, host.id]),
    ).rejects.toMatchObject({ hint: 'stream_not_live' });
  });

  it('names and titles have a length limit; a long name from sign-up is cut, not refused', async () => {
    const user = await t.signIn('Long Name');
    const huge = 'x'.repeat(10_000);
    const named = await user.sb.from('profiles').update({ display_name: huge }).eq('id', user.id);
    expect(named.error).toMatchObject({ code: '23514' });
    expect(named.error?.message).toContain('profiles_display_name_length');
    const streamId = await newStream(t, user, 'idle');
    const titled = await user.sb.from('streams').update({ title: huge }).eq('id', streamId);
    expect(titled.error).toMatchObject({ code: '23514' });
    const up = await t.anon().auth.signInAnonymously({ options: { data: { display_name: `  ${'y'.repeat(200)}  ` } } });
    expect(up.error).toBeNull();
    const { rows } = await t.pool.query<{ display_name: string }>('select display_name from public.profiles where id = $1', [up.data.user!.id]);
    expect(rows[0]!.display_name).toBe('y'.repeat(60));
  });
});

