-- Three gaps in who may do what with invitations.
--
-- 1. The host's rule follows a guest back. A guest's new seat started from the defaults: a moderator
--    could remove a guest the host had muted (or turned the camera off, or turned down), invite them
--    again, and the guest came back unmuted at full volume — the host's mute undone by a moderator,
--    which 20260101001800 and 20260101001900 forbid. A guest muted by the host could also leave and be
--    invited back the same way. Now the new seat takes the host's mute and camera switch (still the
--    host's) and the volume from the guest's last seat of the stream.
-- 2. A guest the host removed is invited back by the host only: a moderator is refused.
-- 3. accept_invitation, decline_invitation and cancel_invitation refuse before they lock the stream's
--    row, as 20260101002100 made the others do: someone invited once (any account) could call them in a
--    loop on an invitation long answered, and each refused call queued for the lock the stream's own
--    changes take. Each body is kept, renamed <name>_under_lock, and checks everything again under it.

alter function public.accept_invitation(uuid) rename to accept_invitation_under_lock;
alter function public.decline_invitation(uuid) rename to decline_invitation_under_lock;
alter function public.cancel_invitation(uuid) rename to cancel_invitation_under_lock;
revoke execute on function
  public.accept_invitation_under_lock(uuid), public.decline_invitation_under_lock(uuid), public.cancel_invitation_under_lock(uuid)
  from public, anon, authenticated, service_role;

create or replace function public.accept_invitation_under_lock(p_invitation_id uuid)
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
  v_at timestamptz;
  v_last public.stream_guest_seats;
  v_mic_kept boolean;
  v_camera_kept boolean;
begin
  select stream_id into v_stream_id from public.stream_guest_invitations where id = p_invitation_id and invitee_id = v_uid;
  if not found then
    raise exception 'Invitation not found' using errcode = 'PT404', hint = 'invitation_not_found';
  end if;
  -- Stream row first: it serialises every seat change of the stream, so two
  -- accepts never see the same free seat.
  select * into v_stream from public.streams where id = v_stream_id for update;
  select * into v_inv from public.stream_guest_invitations where id = p_invitation_id for update;
  -- The answer's time is the clock's once the locks are held: an accept that waited for them
  -- past the invitation's end is too late (now() is when the transaction began).
  v_at := clock_timestamp();

  -- The stream first: ending it cancels its invitations, and the guest is told why.
  if v_stream.status = 'ended' then
    raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
  end if;
  if public.effective_status(v_inv) = 'expired' or (v_inv.status = 'pending' and v_inv.expires_at <= v_at) then
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

  -- What the host set on the guest's last seat of this stream comes back with them: a mute or a camera turned off
  -- by the host (still the host's, released by the host only) and the volume. Leaving, or being removed by a
  -- moderator and invited again, no longer wipes them.
  select * into v_last from public.stream_guest_seats
   where stream_id = v_stream.id and user_id = v_uid
   order by joined_at desc, id desc
   limit 1;
  v_mic_kept := found and v_last.muted_by_host and v_last.mic_muted_by is not distinct from v_stream.host_id;
  v_camera_kept := found and v_last.camera_disabled_by_host and v_last.camera_disabled_by is not distinct from v_stream.host_id;

  insert into public.stream_guest_seats (stream_id, user_id, seat_index, muted_by_host, mic_muted_by, mic_enabled,
                                         camera_disabled_by_host, camera_disabled_by, camera_enabled, volume)
  values (v_stream.id, v_uid, v_seat_index,
          v_mic_kept, case when v_mic_kept then v_stream.host_id end, not v_mic_kept,
          v_camera_kept, case when v_camera_kept then v_stream.host_id end, not v_camera_kept,
          coalesce(v_last.volume, 1))
  returning * into v_seat;

  update public.stream_guest_invitations set status = 'accepted', responded_at = v_at where id = v_inv.id;
  perform public.log_guest_event(v_stream.id, v_uid, v_uid, 'joined_live', v_seat_index,
    jsonb_build_object('invitation_id', v_inv.id, 'seat_id', v_seat.id));
  perform public.expire_stale_invitations(v_stream.id);
  return v_seat;
end;
$$;

-- The refusals an answer to an invitation gets without the lock, in the order the bodies give them:
-- the invitation is the caller's (PT404), its stream has not ended, it has not run out, it is open.
create or replace function public.refuse_answer_before_lock(p_invitation_id uuid, p_need text) returns void
language plpgsql stable security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_inv public.stream_guest_invitations;
begin
  select * into v_inv from public.stream_guest_invitations
   where id = p_invitation_id
     and (invitee_id = v_uid or (p_need = 'manager' and (host_id = v_uid or public.is_stream_manager(stream_id, v_uid))));
  if not found then
    raise exception 'Invitation not found' using errcode = 'PT404', hint = 'invitation_not_found';
  end if;
  if p_need = 'manager' then
    if not public.is_stream_manager(v_inv.stream_id, v_uid) then
      raise exception 'Only the host or a moderator can cancel an invitation' using errcode = '42501', hint = 'not_host';
    end if;
    if v_inv.status <> 'pending' then
      raise exception 'This invitation is no longer open (%)', v_inv.status using errcode = 'P0001', hint = 'invitation_not_pending';
    end if;
    return;
  end if;
  if p_need = 'accept' then
    if exists (select 1 from public.streams where id = v_inv.stream_id and status = 'ended') then
      raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
    end if;
    if public.effective_status(v_inv) = 'expired' or (v_inv.status = 'pending' and v_inv.expires_at <= clock_timestamp()) then
      raise exception 'This invitation has expired' using errcode = 'P0001', hint = 'invitation_expired';
    end if;
  end if;
  if v_inv.status <> 'pending' then
    raise exception 'This invitation is no longer open (%)', v_inv.status using errcode = 'P0001', hint = 'invitation_not_pending';
  end if;
end;
$$;
revoke execute on function public.refuse_answer_before_lock(uuid, text) from public, anon, authenticated, service_role;

create function public.accept_invitation(p_invitation_id uuid)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_answer_before_lock(p_invitation_id, 'accept');
  return public.accept_invitation_under_lock(p_invitation_id);
end;
$$;

create function public.decline_invitation(p_invitation_id uuid)
returns public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_answer_before_lock(p_invitation_id, 'decline');
  return public.decline_invitation_under_lock(p_invitation_id);
end;
$$;

create function public.cancel_invitation(p_invitation_id uuid)
returns public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
begin
  perform public.refuse_answer_before_lock(p_invitation_id, 'manager');
  return public.cancel_invitation_under_lock(p_invitation_id);
end;
$$;

create or replace function public.invite_guest(p_stream_id uuid, p_invitee_id uuid, p_seat_index int default null)
returns public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid;
  v_host uuid;
begin
  perform public.refuse_before_lock(p_stream_id, 'manager', 'Only the host or a moderator can invite guests');
  v_uid := public.require_uid();
  select host_id into v_host from public.streams where id = p_stream_id;
  if v_uid is distinct from v_host and exists (
    select 1 from (
      select removed_by from public.stream_guest_seats
       where stream_id = p_stream_id and user_id = p_invitee_id
       order by joined_at desc, id desc
       limit 1
    ) last where last.removed_by = v_host
  ) then
    raise exception 'The host removed this guest: only the host can invite them back' using errcode = '42501', hint = 'removed_by_host';
  end if;
  return public.invite_guest_under_lock(p_stream_id, p_invitee_id, p_seat_index);
end;
$$;

revoke execute on function
  public.accept_invitation(uuid), public.decline_invitation(uuid), public.cancel_invitation(uuid), public.invite_guest(uuid, uuid, int)
  from public, anon;
grant execute on function
  public.accept_invitation(uuid), public.decline_invitation(uuid), public.cancel_invitation(uuid), public.invite_guest(uuid, uuid, int)
  to authenticated, service_role;
