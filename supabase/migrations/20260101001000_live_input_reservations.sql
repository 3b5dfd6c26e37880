-- One Cloudflare live input per stream, however many start-live calls run at once.
--
-- claim_stream_for_live makes the local ingest's key in the database, under the
-- per-host lock, so parallel calls share it. A Cloudflare live input is made by
-- an HTTP request outside any transaction: two calls that both found none each
-- made one, and the later go_live overwrote the stream key, live_input_id and
-- playback_url, so the first caller published to an input no viewer watched.
--
-- Now the first call that finds no Cloudflare input reserves the stream's (a row
-- here, made under the same per-host lock) and makes it; the others are told
-- the input is pending and ask again until go_live has stored it. A reservation
-- older than 30 seconds counts as abandoned (its call died or hangs) and goes to
-- the next caller. Should two inputs be made all the same (a reservation handed
-- on while its first holder was still working), go_live keeps the one stored
-- first and answers it, and the other caller deletes its own.

create table public.live_input_reservations (
  stream_id uuid primary key references public.streams (id) on delete cascade,
  -- Names the call that holds it, so a failed call releases only its own.
  token uuid not null,
  reserved_at timestamptz not null default now()
);
alter table public.live_input_reservations enable row level security;
revoke all on public.live_input_reservations from anon, authenticated;

-- Returns {stream, ingest, reservation, pending}. ingest is the stream's stored ingest when it
-- was made by p_provider, else null. For the local ingest (p_provider 'local') a stream without
-- one, or with a key from before playback ids (its playback URL named it), gets p_stream_key and
-- p_playback_id. For Cloudflare, a stream without a stored live input gets either reservation
-- (this call makes the input, then go_live stores it) or pending (another call is making it:
-- ask again).
create or replace function public.claim_stream_for_live(
  p_host_id uuid,
  p_title text,
  p_provider text,
  p_rtmp_url text default null,
  p_stream_key text default null,
  p_playback_id text default null
)
returns jsonb
language plpgsql security definer
set search_path = public
as $$
declare
  v_stream public.streams;
  v_ingest public.stream_ingests;
  v_same_provider boolean;
  v_reserved_at timestamptz;
  v_reservation uuid;
  v_pending boolean := false;
begin
  if p_provider not in ('local', 'cloudflare') then
    raise exception 'Unknown ingest provider %', p_provider using errcode = '22023', hint = 'invalid_provider';
  end if;
  perform public.lock_host_going_live(p_host_id);
  select * into v_stream from public.streams
   where host_id = p_host_id and status = 'live' order by created_at desc, id desc limit 1 for update;
  if not found then
    select * into v_stream from public.streams
     where host_id = p_host_id and status = 'idle' order by created_at desc, id desc limit 1 for update;
  end if;
  if not found then
    insert into public.streams (host_id, title, status, ingest_provider)
    values (p_host_id, p_title, 'idle', p_provider)
    returning * into v_stream;
  end if;

  select * into v_ingest from public.stream_ingests where stream_id = v_stream.id;
  v_same_provider := v_ingest.stream_id is not null and v_stream.ingest_provider = p_provider;
  if p_provider = 'local' and not (v_same_provider and v_ingest.playback_id is not null) then
    if p_stream_key is null or p_playback_id is null or p_rtmp_url is null then
      raise exception 'A local ingest needs its RTMP URL, a stream key and a playback id' using errcode = '22023', hint = 'invalid_ingest';
    end if;
    insert into public.stream_ingests (stream_id, rtmp_url, stream_key, playback_id)
    values (v_stream.id, p_rtmp_url, p_stream_key, p_playback_id)
    on conflict (stream_id) do update
      set rtmp_url = excluded.rtmp_url, stream_key = excluded.stream_key, playback_id = excluded.playback_id
    returning * into v_ingest;
    update public.streams set ingest_provider = 'local' where id = v_stream.id returning * into v_stream;
    v_same_provider := true;
  end if;

  if p_provider = 'cloudflare' and not (v_same_provider and v_stream.live_input_id is not null) then
    select reserved_at into v_reserved_at from public.live_input_reservations where stream_id = v_stream.id;
    if found and v_reserved_at > clock_timestamp() - interval '30 seconds' then
      v_pending := true;
    else
      v_reservation := gen_random_uuid();
      insert into public.live_input_reservations (stream_id, token, reserved_at)
      values (v_stream.id, v_reservation, clock_timestamp())
      on conflict (stream_id) do update set token = excluded.token, reserved_at = excluded.reserved_at;
    end if;
  end if;

  return jsonb_build_object(
    'stream', to_jsonb(v_stream),
    'ingest', case when v_same_provider then to_jsonb(v_ingest) else null end,
    'reservation', v_reservation,
    'pending', v_pending
  );
end;
$$;

-- Gives up a reservation whose live input could not be made or stored, so that a waiting call
-- makes one at once instead of waiting for it to be abandoned.
create or replace function public.release_live_input_reservation(p_stream_id uuid, p_token uuid)
returns void
language sql security definer
set search_path = public
as $$
  delete from public.live_input_reservations where stream_id = p_stream_id and token = p_token;
$$;

-- Puts the claimed stream live with its ingest; returns {stream, ingest, started} (started: it
-- was not live before; ingest: what the stream now publishes to). Refuses a stream that ended
-- since it was claimed. A Cloudflare live input other than the one already stored for the
-- stream is not stored: the first one stays, and the caller answers it and deletes its own.
create or replace function public.go_live(
  p_stream_id uuid,
  p_host_id uuid,
  p_title text,
  p_provider text,
  p_rtmp_url text,
  p_stream_key text,
  p_playback_id text,
  p_live_input_id text,
  p_playback_url text,
  p_started_at timestamptz
)
returns jsonb
language plpgsql security definer
set search_path = public
as $$
declare
  v_stream public.streams;
  v_ingest public.stream_ingests;
  v_started boolean;
  v_keep_stored boolean;
begin
  perform public.lock_host_going_live(p_host_id);
  select * into v_stream from public.streams where id = p_stream_id for update;
  if not found or v_stream.host_id <> p_host_id then
    raise exception 'Stream not found' using errcode = 'PT404', hint = 'stream_not_found';
  end if;
  if v_stream.status = 'ended' then
    raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
  end if;
  v_started := v_stream.status <> 'live';
  if exists (select 1 from public.streams where host_id = p_host_id and status = 'live' and id <> p_stream_id) then
    raise exception 'Another of your streams is live: end it first' using errcode = 'P0001', hint = 'already_live';
  end if;

  v_keep_stored := p_provider = 'cloudflare'
    and v_stream.ingest_provider = 'cloudflare'
    and v_stream.live_input_id is not null
    and v_stream.live_input_id is distinct from p_live_input_id
    and exists (select 1 from public.stream_ingests where stream_id = p_stream_id);

  if not v_keep_stored then
    insert into public.stream_ingests (stream_id, rtmp_url, stream_key, playback_id)
    values (p_stream_id, p_rtmp_url, p_stream_key, p_playback_id)
    on conflict (stream_id) do update
      set rtmp_url = excluded.rtmp_url, stream_key = excluded.stream_key, playback_id = excluded.playback_id;
  end if;
  delete from public.live_input_reservations where stream_id = p_stream_id;

  update public.streams
     set title = p_title,
         status = 'live',
         ingest_provider = p_provider,
         live_input_id = case when v_keep_stored then live_input_id else p_live_input_id end,
         playback_url = case when v_keep_stored then playback_url else p_playback_url end,
         started_at = case when v_started or started_at is null then p_started_at else started_at end,
         ended_at = null
   where id = p_stream_id
  returning * into v_stream;
  select * into v_ingest from public.stream_ingests where stream_id = p_stream_id;

  return jsonb_build_object('stream', to_jsonb(v_stream), 'ingest', to_jsonb(v_ingest), 'started', v_started);
end;
$$;

revoke execute on function public.release_live_input_reservation(uuid, uuid) from public, anon, authenticated;
grant execute on function public.release_live_input_reservation(uuid, uuid) to service_role;
