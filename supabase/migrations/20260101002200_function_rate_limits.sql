-- Per-account limits on the edge functions that spend the account's Cloudflare quota: each
-- start-live may make a Stream live input, each call opened and each call token mints TURN
-- credentials. Any signed-in user (an anonymous one too) could call them in a loop. Each function
-- takes a slot (take_function_slot) before it asks Cloudflare for anything; past the limit it
-- answers 429 with how long to wait.

create table public.function_calls (
  user_id uuid not null references auth.users (id) on delete cascade,
  action text not null check (char_length(action) <= 40),
  at timestamptz not null default clock_timestamp()
);
create index function_calls_by_user_idx on public.function_calls (user_id, action, at);
alter table public.function_calls enable row level security;
revoke all on public.function_calls from anon, authenticated;

-- Takes one of `p_max` slots a user has for `p_action` in any `p_window_seconds`: 0 when taken,
-- else the seconds until one is free (nothing is recorded). One caller at a time per user and
-- action, so parallel calls cannot all take the last slot.
create or replace function public.take_function_slot(p_user_id uuid, p_action text, p_max int, p_window_seconds int) returns int
language plpgsql security definer
set search_path = public
as $$
declare
  v_window interval := make_interval(secs => p_window_seconds);
  v_count int;
  v_oldest timestamptz;
begin
  if p_user_id is null or p_action is null or p_max is null or p_max < 1 or p_window_seconds is null or p_window_seconds < 1 then
    raise exception 'take_function_slot needs a user, an action, a positive limit and a positive window' using errcode = '22023';
  end if;
  perform pg_advisory_xact_lock(hashtextextended(p_user_id::text || '/' || p_action, 0));
  delete from public.function_calls where user_id = p_user_id and action = p_action and at <= clock_timestamp() - v_window;
  select count(*), min(at) into v_count, v_oldest from public.function_calls where user_id = p_user_id and action = p_action;
  if v_count >= p_max then
    return greatest(1, ceil(extract(epoch from (v_oldest + v_window - clock_timestamp())))::int);
  end if;
  insert into public.function_calls (user_id, action) values (p_user_id, p_action);
  return 0;
end;
$$;
revoke execute on function public.take_function_slot(uuid, text, int, int) from public, anon, authenticated;
grant execute on function public.take_function_slot(uuid, text, int, int) to service_role;
