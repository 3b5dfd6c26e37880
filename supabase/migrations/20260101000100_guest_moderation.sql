-- Guest controls enforced in the database. Seats are not writable by clients
-- directly: a seated guest switches their own microphone and camera, the host
-- (or a seated moderator) mutes, turns off cameras, sets volumes, removes
-- guests and locks seats; only the host appoints moderators. Same error
-- conventions as the core migration (42501 / PT404 / P0001 with a HINT reason).

create or replace function public.set_my_media(p_stream_id uuid, p_mic_enabled boolean default null, p_camera_enabled boolean default null)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_seat public.stream_guest_seats;
begin
  update public.stream_guest_seats
     set mic_enabled = coalesce(p_mic_enabled, mic_enabled),
         camera_enabled = coalesce(p_camera_enabled, camera_enabled)
   where stream_id = p_stream_id and user_id = v_uid and left_at is null
  returning * into v_seat;
  if not found then
    raise exception 'You are not on a seat of this stream' using errcode = 'P0001', hint = 'not_seated';
  end if;
  return v_seat;
end;
$$;

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
    raise exception 'Only the host can appoint moderators' using errcode = '42501', hint = 'not_host';
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
         camera_disabled_by_host = coalesce(p_camera_disabled, camera_disabled_by_host),
         volume = coalesce(p_volume, volume),
         is_moderator = coalesce(p_is_moderator, is_moderator)
   where id = v_old.id
  returning * into v_seat;

  if v_seat.muted_by_host is distinct from v_old.muted_by_host then
    perform public.log_guest_event(p_stream_id, p_user_id, v_uid, case when v_seat.muted_by_host then 'muted_mic' else 'unmuted_mic' end,
      v_seat.seat_index, '{}'::jsonb);
  end if;
  if v_seat.camera_disabled_by_host is distinct from v_old.camera_disabled_by_host then
    perform public.log_guest_event(p_stream_id, p_user_id, v_uid, case when v_seat.camera_disabled_by_host then 'camera_off' else 'camera_on' end,
      v_seat.seat_index, '{}'::jsonb);
  end if;
  if v_seat.is_moderator is distinct from v_old.is_moderator then
    perform public.log_guest_event(p_stream_id, p_user_id, v_uid, case when v_seat.is_moderator then 'moderator_added' else 'moderator_removed' end,
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
  update public.stream_guest_seats set left_at = now() where id = v_seat.id returning * into v_seat;
  perform public.log_guest_event(p_stream_id, p_user_id, v_uid, 'removed', v_seat.seat_index, jsonb_build_object('seat_id', v_seat.id));
  return v_seat;
end;
$$;

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
  if p_locked = (p_seat_index = any (v_stream.locked_seats)) then
    return v_stream;
  end if;
  update public.streams
     set locked_seats = case
           when p_locked then (select array_agg(s order by s) from unnest(array_append(locked_seats, p_seat_index)) as s)
           else array_remove(locked_seats, p_seat_index)
         end
   where id = p_stream_id
  returning * into v_stream;
  perform public.log_guest_event(p_stream_id, null, v_uid, case when p_locked then 'seat_locked' else 'seat_unlocked' end, p_seat_index, '{}'::jsonb);
  return v_stream;
end;
$$;

revoke execute on function public.set_my_media(uuid, boolean, boolean) from public, anon;
revoke execute on function public.moderate_guest(uuid, uuid, boolean, boolean, real, boolean) from public, anon;
revoke execute on function public.remove_guest(uuid, uuid) from public, anon;
revoke execute on function public.set_seat_locked(uuid, int, boolean) from public, anon;
grant execute on function public.set_my_media(uuid, boolean, boolean), public.moderate_guest(uuid, uuid, boolean, boolean, real, boolean),
  public.remove_guest(uuid, uuid), public.set_seat_locked(uuid, int, boolean) to authenticated, service_role;
