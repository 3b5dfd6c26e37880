-- TURN credentials outlive the rows they were issued for. Deleting an account
-- (the dashboard, the admin API) deletes its profile, its streams and their
-- calls; the credentials recorded for them used to go with them, unrevoked,
-- and stayed good at Cloudflare for up to 24 h. Now their links are set to
-- null instead, and the functions that end calls (end-live, end-call-session,
-- and create-call-session when it ends a host's older calls) also revoke a
-- few such orphans each time, then forget them once revoked or expired.

alter table public.call_turn_credentials
  alter column call_session_id drop not null,
  alter column stream_id drop not null,
  alter column user_id drop not null;

alter table public.call_turn_credentials
  drop constraint call_turn_credentials_call_session_id_fkey,
  drop constraint call_turn_credentials_stream_id_fkey,
  drop constraint call_turn_credentials_user_id_fkey;

alter table public.call_turn_credentials
  add constraint call_turn_credentials_call_session_id_fkey foreign key (call_session_id) references public.call_sessions (id) on delete set null,
  add constraint call_turn_credentials_stream_id_fkey foreign key (stream_id) references public.streams (id) on delete set null,
  add constraint call_turn_credentials_user_id_fkey foreign key (user_id) references public.profiles (id) on delete set null;

create index call_turn_credentials_orphaned_idx on public.call_turn_credentials (expires_at)
  where call_session_id is null or stream_id is null or user_id is null;
