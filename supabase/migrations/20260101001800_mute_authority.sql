-- Whose mute it is. A seat's host switches (muted_by_host, camera_disabled_by_host) are set by the
-- host or a moderator; until now a moderator could lift a mute the host had put on an ordinary
-- guest, and a host muting a troll was undone by a moderator a second later. Each switch now
-- records who turned it on (mic_muted_by, camera_disabled_by), and one the host turned on is
-- turned off by the host only; one a moderator turned on, by the host or any moderator.
--
-- The record is kept by a trigger, so every way a seat changes (moderate_guest, the service role)
-- goes through it. The first to turn a switch on owns it; turning an already-on switch on again
-- (moderate_guest sets every column it may change) changes nobody's ownership.

alter table public.stream_guest_seats
  add column if not exists mic_muted_by uuid,
  add column if not exists camera_disabled_by uuid;

comment on column public.stream_guest_seats.mic_muted_by is
  'Who turned muted_by_host on (the host or a moderator; null: set by the service, or off). No foreign key: a deleted account''s mute stays the host''s rule.';
comment on column public.stream_guest_seats.camera_disabled_by is
  'Who turned camera_disabled_by_host on; see mic_muted_by.';

-- Mutes that were on before this migration are taken for the host's (the safer reading).
update public.stream_guest_seats g
   set mic_muted_by = case when g.muted_by_host then s.host_id end,
       camera_disabled_by = case when g.camera_disabled_by_host then s.host_id end
  from public.streams s
 where s.id = g.stream_id
   and g.left_at is null
   and (g.muted_by_host or g.camera_disabled_by_host);

-- Who owns one host switch after an update: the caller when it turns on, nobody when it turns
-- off (refused with p_refusal when the host owns it and the caller is someone else), else as before.
-- A caller of null is the service role (edge functions, maintenance): it is not refused.
create or replace function public.host_switch_owner(
  p_on boolean, p_was boolean, p_owner uuid, p_uid uuid, p_host uuid, p_refusal text, p_hint text
) returns uuid
language plpgsql immutable
as $$
begin
  if p_on and not coalesce(p_was, false) then
    return p_uid;
  end if;
  if not p_on and p_was then
    if p_uid is not null and p_uid is distinct from p_host and p_owner is not distinct from p_host then
      raise exception '%', p_refusal using errcode = '42501', hint = p_hint;
    end if;
    return null;
  end if;
  return p_owner;
end;
$$;
revoke execute on function public.host_switch_owner(boolean, boolean, uuid, uuid, uuid, text, text) from public, anon, authenticated;

-- Security definer so that whoever updates a seat (a definer function, the service role) may call the helper.
create or replace function public.seats_host_switch_owner() returns trigger
language plpgsql security definer
set search_path = public
as $$
declare
  v_uid uuid := auth.uid();
  v_host uuid := (select host_id from public.streams where id = new.stream_id);
begin
  new.mic_muted_by := public.host_switch_owner(new.muted_by_host, old.muted_by_host, old.mic_muted_by, v_uid, v_host,
    'The host muted this microphone: only the host can release it', 'muted_by_host');
  new.camera_disabled_by := public.host_switch_owner(new.camera_disabled_by_host, old.camera_disabled_by_host, old.camera_disabled_by, v_uid, v_host,
    'The host turned this camera off: only the host can release it', 'camera_disabled_by_host');
  return new;
end;
$$;
revoke execute on function public.seats_host_switch_owner() from public, anon, authenticated, service_role;

-- Every update (the owner columns are kept even when an update names them directly).
drop trigger if exists stream_guest_seats_host_switch_owner on public.stream_guest_seats;
create trigger stream_guest_seats_host_switch_owner before update on public.stream_guest_seats
  for each row execute function public.seats_host_switch_owner();
