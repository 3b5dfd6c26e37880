-- Four gaps, closed:
-- 1. An invitation sent by a moderator stood after they were dismissed or
--    removed: a moderator about to go could seat any number of accounts.
--    An accept now checks that whoever sent it still manages the stream.
-- 2. A moderator could undo a volume the host set on them (moderate_guest
--    lets a manager act on their own seat): the volume is the host's, like
--    the host's mute and camera-off.
-- 3. A new user without a display name was shown by the part of their email
--    address before the @, in profiles every signed-in user reads and in the
--    public events feed. They are now shown as Guest-<first characters of
--    their id> until they choose a name.
-- 4. A client making a stream could set its ingest provider and its creation
--    time (which decides the idle stream start-live takes), and change the
--    creation time later.

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

  -- The stream first: ending it cancels its invitations, and the guest is told why.
  if v_stream.status = 'ended' then
    raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
  end if;
  if public.effective_status(v_inv) = 'expired' then
    raise exception 'This invitation has expired' using errcode = 'P0001', hint = 'invitation_expired';
  end if;
  if v_inv.status <> 'pending' then
    raise exception 'This invitation is no longer open (%)', v_inv.status using errcode = 'P0001', hint = 'invitation_not_pending';
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
  -- Sent by a moderator who is one no longer (dismissed, removed, gone from the stage): it no longer stands.
  -- (Rows from before invited_by was kept count as the host's.)
  if not public.is_stream_manager(v_stream.id, coalesce(v_inv.invited_by, v_inv.host_id)) then
    raise exception 'The moderator who invited you no longer moderates this stream: ask the host to invite you'
      using errcode = 'P0001', hint = 'inviter_not_manager';
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

create or replace function public.seats_guard_host_switches() returns trigger
language plpgsql
set search_path = public
as $$
declare
  v_uid uuid := auth.uid();
begin
  if v_uid is null or v_uid <> new.user_id then
    return new;
  end if;
  if exists (select 1 from public.streams s where s.id = new.stream_id and s.host_id = v_uid) then
    return new;
  end if;
  if old.muted_by_host and not new.muted_by_host then
    raise exception 'The host muted your microphone: only the host can release it'
      using errcode = '42501', hint = 'muted_by_host';
  end if;
  if old.camera_disabled_by_host and not new.camera_disabled_by_host then
    raise exception 'The host turned your camera off: only the host can release it'
      using errcode = '42501', hint = 'camera_disabled_by_host';
  end if;
  if new.volume is distinct from old.volume then
    raise exception 'Your volume in the program is set by the host' using errcode = '42501', hint = 'volume_by_host';
  end if;
  return new;
end;
$$;
revoke execute on function public.seats_guard_host_switches() from public, anon, authenticated, service_role;

drop trigger if exists stream_guest_seats_guard_host_switches on public.stream_guest_seats;
create trigger stream_guest_seats_guard_host_switches before update of muted_by_host, camera_disabled_by_host, volume on public.stream_guest_seats
  for each row execute function public.seats_guard_host_switches();

create or replace function public.handle_new_user() returns trigger
language plpgsql security definer
set search_path = public
as $$
begin
  insert into public.profiles (id, display_name)
  values (
    new.id,
    coalesce(nullif(btrim(new.raw_user_meta_data ->> 'display_name'), ''), 'Guest-' || left(new.id::text, 4))
  )
  on conflict (id) do nothing;
  return new;
end;
$$;
revoke execute on function public.handle_new_user() from public, anon, authenticated;

create or replace function public.streams_guard() returns trigger
language plpgsql
set search_path = public
as $$
begin
  if tg_op = 'UPDATE' then
    if new.id is distinct from old.id or new.host_id is distinct from old.host_id then
      raise exception 'A stream keeps its id and its host' using errcode = '42501', hint = 'stream_identity';
    end if;
    if current_user in ('anon', 'authenticated') and new.created_at is distinct from old.created_at then
      raise exception 'A stream keeps the time it was made' using errcode = '42501', hint = 'stream_identity';
    end if;
    if current_user in ('anon', 'authenticated') then
      -- An invalid status is left to the check constraint, which names it.
      if (new.status is distinct from old.status and new.status in ('idle', 'live', 'ended'))
         or new.started_at is distinct from old.started_at
         or new.ended_at is distinct from old.ended_at then
        raise exception 'A stream goes live and ends only through start-live, end-live or end_stream'
          using errcode = '42501', hint = 'status_managed';
      end if;
      if new.ingest_provider is distinct from old.ingest_provider
         or new.live_input_id is distinct from old.live_input_id
         or new.playback_url is distinct from old.playback_url then
        raise exception 'A stream''s ingest and playback are set by start-live'
          using errcode = '42501', hint = 'ingest_managed';
      end if;
    end if;
    if new.locked_seats is distinct from old.locked_seats then
      if old.status = 'ended' then
        raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
      end if;
      new.locked_seats := coalesce((select array_agg(distinct s order by s) from unnest(new.locked_seats) as s), '{}');
    end if;
  else
    if current_user in ('anon', 'authenticated') then
      -- A missing status is left to its NOT NULL constraint, which names it.
      if new.status <> 'idle' or new.started_at is not null or new.ended_at is not null then
        raise exception 'A new stream starts idle: it goes live only through start-live'
          using errcode = '42501', hint = 'status_managed';
      end if;
      if new.live_input_id is not null or new.playback_url is not null or new.ingest_provider is distinct from 'local' then
        raise exception 'A stream''s ingest and playback are set by start-live'
          using errcode = '42501', hint = 'ingest_managed';
      end if;
      -- Which idle stream start-live takes goes by this time: a client does not choose it.
      new.created_at := now();
    end if;
    new.locked_seats := coalesce((select array_agg(distinct s order by s) from unnest(new.locked_seats) as s), '{}');
  end if;
  return new;
end;
$$;
revoke execute on function public.streams_guard() from public, anon, authenticated, service_role;
