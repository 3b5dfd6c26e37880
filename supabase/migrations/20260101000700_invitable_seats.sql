-- Invitations and seats that cannot be taken.
--
-- invite_guest refused a seat that is locked only when the host named it: an
-- invitation to "any seat" went out while every free seat was locked, and its
-- accept then failed. It now needs a seat that is neither occupied nor locked
-- (hint seat_locked when locks are what stands in the way, seats_full when
-- all nine are taken).
--
-- accept_invitation after the host ended the stream said the invitation was
-- "no longer open (cancelled)" (end_stream cancels pending invitations); the
-- stream's end is checked first, so the guest is told the stream has ended.
--
-- Both functions are restated whole from 20260101000200_cohost_rules.sql with
-- those changes; their grants stay as they were.

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
  -- A seat the guest could take: neither occupied nor locked (accept seats the guest on one).
  if not exists (
    select 1 from generate_series(0, 8) as s
     where not (s = any (v_stream.locked_seats))
       and not exists (select 1 from public.stream_guest_seats g where g.stream_id = p_stream_id and g.seat_index = s and g.left_at is null)
  ) then
    if (select count(*) from public.stream_guest_seats where stream_id = p_stream_id and left_at is null) >= 9 then
      raise exception 'All 9 guest seats are taken' using errcode = 'P0001', hint = 'seats_full';
    end if;
    raise exception 'Every free guest seat is locked: unlock one to invite' using errcode = 'P0001', hint = 'seat_locked';
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
