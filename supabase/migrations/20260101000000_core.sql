-- Core schema of Roast Live Studio: profiles, streams and their ingest
-- credentials, guest seats, invitations and the guest event log, call
-- sessions. Row level security on every table; the multi-guest rules (who may
-- invite, 20 s expiry, 9 seats, locked seats) live in SECURITY DEFINER
-- functions below, so no client can bypass them.
--
-- Errors raised by the functions: SQLSTATE 42501 when the caller lacks the
-- right (HTTP 401/403 through the REST API), PT404 when the target does not
-- exist or is not visible to the caller (HTTP 404), P0001 when a rule refuses
-- the action (HTTP 400). The HINT carries a stable machine-readable reason
-- (e.g. 'invitation_expired', 'seats_full') and the MESSAGE is fit to show.

-- Profiles --------------------------------------------------------------------
create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  username text unique,
  display_name text,
  avatar_url text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table public.profiles enable row level security;

create policy "profiles are readable by signed-in users" on public.profiles
  for select to authenticated using (true);
create policy "users insert their own profile" on public.profiles
  for insert to authenticated with check (id = auth.uid());
create policy "users update their own profile" on public.profiles
  for update to authenticated using (id = auth.uid()) with check (id = auth.uid());

create or replace function public.touch_updated_at() returns trigger
language plpgsql
set search_path = public
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

create trigger profiles_touch_updated_at before update on public.profiles
  for each row execute function public.touch_updated_at();

create or replace function public.handle_new_user() returns trigger
language plpgsql security definer
set search_path = public
as $$
begin
  insert into public.profiles (id, display_name)
  values (
    new.id,
    coalesce(
      nullif(btrim(new.raw_user_meta_data ->> 'display_name'), ''),
      nullif(split_part(coalesce(new.email, ''), '@', 1), ''),
      'Guest-' || left(new.id::text, 4)
    )
  )
  on conflict (id) do nothing;
  return new;
end;
$$;

create trigger on_auth_user_created after insert on auth.users
  for each row execute function public.handle_new_user();

-- A display_name set later through the user's metadata follows into the profile.
create or replace function public.handle_user_metadata_change() returns trigger
language plpgsql security definer
set search_path = public
as $$
declare
  v_name text := nullif(btrim(new.raw_user_meta_data ->> 'display_name'), '');
begin
  if v_name is not null and v_name is distinct from nullif(btrim(old.raw_user_meta_data ->> 'display_name'), '') then
    update public.profiles set display_name = v_name where id = new.id;
  end if;
  return new;
end;
$$;

create trigger on_auth_user_metadata_changed after update of raw_user_meta_data on auth.users
  for each row execute function public.handle_user_metadata_change();

revoke execute on function public.handle_new_user() from public, anon, authenticated;
revoke execute on function public.handle_user_metadata_change() from public, anon, authenticated;

-- Streams ---------------------------------------------------------------------
create table public.streams (
  id uuid primary key default gen_random_uuid(),
  host_id uuid not null references public.profiles (id) on delete cascade,
  title text not null default '',
  status text not null default 'idle' check (status in ('idle', 'live', 'ended')),
  ingest_provider text not null default 'local' check (ingest_provider in ('local', 'cloudflare')),
  live_input_id text,
  playback_url text,
  locked_seats int[] not null default '{}',
  started_at timestamptz,
  ended_at timestamptz,
  created_at timestamptz not null default now(),
  constraint streams_locked_seats_range check (locked_seats <@ array[0, 1, 2, 3, 4, 5, 6, 7, 8])
);
create index streams_host_id_idx on public.streams (host_id);
create index streams_status_idx on public.streams (status);
alter table public.streams enable row level security;

create policy "streams are readable by everyone" on public.streams
  for select to anon, authenticated using (true);
create policy "hosts create their own streams" on public.streams
  for insert to authenticated with check (host_id = auth.uid());
create policy "hosts update their own streams" on public.streams
  for update to authenticated using (host_id = auth.uid()) with check (host_id = auth.uid());

-- Ingest credentials: the stream key is a secret of the host. Written by the
-- edge functions with the service role only.
create table public.stream_ingests (
  stream_id uuid primary key references public.streams (id) on delete cascade,
  rtmp_url text not null,
  stream_key text not null,
  created_at timestamptz not null default now()
);
alter table public.stream_ingests enable row level security;
revoke insert, update, delete, truncate on public.stream_ingests from anon, authenticated;

create policy "hosts read their ingest credentials" on public.stream_ingests
  for select to authenticated
  using (exists (select 1 from public.streams s where s.id = stream_id and s.host_id = auth.uid()));

-- Call sessions (WebRTC: host-as-hub or an SFU session) ---------------------------
create table public.call_sessions (
  id uuid primary key default gen_random_uuid(),
  stream_id uuid not null references public.streams (id) on delete cascade,
  host_id uuid not null references public.profiles (id) on delete cascade,
  provider text not null check (provider in ('p2p', 'cloudflare')),
  cf_session_id text,
  created_at timestamptz not null default now(),
  ended_at timestamptz
);
create index call_sessions_stream_id_idx on public.call_sessions (stream_id);
alter table public.call_sessions enable row level security;
revoke insert, update, delete, truncate on public.call_sessions from anon, authenticated;

-- Guest seats -----------------------------------------------------------------
create table public.stream_guest_seats (
  id uuid primary key default gen_random_uuid(),
  stream_id uuid not null references public.streams (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  seat_index int not null check (seat_index between 0 and 8),
  mic_enabled boolean not null default true,
  camera_enabled boolean not null default true,
  muted_by_host boolean not null default false,
  camera_disabled_by_host boolean not null default false,
  is_moderator boolean not null default false,
  volume real not null default 1 check (volume between 0 and 2),
  call_session_id uuid references public.call_sessions (id) on delete set null,
  joined_at timestamptz not null default now(),
  left_at timestamptz
);
create unique index stream_guest_seats_active_seat_key on public.stream_guest_seats (stream_id, seat_index) where left_at is null;
create unique index stream_guest_seats_active_user_key on public.stream_guest_seats (stream_id, user_id) where left_at is null;
create index stream_guest_seats_user_id_idx on public.stream_guest_seats (user_id);
alter table public.stream_guest_seats enable row level security;
revoke insert, update, delete, truncate on public.stream_guest_seats from anon, authenticated;

create policy "seats are readable by everyone" on public.stream_guest_seats
  for select to anon, authenticated using (true);

create policy "hosts and seated guests read call sessions" on public.call_sessions
  for select to authenticated
  using (
    host_id = auth.uid()
    or exists (
      select 1 from public.stream_guest_seats g
      where g.stream_id = call_sessions.stream_id and g.user_id = auth.uid() and g.left_at is null
    )
  );

-- Invitations -----------------------------------------------------------------
create table public.stream_guest_invitations (
  id uuid primary key default gen_random_uuid(),
  stream_id uuid not null references public.streams (id) on delete cascade,
  host_id uuid not null references public.profiles (id) on delete cascade,
  invitee_id uuid not null references public.profiles (id) on delete cascade,
  seat_index int check (seat_index between 0 and 8),
  status text not null default 'pending' check (status in ('pending', 'accepted', 'declined', 'expired', 'cancelled')),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '20 seconds',
  responded_at timestamptz
);
create unique index stream_guest_invitations_one_pending_key on public.stream_guest_invitations (stream_id, invitee_id) where status = 'pending';
create index stream_guest_invitations_invitee_idx on public.stream_guest_invitations (invitee_id, status);
alter table public.stream_guest_invitations enable row level security;
revoke insert, update, delete, truncate on public.stream_guest_invitations from anon, authenticated;

create policy "host and invitee read invitations" on public.stream_guest_invitations
  for select to authenticated using (host_id = auth.uid() or invitee_id = auth.uid());

-- Guest events (the audience-visible log: invited, joined, left, ...) -----------
create table public.stream_guest_events (
  id bigint generated always as identity primary key,
  stream_id uuid not null references public.streams (id) on delete cascade,
  user_id uuid references public.profiles (id) on delete set null,
  actor_id uuid references public.profiles (id) on delete set null,
  event_type text not null,
  display_name text,
  seat_index int,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index stream_guest_events_stream_idx on public.stream_guest_events (stream_id, id);
alter table public.stream_guest_events enable row level security;
revoke insert, update, delete, truncate on public.stream_guest_events from anon, authenticated;

create policy "guest events are readable by everyone" on public.stream_guest_events
  for select to anon, authenticated using (true);

-- Helpers ---------------------------------------------------------------------
create or replace function public.log_guest_event(
  p_stream_id uuid, p_user_id uuid, p_actor_id uuid, p_event_type text, p_seat_index int, p_metadata jsonb default '{}'::jsonb
) returns void
language sql security definer
set search_path = public
as $$
  insert into public.stream_guest_events (stream_id, user_id, actor_id, event_type, display_name, seat_index, metadata)
  values (
    p_stream_id, p_user_id, p_actor_id, p_event_type,
    (select p.display_name from public.profiles p where p.id = p_user_id),
    p_seat_index, coalesce(p_metadata, '{}'::jsonb)
  );
$$;
revoke execute on function public.log_guest_event(uuid, uuid, uuid, text, int, jsonb) from public, anon, authenticated;

create or replace function public.require_uid() returns uuid
language plpgsql stable
set search_path = public
as $$
declare
  v_uid uuid := auth.uid();
begin
  if v_uid is null then
    raise exception 'You must be signed in' using errcode = '42501', hint = 'not_signed_in';
  end if;
  return v_uid;
end;
$$;

-- Whether p_user_id hosts p_stream_id or moderates it from an active seat.
create or replace function public.is_stream_manager(p_stream_id uuid, p_user_id uuid) returns boolean
language sql stable security definer
set search_path = public
as $$
  select exists (select 1 from public.streams s where s.id = p_stream_id and s.host_id = p_user_id)
      or exists (
        select 1 from public.stream_guest_seats g
        where g.stream_id = p_stream_id and g.user_id = p_user_id and g.left_at is null and g.is_moderator
      );
$$;

-- Marks pending invitations of a stream whose time is up as expired (with events).
create or replace function public.expire_stale_invitations(p_stream_id uuid) returns integer
language plpgsql security definer
set search_path = public
as $$
declare
  v_count integer := 0;
  v_inv public.stream_guest_invitations;
begin
  for v_inv in
    update public.stream_guest_invitations
       set status = 'expired', responded_at = now()
     where stream_id = p_stream_id and status = 'pending' and expires_at <= now()
    returning *
  loop
    perform public.log_guest_event(v_inv.stream_id, v_inv.invitee_id, null, 'invitation_expired', v_inv.seat_index,
      jsonb_build_object('invitation_id', v_inv.id));
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;

-- RPC: invitations and seats ------------------------------------------------------
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
  if (select count(*) from public.stream_guest_seats where stream_id = p_stream_id and left_at is null) >= 9 then
    raise exception 'All 9 guest seats are taken' using errcode = 'P0001', hint = 'seats_full';
  end if;

  perform public.expire_stale_invitations(p_stream_id);
  -- A new invitation replaces an older pending one for the same person.
  for v_old in
    update public.stream_guest_invitations
       set status = 'expired', responded_at = now()
     where stream_id = p_stream_id and invitee_id = p_invitee_id and status = 'pending'
    returning *
  loop
    perform public.log_guest_event(p_stream_id, p_invitee_id, v_uid, 'invitation_expired', v_old.seat_index,
      jsonb_build_object('invitation_id', v_old.id, 'replaced', true));
  end loop;

  insert into public.stream_guest_invitations (stream_id, host_id, invitee_id, seat_index)
  values (p_stream_id, v_stream.host_id, p_invitee_id, p_seat_index)
  returning * into v_inv;

  perform public.log_guest_event(p_stream_id, p_invitee_id, v_uid, 'invited', p_seat_index,
    jsonb_build_object('invitation_id', v_inv.id, 'expires_at', v_inv.expires_at));
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
  -- Stream row first, invitation second: the same lock order as invite_guest,
  -- and it serialises every seat change of the stream.
  select * into v_stream from public.streams where id = v_stream_id for update;
  select * into v_inv from public.stream_guest_invitations where id = p_invitation_id for update;

  if v_inv.status = 'expired' or (v_inv.status = 'pending' and now() >= v_inv.expires_at) then
    raise exception 'This invitation has expired' using errcode = 'P0001', hint = 'invitation_expired';
  end if;
  if v_inv.status <> 'pending' then
    raise exception 'This invitation is no longer open (%)', v_inv.status using errcode = 'P0001', hint = 'invitation_not_pending';
  end if;
  if v_stream.status = 'ended' then
    raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
  end if;
  if exists (select 1 from public.stream_guest_seats where stream_id = v_stream.id and user_id = v_uid and left_at is null) then
    raise exception 'You are already on a seat' using errcode = 'P0001', hint = 'already_seated';
  end if;
  if (select count(*) from public.stream_guest_seats where stream_id = v_stream.id and left_at is null) >= 9 then
    raise exception 'All 9 guest seats are taken' using errcode = 'P0001', hint = 'seats_full';
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
      raise exception 'No free seat is left' using errcode = 'P0001', hint = 'seats_full';
    end if;
  end if;

  insert into public.stream_guest_seats (stream_id, user_id, seat_index)
  values (v_stream.id, v_uid, v_seat_index)
  returning * into v_seat;

  update public.stream_guest_invitations set status = 'accepted', responded_at = now() where id = v_inv.id;
  perform public.log_guest_event(v_stream.id, v_uid, v_uid, 'joined_live', v_seat_index,
    jsonb_build_object('invitation_id', v_inv.id, 'seat_id', v_seat.id));
  return v_seat;
end;
$$;

create or replace function public.decline_invitation(p_invitation_id uuid)
returns public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_inv public.stream_guest_invitations;
begin
  select * into v_inv from public.stream_guest_invitations where id = p_invitation_id and invitee_id = v_uid for update;
  if not found then
    raise exception 'Invitation not found' using errcode = 'PT404', hint = 'invitation_not_found';
  end if;
  if v_inv.status <> 'pending' then
    raise exception 'This invitation is no longer open (%)', v_inv.status using errcode = 'P0001', hint = 'invitation_not_pending';
  end if;
  if now() >= v_inv.expires_at then
    update public.stream_guest_invitations set status = 'expired', responded_at = now() where id = v_inv.id returning * into v_inv;
    perform public.log_guest_event(v_inv.stream_id, v_uid, null, 'invitation_expired', v_inv.seat_index,
      jsonb_build_object('invitation_id', v_inv.id));
  else
    update public.stream_guest_invitations set status = 'declined', responded_at = now() where id = v_inv.id returning * into v_inv;
    perform public.log_guest_event(v_inv.stream_id, v_uid, v_uid, 'invitation_declined', v_inv.seat_index,
      jsonb_build_object('invitation_id', v_inv.id));
  end if;
  return v_inv;
end;
$$;

create or replace function public.cancel_invitation(p_invitation_id uuid)
returns public.stream_guest_invitations
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_inv public.stream_guest_invitations;
begin
  select * into v_inv from public.stream_guest_invitations where id = p_invitation_id for update;
  if not found or not (v_inv.host_id = v_uid or v_inv.invitee_id = v_uid or public.is_stream_manager(v_inv.stream_id, v_uid)) then
    raise exception 'Invitation not found' using errcode = 'PT404', hint = 'invitation_not_found';
  end if;
  if not public.is_stream_manager(v_inv.stream_id, v_uid) then
    raise exception 'Only the host or a moderator can cancel an invitation' using errcode = '42501', hint = 'not_host';
  end if;
  if v_inv.status <> 'pending' then
    raise exception 'This invitation is no longer open (%)', v_inv.status using errcode = 'P0001', hint = 'invitation_not_pending';
  end if;
  update public.stream_guest_invitations set status = 'cancelled', responded_at = now() where id = v_inv.id returning * into v_inv;
  perform public.log_guest_event(v_inv.stream_id, v_inv.invitee_id, v_uid, 'invitation_cancelled', v_inv.seat_index,
    jsonb_build_object('invitation_id', v_inv.id));
  return v_inv;
end;
$$;

create or replace function public.leave_seat(p_stream_id uuid)
returns public.stream_guest_seats
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := public.require_uid();
  v_seat public.stream_guest_seats;
begin
  perform 1 from public.streams where id = p_stream_id for update;
  update public.stream_guest_seats set left_at = now()
   where stream_id = p_stream_id and user_id = v_uid and left_at is null
  returning * into v_seat;
  if not found then
    raise exception 'You are not on a seat of this stream' using errcode = 'P0001', hint = 'not_seated';
  end if;
  perform public.log_guest_event(p_stream_id, v_uid, v_uid, 'left_live', v_seat.seat_index, jsonb_build_object('seat_id', v_seat.id));
  return v_seat;
end;
$$;

-- Realtime channel access ------------------------------------------------------
create or replace function public.can_access_stream_channel(p_stream_id uuid) returns boolean
language sql stable security definer
set search_path = public
as $$
  select auth.uid() is not null and (
    exists (select 1 from public.streams s where s.id = p_stream_id and s.host_id = auth.uid())
    or exists (
      select 1 from public.stream_guest_seats g
      where g.stream_id = p_stream_id and g.user_id = auth.uid() and g.left_at is null
    )
  );
$$;

-- Topics look like 'stream:<uuid>:signaling'; anything else is refused.
create or replace function public.realtime_topic_allowed(p_topic text) returns boolean
language plpgsql stable security definer
set search_path = public
as $$
declare
  v_match text[];
begin
  if p_topic is null then
    return false;
  end if;
  v_match := regexp_match(p_topic, '^stream:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}):signaling$');
  if v_match is null then
    return false;
  end if;
  return public.can_access_stream_channel(v_match[1]::uuid);
end;
$$;

-- On the hosted platform, private Realtime channels are authorised by RLS on
-- realtime.messages; the local Realtime server calls the same function.
do $$
begin
  if to_regclass('realtime.messages') is not null and to_regprocedure('realtime.topic()') is not null then
    execute 'drop policy if exists "stream members receive signaling" on realtime.messages';
    execute 'drop policy if exists "stream members send signaling" on realtime.messages';
    execute $p$create policy "stream members receive signaling" on realtime.messages
      for select to authenticated using (public.realtime_topic_allowed(realtime.topic()))$p$;
    execute $p$create policy "stream members send signaling" on realtime.messages
      for insert to authenticated with check (public.realtime_topic_allowed(realtime.topic()))$p$;
  end if;
end
$$;

-- Function privileges: helpers are internal; RPCs need a signed-in caller.
revoke execute on function public.expire_stale_invitations(uuid) from public, anon, authenticated;
revoke execute on function public.is_stream_manager(uuid, uuid) from public, anon;
revoke execute on function public.invite_guest(uuid, uuid, int) from public, anon;
revoke execute on function public.accept_invitation(uuid) from public, anon;
revoke execute on function public.decline_invitation(uuid) from public, anon;
revoke execute on function public.cancel_invitation(uuid) from public, anon;
revoke execute on function public.leave_seat(uuid) from public, anon;
grant execute on function public.invite_guest(uuid, uuid, int), public.accept_invitation(uuid), public.decline_invitation(uuid),
  public.cancel_invitation(uuid), public.leave_seat(uuid), public.is_stream_manager(uuid, uuid) to authenticated, service_role;
grant execute on function public.can_access_stream_channel(uuid), public.realtime_topic_allowed(text) to anon, authenticated, service_role;

-- Realtime publication: row changes clients subscribe to. Full replica
-- identity so that updates and deletes carry the old row for filters.
alter table public.streams replica identity full;
alter table public.stream_guest_seats replica identity full;
alter table public.stream_guest_invitations replica identity full;

do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;

do $$
declare
  v_table text;
begin
  foreach v_table in array array['streams', 'stream_guest_seats', 'stream_guest_invitations', 'stream_guest_events'] loop
    if not exists (
      select 1 from pg_publication_tables where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = v_table
    ) then
      execute format('alter publication supabase_realtime add table public.%I', v_table);
    end if;
  end loop;
end
$$;
