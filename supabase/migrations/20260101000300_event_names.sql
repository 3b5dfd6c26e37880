-- Events written outside the RPCs (the edge functions record stream_started
-- and stream_ended with the service role) carry the same names as the rest
-- of the feed: whatever display names the writer left out come from profiles.

create or replace function public.guest_event_fill_names() returns trigger
language plpgsql security definer
set search_path = public
as $$
begin
  if new.display_name is null and new.user_id is not null then
    new.display_name := (select p.display_name from public.profiles p where p.id = new.user_id);
  end if;
  if new.actor_display_name is null and new.actor_id is not null then
    new.actor_display_name := (select p.display_name from public.profiles p where p.id = new.actor_id);
  end if;
  return new;
end;
$$;
revoke execute on function public.guest_event_fill_names() from public, anon, authenticated, service_role;

create trigger stream_guest_events_fill_names before insert on public.stream_guest_events
  for each row execute function public.guest_event_fill_names();
