/**
 * The local backend driven only through the unmodified supabase-js client:
 * auth (anonymous, email/password, refresh, user update, sign-out) and the
 * REST subset (filters, order, paging, single, counts, writes, upserts, RPC).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REALTIME_POOL_SIZE } from '../../src/local/db.js';
import { type LocalBackend, startLocalBackend } from '../../src/local/gateway.js';
import { signJwt } from '../../src/local/jwt.js';
import { rawGet, rawUpgrade, rawExchange as rawExchangeWith } from '../support/rawHttp.js';

let backend: LocalBackend;
let staticDir: string;

function client(key?: string): SupabaseClient {
  return createClient(backend.apiUrl, key ?? backend.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
  });
}

async function anonymousUser(): Promise<{ sb: SupabaseClient; id: string }> {
  const sb = client();
  const { data, error } = await sb.auth.signInAnonymously();
  expect(error).toBeNull();
  return { sb, id: data.user?.id ?? '' };
}

function rawExchange(request: string): Promise<string> {
  const { hostname, port } = new URL(backend.apiUrl);
  return rawExchangeWith(Number(port), request, hostname);
}

beforeAll(async () => {
  staticDir = await mkdtemp(join(tmpdir(), 'roast-static-'));
  await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>studio</title>');
  await writeFile(join(staticDir, 'app.js'), 'export {};');
  backend = await startLocalBackend({ port: 0, ephemeralDb: true, dbPort: 0, staticDir });
});

afterAll(async () => {
  await backend?.stop();
  await rm(staticDir, { recursive: true, force: true });
});

describe('auth', () => {
  it('signs in anonymously with a usable session', async () => {
    const sb = client();
    const { data, error } = await sb.auth.signInAnonymously({ options: { data: { display_name: 'Viewer One' } } });
    expect(error).toBeNull();
    expect(data.user?.is_anonymous).toBe(true);
    expect(data.session?.token_type).toBe('bearer');
    expect(data.session?.expires_in).toBe(3600);
    expect(data.user?.user_metadata).toEqual({ display_name: 'Viewer One' });
    const profile = await sb.from('profiles').select('display_name').eq('id', data.user?.id ?? '').single();
    expect(profile.error).toBeNull();
    expect(profile.data?.display_name).toBe('Viewer One');
  });

  it('signs up, signs in, refreshes, reads and updates the user, signs out', async () => {
    const email = `host-${Date.now()}@example.com`;
    const sb = client();
    const up = await sb.auth.signUp({ email, password: 'secret-pass' });
    expect(up.error).toBeNull();
    expect(up.data.session).not.toBeNull();
    expect(up.data.user?.email).toBe(email);

    const dup = await client().auth.signUp({ email, password: 'secret-pass' });
    expect(dup.error?.code).toBe('user_already_exists');

    const weak = await client().auth.signUp({ email: `w-${email}`, password: '123' });
    expect(weak.error?.code).toBe('weak_password');

    const bad = await client().auth.signInWithPassword({ email, password: 'wrong-pass' });
    expect(bad.error?.code).toBe('invalid_credentials');
    expect(bad.error?.status).toBe(400);

    const sb2 = client();
    const signIn = await sb2.auth.signInWithPassword({ email, password: 'secret-pass' });
    expect(signIn.error).toBeNull();
    const firstRefresh = signIn.data.session?.refresh_token ?? '';

    const refreshed = await sb2.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    expect(refreshed.data.session?.refresh_token).not.toBe(firstRefresh);
    expect(refreshed.data.user?.id).toBe(signIn.data.user?.id);

    // A second tab refreshing with the same (now rotated) token moments later joins the same session.
    const racing = await client().auth.refreshSession({ refresh_token: firstRefresh });
    expect(racing.error).toBeNull();
    expect(racing.data.session?.refresh_token).toBe(refreshed.data.session?.refresh_token);

    const unknown = await client().auth.refreshSession({ refresh_token: 'not-a-token' });
    expect(unknown.error?.code).toBe('refresh_token_not_found');

    const got = await sb2.auth.getUser();
    expect(got.error).toBeNull();
    expect(got.data.user?.email).toBe(email);

    const updated = await sb2.auth.updateUser({ data: { display_name: 'The Host' } });
    expect(updated.error).toBeNull();
    expect(updated.data.user?.user_metadata.display_name).toBe('The Host');
    const profile = await sb2.from('profiles').select('display_name').eq('id', got.data.user?.id ?? '').single();
    expect(profile.data?.display_name).toBe('The Host');

    const token = (await sb2.auth.getSession()).data.session?.access_token ?? '';
    const out = await sb2.auth.signOut();
    expect(out.error).toBeNull();
    const after = await client().auth.getUser(token);
    // supabase-js turns the server's session_not_found into AuthSessionMissingError
    expect(after.error?.name).toBe('AuthSessionMissingError');
    expect(after.data.user).toBeNull();
  });
});

describe('auth sessions that must end', () => {
  it('an old refresh token used again after the reuse window ends its session for good (the token may have leaked)', async () => {
    const email = `reuse-${Date.now()}@example.com`;
    expect((await client().auth.signUp({ email, password: 'secret-pass' })).error).toBeNull();
    const sb = client();
    const first = (await sb.auth.signInWithPassword({ email, password: 'secret-pass' })).data.session!.refresh_token;
    const second = (await sb.auth.refreshSession()).data.session!.refresh_token;
    await backend.pool.query("update auth.refresh_tokens set updated_at = now() - interval '1 minute' where token = $1", [first]);
    const reused = await client().auth.refreshSession({ refresh_token: first });
    expect(reused.error?.code).toBe('refresh_token_already_used');
    // Whoever holds the newer token is signed out too.
    const after = await client().auth.refreshSession({ refresh_token: second });
    expect(after.error?.code).toBe('refresh_token_not_found');
  });

  it('a new password signs out every other session; a banned user cannot refresh', async () => {
    const email = `pw-${Date.now()}@example.com`;
    expect((await client().auth.signUp({ email, password: 'secret-pass' })).error).toBeNull();
    const here = client();
    const there = client();
    const hereIn = await here.auth.signInWithPassword({ email, password: 'secret-pass' });
    const thereRefresh = (await there.auth.signInWithPassword({ email, password: 'secret-pass' })).data.session!.refresh_token;
    expect((await here.auth.updateUser({ password: 'another-pass' })).error).toBeNull();
    expect((await client().auth.refreshSession({ refresh_token: thereRefresh })).error?.code).toBe('refresh_token_not_found');
    const hereRefreshed = await here.auth.refreshSession();
    expect(hereRefreshed.error).toBeNull();
    await backend.pool.query("update auth.users set banned_until = now() + interval '1 day' where id = $1", [hereIn.data.user!.id]);
    expect((await client().auth.refreshSession({ refresh_token: hereRefreshed.data.session!.refresh_token })).error?.code).toBe('user_banned');
  });
});

describe('rest', () => {
  let host: { sb: SupabaseClient; id: string };
  let other: { sb: SupabaseClient; id: string };
  const ids: string[] = [];

  beforeAll(async () => {
    host = await anonymousUser();
    other = await anonymousUser();
    // Seeded by the service role: a client's new stream starts idle (only start-live makes it live).
    const { data, error } = await client(backend.serviceRoleKey)
      .from('streams')
      .insert([
        { host_id: host.id, title: 'alpha show' },
        { host_id: host.id, title: 'Beta Show', status: 'live' },
        { host_id: host.id, title: 'gamma', status: 'ended' },
      ], { defaultToNull: false })
      .select('id, title');
    expect(error).toBeNull();
    ids.push(...(data ?? []).map((r) => r.id as string));
  });

  it('runs requests on connections of the authenticator role, which can become only the API roles', async () => {
    // A read goes through the API pool...
    const read = await client().from('streams').select('id').eq('host_id', host.id);
    expect(read.error).toBeNull();
    const { rows: seen } = await backend.pool.query<{ n: string }>("select count(*) as n from pg_stat_activity where usename = 'authenticator' and datname = current_database()");
    expect(Number(seen[0]!.n)).toBeGreaterThan(0);
    // ...whose login has no privilege of its own: no superuser to fall back to.
    const api = await backend.apiPool.connect();
    try {
      const { rows } = await api.query<{ who: string; su: string }>("select session_user as who, current_setting('is_superuser') as su");
      expect(rows[0]).toEqual({ who: 'authenticator', su: 'off' });
      await api.query('begin');
      await api.query("select set_config('role', 'service_role', true)");
      await api.query('reset role');
      await expect(api.query('select count(*) from public.stream_ingests')).rejects.toMatchObject({ code: '42501' });
      await api.query('rollback');
      await expect(api.query('set role postgres')).rejects.toMatchObject({ code: '42501' });
      await expect(api.query('set session authorization postgres')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await api.query('rollback').catch(() => undefined);
      api.release();
    }
  });

  it("keeps Realtime's checks on connections of their own: with all of them busy, REST still answers at once", async () => {
    const held = await Promise.all(Array.from({ length: REALTIME_POOL_SIZE }, () => backend.realtimePool.connect()));
    try {
      for (const c of held) {
        const { rows } = await c.query<{ who: string; su: string }>("select session_user as who, current_setting('is_superuser') as su");
        expect(rows[0]).toEqual({ who: 'authenticator', su: 'off' });
      }
      // Every Realtime connection is taken (a burst of changes checked for many subscribers): one more check waits...
      const waiting = backend.realtimePool.connect();
      await expect.poll(() => backend.realtimePool.waitingCount).toBe(1);
      // ...while REST, on connections of its own, answers.
      const read = await client().from('streams').select('id').eq('host_id', host.id);
      expect(read.error).toBeNull();
      expect(read.status).toBe(200);
      expect(backend.realtimePool).not.toBe(backend.apiPool);
      held[0]!.release();
      held[0] = await waiting;
    } finally {
      for (const c of held) c.release();
    }
  });

  it('selects with filters, order, limit and offset', async () => {
    const sb = client();
    const live = await sb.from('streams').select('title,status').eq('host_id', host.id).eq('status', 'live');
    expect(live.error).toBeNull();
    expect(live.data).toEqual([{ title: 'Beta Show', status: 'live' }]);

    const ordered = await sb.from('streams').select('title').eq('host_id', host.id).order('title', { ascending: false });
    expect(ordered.data?.map((r) => r.title)).toEqual(['gamma', 'alpha show', 'Beta Show']);

    const paged = await sb.from('streams').select('title').eq('host_id', host.id).order('title').range(1, 1);
    expect(paged.data).toEqual([{ title: 'alpha show' }]);

    const ilike = await sb.from('streams').select('title').eq('host_id', host.id).ilike('title', '%show%').order('title');
    expect(ilike.data?.map((r) => r.title)).toEqual(['Beta Show', 'alpha show']);

    const inList = await sb.from('streams').select('id').in('id', [ids[0], ids[2]]).order('title');
    expect(inList.data?.map((r) => r.id)).toEqual([ids[0], ids[2]]);

    const notIn = await sb.from('streams').select('title').eq('host_id', host.id).not('status', 'in', '(live,ended)');
    expect(notIn.data).toEqual([{ title: 'alpha show' }]);

    const either = await sb.from('streams').select('title').eq('host_id', host.id).or('status.eq.ended,title.eq.alpha show').order('title');
    expect(either.data?.map((r) => r.title)).toEqual(['alpha show', 'gamma']);

    const isNull = await sb.from('streams').select('title').eq('host_id', host.id).is('ended_at', null).neq('status', 'live').gte('created_at', '2000-01-01').limit(1);
    expect(isNull.data).toHaveLength(1);

    const embedded = await sb.from('streams').select('title, host:profiles(id)').eq('id', ids[0] ?? '').single();
    expect(embedded.error).toBeNull();
    // profiles are readable by signed-in users only: the anonymous key sees no host
    expect(embedded.data).toEqual({ title: 'alpha show', host: null });
  });

  it('answers single, maybeSingle and counts', async () => {
    const one = await host.sb.from('streams').select('title').eq('id', ids[1] ?? '').single();
    expect(one.data).toEqual({ title: 'Beta Show' });

    const none = await host.sb.from('streams').select('title').eq('title', 'no such title').single();
    expect(none.status).toBe(406);
    expect(none.error?.code).toBe('PGRST116');

    const many = await host.sb.from('streams').select('title').eq('host_id', host.id).single();
    expect(many.error?.code).toBe('PGRST116');

    const maybe = await host.sb.from('streams').select('title').eq('title', 'no such title').maybeSingle();
    expect(maybe.error).toBeNull();
    expect(maybe.data).toBeNull();

    const counted = await host.sb.from('streams').select('id', { count: 'exact' }).eq('host_id', host.id).limit(2);
    expect(counted.count).toBe(3);
    expect(counted.data).toHaveLength(2);

    const head = await host.sb.from('streams').select('*', { count: 'exact', head: true }).eq('host_id', host.id);
    expect(head.count).toBe(3);
    expect(head.data).toBeNull();
  });

  it('inserts, upserts, updates and deletes under RLS', async () => {
    const minimal = await host.sb.from('profiles').update({ username: `host${Date.now()}` }).eq('id', host.id);
    expect(minimal.error).toBeNull();
    expect(minimal.status).toBe(204);

    const forged = await other.sb.from('streams').insert({ host_id: host.id, title: 'not mine' });
    expect(forged.error?.code).toBe('42501');
    expect(forged.status).toBe(403);

    const denied = await other.sb.from('streams').update({ title: 'hijacked' }).eq('id', ids[0] ?? '').select();
    expect(denied.error).toBeNull();
    expect(denied.data).toEqual([]);

    const upserted = await host.sb
      .from('streams')
      .upsert({ id: ids[0], host_id: host.id, title: 'alpha renamed' }, { onConflict: 'id' })
      .select('id,title')
      .single();
    expect(upserted.error).toBeNull();
    expect(upserted.data).toEqual({ id: ids[0], title: 'alpha renamed' });

    const ignored = await host.sb
      .from('streams')
      .upsert({ id: ids[0], host_id: host.id, title: 'ignored' }, { onConflict: 'id', ignoreDuplicates: true })
      .select('id');
    expect(ignored.data).toEqual([]);

    const patched = await host.sb.from('streams').update({ locked_seats: [2, 5] }).eq('id', ids[0] ?? '').select('locked_seats').single();
    expect(patched.data).toEqual({ locked_seats: [2, 5] });
    const contains = await host.sb.from('streams').select('id').contains('locked_seats', [5]);
    expect(contains.data?.map((r) => r.id)).toEqual([ids[0]]);

    const badCheck = await host.sb.from('streams').update({ status: 'paused' }).eq('id', ids[0] ?? '');
    expect(badCheck.error?.code).toBe('23514');

    const profileDelete = await other.sb.from('profiles').delete().eq('id', other.id).select();
    expect(profileDelete.data).toEqual([]);

    const unfiltered = await host.sb.from('streams').delete();
    expect(unfiltered.error?.code).toBe('21000');

    const unknownColumn = await host.sb.from('streams').select('nope');
    expect(unknownColumn.error?.code).toBe('42703');

    const unknownTable = await host.sb.from('no_such_table').select();
    expect(unknownTable.error?.code).toBe('PGRST205');
    expect(unknownTable.status).toBe(404);

    const secret = await host.sb.from('stream_ingests').insert({ stream_id: ids[0], rtmp_url: 'rtmp://x', stream_key: 'k' });
    expect(secret.error?.code).toBe('42501');

    const service = client(backend.serviceRoleKey);
    const ingest = await service.from('stream_ingests').insert({ stream_id: ids[0], rtmp_url: 'rtmp://127.0.0.1/live', stream_key: 'k1' }).select().single();
    expect(ingest.error).toBeNull();
    const hostSees = await host.sb.from('stream_ingests').select('stream_key').eq('stream_id', ids[0] ?? '');
    expect(hostSees.data).toEqual([{ stream_key: 'k1' }]);
    const otherSees = await other.sb.from('stream_ingests').select('stream_key');
    expect(otherSees.data).toEqual([]);
  });

  it('calls functions with named arguments over POST and GET', async () => {
    const topic = `stream:${ids[1]}:signaling:${host.id}`;
    const allowed = await host.sb.rpc('realtime_topic_allowed', { p_topic: topic });
    expect(allowed.error).toBeNull();
    expect(allowed.data).toBe(true);

    const viaGet = await other.sb.rpc('realtime_topic_allowed', { p_topic: topic }, { get: true });
    expect(viaGet.error).toBeNull();
    expect(viaGet.data).toBe(false);

    const invitation = await host.sb.rpc('invite_guest', { p_stream_id: ids[1], p_invitee_id: other.id, p_seat_index: 3 }).select('status,seat_index');
    expect(invitation.error).toBeNull();
    expect(invitation.data).toEqual({ status: 'pending', seat_index: 3 });

    const refused = await client().rpc('invite_guest', { p_stream_id: ids[1], p_invitee_id: other.id });
    expect(refused.error?.code).toBe('42501');
    expect(refused.status).toBe(401);

    const missing = await host.sb.rpc('no_such_function', { a: 1 });
    expect(missing.error?.code).toBe('PGRST202');
    expect(missing.status).toBe(404);

    const wrongArgs = await host.sb.rpc('invite_guest', { p_stream: ids[1] });
    expect(wrongArgs.error?.code).toBe('PGRST202');

    const ended = await host.sb.rpc('invite_guest', { p_stream_id: ids[2], p_invitee_id: other.id });
    expect(ended.error?.code).toBe('P0001');
    expect(ended.error?.hint).toBe('stream_ended');
    expect(ended.status).toBe(400);
  });

  it('rejects unsupported syntax with a PostgREST error instead of guessing', async () => {
    const res = await fetch(`${backend.apiUrl}/rest/v1/streams?title=fts.hello`, {
      headers: { apikey: backend.anonKey, authorization: `Bearer ${backend.anonKey}` },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('PGRST100');

    const noKey = await fetch(`${backend.apiUrl}/rest/v1/streams`);
    expect(noKey.status).toBe(401);

    // A malformed %-escape in the path is the request's fault, not the database's.
    for (const path of ['%E0%A4%A', 'rpc/%zz']) {
      const badPath = await fetch(`${backend.apiUrl}/rest/v1/${path}`, { headers: { apikey: backend.anonKey } });
      expect(badPath.status, path).toBe(400);
      expect(await badPath.json(), path).toMatchObject({ code: 'PGRST100', message: expect.stringContaining('Invalid percent-encoding in the request path') });
    }

    // A body over the limit is refused (413) without reading the rest of it.
    const huge = await fetch(`${backend.apiUrl}/rest/v1/rpc/leave_seat`, {
      method: 'POST',
      headers: { apikey: backend.anonKey, 'content-type': 'application/json' },
      body: Buffer.alloc(11 * 1024 * 1024, 32),
    });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('connection')).toBe('close');
    // Auth alike.
    const hugeSignUp = await fetch(`${backend.apiUrl}/auth/v1/signup`, {
      method: 'POST',
      headers: { apikey: backend.anonKey, 'content-type': 'application/json' },
      body: Buffer.alloc(11 * 1024 * 1024, 32),
    });
    expect(hugeSignUp.status).toBe(413);
    expect(hugeSignUp.headers.get('connection')).toBe('close');
    expect(await hugeSignUp.json()).toMatchObject({ code: 'request_too_large' });
    // A body that is not UTF-8 (Latin-1 from a script) is refused, never stored with U+FFFD in place of its letters.
    const latin1 = Buffer.from('{"title":"Caf\xe9 roast"}', 'latin1');
    const notUtf8 = await fetch(`${backend.apiUrl}/rest/v1/streams`, {
      method: 'POST',
      headers: { apikey: backend.anonKey, 'content-type': 'application/json' },
      body: latin1,
    });
    expect(notUtf8.status).toBe(400);
    expect(await notUtf8.json()).toMatchObject({ code: 'PGRST102', details: 'the request body is not UTF-8 text' });
    const notUtf8SignUp = await fetch(`${backend.apiUrl}/auth/v1/signup`, {
      method: 'POST',
      headers: { apikey: backend.anonKey, 'content-type': 'application/json' },
      body: Buffer.from('{"email":"caf\xe9@example.com","password":"longenough1"}', 'latin1'),
    });
    expect(notUtf8SignUp.status).toBe(400);
    expect(await notUtf8SignUp.json()).toMatchObject({ code: 'bad_json' });
    // JSON nested too deep to write out again is refused as bad input (a stack overflow was a 500), REST and auth alike.
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const nested = await fetch(`${backend.apiUrl}/rest/v1/streams`, {
      method: 'POST',
      headers: { apikey: backend.anonKey, 'content-type': 'application/json' },
      body: `{"title":${deep}}`,
    });
    expect(nested.status).toBe(400);
    expect(await nested.json()).toMatchObject({ code: 'PGRST102', details: 'invalid JSON body: arrays and objects nested deeper than 512 levels' });
    const nestedSignUp = await fetch(`${backend.apiUrl}/auth/v1/signup`, {
      method: 'POST',
      headers: { apikey: backend.anonKey, 'content-type': 'application/json' },
      body: `{"email":"deep@example.com","password":"longenough1","data":{"x":${deep}}}`,
    });
    expect(nestedSignUp.status).toBe(400);
    expect(await nestedSignUp.json()).toMatchObject({ code: 'bad_json' });
    // An address of a megabyte is refused by its length, without the email pattern's work (quadratic in its length) holding
    // every request of the backend meanwhile.
    const longAddress = `a@${'.'.repeat(1_000_000)}@`;
    const [longSignUp, meanwhile] = await Promise.all([
      fetch(`${backend.apiUrl}/auth/v1/signup`, {
        method: 'POST',
        headers: { apikey: backend.anonKey, 'content-type': 'application/json' },
        body: JSON.stringify({ email: longAddress, password: 'longenough1' }),
      }),
      fetch(`${backend.apiUrl}/auth/v1/health`),
    ]);
    expect(longSignUp.status).toBe(400);
    expect(await longSignUp.json()).toMatchObject({ code: 'validation_failed', msg: 'Unable to validate email address: invalid format' });
    expect(meanwhile.status).toBe(200);

    const preflight = await fetch(`${backend.apiUrl}/rest/v1/streams`, {
      method: 'OPTIONS',
      headers: { origin: 'http://example.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'apikey, prefer' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('prefer');
  });

  it('serves the app config and the web app for browser pages', async () => {
    const res = await fetch(`${backend.apiUrl}/app/config.json`);
    expect(await res.json()).toEqual({ supabaseUrl: backend.apiUrl, supabaseAnonKey: backend.anonKey, shell: 'browser' });
    const script = await fetch(`${backend.apiUrl}/app/app.js`);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    const route = await fetch(`${backend.apiUrl}/app/guest/some-stream`);
    expect(await route.text()).toContain('<title>studio</title>');
    const missing = await fetch(`${backend.apiUrl}/app/missing.js`);
    expect(missing.status).toBe(404);
    const escape = await fetch(`${backend.apiUrl}/app/..%2f..%2fetc%2fpasswd`);
    expect(escape.status).toBe(403);
  });
});

describe('request targets that are not URLs', () => {
  it('answers 400 to a request or an upgrade whose target is not a URL, and keeps serving', async () => {
    for (const target of ['*', 'http://[', 'http://']) {
      const plain = await rawExchange(rawGet(target));
      expect(plain, target).toMatch(/^HTTP\/1\.1 400 /);
      expect(plain, target).toContain('the request target is not a valid URL');
      expect(await rawExchange(rawUpgrade(target)), target).toMatch(/^HTTP\/1\.1 400 /);
    }
    // A target that starts with two slashes is a path (resolving it against a base threw for these).
    for (const target of ['//', '//[', '//rest/v1/streams']) {
      expect(await rawExchange(rawGet(target)), target).toMatch(/^HTTP\/1\.1 404 /);
      expect(await rawExchange(rawUpgrade(target)), target).toMatch(/^HTTP\/1\.1 404 /);
    }
    const health = await fetch(`${backend.apiUrl}/health`);
    expect(health.status).toBe(200);
  });

  it('survives upgrade requests whose client resets the connection before the answer', async () => {
    const { hostname, port } = new URL(backend.apiUrl);
    for (let i = 0; i < 50; i++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(Number(port), hostname, () => socket.write(rawUpgrade(i % 2 ? '/nope' : '*'), () => (socket.resetAndDestroy(), resolve())));
        socket.on('error', () => resolve());
      });
    }
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${backend.apiUrl}/health`)).status).toBe(200);
  });
});

describe('an existing database (DATABASE_URL)', () => {
  it('never replaces a password the authenticator role already has: without API_DATABASE_URL the start says so; with it, it works', async () => {
    // Roles belong to the server: a second database on it finds authenticator with this backend's password, which it does not know.
    const name = `roast_other_${Date.now()}`;
    await backend.pool.query(`create database ${name}`);
    const first = new URL(backend.dbUrl);
    // A URL new URL() cannot take apart the same way (host and port as parameters), as pg reads it.
    const otherUrl = `postgresql://${first.username}:${first.password}@/${name}?host=${first.hostname}&port=${first.port}`;
    const before = await backend.pool.query<{ p: string | null }>("select rolpassword as p from pg_authid where rolname = 'authenticator'");
    try {
      await expect(startLocalBackend({ port: 0, databaseUrl: otherUrl })).rejects.toThrow(/authenticator role of this database has a password this backend does not know.*API_DATABASE_URL/);
      const after = await backend.pool.query<{ p: string | null }>("select rolpassword as p from pg_authid where rolname = 'authenticator'");
      expect(after.rows[0]!.p).toBe(before.rows[0]!.p);
      // A superuser given as the API's login is refused too.
      await expect(startLocalBackend({ port: 0, databaseUrl: otherUrl, apiDatabaseUrl: otherUrl })).rejects.toThrow(/a superuser: the API must not/);

      const stored = await backend.pool.query<{ value: string }>("select value from roast_local.settings where name = 'authenticator_password'");
      const apiUrl = `postgresql://authenticator:${stored.rows[0]!.value}@${first.host}/${name}`;
      const other = await startLocalBackend({ port: 0, databaseUrl: otherUrl, apiDatabaseUrl: apiUrl });
      try {
        const res = await fetch(`${other.apiUrl}/rest/v1/streams?select=id&limit=1`, { headers: { apikey: other.anonKey, authorization: `Bearer ${other.anonKey}` } });
        expect(res.status).toBe(200);
        const who = await other.apiPool.query<{ who: string }>('select session_user as who');
        expect(who.rows[0]!.who).toBe('authenticator');
      } finally {
        await other.stop();
      }
    } finally {
      await backend.pool.query(`drop database if exists ${name} with (force)`);
    }
  });

  it('bootstraps idempotently, skips applied migrations and serves the same data', async () => {
    const second = await startLocalBackend({ port: 0, databaseUrl: backend.dbUrl });
    try {
      const { rows } = await second.pool.query<{ n: string }>('select count(*) as n from supabase_migrations.schema_migrations');
      expect(Number(rows[0]?.n)).toBeGreaterThanOrEqual(2);
      const sb = createClient(second.apiUrl, second.anonKey, {
        auth: { persistSession: false, autoRefreshToken: false },
        realtime: { transport: WebSocket as never },
      });
      const streams = await sb.from('streams').select('id', { count: 'exact', head: true });
      expect(streams.count).toBeGreaterThan(0);
      // The JWT secret lives with the data: a key of one gateway is good at the other.
      expect(second.jwtSecret).toBe(backend.jwtSecret);
      const withFirstKey = await fetch(`${second.apiUrl}/rest/v1/streams?select=id&limit=1`, { headers: { apikey: backend.anonKey, authorization: `Bearer ${backend.anonKey}` } });
      expect(withFirstKey.status).toBe(200);
    } finally {
      await second.stop();
    }
  });

  it("signs with a secret of its own, not the well-known demo one: a key signed with that one is refused", async () => {
    expect(backend.jwtSecret).not.toBe('super-secret-jwt-token-with-at-least-32-characters-long');
    expect(backend.jwtSecret.length).toBeGreaterThanOrEqual(32);
    const forged = await signJwt({ iss: 'supabase-demo', role: 'service_role' }, 'super-secret-jwt-token-with-at-least-32-characters-long', 3600);
    const res = await fetch(`${backend.apiUrl}/rest/v1/stream_ingests?select=stream_key`, { headers: { apikey: forged, authorization: `Bearer ${forged}` } });
    expect(res.status).toBe(401);
    // The API's roles cannot read where it is kept.
    const { rows } = await backend.pool.query<{ allowed: boolean }>("select has_schema_privilege('anon', 'roast_local', 'usage') or has_schema_privilege('authenticated', 'roast_local', 'usage') as allowed");
    expect(rows[0]!.allowed).toBe(false);
  });
});
