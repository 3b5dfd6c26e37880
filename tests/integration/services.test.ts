/**
 * The renderer's backend services, run in Node against the whole local stack
 * (embedded PostgreSQL with the project's migrations, the Supabase-compatible
 * gateway with Auth, REST and Realtime, the edge functions in Deno, the local
 * ingest): each person is an unmodified supabase-js client handed to the
 * service factories, as the page hands them its own client.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import type { GuestEventRow, GuestInvitationRow, GuestSeatRow, StreamRow } from '../../src/shared/domain.js';
import { createAuthService } from '../../src/renderer/src/services/authService.js';
import { createCloudflareCallsService } from '../../src/renderer/src/services/cloudflareCallsService.js';
import { BackendError } from '../../src/renderer/src/services/errors.js';
import { createLiveService } from '../../src/renderer/src/services/liveService.js';
import type { Unsubscribe } from '../../src/renderer/src/services/realtime.js';
import { createStreamGuestService } from '../../src/renderer/src/services/streamGuestService.js';

let stack: LocalStack;
let dataDir: string;
let db: pg.Pool;
const clients: SupabaseClient[] = [];
const unsubscribes: Unsubscribe[] = [];

function client(): SupabaseClient {
  const c = createClient(stack.apiUrl, stack.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
  });
  clients.push(c);
  return c;
}

/** A person with their own client and every service over it. */
async function person(displayName: string) {
  const sb = client();
  const user = await createAuthService(sb).ensureSignedIn(displayName);
  return {
    id: user.id,
    name: displayName,
    auth: createAuthService(sb),
    live: createLiveService(sb),
    calls: createCloudflareCallsService(sb),
    guests: createStreamGuestService(sb),
  };
}
type Person = Awaited<ReturnType<typeof person>>;

/** Collects what a subscription delivers; `until` waits for the first item that matches. */
function inbox<T>() {
  const items: T[] = [];
  const waiters: Array<() => void> = [];
  return {
    items,
    push(item: T): void {
      items.push(item);
      for (const wake of waiters.splice(0)) wake();
    },
    async until(match: (item: T) => boolean, ms = 5000): Promise<T> {
      const deadline = Date.now() + ms;
      for (;;) {
        const index = items.findIndex(match);
        if (index >= 0) return items.splice(index, 1)[0]!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`nothing matching arrived within ${ms} ms (got ${items.length} other items)`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
}

/** The BackendError a call fails with. */
async function failure(call: Promise<unknown>): Promise<BackendError> {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof BackendError)) throw new Error(`expected a BackendError, got ${err === null ? 'success' : String(err)}`);
  return err;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'roast-services-'));
  // The embedded PostgreSQL runs as its own user when we are root: let it in.
  chmodSync(dataDir, 0o755);
  stack = await startLocalStack({ port: 0, dbPort: 0, rtmpPort: 0, ingestHttpPort: 0, dataDir });
  db = new pg.Pool({ connectionString: stack.dbUrl, max: 2 });
});

afterAll(async () => {
  for (const off of unsubscribes.splice(0)) off();
  for (const c of clients) {
    await c.removeAllChannels();
    c.realtime.disconnect();
  }
  await db?.end();
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('renderer services against the local stack', () => {
  let host: Person;
  let guest: Person;
  let second: Person;
  let late: Person;
  let stream: StreamRow;
  const hostSeats = inbox<GuestSeatRow>();
  const hostInvitations = inbox<GuestInvitationRow>();
  const guestInvitations = inbox<GuestInvitationRow>();
  const streamChanges = inbox<StreamRow>();
  const events = inbox<GuestEventRow>();

  beforeAll(async () => {
    [host, guest, second, late] = await Promise.all([person('Host Hana'), person('Guest Gil'), person('Second Sol'), person('Late Lou')]);
  });

  it('signs in anonymously with a display name, and keeps the session', async () => {
    expect(await guest.auth.currentUser()).toMatchObject({ id: guest.id });
    expect((await guest.auth.ensureSignedIn('')).id).toBe(guest.id);
    const nobody = createAuthService(client());
    expect(await nobody.currentUser()).toBeNull();
    expect((await failure(nobody.ensureSignedIn('  '))).reason).toBe('display_name_required');
  });

  it('the host goes live; everyone reads the stream and follows its changes', async () => {
    const live = await host.live.startLive('Services night');
    stream = live.stream;
    expect(stream).toMatchObject({ host_id: host.id, status: 'live', title: 'Services night' });
    expect(live.ingest.publishUrl).toContain(live.ingest.streamKey);
    expect(await guest.live.getStream(stream.id)).toMatchObject({ id: stream.id, status: 'live' });
    expect(await guest.live.getStream('00000000-0000-4000-8000-000000000000')).toBeNull();

    unsubscribes.push(await guest.live.subscribeStream(stream.id, streamChanges.push));
    unsubscribes.push(await host.guests.subscribeSeats(stream.id, hostSeats.push));
    unsubscribes.push(await host.guests.subscribeStreamInvitations(stream.id, hostInvitations.push));
    unsubscribes.push(await guest.guests.subscribeInvitations(guest.id, guestInvitations.push));
    unsubscribes.push(await createStreamGuestService(client()).subscribeEvents(stream.id, events.push));
  });

  it('finds people by display name, matching the text literally', async () => {
    const found = await host.guests.searchProfiles('  gUEST g ');
    expect(found.map((p) => p.id)).toEqual([guest.id]);
    expect(await host.guests.searchProfiles('%')).toEqual([]);
    expect(await host.guests.searchProfiles('')).toEqual([]);
    expect((await host.guests.getProfiles([guest.id, second.id, guest.id])).map((p) => p.display_name).sort()).toEqual(['Guest Gil', 'Second Sol']);
  });

  it('the guest receives the invitation live and accepts it; the host sees the seat taken', async () => {
    const invitation = await host.guests.inviteGuest(stream.id, guest.id, 2);
    expect(invitation).toMatchObject({ stream_id: stream.id, invitee_id: guest.id, seat_index: 2, status: 'pending' });

    expect(await guestInvitations.until((row) => row.id === invitation.id)).toMatchObject({ status: 'pending', host_id: host.id });
    expect((await guest.guests.listPendingInvitations(guest.id)).map((row) => row.id)).toEqual([invitation.id]);
    expect((await host.guests.listStreamInvitations(stream.id, { pendingOnly: true })).map((row) => row.id)).toEqual([invitation.id]);
    // Nobody else sees it.
    expect(await second.guests.listStreamInvitations(stream.id)).toEqual([]);

    const seat = await guest.guests.acceptInvitation(invitation.id);
    expect(seat).toMatchObject({ stream_id: stream.id, user_id: guest.id, seat_index: 2, left_at: null, muted_by_host: false });
    expect(await hostSeats.until((row) => row.id === seat.id)).toMatchObject({ user_id: guest.id, seat_index: 2, left_at: null });
    await hostInvitations.until((row) => row.id === invitation.id && row.status === 'accepted');
    expect((await host.guests.listActiveSeats(stream.id)).map((row) => row.user_id)).toEqual([guest.id]);
    // A page reloaded on stage finds the seat it holds.
    expect((await guest.guests.listMyActiveSeats(guest.id)).map((row) => row.id)).toEqual([seat.id]);
    expect(await second.guests.listMyActiveSeats(second.id)).toEqual([]);

    expect((await failure(guest.guests.acceptInvitation(invitation.id))).reason).toBe('invitation_not_pending');
    expect((await failure(host.guests.inviteGuest(stream.id, guest.id))).reason).toBe('already_seated');
    expect((await failure(second.guests.inviteGuest(stream.id, late.id))).reason).toBe('not_host');
  });

  it('a host mute holds: the guest cannot lift it, and the release leaves their own switch alone', async () => {
    const muted = await host.guests.muteGuest(stream.id, guest.id);
    expect(muted).toMatchObject({ muted_by_host: true, mic_enabled: false });
    // The row a change returns and the one Realtime delivers carry the same version, one up on the list's.
    const delivered = await hostSeats.until((row) => row.user_id === guest.id && row.muted_by_host);
    expect(delivered.version).toBe(muted.version);
    expect(muted.version).toBeGreaterThan(1);

    const notHost = await failure(guest.guests.unmuteGuest(stream.id, guest.id));
    expect(notHost.reason).toBe('not_host');
    expect(notHost.message).toMatch(/^Could not unmute the guest: Only the host/);
    const stillMuted = await failure(guest.guests.setMyMic(stream.id, true));
    expect(stillMuted.reason).toBe('muted_by_host');
    expect(stillMuted.message).toBe('Could not turn your microphone on: The host muted your microphone');

    const released = await host.guests.unmuteGuest(stream.id, guest.id);
    expect(released).toMatchObject({ muted_by_host: false, mic_enabled: false, version: muted.version + 1 });
    expect(await guest.guests.setMyMic(stream.id, true)).toMatchObject({ mic_enabled: true });

    expect(await host.guests.disableGuestCamera(stream.id, guest.id)).toMatchObject({ camera_disabled_by_host: true, camera_enabled: false });
    expect((await failure(guest.guests.setMyCamera(stream.id, true))).reason).toBe('camera_disabled_by_host');
    expect(await host.guests.enableGuestCamera(stream.id, guest.id)).toMatchObject({ camera_disabled_by_host: false, camera_enabled: false });
    expect(await guest.guests.setMyCamera(stream.id, true)).toMatchObject({ camera_enabled: true });

    expect(await host.guests.setGuestVolume(stream.id, guest.id, 1.5)).toMatchObject({ volume: 1.5 });
    expect((await failure(host.guests.setGuestVolume(stream.id, guest.id, 3))).reason).toBe('invalid_volume');
    expect((await failure(second.guests.setMyMic(stream.id, false))).reason).toBe('not_seated');
  });

  it('a locked seat refuses invitations until it is unlocked', async () => {
    const locked = await host.guests.lockSeat(stream.id, 4);
    expect(locked.locked_seats).toEqual([4]);
    expect(await streamChanges.until((row) => row.locked_seats.includes(4))).toMatchObject({ id: stream.id });

    const refused = await failure(host.guests.inviteGuest(stream.id, second.id, 4));
    expect(refused.reason).toBe('seat_locked');
    expect(refused.message).toBe('Invitation failed: That seat is locked');
    expect((await failure(guest.guests.lockSeat(stream.id, 5))).reason).toBe('not_host');
    expect((await failure(host.guests.lockSeat(stream.id, 9))).reason).toBe('invalid_seat');

    expect((await host.guests.unlockSeat(stream.id, 4)).locked_seats).toEqual([]);
    await streamChanges.until((row) => row.locked_seats.length === 0);
  });

  it('the host appoints a moderator, who may invite but not appoint', async () => {
    expect((await failure(guest.guests.setModerator(stream.id, guest.id, true))).reason).toBe('not_host');
    expect(await host.guests.setModerator(stream.id, guest.id, true)).toMatchObject({ is_moderator: true });
    await hostSeats.until((row) => row.user_id === guest.id && row.is_moderator);

    const invitation = await guest.guests.inviteGuest(stream.id, second.id, 4);
    expect(invitation.host_id).toBe(host.id);
    const seat = await second.guests.acceptInvitation(invitation.id);
    expect(seat.seat_index).toBe(4);
    await hostSeats.until((row) => row.user_id === second.id);

    expect((await failure(guest.guests.setModerator(stream.id, second.id, true))).reason).toBe('not_host');
    expect((await failure(second.guests.removeGuest(stream.id, guest.id))).reason).toBe('not_host');
    expect(await guest.guests.muteGuest(stream.id, second.id)).toMatchObject({ muted_by_host: true });
  });

  it('an invitation can be cancelled, and one whose 20 s ran out cannot be accepted', async () => {
    const first = await host.guests.inviteGuest(stream.id, late.id);
    expect((await host.guests.cancelInvitation(first.id)).status).toBe('cancelled');
    expect((await failure(late.guests.acceptInvitation(first.id))).reason).toBe('invitation_not_pending');

    const second_ = await host.guests.inviteGuest(stream.id, late.id);
    // Its 20 s are up: move the invitation back in time (its lifetime stays 20 s).
    await db.query(
      `update public.stream_guest_invitations
          set created_at = created_at - interval '21 seconds', expires_at = expires_at - interval '21 seconds'
        where id = $1`,
      [second_.id],
    );
    const expired = await failure(late.guests.acceptInvitation(second_.id));
    expect(expired.reason).toBe('invitation_expired');
    expect(expired.message).toBe('Could not join: This invitation has expired');
    expect(await late.guests.listPendingInvitations(late.id)).toEqual([]);
    expect((await host.guests.listStreamInvitations(stream.id)).find((row) => row.id === second_.id)?.status).toBe('expired');
    expect((await failure(late.guests.declineInvitation('00000000-0000-4000-8000-000000000000'))).reason).toBe('invitation_not_found');
  });

  it('the call: seated guests find it and get a token; others do not', async () => {
    const call = await host.calls.createCallSession(stream.id);
    expect(call).toMatchObject({ streamId: stream.id, provider: 'p2p' });
    expect(await guest.calls.getActiveCallSession(stream.id)).toEqual(call);
    const token = await second.calls.generateCallToken(stream.id, call.sessionId);
    expect(token.role).toBe('guest');
    expect(await late.calls.getActiveCallSession(stream.id)).toBeNull();
    const refused = await failure(late.calls.generateCallToken(stream.id, call.sessionId));
    expect(refused.reason).toBe('not_seated');
    expect(refused.status).toBe(403);
    expect((await failure(guest.calls.createCallSession(stream.id))).reason).toBe('not_host');
  });

  it('the host removes a guest, and the seat update reaches the host', async () => {
    const removed = await host.guests.removeGuest(stream.id, guest.id);
    expect(removed.left_at).not.toBeNull();
    await hostSeats.until((row) => row.user_id === guest.id && row.left_at !== null);
    expect((await host.guests.listActiveSeats(stream.id)).map((row) => row.user_id)).toEqual([second.id]);
    expect(await guest.calls.getActiveCallSession(stream.id)).toBeNull();
    expect((await failure(guest.guests.leaveSeat(stream.id))).reason).toBe('not_seated');
  });

  it('lists the guest events with display names, for viewers too, and delivers them live', async () => {
    const viewer = createStreamGuestService(client());
    const listed = await viewer.listEvents(stream.id);
    const seen = (type: string, name: string | null) => listed.some((e) => e.event_type === type && e.display_name === name);
    expect(seen('invited', 'Guest Gil')).toBe(true);
    expect(seen('joined_live', 'Guest Gil')).toBe(true);
    expect(seen('muted_mic', 'Guest Gil')).toBe(true);
    expect(seen('camera_off', 'Guest Gil')).toBe(true);
    expect(seen('moderator_added', 'Guest Gil')).toBe(true);
    expect(seen('joined_live', 'Second Sol')).toBe(true);
    expect(seen('invitation_cancelled', 'Late Lou')).toBe(true);
    expect(seen('removed', 'Guest Gil')).toBe(true);
    expect(listed.some((e) => e.event_type === 'seat_locked' && e.seat_index === 4)).toBe(true);
    // Newest first.
    expect(listed.map((e) => e.id)).toEqual([...listed.map((e) => e.id)].sort((a, b) => b - a));
    expect(listed[0]?.event_type).toBe('removed');

    const newest = listed[0]!.id;
    expect(await viewer.listEvents(stream.id, { afterId: newest })).toEqual([]);
    expect(await viewer.listEvents(stream.id, { limit: 2 })).toHaveLength(2);

    await events.until((e) => e.event_type === 'removed' && e.user_id === guest.id);
  });

  it('only the host ends the stream; ending closes the seats, the invitations and the call', async () => {
    const open = await host.guests.inviteGuest(stream.id, late.id);
    const refused = await failure(second.live.endLive(stream.id));
    expect(refused.reason).toBe('not_host');
    expect(refused.message).toBe('Could not end the stream: Only the host of the stream can end it');

    const ended = await host.live.endLive(stream.id);
    expect(ended).toMatchObject({ id: stream.id, status: 'ended' });
    await streamChanges.until((row) => row.status === 'ended');
    await hostSeats.until((row) => row.user_id === second.id && row.left_at !== null);
    await hostInvitations.until((row) => row.id === open.id && row.status === 'cancelled');
    expect(await host.guests.listActiveSeats(stream.id)).toEqual([]);
    expect(await second.guests.listMyActiveSeats(second.id)).toEqual([]);
    expect(await host.calls.getActiveCallSession(stream.id)).toBeNull();
    expect((await failure(host.guests.inviteGuest(stream.id, late.id))).reason).toBe('stream_ended');
    expect((await host.guests.listEvents(stream.id, { limit: 1 }))[0]).toMatchObject({ event_type: 'stream_ended', display_name: 'Host Hana' });
  });

  it('an unsubscribe may be called twice; a malformed id never reaches the server', async () => {
    const seats = inbox<GuestSeatRow>();
    const off = await host.guests.subscribeSeats(stream.id, seats.push);
    off();
    off();
    await expect(host.guests.subscribeSeats('not-a-uuid', seats.push)).rejects.toMatchObject({ reason: 'invalid_request' });
  });
});
