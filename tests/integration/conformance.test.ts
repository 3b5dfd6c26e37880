/**
 * Conformance: the whole local stack (`startLocalStack`: embedded PostgreSQL with
 * the project's migrations, the gateway's Auth, REST, Realtime and Functions in
 * Deno, the RTMP ingest) answers the unmodified supabase-js client as hosted
 * Supabase does — the same data, the same status codes, the same error shapes
 * (GoTrue's `{code, msg}`, PostgREST's `{code, message, details, hint}`), the
 * same Realtime replies. Everything below goes through supabase-js on the
 * app's own tables; SQL is used only to add two fixture functions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { AuthApiError, FunctionsHttpError, type RealtimePostgresChangesPayload, type SupabaseClient } from '@supabase/supabase-js';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, inbox, sleep, startHarness, subscribe } from './conformance/harness.js';

let h: Harness;

/** ffmpeg publishing a test pattern to `url` for up to `seconds`; resolves with its exit code and how long it ran. */
function publishFor(url: string, seconds: number): Promise<{ code: number | null; ms: number }> & { child: ChildProcess } {
  const started = Date.now();
  const child = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i', 'testsrc2=s=320x180:r=30', '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-f', 'flv', url],
    { stdio: 'ignore' },
  );
  const done = new Promise<{ code: number | null; ms: number }>((resolve) => child.once('exit', (code) => resolve({ code, ms: Date.now() - started })));
  return Object.assign(done, { child });
}

interface User {
  sb: SupabaseClient;
  id: string;
}

async function anonymous(name: string): Promise<User> {
  const sb = h.client();
  const { data, error } = await sb.auth.signInAnonymously({ options: { data: { display_name: name } } });
  if (error || !data.user) throw new Error(`anonymous sign-in failed: ${error?.message}`);
  return { sb, id: data.user.id };
}

const PASSWORD = 'conformance-pass-1';
let emailCounter = 0;
const freshEmail = (tag: string): string => `${tag}-${Date.now()}-${++emailCounter}@example.com`;

beforeAll(async () => {
  h = await startHarness();
  // Fixture RPCs: a set-returning one over the app's tables (as the caller, so RLS applies), a void one, a scalar that answers NULL.
  await h.sql(`
    create function public.conformance_streams_by_status(p_status text) returns setof public.streams
      language sql stable as $$ select * from public.streams where status = p_status $$;
    create function public.conformance_noop(p_value int) returns void
      language sql as $$ select $$;
    create function public.conformance_nothing(p_value int) returns int
      language sql stable as $$ select null::int $$;
    create function public.conformance_words(p_count int) returns setof text
      language sql stable as $$ select 'word ' || g from generate_series(1, p_count) as g $$;
  `);
});

afterAll(async () => {
  await h?.stop();
});

// ---------------------------------------------------------------------------- auth

describe('auth (GoTrue)', () => {
  it('signs in anonymously: a session, an anonymous user, the claims hosted Auth puts in the token', async () => {
    const sb = h.client();
    const { data, error } = await sb.auth.signInAnonymously({ options: { data: { display_name: 'Anon Ann' } } });
    expect(error).toBeNull();
    const session = data.session!;
    expect(session).toMatchObject({ token_type: 'bearer', expires_in: 3600 });
    expect(session.expires_at).toBeGreaterThan(Date.now() / 1000 + 3500);
    expect(data.user).toMatchObject({ aud: 'authenticated', role: 'authenticated', is_anonymous: true, user_metadata: { display_name: 'Anon Ann' } });
    expect(data.user?.app_metadata).toMatchObject({ provider: 'anonymous' });

    const claims = decodeJwt(session.access_token);
    expect(claims).toMatchObject({
      sub: data.user?.id,
      role: 'authenticated',
      aud: 'authenticated',
      iss: `${h.stack.apiUrl}/auth/v1`,
      is_anonymous: true,
      aal: 'aal1',
    });
    expect(typeof claims.session_id).toBe('string');
    expect(claims.exp! - claims.iat!).toBe(3600);
    expect(claims.amr).toEqual([{ method: 'anonymous', timestamp: expect.any(Number) }]);

    // The profile trigger of the migrations ran for the new auth user.
    const profile = await sb.from('profiles').select('id, display_name').eq('id', data.user!.id).single();
    expect(profile.data).toEqual({ id: data.user!.id, display_name: 'Anon Ann' });
  });

  it('signs up, signs in with a password, and refuses a wrong one with the GoTrue error shape', async () => {
    const email = freshEmail('host');
    const up = await h.client().auth.signUp({ email, password: PASSWORD, options: { data: { display_name: 'Signed Up' } } });
    expect(up.error).toBeNull();
    expect(up.data.session).not.toBeNull(); // no e-mail confirmation, as with mailer_autoconfirm
    expect(up.data.user).toMatchObject({ email, is_anonymous: false, app_metadata: { provider: 'email', providers: ['email'] } });
    expect(up.data.user?.identities?.[0]).toMatchObject({ provider: 'email', identity_data: { email, sub: up.data.user?.id } });

    const sb = h.client();
    const signIn = await sb.auth.signInWithPassword({ email: email.toUpperCase(), password: PASSWORD });
    expect(signIn.error).toBeNull();
    expect(signIn.data.user?.id).toBe(up.data.user?.id);
    expect(decodeJwt(signIn.data.session!.access_token)).toMatchObject({ email, amr: [{ method: 'password' }] });

    for (const attempt of [
      { email, password: 'wrong-password' },
      { email: freshEmail('nobody'), password: PASSWORD },
    ]) {
      const bad = await h.client().auth.signInWithPassword(attempt);
      expect(bad.error).toBeInstanceOf(AuthApiError);
      expect(bad.error).toMatchObject({ status: 400, code: 'invalid_credentials', message: 'Invalid login credentials' });
      expect(bad.data).toEqual({ user: null, session: null });
    }

    const again = await h.client().auth.signUp({ email, password: PASSWORD });
    expect(again.error).toMatchObject({ status: 422, code: 'user_already_exists' });
    const weak = await h.client().auth.signUp({ email: freshEmail('weak'), password: '123' });
    expect(weak.error).toMatchObject({ status: 422, code: 'weak_password', name: 'AuthWeakPasswordError' });
    // A NUL character (which the database cannot store) is bad input: 400, not a server failure.
    const nul = await h.client().auth.signInWithPassword({ email: `a\u0000${email}`, password: PASSWORD });
    expect(nul.error).toMatchObject({ status: 400, code: 'validation_failed', message: 'email must not contain a NUL character' });
  });

  it('takes only a session’s own access token for the account: a token for another audience reads and changes nothing', async () => {
    const email = freshEmail('call');
    const up = await h.client().auth.signUp({ email, password: PASSWORD });
    expect(up.error).toBeNull();
    const userId = up.data.user!.id;
    // Signed with the same secret, as a call token is where no call-token secret of its own is set.
    const callToken = await new SignJWT({ sub: userId, role: 'guest', aud: 'roast-live-call' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(h.stack.jwtSecret));
    const headers = { apikey: h.stack.anonKey, Authorization: `Bearer ${callToken}`, 'content-type': 'application/json' };
    const read = await fetch(`${h.stack.apiUrl}/auth/v1/user`, { headers });
    expect(read.status).toBe(403);
    expect(await read.json()).toMatchObject({ code: 'bad_jwt' });
    const change = await fetch(`${h.stack.apiUrl}/auth/v1/user`, { method: 'PUT', headers, body: JSON.stringify({ password: 'taken-over-password' }) });
    expect(change.status).toBe(403);
    const signIn = await h.client().auth.signInWithPassword({ email, password: 'taken-over-password' });
    expect(signIn.error).toMatchObject({ code: 'invalid_credentials' });
  });

  it('refreshes, reads and updates the user, and after sign-out the refresh token is dead', async () => {
    const email = freshEmail('cycle');
    const sb = h.client();
    expect((await sb.auth.signUp({ email, password: PASSWORD })).error).toBeNull();
    const first = (await sb.auth.getSession()).data.session!;

    const refreshed = await sb.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    const second = refreshed.data.session!;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(decodeJwt(second.access_token).session_id).toBe(decodeJwt(first.access_token).session_id);

    const got = await sb.auth.getUser();
    expect(got.error).toBeNull();
    expect(got.data.user).toMatchObject({ id: refreshed.data.user?.id, email });

    const updated = await sb.auth.updateUser({ data: { display_name: 'Renamed Host', theme: 'dark' } });
    expect(updated.error).toBeNull();
    expect(updated.data.user?.user_metadata).toMatchObject({ display_name: 'Renamed Host', theme: 'dark' });
    const removed = await sb.auth.updateUser({ data: { theme: null } });
    expect(removed.data.user?.user_metadata).not.toHaveProperty('theme');
    expect((await sb.auth.getUser()).data.user?.user_metadata).toMatchObject({ display_name: 'Renamed Host' });
    // The next token carries the new metadata.
    const third = (await sb.auth.refreshSession()).data.session!;
    expect(decodeJwt(third.access_token).user_metadata).toMatchObject({ display_name: 'Renamed Host' });

    expect((await sb.auth.updateUser({ password: 'changed-pass-2' })).error).toBeNull();
    expect((await h.client().auth.signInWithPassword({ email, password: PASSWORD })).error?.code).toBe('invalid_credentials');
    expect((await h.client().auth.signInWithPassword({ email, password: 'changed-pass-2' })).error).toBeNull();

    expect((await sb.auth.signOut()).error).toBeNull();
    expect((await sb.auth.getSession()).data.session).toBeNull();
    const dead = await h.client().auth.refreshSession({ refresh_token: third.refresh_token });
    expect(dead.error).toMatchObject({ status: 400, code: 'refresh_token_not_found' });
    expect(dead.data.session).toBeNull();
    const gone = await h.client().auth.getUser(third.access_token);
    expect(gone.data.user).toBeNull();
    expect(gone.error).not.toBeNull();
  });
});

// ---------------------------------------------------------------------------- REST

describe('REST (PostgREST as postgrest-js calls it)', () => {
  let host: User;
  let other: User;
  const ids: Record<string, string> = {};
  const T = {
    alpha: 'Alpha roast',
    beta: 'beta Roast',
    gamma: 'Gamma',
    delta: 'delta, with comma',
  };

  beforeAll(async () => {
    host = await anonymous('Rest Host');
    other = await anonymous('Rest Other');
    // Seeded by the service role: a client's new stream starts idle (only start-live makes it live).
    const seeded = await h
      .client(h.stack.serviceRoleKey)
      .from('streams')
      .insert([
        { host_id: host.id, title: T.alpha, status: 'live', started_at: '2026-01-01T10:00:00Z' },
        { host_id: host.id, title: T.beta, status: 'live', started_at: '2026-01-01T12:00:00Z' },
        { host_id: host.id, title: T.gamma, status: 'ended', started_at: '2026-01-01T11:00:00Z' },
        { host_id: host.id, title: T.delta, status: 'idle', started_at: null },
      ])
      .select('id, title');
    expect(seeded.error).toBeNull();
    expect(seeded.status).toBe(201);
    for (const row of seeded.data ?? []) ids[row.title as string] = row.id as string;
  });

  const mine = () => h.client().from('streams').select('title').eq('host_id', host.id);
  const titles = (rows: Array<{ title: unknown }> | null) => (rows ?? []).map((r) => r.title);

  it('selects the named columns only, with aliases, casts and embedded resources', async () => {
    const plain = await h.client().from('streams').select('id,title,status').eq('id', ids[T.alpha]!);
    expect(plain.status).toBe(200);
    expect(plain.data).toEqual([{ id: ids[T.alpha], title: T.alpha, status: 'live' }]);

    const aliased = await h.client().from('streams').select('name:title, seats:locked_seats, started_at::text').eq('id', ids[T.alpha]!).single();
    expect(aliased.data).toEqual({ name: T.alpha, seats: [], started_at: '2026-01-01 10:00:00+00' });

    // Many-to-one and one-to-many embeds (profiles are readable by signed-in users).
    const withHost = await other.sb.from('streams').select('title, host:profiles(display_name)').eq('id', ids[T.beta]!).single();
    expect(withHost.data).toEqual({ title: T.beta, host: { display_name: 'Rest Host' } });
    const withStreams = await other.sb
      .from('profiles')
      .select('display_name, streams(title)')
      .eq('id', host.id)
      .order('title', { referencedTable: 'streams' })
      .single();
    expect(withStreams.data).toEqual({ display_name: 'Rest Host', streams: [{ title: T.alpha }, { title: T.gamma }, { title: T.beta }, { title: T.delta }] });
  });

  it('filters with eq, neq, gt, gte, lt, lte, like, ilike, is, in, not, or, match', async () => {
    expect(titles((await mine().eq('status', 'ended')).data)).toEqual([T.gamma]);
    expect(titles((await mine().neq('status', 'live').order('title')).data)).toEqual([T.gamma, T.delta]);
    expect(titles((await mine().gt('started_at', '2026-01-01T11:00:00Z')).data)).toEqual([T.beta]);
    expect(titles((await mine().gte('started_at', '2026-01-01T11:00:00Z').order('started_at')).data)).toEqual([T.gamma, T.beta]);
    expect(titles((await mine().lt('started_at', '2026-01-01T11:00:00Z')).data)).toEqual([T.alpha]);
    expect(titles((await mine().lte('started_at', '2026-01-01T11:00:00Z').order('started_at')).data)).toEqual([T.alpha, T.gamma]);
    expect(titles((await mine().like('title', '%Roast')).data)).toEqual([T.beta]); // case-sensitive
    expect(titles((await mine().ilike('title', '%roast').order('title')).data)).toEqual([T.alpha, T.beta]);
    expect(titles((await mine().filter('title', 'ilike', '*ROAST*').order('title')).data)).toEqual([T.alpha, T.beta]); // * stands for %
    expect(titles((await mine().is('started_at', null)).data)).toEqual([T.delta]);
    expect(titles((await mine().not('started_at', 'is', null).order('title')).data)).toEqual([T.alpha, T.gamma, T.beta]);
    // Values with PostgREST's reserved characters are quoted by the client.
    expect(titles((await mine().in('title', [T.delta, T.gamma]).order('title')).data)).toEqual([T.gamma, T.delta]);
    expect(titles((await mine().not('status', 'in', '(live,ended)')).data)).toEqual([T.delta]);
    expect(titles((await mine().not('status', 'eq', 'live').order('title')).data)).toEqual([T.gamma, T.delta]);
    expect(titles((await mine().or('status.eq.ended,title.ilike.*alpha*').order('title')).data)).toEqual([T.alpha, T.gamma]);
    expect(titles((await mine().or('and(status.eq.live,started_at.gt.2026-01-01T11:00:00Z),started_at.is.null').order('title')).data)).toEqual([
      T.beta,
      T.delta,
    ]);
    expect(titles((await mine().match({ status: 'live', title: T.alpha })).data)).toEqual([T.alpha]);
    expect(titles((await mine().contains('locked_seats', [])).data)).toHaveLength(4);
  });

  it('orders by several columns with nullsFirst, and pages with limit and range', async () => {
    const ordered = await mine().order('started_at', { ascending: false, nullsFirst: true }).order('title');
    expect(titles(ordered.data)).toEqual([T.delta, T.beta, T.gamma, T.alpha]);
    const nullsLast = await mine().order('status').order('started_at', { ascending: true, nullsFirst: false });
    expect(titles(nullsLast.data)).toEqual([T.gamma, T.delta, T.alpha, T.beta]);

    expect(titles((await mine().order('title').limit(2)).data)).toEqual([T.alpha, T.gamma]);
    expect(titles((await mine().order('title').range(1, 2)).data)).toEqual([T.gamma, T.beta]);
    expect((await mine().order('title').range(10, 12)).data).toEqual([]);
  });

  it('answers single and maybeSingle, with the 406 PGRST116 shape', async () => {
    const one = await mine().eq('status', 'ended').single();
    expect(one).toMatchObject({ status: 200, error: null, data: { title: T.gamma } });

    const none = await mine().eq('status', 'no-such-status').single();
    expect(none.status).toBe(406);
    expect(none.data).toBeNull();
    expect(none.error).toEqual({
      code: 'PGRST116',
      message: 'Cannot coerce the result to a single JSON object',
      details: 'The result contains 0 rows',
      hint: null,
    });
    const many = await mine().single();
    expect(many.status).toBe(406);
    expect(many.error).toMatchObject({ code: 'PGRST116', details: 'The result contains 4 rows' });

    const maybeNone = await mine().eq('status', 'no-such-status').maybeSingle();
    expect(maybeNone).toMatchObject({ status: 200, error: null, data: null });
    const maybeOne = await mine().eq('title', T.beta).maybeSingle();
    expect(maybeOne.data).toEqual({ title: T.beta });
    const maybeMany = await mine().maybeSingle();
    expect(maybeMany.error?.code).toBe('PGRST116');

    // On a write, single() is checked by the server and the write is undone.
    const twoRows = await host.sb.from('streams').update({ title: 'never' }).eq('status', 'live').eq('host_id', host.id).select('id').single();
    expect(twoRows.status).toBe(406);
    expect(twoRows.error).toMatchObject({ code: 'PGRST116', details: 'The result contains 2 rows' });
    expect(titles((await mine().eq('status', 'live').order('title')).data)).toEqual([T.alpha, T.beta]);
    const noRow = await host.sb.from('streams').update({ title: 'never' }).eq('id', '00000000-0000-4000-8000-000000000000').select().maybeSingle();
    expect(noRow).toMatchObject({ error: null, data: null });
  });

  it('counts exactly, with a partial page (206) and as HEAD', async () => {
    const counted = await h.client().from('streams').select('title', { count: 'exact' }).eq('host_id', host.id).order('title').limit(2);
    expect(counted).toMatchObject({ status: 206, count: 4, error: null });
    expect(titles(counted.data)).toEqual([T.alpha, T.gamma]);

    const all = await h.client().from('streams').select('title', { count: 'exact' }).eq('host_id', host.id);
    expect(all).toMatchObject({ status: 200, count: 4 });

    const head = await h.client().from('streams').select('*', { count: 'exact', head: true }).eq('host_id', host.id).neq('status', 'idle');
    expect(head).toMatchObject({ status: 200, count: 3, data: null, error: null });
  });

  it('inserts one or many rows, returning the representation or nothing', async () => {
    const minimal = await host.sb.from('streams').insert({ host_id: host.id, title: 'minimal insert' });
    expect(minimal).toMatchObject({ status: 201, data: null, error: null });

    const single = await host.sb.from('streams').insert({ host_id: host.id, title: 'represented' }).select().single();
    expect(single.status).toBe(201);
    expect(single.data).toMatchObject({ host_id: host.id, title: 'represented', status: 'idle', ingest_provider: 'local', locked_seats: [], ended_at: null });
    expect(single.data?.id).toMatch(/^[0-9a-f-]{36}$/);

    // Bulk: keys missing from a row are NULL (defaultToNull) unless missing=default is asked for.
    const withNull = await host.sb
      .from('streams')
      .insert([
        { host_id: host.id, title: 'bulk a', status: 'idle' },
        { host_id: host.id, title: 'bulk b' },
      ])
      .select('title, status');
    expect(withNull.status).toBe(400);
    expect(withNull.error).toMatchObject({ code: '23502' });
    const withDefault = await host.sb
      .from('streams')
      .insert(
        [
          { host_id: host.id, title: 'bulk a', locked_seats: [3] },
          { host_id: host.id, title: 'bulk b' },
        ],
        { defaultToNull: false },
      )
      .select('title, status, locked_seats');
    expect(withDefault.status).toBe(201);
    expect(withDefault.data).toEqual([
      { title: 'bulk a', status: 'idle', locked_seats: [3] },
      { title: 'bulk b', status: 'idle', locked_seats: [] },
    ]);
  });

  it('upserts with onConflict (merge) and ignoreDuplicates', async () => {
    const id = ids[T.gamma]!;
    const merged = await host.sb.from('streams').upsert({ id, host_id: host.id, title: 'Gamma merged' }, { onConflict: 'id' }).select('id, title, status');
    expect(merged).toMatchObject({ status: 201, data: [{ id, title: 'Gamma merged', status: 'ended' }] });

    const ignored = await host.sb.from('streams').upsert({ id, host_id: host.id, title: 'ignored' }, { onConflict: 'id', ignoreDuplicates: true }).select('id');
    expect(ignored).toMatchObject({ status: 201, data: [] });
    expect((await host.sb.from('streams').select('title').eq('id', id).single()).data).toEqual({ title: 'Gamma merged' });

    // A bulk upsert inserts the new row and merges the existing one.
    const bulk = await host.sb
      .from('streams')
      .upsert([
        { id, host_id: host.id, title: T.gamma },
        { id: '11111111-1111-4111-8111-111111111111', host_id: host.id, title: 'upserted new' },
      ])
      .select('title');
    expect(titles(bulk.data)).toEqual([T.gamma, 'upserted new']);

    // The user's own profile, through its insert and update policies.
    const profile = await host.sb.from('profiles').upsert({ id: host.id, username: `host_${Date.now()}` }, { onConflict: 'id' }).select('id, display_name');
    expect(profile.data).toEqual([{ id: host.id, display_name: 'Rest Host' }]);
  });

  it('updates and deletes the filtered rows, and only those RLS lets the caller touch', async () => {
    const updated = await host.sb.from('streams').update({ locked_seats: [1, 4] }).eq('host_id', host.id).eq('status', 'live').select('title, locked_seats').order('title');
    expect(updated.status).toBe(200);
    expect(updated.data).toEqual([
      { title: T.alpha, locked_seats: [1, 4] },
      { title: T.beta, locked_seats: [1, 4] },
    ]);
    const minimal = await host.sb.from('streams').update({ locked_seats: [] }).in('id', [ids[T.alpha]!, ids[T.beta]!]);
    expect(minimal).toMatchObject({ status: 204, data: null, error: null });

    const notMine = await other.sb.from('streams').update({ title: 'hijacked' }).eq('id', ids[T.alpha]!).select();
    expect(notMine).toMatchObject({ status: 200, data: [], error: null });
    const notMineDelete = await other.sb.from('streams').delete().eq('id', ids[T.alpha]!).select();
    expect(notMineDelete).toMatchObject({ status: 200, data: [] });

    // No policy lets a user delete a stream: the delete matches nothing. The service role bypasses RLS.
    const refused = await host.sb.from('streams').delete({ count: 'exact' }).eq('host_id', host.id).like('title', 'bulk%').select('title');
    expect(refused).toMatchObject({ status: 200, count: 0, data: [] });
    const service = h.client(h.stack.serviceRoleKey);
    const deleted = await service.from('streams').delete({ count: 'exact' }).eq('host_id', host.id).like('title', 'bulk%').select('title').order('title');
    expect(deleted.count).toBe(2);
    expect(titles(deleted.data)).toEqual(['bulk a', 'bulk b']);
    const deletedMinimal = await service.from('streams').delete().eq('title', 'minimal insert');
    expect(deletedMinimal).toMatchObject({ status: 204, error: null });
    expect((await mine().eq('title', 'minimal insert')).data).toEqual([]);
  });

  it('calls RPCs: named arguments over POST and GET, scalar, composite, set and void results', async () => {
    const topic = `stream:${ids[T.alpha]}:signaling:${host.id}`;
    const scalar = await host.sb.rpc('realtime_topic_allowed', { p_topic: topic });
    expect(scalar).toMatchObject({ status: 200, data: true, error: null });
    const viaGet = await other.sb.rpc('realtime_topic_allowed', { p_topic: topic }, { get: true });
    expect(viaGet).toMatchObject({ status: 200, data: false });
    const nothing = await host.sb.rpc('conformance_nothing', { p_value: 1 });
    expect(nothing).toMatchObject({ status: 200, data: null, error: null });

    const composite = await host.sb.rpc('invite_guest', { p_stream_id: ids[T.alpha], p_invitee_id: other.id, p_seat_index: 2 });
    expect(composite.status).toBe(200);
    expect(composite.data).toMatchObject({ stream_id: ids[T.alpha], host_id: host.id, invitee_id: other.id, seat_index: 2, status: 'pending' });
    const picked = await host.sb.rpc('invite_guest', { p_stream_id: ids[T.beta], p_invitee_id: other.id }).select('status, seat_index').single();
    expect(picked.data).toEqual({ status: 'pending', seat_index: null });

    const set = await h.client().rpc('conformance_streams_by_status', { p_status: 'live' }).eq('host_id', host.id).select('title').order('title');
    expect(set).toMatchObject({ status: 200, data: [{ title: T.alpha }, { title: T.beta }] });
    const setGet = await h.client().rpc('conformance_streams_by_status', { p_status: 'live' }, { get: true, count: 'exact' }).eq('host_id', host.id).limit(1);
    expect(setGet).toMatchObject({ status: 206, count: 2 });
    expect(setGet.data).toHaveLength(1);
    const setHead = await h.client().rpc('conformance_streams_by_status', { p_status: 'ended' }, { head: true, count: 'exact' }).eq('host_id', host.id);
    expect(setHead).toMatchObject({ data: null, count: 1, error: null });
    const oneOfSet = await h.client().rpc('conformance_streams_by_status', { p_status: 'ended' }).eq('host_id', host.id).select('title').single();
    expect(oneOfSet.data).toEqual({ title: T.gamma });

    // Reads answer at most 1000 rows (max_rows), counted in full; the rest is a page away.
    const many = await host.sb.rpc('conformance_words', { p_count: 1005 }, { count: 'exact' });
    expect(many).toMatchObject({ status: 206, count: 1005 });
    expect(many.data).toHaveLength(1000);
    const rest = await host.sb.rpc('conformance_words', { p_count: 1005 }).range(1000, 1999);
    expect(rest.data).toEqual(['word 1001', 'word 1002', 'word 1003', 'word 1004', 'word 1005']);
    const words = await host.sb.rpc('conformance_words', { p_count: 2 });
    expect(words).toMatchObject({ status: 200, data: ['word 1', 'word 2'] });
    const oneWord = await host.sb.rpc('conformance_words', { p_count: 1 }).single();
    expect(oneWord).toMatchObject({ status: 200, data: 'word 1', error: null });
    const twoForOne = await host.sb.rpc('conformance_words', { p_count: 2 }).single();
    expect(twoForOne).toMatchObject({ status: 406, error: { code: 'PGRST116' } });

    const voided = await host.sb.rpc('conformance_noop', { p_value: 1 });
    expect(voided).toMatchObject({ status: 204, data: null, error: null });
  });

  it('describes at its root only the tables and functions the caller may use', async () => {
    const describe_ = async (key: string) => {
      const res = await fetch(`${h.stack.apiUrl}/rest/v1/`, { headers: { apikey: key, Authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
      return Object.keys(((await res.json()) as { paths: Record<string, unknown> }).paths);
    };
    const anon = await describe_(h.stack.anonKey);
    expect(anon).toEqual(expect.arrayContaining(['/streams', '/stream_guest_events', '/rpc/server_now']));
    for (const hidden of ['/call_turn_credentials', '/live_input_reservations', '/rpc/release_live_input_reservation', '/rpc/claim_stream_for_live']) {
      expect(anon).not.toContain(hidden);
    }
    expect(await describe_(h.stack.serviceRoleKey)).toEqual(expect.arrayContaining(['/call_turn_credentials', '/rpc/release_live_input_reservation']));
  });

  it('refuses expired and forged tokens with PostgREST\'s 401 codes', async () => {
    const claims = { sub: host.id, role: 'authenticated', aud: 'authenticated' };
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...claims, iat: now - 7200, exp: now - 3600 })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(h.stack.jwtSecret));
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setExpirationTime('1h').sign(new TextEncoder().encode('x'.repeat(40)));
    const withToken = (token: string) => h.client(h.stack.anonKey, { global: { headers: { Authorization: `Bearer ${token}` } } });

    const late = await withToken(expired).from('streams').select('id').limit(1);
    expect(late.status).toBe(401);
    expect(late.error).toMatchObject({ code: 'PGRST303', message: 'JWT expired' });
    const fake = await withToken(forged).from('streams').select('id').limit(1);
    expect(fake.status).toBe(401);
    expect(fake.error?.code).toBe('PGRST301');
  });

  it('reads booleans, arrays and JSON paths, and filters through embedded resources', async () => {
    // `other` was invited to the alpha stream by the RPC test; accepting seats them.
    const invitation = await other.sb.from('stream_guest_invitations').select('id').eq('stream_id', ids[T.alpha]!).eq('status', 'pending').single();
    const seat = await other.sb.rpc('accept_invitation', { p_invitation_id: invitation.data!.id });
    expect(seat.data).toMatchObject({ stream_id: ids[T.alpha], user_id: other.id, seat_index: 2, mic_enabled: true });

    const seats = h.client().from('stream_guest_seats').select('seat_index').eq('stream_id', ids[T.alpha]!);
    expect((await seats.is('mic_enabled', true).is('left_at', null)).data).toEqual([{ seat_index: 2 }]);
    expect((await h.client().from('stream_guest_seats').select('seat_index').eq('stream_id', ids[T.alpha]!).is('muted_by_host', true)).data).toEqual([]);
    expect((await h.client().from('stream_guest_seats').select('volume').eq('stream_id', ids[T.alpha]!).gte('volume', 0.5)).data).toEqual([{ volume: 1 }]);

    const events = await h
      .client()
      .from('stream_guest_events')
      .select('event_type, invitation:metadata->>invitation_id, meta:metadata->invitation_id')
      .eq('stream_id', ids[T.alpha]!)
      .eq('metadata->>invitation_id', invitation.data!.id)
      .order('id');
    expect(events.data).toEqual([
      { event_type: 'invited', invitation: invitation.data!.id, meta: invitation.data!.id },
      { event_type: 'joined_live', invitation: invitation.data!.id, meta: invitation.data!.id },
    ]);

    await host.sb.from('streams').update({ locked_seats: [0, 8] }).eq('id', ids[T.beta]!);
    const arrays = h.client().from('streams').select('title').eq('host_id', host.id);
    expect(titles((await arrays.contains('locked_seats', [8])).data)).toEqual([T.beta]);
    expect(titles((await h.client().from('streams').select('title').eq('host_id', host.id).overlaps('locked_seats', [5, 0])).data)).toEqual([T.beta]);
    expect(titles((await h.client().from('streams').select('title').eq('id', ids[T.beta]!).containedBy('locked_seats', [0, 1, 8])).data)).toEqual([T.beta]);

    // Embedded filters narrow the embedded rows; !inner also narrows the parents.
    const embedded = await other.sb
      .from('profiles')
      .select('display_name, streams(title)')
      .eq('id', host.id)
      .eq('streams.status', 'live')
      .order('title', { referencedTable: 'streams', ascending: false })
      .limit(1, { referencedTable: 'streams' })
      .single();
    expect(embedded.data).toEqual({ display_name: 'Rest Host', streams: [{ title: T.beta }] });
    const inner = await other.sb.from('streams').select('title, profiles!inner(display_name)').eq('profiles.display_name', 'Rest Host').eq('status', 'ended');
    expect(inner.data).toEqual([{ title: T.gamma, profiles: { display_name: 'Rest Host' } }]);
    const quoted = await mine().or(`title.eq."${T.delta}",title.eq.Gamma`).order('title');
    expect(titles(quoted.data)).toEqual([T.gamma, T.delta]);
  });

  it('answers ranges past the end as PostgREST does', async () => {
    const live = () => h.client().from('streams').select('title', { count: 'exact' }).eq('host_id', host.id).eq('status', 'live').order('title');
    expect(await live().range(0, 9)).toMatchObject({ status: 200, count: 2 });
    expect(await live().range(1, 9)).toMatchObject({ status: 206, count: 2, data: [{ title: T.beta }] });
    expect(await live().range(2, 9)).toMatchObject({ status: 206, count: 2, data: [], error: null });
    const past = await live().range(3, 9);
    expect(past.status).toBe(416);
    expect(past.error).toMatchObject({ code: 'PGRST103', message: 'Requested range not satisfiable' });
    const none = await h.client().from('streams').select('title', { count: 'exact' }).eq('title', 'no such title').range(1, 2);
    expect(none.status).toBe(416);
    expect(none.error?.code).toBe('PGRST103');
    const uncounted = await h.client().from('streams').select('title').eq('host_id', host.id).range(50, 60);
    expect(uncounted).toMatchObject({ status: 200, data: [], error: null });
  });

  it('reports PostgREST errors: unknown table, column and function; RLS and privilege refusals; constraints', async () => {
    const table = await host.sb.from('no_such_table').select();
    expect(table.status).toBe(404);
    expect(table.error).toMatchObject({ code: 'PGRST205', message: "Could not find the table 'public.no_such_table' in the schema cache" });

    const selectColumn = await host.sb.from('streams').select('id, no_such_column');
    expect(selectColumn.status).toBe(400);
    expect(selectColumn.error).toMatchObject({ code: '42703', message: 'column streams.no_such_column does not exist' });
    const filterColumn = await host.sb.from('streams').select('id').eq('no_such_column', 1);
    expect(filterColumn.error).toMatchObject({ code: '42703' });
    const bodyColumn = await host.sb.from('streams').insert({ host_id: host.id, no_such_column: 1 });
    expect(bodyColumn.status).toBe(400);
    expect(bodyColumn.error).toMatchObject({ code: 'PGRST204', message: "Could not find the 'no_such_column' column of 'streams' in the schema cache" });

    const fn = await host.sb.rpc('no_such_function', { a: 1 });
    expect(fn.status).toBe(404);
    expect(fn.error).toMatchObject({ code: 'PGRST202' });
    expect(fn.error?.message).toMatch(/^Could not find the function public\.no_such_function\(a\) in the schema cache/);

    // Row level security: 403 for a signed-in user, 401 for the anon key.
    const forged = await other.sb.from('streams').insert({ host_id: host.id, title: 'forged' });
    expect(forged.status).toBe(403);
    expect(forged.error).toEqual({ code: '42501', message: 'new row violates row-level security policy for table "streams"', details: null, hint: null });
    const anonInsert = await h.client().from('streams').insert({ host_id: host.id, title: 'anon' });
    expect(anonInsert.status).toBe(401);
    expect(anonInsert.error).toMatchObject({ code: '42501' });
    // Table privileges revoked by the migrations.
    const ingest = await host.sb.from('stream_ingests').insert({ stream_id: ids[T.alpha], rtmp_url: 'rtmp://x', stream_key: 'k' });
    expect(ingest.status).toBe(403);
    expect(ingest.error).toMatchObject({ code: '42501', message: 'permission denied for table stream_ingests' });
    const anonRpc = await h.client().rpc('invite_guest', { p_stream_id: ids[T.alpha], p_invitee_id: other.id });
    expect(anonRpc.status).toBe(401);
    expect(anonRpc.error).toMatchObject({ code: '42501', message: 'permission denied for function invite_guest' });
    // A rule of an RPC: P0001 with the function's message and hint.
    const ended = await host.sb.rpc('invite_guest', { p_stream_id: ids[T.gamma], p_invitee_id: other.id });
    expect(ended.status).toBe(400);
    expect(ended.error).toMatchObject({ code: 'P0001', message: 'This stream has ended', hint: 'stream_ended' });

    const check = await host.sb.from('streams').update({ status: 'paused' }).eq('id', ids[T.alpha]!);
    expect(check.status).toBe(400);
    expect(check.error).toMatchObject({ code: '23514' });
    const taken = (await host.sb.from('profiles').select('username').eq('id', host.id).single()).data?.username as string;
    const unique = await other.sb.from('profiles').update({ username: taken }).eq('id', other.id);
    expect(unique.status).toBe(409);
    expect(unique.error).toMatchObject({ code: '23505' });
    const foreign = await host.sb.from('streams').insert({ host_id: host.id, title: 'x', id: ids[T.alpha] });
    expect(foreign.status).toBe(409);
    expect(foreign.error).toMatchObject({ code: '23505' });
    const unfiltered = await host.sb.from('streams').delete();
    expect(unfiltered.error).toMatchObject({ code: '21000' });
  });
});

// ---------------------------------------------------------------------------- Realtime

describe('Realtime', () => {
  it('broadcasts between two clients with an acknowledgement, never echoing to the sender', async () => {
    const a = await anonymous('Caster A');
    const b = await anonymous('Caster B');
    const toA = inbox<unknown>();
    const toB = inbox<unknown>();
    const chA = a.sb.channel('conformance-room', { config: { broadcast: { ack: true } } }).on('broadcast', { event: '*' }, (m) => toA.push(m));
    const chB = b.sb.channel('conformance-room').on('broadcast', { event: 'cue' }, (m) => toB.push(m));
    await Promise.all([subscribe(chA), subscribe(chB)]);

    expect(await chA.send({ type: 'broadcast', event: 'cue', payload: { scene: 2, note: 'ä' } })).toBe('ok');
    expect(await toB.next()).toEqual({ type: 'broadcast', event: 'cue', payload: { scene: 2, note: 'ä' } });
    await chB.send({ type: 'broadcast', event: 'cue', payload: { back: true } });
    expect(await toA.next()).toMatchObject({ event: 'cue', payload: { back: true } });
    await chB.send({ type: 'broadcast', event: 'other', payload: {} });
    expect(await toA.next()).toMatchObject({ event: 'other' });
    await sleep(150);
    expect(toA.items).toEqual([]);
    expect(toB.items).toEqual([]); // neither its own messages nor events it did not bind
    await Promise.all([a.sb.removeChannel(chA), b.sb.removeChannel(chB)]);
  });

  it('syncs presence, announces joins and leaves', async () => {
    const host = await anonymous('Presence Host');
    const guest = await anonymous('Presence Guest');
    const joins = inbox<{ key: string; newPresences: Array<Record<string, unknown>> }>();
    const leaves = inbox<{ key: string }>();
    const syncs = inbox<number>();
    const chH = host.sb
      .channel('conformance-lobby', { config: { presence: { key: host.id } } })
      .on('presence', { event: 'sync' }, () => syncs.push(1))
      .on('presence', { event: 'join' }, (p) => joins.push(p))
      .on('presence', { event: 'leave' }, (p) => leaves.push(p));
    await subscribe(chH);
    await syncs.next();
    expect(await chH.track({ role: 'host' })).toBe('ok');
    expect((await joins.next()).key).toBe(host.id);

    const chG = guest.sb.channel('conformance-lobby', { config: { presence: { key: guest.id } } }).on('presence', { event: 'sync' }, () => undefined);
    await subscribe(chG);
    expect(await chG.track({ role: 'guest', name: 'G' })).toBe('ok');
    const joined = await joins.next();
    expect(joined.key).toBe(guest.id);
    expect(joined.newPresences[0]).toMatchObject({ role: 'guest', name: 'G', presence_ref: expect.any(String) });
    expect(Object.keys(chH.presenceState()).sort()).toEqual([host.id, guest.id].sort());
    await expect.poll(() => Object.keys(chG.presenceState()).sort()).toEqual([host.id, guest.id].sort());

    await chG.untrack();
    expect((await leaves.next()).key).toBe(guest.id);
    await chG.track({ role: 'guest', name: 'G' });
    expect((await joins.next()).key).toBe(guest.id);
    await guest.sb.removeChannel(chG);
    expect((await leaves.next()).key).toBe(guest.id);
    expect(Object.keys(chH.presenceState())).toEqual([host.id]);
    await host.sb.removeChannel(chH);
  });

  it('delivers postgres_changes INSERT, UPDATE and DELETE matching a filter, and only rows the subscriber may read', async () => {
    const host = await anonymous('Changes Host');
    const guest = await anonymous('Changes Guest');
    const stranger = await anonymous('Changes Stranger');
    // Live (the service side makes streams live): only a live stream invites.
    const prepared = await h.client(h.stack.serviceRoleKey).from('streams').insert({ host_id: host.id, title: 'changes', status: 'live' }).select('id').single();
    const streamId = prepared.data!.id as string;

    type Change = RealtimePostgresChangesPayload<Record<string, unknown>>;
    const streams = inbox<Change>();
    const deletes = inbox<Change>();
    const invitations = inbox<Change>();
    const strangerSees = inbox<unknown>();
    const watch = guest.sb
      .channel('conformance-changes')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'streams', filter: `host_id=eq.${host.id}` }, (p) => streams.push(p))
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'streams', filter: `host_id=in.(${host.id},${guest.id})` }, (p) => streams.push(p))
      .on('postgres_changes', { event: 'DELETE', schema: 'public', table: 'streams', filter: `id=eq.${streamId}` }, (p) => deletes.push(p))
      .on('postgres_changes', { event: '*', schema: 'public', table: 'stream_guest_invitations', filter: `invitee_id=eq.${guest.id}` }, (p) =>
        invitations.push(p),
      );
    const snoop = stranger.sb
      .channel('conformance-snoop')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'stream_guest_invitations' }, (p) => strangerSees.push(p));
    await Promise.all([subscribe(watch), subscribe(snoop)]);

    const inserted = await host.sb.from('streams').insert({ host_id: host.id, title: 'watched' }).select('id').single();
    const otherHost = await stranger.sb.from('streams').insert({ host_id: stranger.id, title: 'unwatched' });
    expect(otherHost.error).toBeNull();
    const ins = await streams.next();
    expect(ins).toMatchObject({ eventType: 'INSERT', schema: 'public', table: 'streams', new: { id: inserted.data!.id, title: 'watched', status: 'idle' }, old: {} });
    expect(ins.commit_timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(ins.errors).toBeNull();

    await host.sb.from('streams').update({ title: 'watched, renamed' }).eq('id', inserted.data!.id);
    const upd = await streams.next();
    expect(upd).toMatchObject({ eventType: 'UPDATE', new: { title: 'watched, renamed' }, old: { id: inserted.data!.id, title: 'watched' } });

    await host.sb.rpc('invite_guest', { p_stream_id: streamId, p_invitee_id: guest.id });
    expect(await invitations.next()).toMatchObject({ eventType: 'INSERT', new: { stream_id: streamId, invitee_id: guest.id, status: 'pending' } });

    await sleep(300);
    expect(streams.items).toEqual([]); // not the stranger's stream
    expect(strangerSees.items).toEqual([]); // RLS hides the invitation from the stranger

    // No policy lets a host delete a stream: nothing happens, as with PostgREST. The service role may.
    expect(await host.sb.from('streams').delete().eq('id', streamId).select('id')).toMatchObject({ status: 200, data: [] });
    const removed = await h.client(h.stack.serviceRoleKey).from('streams').delete().eq('id', streamId);
    expect(removed.status).toBe(204);
    const del = await deletes.next();
    expect(del).toMatchObject({ eventType: 'DELETE', table: 'streams', new: {}, old: { id: streamId } });
    // Row level security is on: a DELETE carries the primary key only.
    expect(Object.keys(del.old)).toEqual(['id']);
    await Promise.all([guest.sb.removeChannel(watch), stranger.sb.removeChannel(snoop)]);
  });

  it('lets stream members into the private signaling channel and refuses a stranger', async () => {
    const host = await anonymous('Private Host');
    const guest = await anonymous('Private Guest');
    const stranger = await anonymous('Private Stranger');
    // Live as start-live leaves it (a client's own insert starts idle).
    const stream = await h.client(h.stack.serviceRoleKey).from('streams').insert({ host_id: host.id, title: 'private', status: 'live' }).select('id').single();
    const streamId = stream.data!.id as string;
    const invitation = await host.sb.rpc('invite_guest', { p_stream_id: streamId, p_invitee_id: guest.id });
    expect((await guest.sb.rpc('accept_invitation', { p_invitation_id: (invitation.data as { id: string }).id })).error).toBeNull();

    const topic = `stream:${streamId}:signaling:${guest.id}`;
    const toHost = inbox<unknown>();
    const chHost = host.sb.channel(topic, { config: { private: true } }).on('broadcast', { event: 'offer' }, (m) => toHost.push(m));
    const chGuest = guest.sb.channel(topic, { config: { private: true, broadcast: { ack: true } } });
    await Promise.all([subscribe(chHost), subscribe(chGuest)]);

    const chStranger = stranger.sb.channel(topic, { config: { private: true } });
    await expect(subscribe(chStranger)).rejects.toThrow(/CHANNEL_ERROR.*Unauthorized/);
    await stranger.sb.removeChannel(chStranger);

    expect(await chGuest.send({ type: 'broadcast', event: 'offer', payload: { sdp: 'v=0' } })).toBe('ok');
    expect(await toHost.next()).toMatchObject({ event: 'offer', payload: { sdp: 'v=0' } });
    await Promise.all([host.sb.removeChannel(chHost), guest.sb.removeChannel(chGuest)]);
  });
});

// ---------------------------------------------------------------------------- Functions

describe('Edge Functions', () => {
  async function failure(sb: SupabaseClient, name: string, options: Parameters<SupabaseClient['functions']['invoke']>[1]) {
    const { data, error } = await sb.functions.invoke(name, options);
    expect(data).toBeNull();
    expect(error).toBeInstanceOf(FunctionsHttpError);
    const res = (error as FunctionsHttpError).context as Response;
    return { status: res.status, body: (await res.json()) as { error?: unknown } };
  }

  it("start-live answers the local ingest and puts the caller's stream on air", async () => {
    const host = await anonymous('Function Host');
    const { data, error } = await host.sb.functions.invoke<{
      stream: { id: string; status: string; title: string; host_id: string };
      ingest: { provider: string; rtmpUrl: string; streamKey: string; publishUrl: string };
      playbackUrl: string | null;
    }>('start-live', { body: { title: 'Conformance live' } });
    expect(error).toBeNull();
    expect(data!.ingest).toEqual({
      provider: 'local',
      rtmpUrl: h.stack.rtmpBaseUrl,
      streamKey: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/),
      publishUrl: `${h.stack.rtmpBaseUrl}/${data!.ingest.streamKey}`,
    });
    expect(data!.stream).toMatchObject({ host_id: host.id, status: 'live', title: 'Conformance live' });

    const row = await h.client().from('streams').select('status, started_at').eq('id', data!.stream.id).single();
    expect(row.data?.status).toBe('live');
    expect(row.data?.started_at).not.toBeNull();
    const key = await host.sb.from('stream_ingests').select('stream_key, playback_id').eq('stream_id', data!.stream.id).single();
    expect(key.data).toEqual({ stream_key: data!.ingest.streamKey, playback_id: expect.stringMatching(/^[A-Za-z0-9_-]{24}$/) });
    expect(data!.playbackUrl).toBe(h.stack.playbackUrl(key.data!.playback_id));
  });

  it('keeps the stream key out of what viewers read, and lets only stored keys publish to the ingest', async () => {
    const host = await anonymous('Keyed Host');
    const { data, error } = await host.sb.functions.invoke<{ stream: { id: string }; ingest: { streamKey: string; publishUrl: string } }>('start-live', { body: {} });
    expect(error).toBeNull();
    const { streamKey, publishUrl } = data!.ingest;
    const audience = await h.client().from('streams').select('playback_url').eq('id', data!.stream.id).single();
    const playbackUrl = audience.data!.playback_url as string;
    expect(playbackUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/live\/[A-Za-z0-9_-]{24}\/index\.m3u8$/);
    expect(playbackUrl).not.toContain(streamKey);
    expect((await h.client().from('stream_ingests').select('*')).data).toEqual([]);

    // A key start-live never made is disconnected at once.
    const forged = await publishFor(publishUrl.replace(streamKey, 'made-up-key'), 8);
    expect(forged.code).not.toBe(0);
    expect(forged.ms).toBeLessThan(6000);

    // The host's key publishes, and viewers play it under the playback id.
    const real = publishFor(publishUrl, 10);
    try {
      await expect.poll(async () => (await fetch(playbackUrl)).status, { timeout: 15_000, interval: 500 }).toBe(200);
      expect(await (await fetch(playbackUrl)).text()).toContain('#EXTM3U');
    } finally {
      real.child.kill('SIGKILL');
      await real;
    }
    await host.sb.functions.invoke('end-live', { body: { streamId: data!.stream.id } });
  });

  it('refuses a malformed body (400), a GET (405) and a caller without a session (401), with an error', async () => {
    const host = await anonymous('Function Caller');
    expect(await failure(host.sb, 'start-live', { body: { title: 7 } })).toEqual({ status: 400, body: { error: 'Invalid request body: title must be a string' } });
    expect(await failure(host.sb, 'start-live', { body: { title: 'ok', extra: true } })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/extra/) } });
    expect(await failure(host.sb, 'start-live', { body: '{not json', headers: { 'Content-Type': 'application/json' } })).toEqual({
      status: 400,
      body: { error: 'Request body must be JSON' },
    });
    expect(await failure(host.sb, 'start-live', { method: 'GET' })).toMatchObject({ status: 405, body: { error: expect.stringMatching(/POST/) } });
    expect(await failure(h.client(), 'start-live', { body: {} })).toMatchObject({ status: 401, body: { error: expect.any(String) } });
  });
});

describe('the stack', () => {
  it('logged no internal failure along the way', () => {
    expect(h.logs.filter((line) => /internal error|failed:|change not delivered|Deno exited/i.test(line))).toEqual([]);
  });
});
