-- A moderator's open invitations are cancelled the moment they stop managing
-- the stream (dismissed, removed, or leaving their seat). The accept already
-- refuses such an invitation (inviter_not_manager); before this, the invitee
-- still saw the card and its countdown, and the host's panel still listed it
-- as pending, until someone tried to accept it.

create or replace function public.seats_cancel_gone_inviter() returns trigger
language plpgsql security definer
set search_path = public
as $$
declare
  v_inv public.stream_guest_invitations;
  v_actor uuid := coalesce(auth.uid(), new.removed_by, new.user_id);
begin
  if not (old.is_moderator and old.left_at is null) then
    return null;
  end if;
  if new.is_moderator and new.left_at is null then
    return null;
  end if;
  -- The stream ending closes every seat: end_stream cancels the invitations itself, in its one event.
  if exists (select 1 from public.streams s where s.id = new.stream_id and s.status = 'ended') then
    return null;
  end if;
  -- Still a manager another way (the host seated on their own stream, or a
  -- second open seat): the invitations stand.
  if public.is_stream_manager(new.stream_id, new.user_id) then
    return null;
  end if;
  for v_inv in
    update public.stream_guest_invitations
       set status = 'cancelled', responded_at = now()
     where stream_id = new.stream_id
       and invited_by = new.user_id
       and status = 'pending'
       and expires_at > now()
    returning *
  loop
    perform public.log_guest_event(v_inv.stream_id, v_inv.invitee_id, v_actor, 'invitation_cancelled', v_inv.seat_index,
      jsonb_build_object('invitation_id', v_inv.id, 'by', public.actor_role(v_inv.stream_id, v_actor, v_inv.invitee_id),
                         'reason', 'inviter_not_manager'));
  end loop;
  return null;
end;
$$;
revoke execute on function public.seats_cancel_gone_inviter() from public, anon, authenticated, service_role;

create trigger stream_guest_seats_cancel_gone_inviter after update of is_moderator, left_at on public.stream_guest_seats
  for each row execute function public.seats_cancel_gone_inviter();
