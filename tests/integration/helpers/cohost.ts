/**
 * Co-hosting scenes for the rule tests: streams, invitations and seats made
 * through the RPCs as the real users would, and service-role reads of what the
 * database holds afterwards.
 */
import type { PostgrestError } from '@supabase/supabase-js';
import type pg from 'pg';
import type { TestBackend, TestUser } from './backend.js';

export interface RpcResult<T = unknown> {
  data: T | null;
  error: PostgrestError | null;
  status: number;
}

export interface InvitationRow {
  id: string;
  stream_id: string;
  invitee_id: string;
  seat_index: number | null;
  status: string;
  created_at: string;
  expires_at: string;
}

export interface SeatRow {
  id: string;
  user_id: string;
  seat_index: number;
  mic_enabled: boolean;
  camera_enabled: boolean;
  muted_by_host: boolean;
  camera_disabled_by_host: boolean;
  is_moderator: boolean;
  left_at: string | null;
  removed_by: string | null;
}

export interface EventRow {
  id: number;
  event_type: string;
  user_id: string | null;
  actor_id: string | null;
  display_name: string | null;
  actor_display_name: string | null;
  seat_index: number | null;
  metadata: Record<string, unknown>;
}

/** A stream the host creates (idle, as every client's new stream); made live as start-live would, by the service side. */
export async function newStream(t: TestBackend, host: TestUser, status: 'idle' | 'live' = 'live'): Promise<string> {
  const { data, error } = await host.sb.from('streams').insert({ host_id: host.id, title: `${host.name} live` }).select('id').single();
  if (error || !data) throw new Error(`stream insert failed: ${error?.message}`);
  if (status === 'live') await t.pool.query("update public.streams set status = 'live', started_at = now() where id = $1", [data.id]);
  return data.id as string;
}

/** Fails the test setup when an RPC the scene depends on is refused. */
export function must<T>(res: RpcResult<T>, what: string): T {
  if (res.error) throw new Error(`${what}: ${res.error.message} (${res.error.hint ?? res.error.code})`);
  return res.data as T;
}

export async function invite(by: TestUser, streamId: string, invitee: TestUser, seat?: number): Promise<RpcResult<InvitationRow>> {
  return by.sb.rpc('invite_guest', { p_stream_id: streamId, p_invitee_id: invitee.id, ...(seat === undefined ? {} : { p_seat_index: seat }) });
}

export async function accept(guest: TestUser, invitationId: string): Promise<RpcResult<SeatRow>> {
  return guest.sb.rpc('accept_invitation', { p_invitation_id: invitationId });
}

/** Invites and accepts: the guest is seated (on `seat` when it is free and unlocked). */
export async function seat(host: TestUser, streamId: string, guest: TestUser, seatIndex?: number): Promise<SeatRow> {
  const inv = must(await invite(host, streamId, guest, seatIndex), `invite ${guest.name}`);
  return must(await accept(guest, inv.id), `${guest.name} accepts`);
}

/** Moves an invitation's creation (and with it its expiry) into the past. */
export async function ageInvitation(pool: pg.Pool, invitationId: string, seconds: number): Promise<void> {
  await pool.query(
    `update public.stream_guest_invitations
        set created_at = created_at - make_interval(secs => $2), expires_at = expires_at - make_interval(secs => $2)
      where id = $1`,
    [invitationId, seconds],
  );
}

export interface Snapshot {
  stream: unknown;
  seats: unknown[];
  invitations: unknown[];
  events: unknown[];
}

/** Everything the co-hosting rules may change for a stream, read with the service role. */
export async function snapshot(pool: pg.Pool, streamId: string): Promise<Snapshot> {
  const [stream, seats, invitations, events] = await Promise.all([
    pool.query('select * from public.streams where id = $1', [streamId]),
    pool.query('select * from public.stream_guest_seats where stream_id = $1 order by joined_at, id', [streamId]),
    pool.query('select * from public.stream_guest_invitations where stream_id = $1 order by created_at, id', [streamId]),
    pool.query('select * from public.stream_guest_events where stream_id = $1 order by id', [streamId]),
  ]);
  return { stream: stream.rows[0], seats: seats.rows, invitations: invitations.rows, events: events.rows };
}

export async function activeSeats(pool: pg.Pool, streamId: string): Promise<SeatRow[]> {
  const { rows } = await pool.query<SeatRow>('select * from public.stream_guest_seats where stream_id = $1 and left_at is null order by seat_index', [
    streamId,
  ]);
  return rows;
}

export async function seatOf(pool: pg.Pool, streamId: string, userId: string): Promise<SeatRow | undefined> {
  const { rows } = await pool.query<SeatRow>(
    'select * from public.stream_guest_seats where stream_id = $1 and user_id = $2 order by joined_at desc limit 1',
    [streamId, userId],
  );
  return rows[0];
}

export async function lastEventId(pool: pg.Pool, streamId: string): Promise<number> {
  const { rows } = await pool.query<{ id: string | null }>('select max(id) as id from public.stream_guest_events where stream_id = $1', [streamId]);
  return Number(rows[0]?.id ?? 0);
}

/** The events of a stream after `afterId`, oldest first. */
export async function eventsSince(pool: pg.Pool, streamId: string, afterId: number): Promise<EventRow[]> {
  const { rows } = await pool.query<EventRow>(
    `select id, event_type, user_id, actor_id, display_name, actor_display_name, seat_index, metadata
       from public.stream_guest_events where stream_id = $1 and id > $2 order by id`,
    [streamId, afterId],
  );
  return rows;
}

/**
 * A live stream with its host, a guest on seat 0, a moderator on seat 1, and
 * two signed-in users with no part in it: a stranger and a fan (someone to invite).
 */
export interface Scene {
  streamId: string;
  host: TestUser;
  guest: TestUser;
  mod: TestUser;
  stranger: TestUser;
  fan: TestUser;
}

let sceneCount = 0;

export async function scene(t: TestBackend): Promise<Scene> {
  const n = ++sceneCount;
  const [host, guest, mod, stranger, fan] = await Promise.all([
    t.signIn(`Host ${n}`),
    t.signIn(`Guest ${n}`),
    t.signIn(`Moderator ${n}`),
    t.signIn(`Stranger ${n}`),
    t.signIn(`Fan ${n}`),
  ]);
  const streamId = await newStream(t, host);
  await seat(host, streamId, guest, 0);
  await seat(host, streamId, mod, 1);
  must(await host.sb.rpc('set_moderator', { p_stream_id: streamId, p_user_id: mod.id, p_is_moderator: true }), 'appoint the moderator');
  return { streamId, host, guest, mod, stranger, fan };
}

/** Seats `count` more new users on the scene's stream. */
export async function fillSeats(t: TestBackend, s: Scene, count: number): Promise<TestUser[]> {
  const users = await Promise.all(Array.from({ length: count }, (_, i) => t.signIn(`Filler ${i + 1}`)));
  for (const u of users) await seat(s.host, s.streamId, u);
  return users;
}
