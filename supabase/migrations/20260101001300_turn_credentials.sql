-- TURN credentials handed out with call tokens, kept so they can be revoked.
-- They last 24 h (a relayed call refreshes its allocation with the
-- credentials it started with), far longer than a guest may stay: a guest
-- removed from the stage, a call that ended or a stream taken off air has
-- them revoked at Cloudflare (end-call-session, end-live), so a removed
-- guest cannot keep relaying through the account's TURN service.
-- Written and read by the edge functions with the service role only.

create table public.call_turn_credentials (
  username text primary key,
  call_session_id uuid not null references public.call_sessions (id) on delete cascade,
  stream_id uuid not null references public.streams (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  issued_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz
);
create index call_turn_credentials_open_idx on public.call_turn_credentials (call_session_id, user_id) where revoked_at is null;
alter table public.call_turn_credentials enable row level security;
revoke all on public.call_turn_credentials from anon, authenticated;
