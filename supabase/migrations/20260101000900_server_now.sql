-- The database's clock, for pages whose own clock may be off (a phone's can
-- run seconds fast or slow): an invitation's 20 s countdown runs on the
-- database's time, and a page that reloads has no live row to learn the
-- offset from. Reads nothing and is callable by anyone.
create or replace function public.server_now()
returns timestamptz
language sql
stable
as $$ select now() $$;

revoke all on function public.server_now() from public;
grant execute on function public.server_now() to anon, authenticated;
