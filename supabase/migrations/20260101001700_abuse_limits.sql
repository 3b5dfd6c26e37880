-- Limits against abuse by any signed-in (also anonymous) user.
--
-- * Invitations: only a live stream invites (any user can make idle streams,
--   and a loop of invitations from them reached anyone, every 20 s), and one
--   person sends at most max_invitations_per_minute() of them a minute.
-- * Call sessions: only a live stream opens a call (a call hands out TURN
--   credentials that the account pays for).
-- * Text a user chooses and everyone reads (names, titles) has a length
--   limit: a name of megabytes was copied into every event of the feed.
--   Names from sign-up metadata are cut to the limit rather than refused,
--   so signing up never fails on a long name.

create or replace function public.max_invitations_per_minute() returns int
language sql immutable
as $$ select 30 $$;
revoke execute on function public.max_invitations_per_minute() from public, anon, authenticated;

create index if not exists stream_guest_invitations_by_inviter_idx
  on public.stream_guest_invitations (invited_by, created_at);

-- A row for a stream that must be on air: its stream's status is 'live', else the refusal named by the
-- trigger's argument. (invite_guest has locked the stream's row; a call session's guard,
-- call_sessions_stream_open, has read it under a share lock and refused an ended one: triggers run in
-- name order.)
create or replace function public.require_live_stream()
returns trigger
language plpgsql security definer
set search_path = public
as $$
begin
  if (select status from public.streams where id = new.stream_id) is distinct from 'live' then
    raise exception '%', tg_argv[0] using errcode = 'P0001', hint = 'stream_not_live';
  end if;
  return new;
end;
$$;
revoke execute on function public.require_live_stream() from public, anon, authenticated;

-- Guests join a show: a stream that never went live invites nobody (any user can make idle streams).
create trigger stream_guest_invitations_live
  before insert on public.stream_guest_invitations
  for each row execute function public.require_live_stream('Go live before inviting guests');

-- A call hands out TURN credentials the account pays for: only a show on air opens one.
create trigger call_sessions_stream_open_live
  before insert on public.call_sessions
  for each row execute function public.require_live_stream('The stream is not live: go live before opening its call');

-- A studio invites a handful of people a minute; a loop inviting someone over and over is refused.
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
  return new;
end;
$$;
revoke execute on function public.invitation_rate() from public, anon, authenticated;

create trigger stream_guest_invitations_rate
  before insert on public.stream_guest_invitations
  for each row execute function public.invitation_rate();

-- Lengths. Rows made before the limits are cut to them first.
update public.profiles set display_name = left(display_name, 60) where char_length(display_name) > 60;
-- A username is unique: cut, it keeps the start of its own id, so two long ones that begin alike do not collide.
update public.profiles set username = left(username, 31) || '-' || left(id::text, 8) where char_length(username) > 40;
-- No real image address is that long (a picture inlined as a data: URL): the profile shows its initials instead.
update public.profiles set avatar_url = null where char_length(avatar_url) > 2048;
update public.streams set title = left(title, 120) where char_length(title) > 120;

alter table public.profiles
  add constraint profiles_display_name_length check (char_length(display_name) <= 60),
  add constraint profiles_username_length check (char_length(username) <= 40),
  add constraint profiles_avatar_url_length check (char_length(avatar_url) <= 2048);
alter table public.streams
  add constraint streams_title_length check (char_length(title) <= 120);

create or replace function public.handle_new_user() returns trigger
language plpgsql security definer
set search_path = public
as $$
begin
  insert into public.profiles (id, display_name)
  values (
    new.id,
    left(coalesce(nullif(btrim(new.raw_user_meta_data ->> 'display_name'), ''), 'Guest-' || left(new.id::text, 4)), 60)
  )
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
  v_name text := left(nullif(btrim(new.raw_user_meta_data ->> 'display_name'), ''), 60);
begin
  if v_name is not null and v_name is distinct from left(nullif(btrim(old.raw_user_meta_data ->> 'display_name'), ''), 60) then
    update public.profiles set display_name = v_name where id = new.id;
  end if;
  return new;
end;
$$;
revoke execute on function public.handle_user_metadata_change() from public, anon, authenticated;
