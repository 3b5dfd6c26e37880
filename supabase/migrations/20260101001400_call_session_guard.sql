-- No call session opens on a stream that has ended.
--
-- create-call-session reads the stream, asks Cloudflare for a Calls session
-- (an HTTP request outside any transaction), then inserts the call session.
-- An end-live that ran in between ended the stream and its call sessions, and
-- the insert then added an open call for an ended stream, to which tokens
-- could still be issued until it was ended by hand.
--
-- Now the insert reads the stream's row under a share lock: it waits for an
-- end_stream that holds the row (for update) and then sees the stream ended,
-- and an end_stream that comes after waits for the insert to commit and then
-- ends the new session with the others.

create or replace function public.call_session_stream_open()
returns trigger
language plpgsql security definer
set search_path = public
as $$
declare
  v_status text;
begin
  select status into v_status from public.streams where id = new.stream_id for share;
  if v_status = 'ended' then
    raise exception 'This stream has ended' using errcode = 'P0001', hint = 'stream_ended';
  end if;
  return new;
end;
$$;

create trigger call_sessions_stream_open
  before insert on public.call_sessions
  for each row execute function public.call_session_stream_open();

revoke execute on function public.call_session_stream_open() from public, anon, authenticated;
