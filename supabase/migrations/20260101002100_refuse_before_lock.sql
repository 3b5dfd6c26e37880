-- Callers without the right are refused before the stream's row is locked.
--
-- Seven functions locked the stream's row (FOR UPDATE) before they checked who called: anyone
-- signed in (an anonymous account too) could call end_stream, remove_guest, set_moderator,
-- set_seat_locked or invite_guest on someone else's stream, or leave_seat / set_my_media on a
-- stream where they have no seat, in a loop, and each refused call queued for the lock the
-- stream's own changes take (an accept, a mute), and then held it. moderate_guest was changed so
-- in 20260101001900.
--
-- Each function keeps its body, renamed <name>_under_lock and callable only from here, where it
-- checks everything again under the lock. In front of it, a function of the same name and
-- arguments checks the caller's rights without a lock, with the same refusal the body gives.

-- The stream exists (PT404 stream_not_found) and the caller may do what `p_refusal` names.
create or replace function public.refuse_before_lock(p_stream_id uuid, p_need text, p_refusal text) returns void
language plpgsql stable security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
begin
  if p_need = 'seat' then
    if not exists (select 1 from public.stream_guest_seats where stream_id = p_stream_id and user_id = v_uid and left_at is null) then
      raise exception '%', p_refusal using errcode = 'P0001', hint = 'not_seated';
    end if;
    return;
  end if;
  if not exists (select 1 from public.streams where id = p_stream_id) then
    raise exception 'Stream not found' using errcode = 'PT404', hint = 'stream_not_found';
  end if;
  if (p_need = 'host' and not exists (select 1 from public.streams where id = p_stream_id and host_id = v_uid))
     or (p_need = 'manager' and not public.is_stream_manager(p_stream_id, v_uid)) then
    raise exception '%', p_refusal using errcode = '42501', hint = 'not_host';
  end if;
end;
$$;
revoke execute on function public.refuse_before_lock(uuid, text, text) from public, anon, authenticated, service_role;

alter function public.invite_guest(uuid, uuid, int) rename to invite_guest_under_lock;
alter function public.remove_guest(uuid, uuid) rename to remove_guest_under_lock;
alter function public.set_moderator(uuid, uuid, boolean) rename to set_moderator_under_lock;
alter function public.set_seat_locked(uuid, int, boolean) rename to set_seat_locked_under_lock;
alter function public.end_stream(uuid) rename to end_stream_under_lock;
alter function public.set_my_media(uuid, boolean, boolean) rename to set_my_media_under_lock;
alter function public.leave_seat(uuid) rename to leave_seat_under_lock;
revoke execute on function
  public.invite_guest_under_lock(uuid, uuid, int), public.remove_guest_under_lock(uuid, uuid),
  public.set_moderator_under_lock(uuid, uuid, boolean), public.set_seat_locked_under_lock(uuid, int, boolean),
  public.end_stream_under_lock(uuid), public.set_my_media_under_lock(uuid, boolean, boolean), public.leave_seat_under_lock(uuid)
  from public, anon, authenticated, service_role;

create function public.invite_guest(p_stream_id uuid, p_invitee_id uuid, p_seat_index int default null)
returns public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_before_lock(p_stream_id, 'manager', 'Only the host or a moderator can invite guests');
  return public.invite_guest_under_lock(p_stream_id, p_invitee_id, p_seat_index);
end;
$$;

create function public.remove_guest(p_stream_id uuid, p_user_id uuid)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_before_lock(p_stream_id, 'manager', 'Only the host or a moderator can remove guests');
  return public.remove_guest_under_lock(p_stream_id, p_user_id);
end;
$$;

create function public.set_moderator(p_stream_id uuid, p_user_id uuid, p_is_moderator boolean)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_before_lock(p_stream_id, 'host', 'Only the host can appoint or dismiss moderators');
  return public.set_moderator_under_lock(p_stream_id, p_user_id, p_is_moderator);
end;
$$;

create function public.set_seat_locked(p_stream_id uuid, p_seat_index int, p_locked boolean)
returns public.streams
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_before_lock(p_stream_id, 'manager', 'Only the host or a moderator can lock seats');
  return public.set_seat_locked_under_lock(p_stream_id, p_seat_index, p_locked);
end;
$$;

create function public.end_stream(p_stream_id uuid)
returns public.streams
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_before_lock(p_stream_id, 'host', 'Only the host can end the stream');
  return public.end_stream_under_lock(p_stream_id);
end;
$$;

create function public.set_my_media(p_stream_id uuid, p_mic_enabled boolean default null, p_camera_enabled boolean default null)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_before_lock(p_stream_id, 'seat', 'You are not on a seat of this stream');
  return public.set_my_media_under_lock(p_stream_id, p_mic_enabled, p_camera_enabled);
end;
$$;

create function public.leave_seat(p_stream_id uuid)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_before_lock(p_stream_id, 'seat', 'You are not on a seat of this stream');
  return public.leave_seat_under_lock(p_stream_id);
end;
$$;

revoke execute on function
  public.invite_guest(uuid, uuid, int), public.remove_guest(uuid, uuid), public.set_moderator(uuid, uuid, boolean),
  public.set_seat_locked(uuid, int, boolean), public.end_stream(uuid), public.set_my_media(uuid, boolean, boolean), public.leave_seat(uuid)
  from public, anon;
grant execute on function
  public.invite_guest(uuid, uuid, int), public.remove_guest(uuid, uuid), public.set_moderator(uuid, uuid, boolean),
  public.set_seat_locked(uuid, int, boolean), public.end_stream(uuid), public.set_my_media(uuid, boolean, boolean), public.leave_seat(uuid)
  to authenticated, service_role;
