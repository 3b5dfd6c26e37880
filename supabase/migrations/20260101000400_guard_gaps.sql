-- Two gaps in the rules, closed:
-- 1. A moderator could release a host's mute or camera-off on themselves
--    (moderate_guest lets a manager moderate their own seat); what the host
--    switched off for a guest only the host releases, moderator or not.
-- 2. The stream guard checked the lifecycle on UPDATE only: a client could
--    INSERT a stream already 'live', with started_at or an ingest of its own.
--    The lifecycle and the ingest columns belong to start-live, end-live and
--    end_stream, on INSERT as on UPDATE.

create or replace function public.seats_guard_host_switches() returns trigger
language plpgsql
set search_path = public
as $$
declare
  v_uid uuid := auth.uid();
begin
  if v_uid is null or v_uid <> new.user_id then
    return new;
  end if;
  if exists (select 1 from public.streams s where s.id = new.stream_id and s.host_id = v_uid) then
    return new;
  end if;
  if old.muted_by_host and not new.muted_by_host then
    raise exception 'The host muted your microphone: only the host can release it'
      using errcode = '42501', hint = 'muted_by_host';
  end if;
  if old.camera_disabled_by_host and not new.camera_disabled_by_host then
    raise exception 'The host turned your camera off: only the host can release it'
      using errcode = '42501', hint = 'camera_disabled_by_host';
  end if;
  return new;
end;
$$;
revoke execute on function public.seats_guard_host_switches() from public, anon, authenticated, service_role;

create trigger stream_guest_seats_guard_host_switches before update of muted_by_host, camera_disabled_by_host on public.stream_guest_seats
  for each row execute function public.seats_guard_host_switches();

create or replace function public.streams_guard() returns trigger
language plpgsql
set search_path = public
as $$
begin
  if tg_op = 'UPDATE' then
    if new.id is distinct from old.id or new.host_id is distinct from old.host_id then
      raise exception 'A stream keeps its id and its host' using errcode = '42501', hint = 'stream_identity';
    end if;
    if current_user in ('anon', 'authenticated') then
      -- An invalid status is left to the check constraint, which names it.
      if (new.status is distinct from old.status and new.status in ('idle', 'live', 'ended'))
         or new.started_at is distinct from old.started_at
         or new.ended_at is distinct from old.ended_at then
        raise exception 'A stream goes live and ends only through start-live, end-live or end_stream'
          using errcode = '42501', hint = 'status_managed';
      end if;
      if new.ingest_provider is distinct from old.ingest_provider
         or new.live_input_id is distinct from old.live_input_id
         or new.playback_url is distinct from old.playback_url then
        raise exception 'A stream''s ingest and playback are set by start-live'
          using errcode = '42501', hint = 'ingest_managed';
      end if;
    end if;
    if new.locked_seats is distinct from old.locked_seats then
      if old.status = 'ended' then
        raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
      end if;
      new.locked_seats := coalesce((select array_agg(distinct s order by s) from unnest(new.locked_seats) as s), '{}');
    end if;
  else
    if current_user in ('anon', 'authenticated') then
      -- A missing status is left to its NOT NULL constraint, which names it.
      if new.status <> 'idle' or new.started_at is not null or new.ended_at is not null then
        raise exception 'A new stream starts idle: it goes live only through start-live'
          using errcode = '42501', hint = 'status_managed';
      end if;
      if new.live_input_id is not null or new.playback_url is not null then
        raise exception 'A stream''s ingest and playback are set by start-live'
          using errcode = '42501', hint = 'ingest_managed';
      end if;
    end if;
    new.locked_seats := coalesce((select array_agg(distinct s order by s) from unnest(new.locked_seats) as s), '{}');
  end if;
  return new;
end;
$$;
revoke execute on function public.streams_guard() from public, anon, authenticated, service_role;
