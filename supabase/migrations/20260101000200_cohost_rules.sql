-- Co-hosting rules, complete and in one place where the earlier migrations
-- left gaps:
--
--   * who acts: the host (streams.host_id) or a seated moderator invites,
--     cancels, removes, mutes, turns cameras off and locks seats; only the host
--     appoints or dismisses moderators (set_moderator) and ends the stream
--     (end_stream);
--   * invitations live exactly 20 s (a trigger sets expires_at from
--     created_at, a constraint keeps them tied); a pending invitation past
--     expires_at reads as expired (effective_status, the view
--     stream_guest_invitation_states) and is marked expired by the next RPC
--     that touches the stream (or by list_invitations);
--   * a guest switches their own microphone and camera but cannot turn on what
--     the host or a moderator turned off;
--   * a removed guest is not seated again by an invitation issued before the
--     removal;
--   * every change appends a stream_guest_events row naming the affected user
--     and the actor;
--   * clients cannot change a stream's lifecycle (status, started_at,
--     ended_at) directly, and a direct change of locked_seats follows the same
--     rules as set_seat_locked and is logged the same way.
--
-- Lock order, everywhere: the stream row first, then invitations and seats of
-- that stream. Every seat change of a stream is therefore serialised, and no
-- two RPCs can deadlock on each other.
--
-- Errors follow the core migration: SQLSTATE 42501 (caller lacks the right),
-- PT404 (not found or not visible), P0001 (a rule refuses), with a stable
-- reason in the HINT.

-- Columns and constraints ---------------------------------------------------------
alter table public.stream_guest_seats
  add column removed_by uuid references public.profiles (id) on delete set null;
alter table public.stream_guest_seats
  add constraint stream_guest_seats_removed_has_left check (removed_by is null or left_at is not null);

alter table public.stream_guest_invitations
  add column invited_by uuid references public.profiles (id) on delete set null;

-- The 20 s lifetime is not the client's to choose: expires_at follows created_at.
create or replace function public.invitation_set_expiry() returns trigger
language plpgsql
set search_path = public
as $$
begin
  new.created_at := coalesce(new.created_at, now());
  new.expires_at := new.created_at + interval '20 seconds';
  return new;
end;
$$;
revoke execute on function public.invitation_set_expiry() from public, anon, authenticated, service_role;

create trigger stream_guest_invitations_set_expiry before insert on public.stream_guest_invitations
  for each row execute function public.invitation_set_expiry();

alter table public.stream_guest_invitations
  add constraint stream_guest_invitations_lifetime check (expires_at = created_at + interval '20 seconds');
alter table public.stream_guest_invitations
  add constraint stream_guest_invitations_responded check ((status = 'pending') = (responded_at is null));

alter table public.stream_guest_events
  add column actor_display_name text;
alter table public.stream_guest_events
  add constraint stream_guest_events_type check (event_type in (
    'invited', 'invitation_declined', 'invitation_expired', 'invitation_cancelled',
    'joined_live', 'left_live', 'removed',
    'muted_mic', 'unmuted_mic', 'camera_off', 'camera_on',
    'seat_locked', 'seat_unlocked', 'moderator_added', 'moderator_removed',
    'stream_started', 'stream_ended'
  ));

-- Moderators see the invitations of the streams they help run.
create policy "moderators read the stream's invitations" on public.stream_guest_invitations
  for select to authenticated
  using (public.is_stream_manager(stream_id, auth.uid()));

-- Clients only read these tables; the RPCs below write them.
revoke insert, update, delete, truncate on public.stream_guest_seats, public.stream_guest_invitations, public.stream_guest_events
  from anon, authenticated;
revoke truncate on public.streams, public.profiles from anon, authenticated;
revoke insert, update, delete on public.streams from anon;

-- Events ---------------------------------------------------------------------------
create or replace function public.log_guest_event(
  p_stream_id uuid, p_user_id uuid, p_actor_id uuid, p_event_type text, p_seat_index int, p_metadata jsonb default '{}'::jsonb
) returns void
language sql security definer
set search_path = public
as $$
  insert into public.stream_guest_events (stream_id, user_id, actor_id, event_type, display_name, actor_display_name, seat_index, metadata)
  values (
    p_stream_id, p_user_id, p_actor_id, p_event_type,
    (select p.display_name from public.profiles p where p.id = p_user_id),
    (select p.display_name from public.profiles p where p.id = p_actor_id),
    p_seat_index, coalesce(p_metadata, '{}'::jsonb)
  );
$$;
revoke execute on function public.log_guest_event(uuid, uuid, uuid, text, int, jsonb) from public, anon, authenticated;

-- Who acted, as the events record it: 'host', 'moderator' or 'self'.
create or replace function public.actor_role(p_stream_id uuid, p_actor_id uuid, p_user_id uuid) returns text
language sql stable security definer
set search_path = public
as $$
  select case
    when p_actor_id is not distinct from p_user_id then 'self'
    when exists (select 1 from public.streams s where s.id = p_stream_id and s.host_id = p_actor_id) then 'host'
    else 'moderator'
  end;
$$;
revoke execute on function public.actor_role(uuid, uuid, uuid) from public, anon, authenticated;

-- Invitation state as a reader should see it ------------------------------------------
create or replace function public.effective_status(p_invitation public.stream_guest_invitations) returns text
language sql stable
set search_path = public
as $$
  select case
    when p_invitation.status = 'pending' and p_invitation.expires_at <= now() then 'expired'
    else p_invitation.status
  end;
$$;
revoke execute on function public.effective_status(public.stream_guest_invitations) from public;
grant execute on function public.effective_status(public.stream_guest_invitations) to anon, authenticated, service_role;

create or replace view public.stream_guest_invitation_states with (security_invoker = true) as
  select i.*, public.effective_status(i) as effective_status
    from public.stream_guest_invitations i;
revoke all on public.stream_guest_invitation_states from anon, authenticated;
grant select on public.stream_guest_invitation_states to authenticated, service_role;

-- Marks the stream's pending invitations whose time is up as expired, with
-- events. Takes the stream lock itself (a no-op when the caller holds it).
create or replace function public.expire_stale_invitations(p_stream_id uuid) returns integer
language plpgsql security definer
set search_path = public
as $$
declare
  v_count integer := 0;
  v_inv public.stream_guest_invitations;
begin
  perform 1 from public.streams where id = p_stream_id for update;
  for v_inv in
    update public.stream_guest_invitations
       set status = 'expired', responded_at = now()
     where stream_id = p_stream_id and status = 'pending' and expires_at <= now()
    returning *
  loop
    perform public.log_guest_event(v_inv.stream_id, v_inv.invitee_id, null, 'invitation_expired', v_inv.seat_index,
      jsonb_build_object('invitation_id', v_inv.id));
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
revoke execute on function public.expire_stale_invitations(uuid) from public, anon, authenticated;

-- Streams: what clients may not do with a direct write ----------------------------------
-- Row level security lets a host update their own stream. The lifecycle
-- (status, started_at, ended_at) belongs to start-live, end-live and
-- end_stream; locked_seats changes under the rules of set_seat_locked.
create or replace function public.streams_guard() returns trigger
language plpgsql
set search_path = public
as $$
begin
  if tg_op = 'UPDATE' then
    if new.id is distinct from old.id or new.host_id is distinct from old.host_id then
      raise exception 'A stream keeps its id and its host' using errcode = '42501', hint = 'stream_identity';
    end if;
    if current_user in ('anon', 'authenticated') then
      -- An invalid status is left to the check constraint, which names it.
      if (new.status is distinct from old.status and new.status in ('idle', 'live', 'ended'))
         or new.started_at is distinct from old.started_at
         or new.ended_at is distinct from old.ended_at then
        raise exception 'A stream goes live and ends only through start-live, end-live or end_stream'
          using errcode = '42501', hint = 'status_managed';
      end if;
    end if;
    if new.locked_seats is distinct from old.locked_seats then
      if old.status = 'ended' then
        raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
      end if;
      new.locked_seats := coalesce((select array_agg(distinct s order by s) from unnest(new.locked_seats) as s), '{}');
    end if;
  else
    new.locked_seats := coalesce((select array_agg(distinct s order by s) from unnest(new.locked_seats) as s), '{}');
  end if;
  return new;
end;
$$;
revoke execute on function public.streams_guard() from public, anon, authenticated, service_role;

create trigger streams_guard before insert or update on public.streams
  for each row execute function public.streams_guard();

-- Every change of locked_seats, however it was made, is logged per seat.
create or replace function public.streams_log_seat_locks() returns trigger
language plpgsql security definer
set search_path = public
as $$
declare
  v_seat int;
begin
  for v_seat in select s from unnest(new.locked_seats) as s except select s from unnest(old.locked_seats) as s order by 1 loop
    perform public.log_guest_event(new.id, null, auth.uid(), 'seat_locked', v_seat, '{}'::jsonb);
  end loop;
  for v_seat in select s from unnest(old.locked_seats) as s except select s from unnest(new.locked_seats) as s order by 1 loop
    perform public.log_guest_event(new.id, null, auth.uid(), 'seat_unlocked', v_seat, '{}'::jsonb);
  end loop;
  return null;
end;
$$;
revoke execute on function public.streams_log_seat_locks() from public, anon, authenticated, service_role;

create trigger streams_log_seat_locks after update of locked_seats on public.streams
  for each row when (new.locked_seats is distinct from old.locked_seats)
  execute function public.streams_log_seat_locks();

-- RPC: invitations ------------------------------------------------------------------
create or replace function public.invite_guest(p_stream_id uuid, p_invitee_id uuid, p_seat_index int default null)
returns public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream public.streams;
  v_inv public.stream_guest_invitations;
  v_old public.stream_guest_invitations;
begin
  select * into v_stream from public.streams where id = p_stream_id for update;
  if not found then
    raise exception 'Stream not found' using errcode = 'PT404', hint = 'stream_not_found';
  end if;
  if not public.is_stream_manager(p_stream_id, v_uid) then
    raise exception 'Only the host or a moderator can invite guests' using errcode = '42501', hint = 'not_host';
  end if;
  if v_stream.status = 'ended' then
    raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
  end if;
  if p_invitee_id is null or not exists (select 1 from public.profiles where id = p_invitee_id) then
    raise exception 'That user does not exist' using errcode = 'PT404', hint = 'invitee_not_found';
  end if;
  if p_invitee_id = v_stream.host_id then
    raise exception 'The host cannot be invited as a guest' using errcode = 'P0001', hint = 'invitee_is_host';
  end if;
  if p_seat_index is not null and (p_seat_index < 0 or p_seat_index > 8) then
    raise exception 'Seat must be between 0 and 8' using errcode = 'P0001', hint = 'invalid_seat';
  end if;
  if p_seat_index is not null and p_seat_index = any (v_stream.locked_seats) then
    raise exception 'That seat is locked' using errcode = 'P0001', hint = 'seat_locked';
  end if;
  if exists (select 1 from public.stream_guest_seats where stream_id = p_stream_id and user_id = p_invitee_id and left_at is null) then
    raise exception 'That user is already on a seat' using errcode = 'P0001', hint = 'already_seated';
  end if;
  if (select count(*) from public.stream_guest_seats where stream_id = p_stream_id and left_at is null) >= 9 then
    raise exception 'All 9 guest seats are taken' using errcode = 'P0001', hint = 'seats_full';
  end if;

  perform public.expire_stale_invitations(p_stream_id);
  -- A new invitation replaces an open one for the same person (a fresh 20 s).
  for v_old in
    update public.stream_guest_invitations
       set status = 'expired', responded_at = now()
     where stream_id = p_stream_id and invitee_id = p_invitee_id and status = 'pending'
    returning *
  loop
    perform public.log_guest_event(p_stream_id, p_invitee_id, v_uid, 'invitation_expired', v_old.seat_index,
      jsonb_build_object('invitation_id', v_old.id, 'replaced', true));
  end loop;

  insert into public.stream_guest_invitations (stream_id, host_id, invitee_id, seat_index, invited_by)
  values (p_stream_id, v_stream.host_id, p_invitee_id, p_seat_index, v_uid)
  returning * into v_inv;

  perform public.log_guest_event(p_stream_id, p_invitee_id, v_uid, 'invited', p_seat_index,
    jsonb_build_object('invitation_id', v_inv.id, 'expires_at', v_inv.expires_at, 'by', public.actor_role(p_stream_id, v_uid, p_invitee_id)));
  return v_inv;
end;
$$;

create or replace function public.accept_invitation(p_invitation_id uuid)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream_id uuid;
  v_stream public.streams;
  v_inv public.stream_guest_invitations;
  v_seat_index int;
  v_seat public.stream_guest_seats;
begin
  select stream_id into v_stream_id from public.stream_guest_invitations where id = p_invitation_id and invitee_id = v_uid;
  if not found then
    raise exception 'Invitation not found' using errcode = 'PT404', hint = 'invitation_not_found';
  end if;
  -- Stream row first: it serialises every seat change of the stream, so two
  -- accepts never see the same free seat.
  select * into v_stream from public.streams where id = v_stream_id for update;
  select * into v_inv from public.stream_guest_invitations where id = p_invitation_id for update;

  if public.effective_status(v_inv) = 'expired' then
    raise exception 'This invitation has expired' using errcode = 'P0001', hint = 'invitation_expired';
  end if;
  if v_inv.status <> 'pending' then
    raise exception 'This invitation is no longer open (%)', v_inv.status using errcode = 'P0001', hint = 'invitation_not_pending';
  end if;
  if v_stream.status = 'ended' then
    raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
  end if;
  if exists (
    select 1 from public.stream_guest_seats
     where stream_id = v_stream.id and user_id = v_uid and removed_by is not null and left_at >= v_inv.created_at
  ) then
    raise exception 'You were removed from this stream after this invitation was sent' using errcode = 'P0001', hint = 'removed_from_stream';
  end if;
  if exists (select 1 from public.stream_guest_seats where stream_id = v_stream.id and user_id = v_uid and left_at is null) then
    raise exception 'You are already on a seat' using errcode = 'P0001', hint = 'already_seated';
  end if;

  if v_inv.seat_index is not null
     and not (v_inv.seat_index = any (v_stream.locked_seats))
     and not exists (select 1 from public.stream_guest_seats where stream_id = v_stream.id and seat_index = v_inv.seat_index and left_at is null) then
    v_seat_index := v_inv.seat_index;
  else
    select s into v_seat_index
      from generate_series(0, 8) as s
     where not (s = any (v_stream.locked_seats))
       and not exists (select 1 from public.stream_guest_seats g where g.stream_id = v_stream.id and g.seat_index = s and g.left_at is null)
     order by s
     limit 1;
    if v_seat_index is null then
      raise exception 'No free guest seat is left' using errcode = 'P0001', hint = 'seats_full';
    end if;
  end if;

  insert into public.stream_guest_seats (stream_id, user_id, seat_index)
  values (v_stream.id, v_uid, v_seat_index)
  returning * into v_seat;

  update public.stream_guest_invitations set status = 'accepted', responded_at = now() where id = v_inv.id;
  perform public.log_guest_event(v_stream.id, v_uid, v_uid, 'joined_live', v_seat_index,
    jsonb_build_object('invitation_id', v_inv.id, 'seat_id', v_seat.id));
  perform public.expire_stale_invitations(v_stream.id);
  return v_seat;
end;
$$;

create or replace function public.decline_invitation(p_invitation_id uuid)
returns public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream_id uuid;
  v_inv public.stream_guest_invitations;
begin
  select stream_id into v_stream_id from public.stream_guest_invitations where id = p_invitation_id and invitee_id = v_uid;
  if not found then
    raise exception 'Invitation not found' using errcode = 'PT404', hint = 'invitation_not_found';
  end if;
  perform 1 from public.streams where id = v_stream_id for update;
  select * into v_inv from public.stream_guest_invitations where id = p_invitation_id for update;
  if v_inv.status <> 'pending' then
    raise exception 'This invitation is no longer open (%)', v_inv.status using errcode = 'P0001', hint = 'invitation_not_pending';
  end if;
  if public.effective_status(v_inv) = 'expired' then
    -- Too late to decline: it is recorded as the expiry it is.
    perform public.expire_stale_invitations(v_stream_id);
    select * into v_inv from public.stream_guest_invitations where id = p_invitation_id;
  else
    update public.stream_guest_invitations set status = 'declined', responded_at = now() where id = v_inv.id returning * into v_inv;
    perform public.log_guest_event(v_inv.stream_id, v_uid, v_uid, 'invitation_declined', v_inv.seat_index,
      jsonb_build_object('invitation_id', v_inv.id));
    perform public.expire_stale_invitations(v_stream_id);
  end if;
  return v_inv;
end;
$$;

create or replace function public.cancel_invitation(p_invitation_id uuid)
returns public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream_id uuid;
  v_inv public.stream_guest_invitations;
begin
  select stream_id into v_stream_id from public.stream_guest_invitations
   where id = p_invitation_id and (host_id = v_uid or invitee_id = v_uid or public.is_stream_manager(stream_id, v_uid));
  if not found then
    raise exception 'Invitation not found' using errcode = 'PT404', hint = 'invitation_not_found';
  end if;
  perform 1 from public.streams where id = v_stream_id for update;
  select * into v_inv from public.stream_guest_invitations where id = p_invitation_id for update;
  if not public.is_stream_manager(v_inv.stream_id, v_uid) then
    raise exception 'Only the host or a moderator can cancel an invitation' using errcode = '42501', hint = 'not_host';
  end if;
  perform public.expire_stale_invitations(v_stream_id);
  select * into v_inv from public.stream_guest_invitations where id = p_invitation_id;
  if v_inv.status <> 'pending' then
    raise exception 'This invitation is no longer open (%)', v_inv.status using errcode = 'P0001', hint = 'invitation_not_pending';
  end if;
  update public.stream_guest_invitations set status = 'cancelled', responded_at = now() where id = v_inv.id returning * into v_inv;
  perform public.log_guest_event(v_inv.stream_id, v_inv.invitee_id, v_uid, 'invitation_cancelled', v_inv.seat_index,
    jsonb_build_object('invitation_id', v_inv.id, 'by', public.actor_role(v_inv.stream_id, v_uid, v_inv.invitee_id)));
  return v_inv;
end;
$$;

-- The caller's invitations (as invitee, or of the streams they host or
-- moderate), newest first, after expiring the stale ones with their events.
create or replace function public.list_invitations(p_stream_id uuid default null)
returns setof public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream_id uuid;
begin
  for v_stream_id in
    select distinct i.stream_id from public.stream_guest_invitations i
     where i.status = 'pending' and i.expires_at <= now()
       and (p_stream_id is null or i.stream_id = p_stream_id)
       and (i.invitee_id = v_uid or public.is_stream_manager(i.stream_id, v_uid))
     order by i.stream_id
  loop
    perform public.expire_stale_invitations(v_stream_id);
  end loop;
  return query
    select i.* from public.stream_guest_invitations i
     where (p_stream_id is null or i.stream_id = p_stream_id)
       and (i.invitee_id = v_uid or public.is_stream_manager(i.stream_id, v_uid))
     order by i.created_at desc, i.id;
end;
$$;

-- RPC: seats and media ------------------------------------------------------------------
create or replace function public.leave_seat(p_stream_id uuid)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_seat public.stream_guest_seats;
begin
  perform 1 from public.streams where id = p_stream_id for update;
  update public.stream_guest_seats set left_at = now()
   where stream_id = p_stream_id and user_id = v_uid and left_at is null
  returning * into v_seat;
  if not found then
    raise exception 'You are not on a seat of this stream' using errcode = 'P0001', hint = 'not_seated';
  end if;
  perform public.log_guest_event(p_stream_id, v_uid, v_uid, 'left_live', v_seat.seat_index, jsonb_build_object('seat_id', v_seat.id));
  return v_seat;
end;
$$;

-- Logs the media events between two states of a seat.
create or replace function public.log_media_changes(p_old public.stream_guest_seats, p_new public.stream_guest_seats, p_actor_id uuid)
returns void
language plpgsql security definer
set search_path = public
as $$
declare
  v_by text := public.actor_role(p_new.stream_id, p_actor_id, p_new.user_id);
begin
  if p_new.mic_enabled is distinct from p_old.mic_enabled or p_new.muted_by_host is distinct from p_old.muted_by_host then
    perform public.log_guest_event(p_new.stream_id, p_new.user_id, p_actor_id,
      case when p_new.mic_enabled and not p_new.muted_by_host then 'unmuted_mic'
           when p_old.muted_by_host and not p_new.muted_by_host then 'unmuted_mic'
           else 'muted_mic' end,
      p_new.seat_index,
      jsonb_build_object('by', v_by, 'mic_enabled', p_new.mic_enabled, 'muted_by_host', p_new.muted_by_host));
  end if;
  if p_new.camera_enabled is distinct from p_old.camera_enabled or p_new.camera_disabled_by_host is distinct from p_old.camera_disabled_by_host then
    perform public.log_guest_event(p_new.stream_id, p_new.user_id, p_actor_id,
      case when p_new.camera_enabled and not p_new.camera_disabled_by_host then 'camera_on'
           when p_old.camera_disabled_by_host and not p_new.camera_disabled_by_host then 'camera_on'
           else 'camera_off' end,
      p_new.seat_index,
      jsonb_build_object('by', v_by, 'camera_enabled', p_new.camera_enabled, 'camera_disabled_by_host', p_new.camera_disabled_by_host));
  end if;
end;
$$;
revoke execute on function public.log_media_changes(public.stream_guest_seats, public.stream_guest_seats, uuid) from public, anon, authenticated;

-- A seated guest switches their own microphone and camera; what the host or a
-- moderator turned off stays off until they release it.
create or replace function public.set_my_media(p_stream_id uuid, p_mic_enabled boolean default null, p_camera_enabled boolean default null)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_old public.stream_guest_seats;
  v_seat public.stream_guest_seats;
begin
  perform 1 from public.streams where id = p_stream_id for update;
  select * into v_old from public.stream_guest_seats
   where stream_id = p_stream_id and user_id = v_uid and left_at is null for update;
  if not found then
    raise exception 'You are not on a seat of this stream' using errcode = 'P0001', hint = 'not_seated';
  end if;
  if p_mic_enabled and v_old.muted_by_host then
    raise exception 'The host muted your microphone' using errcode = 'P0001', hint = 'muted_by_host';
  end if;
  if p_camera_enabled and v_old.camera_disabled_by_host then
    raise exception 'The host turned your camera off' using errcode = 'P0001', hint = 'camera_disabled_by_host';
  end if;
  update public.stream_guest_seats
     set mic_enabled = coalesce(p_mic_enabled, mic_enabled),
         camera_enabled = coalesce(p_camera_enabled, camera_enabled)
   where id = v_old.id
  returning * into v_seat;
  perform public.log_media_changes(v_old, v_seat, v_uid);
  return v_seat;
end;
$$;

-- Appoints or dismisses a moderator; the host alone may.
create or replace function public.set_moderator(p_stream_id uuid, p_user_id uuid, p_is_moderator boolean)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream public.streams;
  v_seat public.stream_guest_seats;
begin
  select * into v_stream from public.streams where id = p_stream_id for update;
  if not found then
    raise exception 'Stream not found' using errcode = 'PT404', hint = 'stream_not_found';
  end if;
  if v_stream.host_id <> v_uid then
    raise exception 'Only the host can appoint or dismiss moderators' using errcode = '42501', hint = 'not_host';
  end if;
  if p_is_moderator is null then
    raise exception 'Say whether the guest is a moderator' using errcode = 'P0001', hint = 'invalid_argument';
  end if;
  select * into v_seat from public.stream_guest_seats
   where stream_id = p_stream_id and user_id = p_user_id and left_at is null for update;
  if not found then
    raise exception 'That user is not on a seat' using errcode = 'P0001', hint = 'not_seated';
  end if;
  if v_seat.is_moderator = p_is_moderator then
    return v_seat;
  end if;
  update public.stream_guest_seats set is_moderator = p_is_moderator where id = v_seat.id returning * into v_seat;
  perform public.log_guest_event(p_stream_id, p_user_id, v_uid, case when p_is_moderator then 'moderator_added' else 'moderator_removed' end,
    v_seat.seat_index, '{}'::jsonb);
  return v_seat;
end;
$$;

-- The host or a moderator mutes or releases a microphone, turns a camera off
-- or releases it, sets a volume; p_is_moderator is the host's alone (as
-- set_moderator). A moderator cannot act on another moderator.
create or replace function public.moderate_guest(
  p_stream_id uuid,
  p_user_id uuid,
  p_muted boolean default null,
  p_camera_disabled boolean default null,
  p_volume real default null,
  p_is_moderator boolean default null
) returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream public.streams;
  v_old public.stream_guest_seats;
  v_seat public.stream_guest_seats;
begin
  select * into v_stream from public.streams where id = p_stream_id for update;
  if not found then
    raise exception 'Stream not found' using errcode = 'PT404', hint = 'stream_not_found';
  end if;
  if not public.is_stream_manager(p_stream_id, v_uid) then
    raise exception 'Only the host or a moderator can moderate guests' using errcode = '42501', hint = 'not_host';
  end if;
  if p_is_moderator is not null and v_stream.host_id <> v_uid then
    raise exception 'Only the host can appoint or dismiss moderators' using errcode = '42501', hint = 'not_host';
  end if;
  if p_volume is not null and (p_volume < 0 or p_volume > 2) then
    raise exception 'Volume must be between 0 and 2' using errcode = 'P0001', hint = 'invalid_volume';
  end if;
  select * into v_old from public.stream_guest_seats
   where stream_id = p_stream_id and user_id = p_user_id and left_at is null for update;
  if not found then
    raise exception 'That user is not on a seat' using errcode = 'P0001', hint = 'not_seated';
  end if;
  if v_old.is_moderator and v_stream.host_id <> v_uid and p_user_id <> v_uid then
    raise exception 'Only the host can moderate a moderator' using errcode = '42501', hint = 'not_host';
  end if;

  update public.stream_guest_seats
     set muted_by_host = coalesce(p_muted, muted_by_host),
         mic_enabled = case when p_muted then false else mic_enabled end,
         camera_disabled_by_host = coalesce(p_camera_disabled, camera_disabled_by_host),
         camera_enabled = case when p_camera_disabled then false else camera_enabled end,
         volume = coalesce(p_volume, volume)
   where id = v_old.id
  returning * into v_seat;
  perform public.log_media_changes(v_old, v_seat, v_uid);

  if p_is_moderator is not null and p_is_moderator is distinct from v_seat.is_moderator then
    update public.stream_guest_seats set is_moderator = p_is_moderator where id = v_seat.id returning * into v_seat;
    perform public.log_guest_event(p_stream_id, p_user_id, v_uid, case when p_is_moderator then 'moderator_added' else 'moderator_removed' end,
      v_seat.seat_index, '{}'::jsonb);
  end if;
  return v_seat;
end;
$$;

create or replace function public.remove_guest(p_stream_id uuid, p_user_id uuid)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream public.streams;
  v_seat public.stream_guest_seats;
  v_inv public.stream_guest_invitations;
begin
  select * into v_stream from public.streams where id = p_stream_id for update;
  if not found then
    raise exception 'Stream not found' using errcode = 'PT404', hint = 'stream_not_found';
  end if;
  if not public.is_stream_manager(p_stream_id, v_uid) then
    raise exception 'Only the host or a moderator can remove guests' using errcode = '42501', hint = 'not_host';
  end if;
  select * into v_seat from public.stream_guest_seats
   where stream_id = p_stream_id and user_id = p_user_id and left_at is null for update;
  if not found then
    raise exception 'That user is not on a seat' using errcode = 'P0001', hint = 'not_seated';
  end if;
  if v_seat.is_moderator and v_stream.host_id <> v_uid then
    raise exception 'Only the host can remove a moderator' using errcode = '42501', hint = 'not_host';
  end if;
  update public.stream_guest_seats set left_at = now(), removed_by = v_uid where id = v_seat.id returning * into v_seat;
  perform public.log_guest_event(p_stream_id, p_user_id, v_uid, 'removed', v_seat.seat_index,
    jsonb_build_object('seat_id', v_seat.id, 'by', public.actor_role(p_stream_id, v_uid, p_user_id)));
  -- Nothing sent before the removal seats them again.
  for v_inv in
    update public.stream_guest_invitations set status = 'cancelled', responded_at = now()
     where stream_id = p_stream_id and invitee_id = p_user_id and status = 'pending'
    returning *
  loop
    perform public.log_guest_event(p_stream_id, p_user_id, v_uid, 'invitation_cancelled', v_inv.seat_index,
      jsonb_build_object('invitation_id', v_inv.id, 'removed', true));
  end loop;
  return v_seat;
end;
$$;

-- The host or a moderator locks or unlocks a seat. The event comes from the
-- locked_seats trigger, as for any other change of the column.
create or replace function public.set_seat_locked(p_stream_id uuid, p_seat_index int, p_locked boolean)
returns public.streams
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream public.streams;
begin
  select * into v_stream from public.streams where id = p_stream_id for update;
  if not found then
    raise exception 'Stream not found' using errcode = 'PT404', hint = 'stream_not_found';
  end if;
  if not public.is_stream_manager(p_stream_id, v_uid) then
    raise exception 'Only the host or a moderator can lock seats' using errcode = '42501', hint = 'not_host';
  end if;
  if p_seat_index is null or p_seat_index < 0 or p_seat_index > 8 then
    raise exception 'Seat must be between 0 and 8' using errcode = 'P0001', hint = 'invalid_seat';
  end if;
  if p_locked is null then
    raise exception 'Say whether the seat is locked' using errcode = 'P0001', hint = 'invalid_argument';
  end if;
  if v_stream.status = 'ended' then
    raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
  end if;
  if p_locked = (p_seat_index = any (v_stream.locked_seats)) then
    return v_stream;
  end if;
  update public.streams
     set locked_seats = case when p_locked then array_append(locked_seats, p_seat_index) else array_remove(locked_seats, p_seat_index) end
   where id = p_stream_id
  returning * into v_stream;
  return v_stream;
end;
$$;

-- The host ends the stream: status, every open seat, every open invitation and
-- call session, in one transaction (as the end-live function does). Calling it
-- again finishes any cleanup and logs nothing new.
create or replace function public.end_stream(p_stream_id uuid)
returns public.streams
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_stream public.streams;
  v_was_ended boolean;
  v_seats integer;
  v_invitations integer;
  v_sessions integer;
begin
  select * into v_stream from public.streams where id = p_stream_id for update;
  if not found then
    raise exception 'Stream not found' using errcode = 'PT404', hint = 'stream_not_found';
  end if;
  if v_stream.host_id <> v_uid then
    raise exception 'Only the host can end the stream' using errcode = '42501', hint = 'not_host';
  end if;
  v_was_ended := v_stream.status = 'ended';
  perform public.expire_stale_invitations(p_stream_id);
  if not v_was_ended then
    update public.streams set status = 'ended', ended_at = now() where id = p_stream_id returning * into v_stream;
  end if;
  with closed as (
    update public.stream_guest_seats set left_at = now() where stream_id = p_stream_id and left_at is null returning 1
  ) select count(*) into v_seats from closed;
  with cancelled as (
    update public.stream_guest_invitations set status = 'cancelled', responded_at = now()
     where stream_id = p_stream_id and status = 'pending' returning 1
  ) select count(*) into v_invitations from cancelled;
  with ended as (
    update public.call_sessions set ended_at = now() where stream_id = p_stream_id and ended_at is null returning 1
  ) select count(*) into v_sessions from ended;
  if not v_was_ended then
    perform public.log_guest_event(p_stream_id, v_uid, v_uid, 'stream_ended', null,
      jsonb_build_object('seatsClosed', v_seats, 'invitationsCancelled', v_invitations, 'callSessionsEnded', v_sessions));
  end if;
  return v_stream;
end;
$$;

-- Function privileges: RPCs need a signed-in caller ------------------------------------------
revoke execute on function
  public.invite_guest(uuid, uuid, int), public.accept_invitation(uuid), public.decline_invitation(uuid),
  public.cancel_invitation(uuid), public.list_invitations(uuid), public.leave_seat(uuid),
  public.set_my_media(uuid, boolean, boolean), public.set_moderator(uuid, uuid, boolean),
  public.moderate_guest(uuid, uuid, boolean, boolean, real, boolean), public.remove_guest(uuid, uuid),
  public.set_seat_locked(uuid, int, boolean), public.end_stream(uuid)
  from public, anon;
grant execute on function
  public.invite_guest(uuid, uuid, int), public.accept_invitation(uuid), public.decline_invitation(uuid),
  public.cancel_invitation(uuid), public.list_invitations(uuid), public.leave_seat(uuid),
  public.set_my_media(uuid, boolean, boolean), public.set_moderator(uuid, uuid, boolean),
  public.moderate_guest(uuid, uuid, boolean, boolean, real, boolean), public.remove_guest(uuid, uuid),
  public.set_seat_locked(uuid, int, boolean), public.end_stream(uuid)
  to authenticated, service_role;

-- Realtime: the events feed carries full rows like the other published tables.
alter table public.stream_guest_events replica identity full;
