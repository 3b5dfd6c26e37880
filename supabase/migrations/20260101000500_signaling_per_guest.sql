-- Signaling goes over one private channel per guest, 'stream:<stream>:signaling:<guest>',
-- which only the stream's host and that guest (while seated) may join or send on.
-- On a channel shared by the whole stage, any seated guest could send a hello,
-- an offer or a bye claiming to be another guest; on its own channel a message
-- can only come from one of its two ends. The shared topic is no longer allowed.
create or replace function public.realtime_topic_allowed(p_topic text) returns boolean
language plpgsql stable security definer
set search_path = public
as $$
declare
  v_match text[];
  v_stream uuid;
  v_guest uuid;
begin
  if p_topic is null or auth.uid() is null then
    return false;
  end if;
  v_match := regexp_match(
    p_topic,
    '^stream:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}):signaling:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$'
  );
  if v_match is null then
    return false;
  end if;
  v_stream := v_match[1]::uuid;
  v_guest := v_match[2]::uuid;
  if exists (select 1 from public.streams s where s.id = v_stream and s.host_id = auth.uid()) then
    return true;
  end if;
  return v_guest = auth.uid() and exists (
    select 1 from public.stream_guest_seats g
    where g.stream_id = v_stream and g.user_id = v_guest and g.left_at is null
  );
end;
$$;

grant execute on function public.realtime_topic_allowed(text) to anon, authenticated, service_role;
