-- Local backend only (never deployed): row changes for the local Realtime server.
-- Hosted Supabase reads the write-ahead log; here an AFTER row trigger on every
-- table of the publication `supabase_realtime` sends each change with
-- pg_notify('realtime_changes', json) at commit. Applied after the migrations;
-- running it again changes nothing. An event trigger keeps the row triggers in
-- step with later `alter publication … add/drop table` and new tables of a
-- FOR ALL TABLES publication.
--
-- Notification: {"schema","table","type","commit_timestamp","record","old_record","pk","seq"}
--   commit_timestamp: the transaction's start (a trigger cannot know its commit time).
--   old_record: the primary key only, unless the table has REPLICA IDENTITY FULL
--   (for DELETE also only without row level security), as Supabase sends it.
--   A change too big for a notification (8000 bytes) comes with "truncated": true,
--   record null and old_record reduced to the primary key; the server reads the row.

select pg_advisory_xact_lock(hashtext('realtime_local'));

create schema if not exists realtime_local;
revoke all on schema realtime_local from public;

do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;

-- Makes notifications of one transaction distinct: pg_notify folds identical ones.
create sequence if not exists realtime_local.change_seq cycle;

create or replace function realtime_local.notify_change() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  pk_cols text[];
  full_identity boolean;
  rls boolean;
  rec jsonb;
  old_rec jsonb;
  old_pk jsonb;
  pk jsonb;
  msg jsonb;
begin
  select coalesce(array_agg(a.attname::text order by k.ord), '{}')
    into pk_cols
    from pg_index i
    cross join lateral unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
   where i.indrelid = tg_relid and i.indisprimary;

  select c.relreplident = 'f', c.relrowsecurity into full_identity, rls
    from pg_class c where c.oid = tg_relid;

  if tg_op <> 'DELETE' then
    rec := to_jsonb(new);
  end if;
  if tg_op <> 'INSERT' then
    old_rec := to_jsonb(old);
    select coalesce(jsonb_object_agg(c, old_rec -> c), '{}'::jsonb) into old_pk from unnest(pk_cols) as c;
    if not (full_identity and (tg_op = 'UPDATE' or not rls)) then
      old_rec := old_pk;
    end if;
  end if;
  select coalesce(jsonb_object_agg(c, coalesce(rec, old_rec) -> c), '{}'::jsonb) into pk from unnest(pk_cols) as c;

  msg := jsonb_build_object(
    'schema', tg_table_schema,
    'table', tg_table_name,
    'type', tg_op,
    'commit_timestamp', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'record', rec,
    'old_record', old_rec,
    'pk', pk,
    'seq', nextval('realtime_local.change_seq'));

  if octet_length(msg::text) > 7900 then
    msg := msg || jsonb_build_object('record', null, 'old_record', old_pk, 'truncated', true);
  end if;
  if octet_length(msg::text) > 7900 then
    raise warning 'realtime_local: change on %.% not announced: its primary key is too large', tg_table_schema, tg_table_name;
    return null;
  end if;

  perform pg_notify('realtime_changes', msg::text);
  return null;
end
$$;

revoke all on function realtime_local.notify_change() from public;

-- Puts the row trigger on each table of the publication and takes it off the others.
create or replace function realtime_local.sync_triggers() returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  r record;
begin
  for r in
    select c.oid::regclass as rel
      from pg_publication_tables p
      join pg_namespace n on n.nspname = p.schemaname
      join pg_class c on c.relnamespace = n.oid and c.relname = p.tablename
     where p.pubname = 'supabase_realtime'
       and c.relkind = 'r'
       and not exists (select 1 from pg_trigger t where t.tgrelid = c.oid and t.tgname = 'realtime_local_changes')
  loop
    execute format(
      'create trigger realtime_local_changes after insert or update or delete on %s for each row execute function realtime_local.notify_change()',
      r.rel);
  end loop;

  for r in
    select t.tgrelid::regclass as rel
      from pg_trigger t
      join pg_class c on c.oid = t.tgrelid
      join pg_namespace n on n.oid = c.relnamespace
     where t.tgname = 'realtime_local_changes'
       and not exists (
         select 1 from pg_publication_tables p
          where p.pubname = 'supabase_realtime' and p.schemaname = n.nspname and p.tablename = c.relname)
  loop
    execute format('drop trigger realtime_local_changes on %s', r.rel);
  end loop;
end
$$;

revoke all on function realtime_local.sync_triggers() from public;

create or replace function realtime_local.sync_triggers_on_ddl() returns event_trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform realtime_local.sync_triggers();
end
$$;

-- Event triggers need a superuser; without one the triggers follow this script's runs only.
do $$
begin
  drop event trigger if exists realtime_local_sync;
  create event trigger realtime_local_sync on ddl_command_end
    when tag in ('CREATE PUBLICATION', 'ALTER PUBLICATION', 'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
    execute function realtime_local.sync_triggers_on_ddl();
exception when insufficient_privilege then
  raise notice 'realtime_local: no event trigger (needs a superuser); run this script again after publication changes';
end
$$;

select realtime_local.sync_triggers();
