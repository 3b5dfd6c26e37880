-- clean_display_name (20260101002000) trimmed a name before cutting it to 60 characters: a name
-- whose 60th character was a space (or a control character, which becomes one) came out ending in
-- a space, which profiles_display_name_readable refuses, so signing up (anonymously too) or
-- changing one's name in the user metadata failed. It trims after cutting as well now.
create or replace function public.clean_display_name(p_name text) returns text
language sql immutable
as $$
  select nullif(btrim(left(btrim(regexp_replace(p_name, '[[:cntrl:]]', ' ', 'g')), 60)), '')
$$;
revoke execute on function public.clean_display_name(text) from public, anon, authenticated;
