-- Five gaps, closed:
-- 1. A guest's volume in the program is the host's alone. moderate_guest let any manager set it,
--    so a host who turned a troll down to 0 (a mute in the mix) could be undone by a moderator.
--    The moderators' tools never set volumes; now the database refuses it too.
-- 2. An accept that queued behind the stream's lock past the invitation's expiry still seated the
--    guest: the expiry was compared with now(), the time the transaction began. It is now compared
--    with the clock once the locks are held, and the answer's time is that clock's.
-- 3. Accounts made before names stopped coming from e-mail addresses (20260101001100) still showed
--    the part before the @ in profiles and in the public events feed. They are named
--    Guest-<first characters of their id>, as a new account is, everywhere the old name was copied.
-- 4. A profile updated directly took an empty name, a name of spaces or one with control characters
--    (a line break in the feed); an empty username too. A name set to null takes the default one. Names from sign-up and metadata are cleaned
--    (control characters become spaces) rather than refused, so signing up never fails on one.
-- 5. One person invites the same person at most max_invitations_per_invitee_per_minute() times a
--    minute (a host whose invitation ran out invites again every 20 s: three a minute).

-- 1 and 2 -------------------------------------------------------------------------------------------

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
  if p_volume is not null and v_stream.host_id <> v_uid then
    raise exception 'Only the host sets a guest''s volume in the program' using errcode = '42501', hint = 'not_host';
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
  v_at timestamptz;
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

  insert into public.stream_guest_seats (stream_id, user_id, seat_index)
  values (v_stream.id, v_uid, v_seat_index)
  returning * into v_seat;

  update public.stream_guest_invitations set status = 'accepted', responded_at = v_at where id = v_inv.id;
  perform public.log_guest_event(v_stream.id, v_uid, v_uid, 'joined_live', v_seat_index,
    jsonb_build_object('invitation_id', v_inv.id, 'seat_id', v_seat.id));
  perform public.expire_stale_invitations(v_stream.id);
  return v_seat;
end;
$$;

-- 3 and 4 -------------------------------------------------------------------------------------------

-- A name a person chose, as profiles keep it: control characters as spaces, trimmed, at most 60
-- characters; null when nothing is left.
create or replace function public.clean_display_name(p_name text) returns text
language sql immutable
as $$
  select left(nullif(btrim(regexp_replace(p_name, '[[:cntrl:]]', ' ', 'g')), ''), 60)
$$;
revoke execute on function public.clean_display_name(text) from public, anon, authenticated;

create or replace function public.default_display_name(p_user_id uuid) returns text
language sql immutable
as $$
  select 'Guest-' || left(p_user_id::text, 4)
$$;
revoke execute on function public.default_display_name(uuid) from public, anon, authenticated;

create or replace function public.handle_new_user() returns trigger
language plpgsql security definer
set search_path = public
as $$
begin
  insert into public.profiles (id, display_name)
  values (new.id, coalesce(public.clean_display_name(new.raw_user_meta_data ->> 'display_name'), public.default_display_name(new.id)))
  on conflict (id) do nothing;
  return new;
end;
$$;
revoke execute on function public.handle_new_user() from public, anon, authenticated;

create or replace function public.handle_user_metadata_change() returns trigger
language plpgsql security definer
set search_path = public
as $$
declare
  v_name text := public.clean_display_name(new.raw_user_meta_data ->> 'display_name');
begin
  if v_name is not null and v_name is distinct from public.clean_display_name(old.raw_user_meta_data ->> 'display_name') then
    update public.profiles set display_name = v_name where id = new.id;
  end if;
  return new;
end;
$$;
revoke execute on function public.handle_user_metadata_change() from public, anon, authenticated;

-- Profiles named after their e-mail address (the part before the @, as accounts made before
-- 20260101001100 were, without a name of their own) take the default name, and so do the events
-- that copied it. Returns how many profiles it renamed. Kept as a function so that an operator can
-- run it again after restoring an old backup.
create or replace function public.unname_email_named_profiles() returns integer
language plpgsql security definer
set search_path = public
as $$
declare
  v_ids uuid[];
  v_names text[];
begin
  select array_agg(p.id), array_agg(p.display_name) into v_ids, v_names
    from public.profiles p
    join auth.users u on u.id = p.id
   where u.email is not null
     and p.display_name = split_part(u.email, '@', 1)
     and public.clean_display_name(u.raw_user_meta_data ->> 'display_name') is distinct from p.display_name;
  if v_ids is null then
    return 0;
  end if;
  update public.profiles set display_name = public.default_display_name(id) where id = any (v_ids);
  -- One statement per column: a row is updated once per statement.
  update public.stream_guest_events e set display_name = public.default_display_name(e.user_id)
    from unnest(v_ids, v_names) as r(id, old_name)
   where e.user_id = r.id and e.display_name = r.old_name;
  update public.stream_guest_events e set actor_display_name = public.default_display_name(e.actor_id)
    from unnest(v_ids, v_names) as r(id, old_name)
   where e.actor_id = r.id and e.actor_display_name = r.old_name;
  return cardinality(v_ids);
end;
$$;
revoke execute on function public.unname_email_named_profiles() from public, anon, authenticated;

select public.unname_email_named_profiles();

-- Rows from before these limits are cleaned first.
update public.profiles set display_name = coalesce(public.clean_display_name(display_name), public.default_display_name(id))
 where display_name is null or display_name is distinct from public.clean_display_name(display_name);
update public.profiles set username = null where username is not null and username !~ '^[^[:space:][:cntrl:]]+$';

-- A profile written without a name (an upsert of other columns inserts one before it finds the row
-- already there) takes the default one, as a new account does.
create or replace function public.profiles_default_name() returns trigger
language plpgsql security definer
set search_path = public
as $$
begin
  if new.display_name is null then
    new.display_name := public.default_display_name(new.id);
  end if;
  return new;
end;
$$;
revoke execute on function public.profiles_default_name() from public, anon, authenticated;
create trigger profiles_default_name before insert or update of display_name on public.profiles
  for each row execute function public.profiles_default_name();

alter table public.profiles
  add constraint profiles_display_name_readable
    check (display_name is not null and display_name <> '' and display_name = btrim(display_name) and display_name !~ '[[:cntrl:]]'),
  add constraint profiles_username_clean check (username is null or username ~ '^[^[:space:][:cntrl:]]+$');

-- 5 -------------------------------------------------------------------------------------------------

create or replace function public.max_invitations_per_invitee_per_minute() returns int
language sql immutable
as $$ select 6 $$;
revoke execute on function public.max_invitations_per_invitee_per_minute() from public, anon, authenticated;

create or replace function public.invitation_rate()
returns trigger
language plpgsql security definer
set search_path = public
as $$
begin
  if new.invited_by is not null and (
    select count(*) from public.stream_guest_invitations
     where invited_by = new.invited_by and created_at > now() - interval '1 minute'
  ) >= public.max_invitations_per_minute() then
    raise exception 'Too many invitations in the last minute: wait a moment and invite again'
      using errcode = 'P0001', hint = 'too_many_invitations';
  end if;
  if new.invited_by is not null and (
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
