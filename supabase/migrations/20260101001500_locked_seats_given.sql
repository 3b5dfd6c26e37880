-- A stream's locked seats are a list, never NULL.
--
-- streams_guard tidies locked_seats (sorted, without repeats) and read a NULL
-- as the empty list: a client that sent `locked_seats: null` by mistake
-- unlocked every seat, each logged as seat_unlocked. Now NULL is refused with
-- a clear error and the row is left as it was. This trigger runs before
-- streams_guard (triggers of one kind run in name order).

create or replace function public.streams_locked_seats_given() returns trigger
language plpgsql
set search_path = public
as $$
begin
  if new.locked_seats is null then
    raise exception 'locked_seats must be a list of seat numbers (0 to 8), not null'
      using errcode = '22004', hint = 'invalid_argument';
  end if;
  return new;
end;
$$;
revoke execute on function public.streams_locked_seats_given() from public, anon, authenticated, service_role;

create trigger streams_a_locked_seats_given before insert or update of locked_seats on public.streams
  for each row execute function public.streams_locked_seats_given();
