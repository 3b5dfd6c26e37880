-- Two gaps in the invitations' rules.
--
-- 1. The invitation limits hold under parallel calls. The trigger counted one person's invitations of
--    the last minute and then let the insert through; the only lock held was the stream's, so one
--    person inviting on several streams at once (a host of more than one, or a moderator of several)
--    had each call count the others' rows as not there yet, and went past both limits. The count now
--    runs under a lock of the inviter's own, held until the invitation is committed or rolled back.
-- 2. A moderator whose account is deleted no longer leaves invitations standing as the host's. Their
--    seat went with the account (deleted, not left: the trigger of 20260101001200 did not fire) and
--    invited_by became null, which an accept reads as the host's invitation. Their open invitations
--    are now cancelled as the account goes, as when a moderator stops moderating.

create or replace function public.invitation_rate()
returns trigger
language plpgsql security definer
set search_path = public
as $$
begin
  if new.invited_by is null then
    return new;
  end if;
  perform pg_advisory_xact_lock(hashtextextended('roast:invitations-of:' || new.invited_by::text, 0));
  if (
    select count(*) from public.stream_guest_invitations
     where invited_by = new.invited_by and created_at > now() - interval '1 minute'
  ) >= public.max_invitations_per_minute() then
    raise exception 'Too many invitations in the last minute: wait a moment and invite again'
      using errcode = 'P0001', hint = 'too_many_invitations';
  end if;
  if (
    select count(*) from public.stream_guest_invitations
     where invited_by = new.invited_by and invitee_id = new.invitee_id and created_at > now() - interval '1 minute'
  ) >= public.max_invitations_per_invitee_per_minute() then
    raise exception 'You invited this person too often in the last minute: wait a moment and invite them again'
      using errcode = 'P0001', hint = 'too_many_invitations';
  end if;
  return new;
end;
$$;
revoke execute on function public.invitation_rate() from public, anon, authenticated;

create or replace function public.profiles_cancel_gone_inviter() returns trigger
language plpgsql security definer
set search_path = public
as $$
declare
  v_inv public.stream_guest_invitations;
begin
  for v_inv in
    update public.stream_guest_invitations
       set status = 'cancelled', responded_at = now()
     where invited_by = old.id
       and host_id <> old.id
       and status = 'pending'
       and expires_at > now()
    returning *
  loop
    perform public.log_guest_event(v_inv.stream_id, v_inv.invitee_id, null, 'invitation_cancelled', v_inv.seat_index,
      jsonb_build_object('invitation_id', v_inv.id, 'reason', 'inviter_not_manager'));
  end loop;
  return old;
end;
$$;
revoke execute on function public.profiles_cancel_gone_inviter() from public, anon, authenticated, service_role;

create trigger profiles_cancel_gone_inviter before delete on public.profiles
  for each row execute function public.profiles_cancel_gone_inviter();
