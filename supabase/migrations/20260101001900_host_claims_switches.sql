-- The host's mute is the host's even when a moderator's came first. With 20260101001800 the first
-- to turn a switch on owned it, so a host muting a guest a moderator had just muted (or clicking
-- Mute on a row not yet refreshed) left the mute the moderator's, and any moderator could lift it.
-- Now moderate_guest names the host as the owner when the host turns a switch on (p_muted or
-- p_camera_disabled true), whether or not it was on already, and the trigger lets the host, and
-- only the host, take over a switch that is on. A moderator's repeated mute changes nothing, and
-- an update that only changes the volume leaves the owner as it was.
--
-- moderate_guest also checks the caller's rights before it locks the stream's row: a flood of calls
-- from someone refused no longer queues for the lock the stream's own moderation takes.

create or replace function public.host_switch_owner(
  p_on boolean, p_was boolean, p_owner uuid, p_uid uuid, p_host uuid, p_refusal text, p_hint text, p_claim uuid default null
) returns uuid
language plpgsql immutable
as $$
begin
  if p_on and not coalesce(p_was, false) then
    return p_uid;
  end if;
  if not p_on and p_was then
    if p_uid is not null and p_uid is distinct from p_host and p_owner is not distinct from p_host then
      raise exception '%', p_refusal using errcode = '42501', hint = p_hint;
    end if;
    return null;
  end if;
  -- An on switch stays on: the host may take it over (p_claim, what the update set), nobody else.
  if p_on and p_uid is not null and p_uid = p_host and p_claim = p_host then
    return p_host;
  end if;
  return p_owner;
end;
$$;
revoke execute on function public.host_switch_owner(boolean, boolean, uuid, uuid, uuid, text, text, uuid) from public, anon, authenticated;
drop function if exists public.host_switch_owner(boolean, boolean, uuid, uuid, uuid, text, text);

create or replace function public.seats_host_switch_owner() returns trigger
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := auth.uid();
  v_host uuid := (select host_id from public.streams where id = new.stream_id);
begin
  new.mic_muted_by := public.host_switch_owner(new.muted_by_host, old.muted_by_host, old.mic_muted_by, v_uid, v_host,
    'The host muted this microphone: only the host can release it', 'muted_by_host', new.mic_muted_by);
  new.camera_disabled_by := public.host_switch_owner(new.camera_disabled_by_host, old.camera_disabled_by_host, old.camera_disabled_by, v_uid, v_host,
    'The host turned this camera off: only the host can release it', 'camera_disabled_by_host', new.camera_disabled_by);
  return new;
end;
$$;
revoke execute on function public.seats_host_switch_owner() from public, anon, authenticated, service_role;

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
  -- Refused callers are told so before the stream's row is locked (checked again under the lock).
  if not exists (select 1 from public.streams where id = p_stream_id) then
    raise exception 'Stream not found' using errcode = 'PT404', hint = 'stream_not_found';
  end if;
  if not public.is_stream_manager(p_stream_id, v_uid) then
    raise exception 'Only the host or a moderator can moderate guests' using errcode = '42501', hint = 'not_host';
  end if;

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
         volume = coalesce(p_volume, volume),
         -- The host turning a switch on claims it (the trigger, seats_host_switch_owner, decides).
         mic_muted_by = case when p_muted and v_stream.host_id = v_uid then v_uid else mic_muted_by end,
         camera_disabled_by = case when p_camera_disabled and v_stream.host_id = v_uid then v_uid else camera_disabled_by end
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
