-- Going live, one step at a time per host, and playback that never names the stream key.
--
-- start-live read the host's streams, then wrote them, in separate requests:
-- two calls at once each made a stream and put it live (two live streams for
-- one host), and an end-live landing between its read and its write was
-- undone (the ended stream went live again). It now runs two functions that
-- take the same per-host lock:
--   claim_stream_for_live  picks the stream to put on air (the live one, else
--                          the newest idle one, else a new one) and, for the
--                          local ingest, makes its stream key and playback id
--                          once, so parallel calls share them;
--   go_live                puts that stream live in one transaction with its
--                          row locked, and refuses a stream that has ended
--                          meanwhile (hint stream_ended): end-live wins; and
--                          a second live stream of the host (already_live).
--
-- streams.playback_url is readable by everyone. For the local ingest it held
-- the stream key, so any viewer could publish in the host's place. Each
-- ingest now has a random playback_id, and the local playback URL names that;
-- the key stays in stream_ingests, which only the host and the service role read.
-- The local playback URLs written so far named their key: they are cleared, and
-- the next start-live of such a stream gives it a new key and a playback id.

alter table public.stream_ingests add column playback_id text;
create unique index stream_ingests_playback_id_key on public.stream_ingests (playback_id);
-- The local ingest looks a publisher's key up here.
create index stream_ingests_stream_key_idx on public.stream_ingests (stream_key);
update public.streams set playback_url = null where ingest_provider = 'local' and playback_url is not null;

-- The lock every start-live of one host takes, for the length of its transaction.
create or replace function public.lock_host_going_live(p_host_id uuid)
returns void
language sql
set search_path = public
as $$
  select pg_advisory_xact_lock(hashtextextended('roast:going-live:' || p_host_id::text, 0));
$$;

-- Returns {stream, ingest}: ingest is the stream's stored ingest when it was made by
-- p_provider, else null. For the local ingest (p_provider 'local') a stream without one, or
-- with a key from before playback ids (its playback URL named it), gets p_stream_key and p_playback_id.
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

  return jsonb_build_object(
    'stream', to_jsonb(v_stream),
    'ingest', case when v_same_provider then to_jsonb(v_ingest) else null end
  );
end;
$$;

-- Puts the claimed stream live with its ingest; returns {stream, started} (started: it was
-- not live before). Refuses a stream that ended since it was claimed.
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
  v_started boolean;
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

  insert into public.stream_ingests (stream_id, rtmp_url, stream_key, playback_id)
  values (p_stream_id, p_rtmp_url, p_stream_key, p_playback_id)
  on conflict (stream_id) do update
    set rtmp_url = excluded.rtmp_url, stream_key = excluded.stream_key, playback_id = excluded.playback_id;

  update public.streams
     set title = p_title,
         status = 'live',
         ingest_provider = p_provider,
         live_input_id = p_live_input_id,
         playback_url = p_playback_url,
         started_at = case when v_started or started_at is null then p_started_at else started_at end,
         ended_at = null
   where id = p_stream_id
  returning * into v_stream;

  return jsonb_build_object('stream', to_jsonb(v_stream), 'started', v_started);
end;
$$;

revoke execute on function public.lock_host_going_live(uuid) from public, anon, authenticated;
revoke execute on function public.claim_stream_for_live(uuid, text, text, text, text, text) from public, anon, authenticated;
revoke execute on function public.go_live(uuid, uuid, text, text, text, text, text, text, text, timestamptz) from public, anon, authenticated;
grant execute on function public.lock_host_going_live(uuid) to service_role;
grant execute on function public.claim_stream_for_live(uuid, text, text, text, text, text) to service_role;
grant execute on function public.go_live(uuid, uuid, text, text, text, text, text, text, text, timestamptz) to service_role;
