-- Each change of a seat row counts up its version. A client holds seat rows
-- from two sources, a query and Realtime changes, which can arrive out of
-- order (a list fetched just before a mute lands after the mute's change):
-- the version tells it which row is newer, so an older one never overwrites it.
alter table public.stream_guest_seats add column if not exists version bigint not null default 1;

create or replace function public.seat_version_bump() returns trigger
language plpgsql
set search_path = public
as $$
begin
  new.version := old.version + 1;
  return new;
end;
$$;

drop trigger if exists stream_guest_seats_version on public.stream_guest_seats;
create trigger stream_guest_seats_version before update on public.stream_guest_seats
  for each row execute function public.seat_version_bump();

revoke execute on function public.seat_version_bump() from public, anon, authenticated;
