/**
 * The edge functions in real Deno (the local functions runtime) behind the local gateway, over
 * embedded PostgreSQL, called with the unmodified supabase-js `functions.invoke` by real users.
 * Cloudflare's Stream, Calls and TURN HTTP APIs are played by a double on 127.0.0.1 that checks
 * each request against the documented shape.
 */
import { createServer, type IncomingMessage, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { createClient, FunctionsHttpError, type SupabaseClient } from '@supabase/supabase-js';
import { jwtVerify } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/db.js';
import { createFunctionsRuntime, type FunctionsRuntime } from '../../src/local/functions.js';
import { type LocalBackend, startLocalBackend } from '../../src/local/gateway.js';
import type { StreamRow } from '../../src/shared/domain.js';

const FUNCTIONS_DIR = resolve('supabase/functions');
const LOCAL_RTMP_URL = 'rtmp://127.0.0.1:1935/live';
const LOCAL_PLAYBACK_URL_TEMPLATE = 'http://127.0.0.1:8000/live/{id}.flv';
const CALL_TOKEN_SECRET = 'call-token-secret-for-the-integration-test';

interface User {
  sb: SupabaseClient;
  id: string;
}

interface StartLive {
  stream: StreamRow;
  ingest: { provider: 'local' | 'cloudflare'; rtmpUrl: string; streamKey: string; publishUrl: string };
  playbackUrl: string | null;
  resumed: boolean;
}

let backend: LocalBackend;
/** The runtime the gateway's functions mount forwards to (the Cloudflare tests swap in their own). */
let functions: FunctionsRuntime;
let localRuntime: FunctionsRuntime;
const logs: string[] = [];

function runtimeEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    SUPABASE_URL: backend.apiUrl,
    SUPABASE_ANON_KEY: backend.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: backend.serviceRoleKey,
    SUPABASE_JWT_SECRET: backend.jwtSecret,
    LOCAL_RTMP_URL,
    LOCAL_PLAYBACK_URL_TEMPLATE,
    ...extra,
  };
}

function client(): SupabaseClient {
  return createClient(backend.apiUrl, backend.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
  });
}

async function signIn(name: string): Promise<User> {
  const sb = client();
  const { data, error } = await sb.auth.signInAnonymously({ options: { data: { display_name: name } } });
  if (error || !data.user) throw new Error(`sign-in failed: ${error?.message}`);
  return { sb, id: data.user.id };
}

/** `functions.invoke` as the app calls it; a non-2xx answer comes back as its status and JSON body. */
async function invoke<T>(sb: SupabaseClient, name: string, body?: unknown): Promise<{ status: number; data: T; error?: string }> {
  const { data, error } = await sb.functions.invoke<T>(name, body === undefined ? {} : { body: body as Record<string, unknown> });
  if (!error) return { status: 200, data: data as T };
  if (error instanceof FunctionsHttpError) {
    const res = error.context as Response;
    const json = (await res.json()) as { error?: string };
    return { status: res.status, data: null as T, error: json.error };
  }
  throw error;
}

async function seatGuest(host: User, streamId: string, guest: User): Promise<void> {
  const invited = await host.sb.rpc('invite_guest', { p_stream_id: streamId, p_invitee_id: guest.id });
  expect(invited.error).toBeNull();
  const accepted = await guest.sb.rpc('accept_invitation', { p_invitation_id: (invited.data as { id: string }).id });
  expect(accepted.error).toBeNull();
}

beforeAll(async () => {
  backend = await startLocalBackend({
    port: 0,
    ephemeralDb: true,
    dbPort: await freePort(),
    mounts: { functions: { handle: (req, res, name) => functions.handle(req, res, name), stop: async () => {} } },
  });
  localRuntime = createFunctionsRuntime({
    functionsDir: FUNCTIONS_DIR,
    env: runtimeEnv(),
    // The project's config.toml, as the local stack reads it.
    verifyJwt: { secret: backend.jwtSecret, configPath: join(FUNCTIONS_DIR, '..', 'config.toml') },
    log: (line) => logs.push(line),
  });
  functions = localRuntime;
  await localRuntime.start();
});

afterAll(async () => {
  await localRuntime?.stop();
  await backend?.stop();
});

describe('edge functions through the local gateway', () => {
  let host: User;
  let guest: User;
  let stranger: User;
  let streamId: string;

  beforeAll(async () => {
    [host, guest, stranger] = await Promise.all([signIn('Host Hana'), signIn('Guest Gil'), signIn('Stranger Sam')]);
  });

  it('refuses callers without a user JWT (401) and unknown functions (404)', async () => {
    const anonymous = await invoke(client(), 'start-live', {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.error).toMatch(/access token/i);

    // verify_jwt (config.toml): the gateway answers before the function, as hosted, without a JWT of the project...
    const raw = await fetch(`${backend.apiUrl}/functions/v1/start-live`, { method: 'POST', body: '{}' });
    expect(raw.status).toBe(401);
    expect(await raw.json()).toEqual({ code: 401, message: 'Missing authorization header' });
    const forged = await fetch(`${backend.apiUrl}/functions/v1/start-live`, {
      method: 'POST',
      body: '{}',
      headers: { authorization: `Bearer ${backend.anonKey.slice(0, -4)}AAAA` },
    });
    expect(forged.status).toBe(401);
    expect(await forged.json()).toEqual({ code: 401, message: 'Invalid JWT' });
    // ...and the anon key passes it (it is a JWT of the project), to be refused by the function itself.
    const anonKey = await fetch(`${backend.apiUrl}/functions/v1/start-live`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${backend.anonKey}` } });
    expect(anonKey.status).toBe(401);
    expect(((await anonKey.json()) as { error: string }).error).toMatch(/access token/i);

    const missing = await invoke(host.sb, 'no-such-function', {});
    expect(missing).toMatchObject({ status: 404, error: 'Function "no-such-function" not found' });
  });

  it('answers 400 with a clear message for a malformed body, and changes nothing', async () => {
    expect(await invoke(host.sb, 'end-live', { streamId: 'not-a-uuid' })).toMatchObject({
      status: 400,
      error: 'Invalid request body: streamId must be a UUID',
    });
    expect(await invoke(host.sb, 'start-live', { title: 'x'.repeat(121) })).toMatchObject({
      status: 400,
      error: 'Invalid request body: title must be at most 120 characters',
    });
    const raw = await fetch(`${backend.apiUrl}/functions/v1/start-live`, {
      method: 'POST',
      headers: { authorization: `Bearer ${(await host.sb.auth.getSession()).data.session?.access_token}`, 'content-type': 'application/json' },
      body: '{"title":',
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({ error: 'Request body must be JSON' });
    const { rows } = await backend.pool.query('select 1 from public.streams where host_id = $1', [host.id]);
    expect(rows).toHaveLength(0);
  });

  it('start-live puts a stream live on the local ingest, and resumes it when called again', async () => {
    const first = await invoke<StartLive>(host.sb, 'start-live', { title: 'Friday roast' });
    expect(first.status).toBe(200);
    const { stream, ingest, playbackUrl } = first.data;
    streamId = stream.id;
    expect(stream).toMatchObject({ host_id: host.id, title: 'Friday roast', status: 'live', ingest_provider: 'local', ended_at: null });
    expect(stream.started_at).not.toBeNull();
    expect(ingest.provider).toBe('local');
    expect(ingest.rtmpUrl).toBe(LOCAL_RTMP_URL);
    expect(ingest.streamKey).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(ingest.publishUrl).toBe(`${LOCAL_RTMP_URL}/${ingest.streamKey}`);
    // Viewers play the stream's own playback id: the URL (public, in streams) never names the key.
    const own = await host.sb.from('stream_ingests').select('stream_key, playback_id').eq('stream_id', streamId).maybeSingle();
    const playbackId = (own.data as { playback_id: string }).playback_id;
    expect(playbackId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(playbackId).not.toBe(ingest.streamKey);
    expect(playbackUrl).toBe(`http://127.0.0.1:8000/live/${playbackId}.flv`);
    expect(playbackUrl).not.toContain(ingest.streamKey);
    expect(stream.playback_url).toBe(playbackUrl);

    // The key is the host's secret: readable by the host, by nobody else.
    expect(own.data).toEqual({ stream_key: ingest.streamKey, playback_id: playbackId });
    const other = await stranger.sb.from('stream_ingests').select('stream_key').eq('stream_id', streamId);
    expect(other.data).toEqual([]);

    const events = await host.sb.from('stream_guest_events').select('event_type, user_id, display_name').eq('stream_id', streamId);
    expect(events.data).toEqual([{ event_type: 'stream_started', user_id: host.id, display_name: 'Host Hana' }]);

    const again = await invoke<StartLive>(host.sb, 'start-live', {});
    expect(again.status).toBe(200);
    expect(again.data.stream.id).toBe(streamId);
    expect(again.data.stream.started_at).toBe(stream.started_at);
    expect(again.data.ingest.streamKey).toBe(ingest.streamKey);
    expect(again.data.playbackUrl).toBe(playbackUrl);
    // The studio that resumed it knows it was on air already (another studio may be publishing it).
    expect(first.data.resumed).toBe(false);
    expect(again.data.resumed).toBe(true);
  });

  it('start-live called twice at once puts one stream live, with one key', async () => {
    const racer = await signIn('Racing Rae');
    const calls = await Promise.all([invoke<StartLive>(racer.sb, 'start-live', {}), invoke<StartLive>(racer.sb, 'start-live', {})]);
    expect(calls.map((c) => c.status)).toEqual([200, 200]);
    expect(calls[1]!.data.stream.id).toBe(calls[0]!.data.stream.id);
    expect(calls[1]!.data.ingest.streamKey).toBe(calls[0]!.data.ingest.streamKey);
    // One of the two put it live; the other found it live.
    expect(calls.map((c) => c.data.resumed).sort()).toEqual([false, true]);
    const { rows } = await backend.pool.query('select status from public.streams where host_id = $1', [racer.id]);
    expect(rows).toEqual([{ status: 'live' }]);
    const started = await backend.pool.query("select 1 from public.stream_guest_events where user_id = $1 and event_type = 'stream_started'", [racer.id]);
    expect(started.rows).toHaveLength(1);
    await invoke(racer.sb, 'end-live', { streamId: calls[0]!.data.stream.id });
  });

  it('end-live wins over a start-live that chose the stream before it ended', async () => {
    const host2 = await signIn('Ending Eli');
    const first = await invoke<StartLive>(host2.sb, 'start-live', {});
    const ended = first.data.stream.id;
    // Hold the host's going-live lock, so that start-live has chosen the live stream and waits
    // to put it live while end-live ends it.
    const blocker = await backend.pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('select public.lock_host_going_live($1)', [host2.id]);
      const claimedBefore = await blocker.query("select id from public.streams where host_id = $1 and status = 'live'", [host2.id]);
      expect(claimedBefore.rows).toEqual([{ id: ended }]);
      const starting = invoke<StartLive>(host2.sb, 'start-live', {});
      await new Promise((r) => setTimeout(r, 300));
      // end_stream takes the stream row, not the going-live lock: it ends the stream now.
      const end = await invoke<{ stream: StreamRow }>(host2.sb, 'end-live', { streamId: ended });
      expect(end.data.stream.status).toBe('ended');
      await blocker.query('commit');
      const late = await starting;
      // start-live claimed a stream only after the lock was released, when the old one had ended:
      // it puts a new stream live, and the ended one stays ended.
      expect(late.status).toBe(200);
      expect(late.data.stream.id).not.toBe(ended);
      await invoke(host2.sb, 'end-live', { streamId: late.data.stream.id });
    } finally {
      blocker.release();
    }
    const { rows } = await backend.pool.query('select status from public.streams where id = $1', [ended]);
    expect(rows).toEqual([{ status: 'ended' }]);
    // A start-live that chose the stream before end-live ended it cannot put it live again.
    const key = await backend.pool.query('select rtmp_url, stream_key, playback_id from public.stream_ingests where stream_id = $1', [ended]);
    const { rtmp_url, stream_key, playback_id } = key.rows[0] as Record<string, string>;
    await expect(
      backend.pool.query("select public.go_live($1, $2, 't', 'local', $3, $4, $5, null, null, now())", [ended, host2.id, rtmp_url, stream_key, playback_id]),
    ).rejects.toThrow('This stream has ended');
    expect((await backend.pool.query('select status from public.streams where id = $1', [ended])).rows).toEqual([{ status: 'ended' }]);
  });

  let sessionId: string;

  it('lets only the host create a call session', async () => {
    expect(await invoke(stranger.sb, 'create-call-session', { streamId })).toMatchObject({
      status: 403,
      error: 'Only the host of the stream can open its call',
    });
    expect(await invoke(host.sb, 'create-call-session', { streamId: '00000000-0000-4000-8000-000000000000' })).toMatchObject({ status: 404 });
    const created = await invoke<{ sessionId: string; provider: string; streamId: string }>(host.sb, 'create-call-session', { streamId });
    expect(created.status).toBe(200);
    expect(created.data).toMatchObject({ provider: 'p2p', streamId });
    sessionId = created.data.sessionId;
    const { rows } = await backend.pool.query('select host_id, provider, cf_session_id, ended_at from public.call_sessions where id = $1', [sessionId]);
    expect(rows).toEqual([{ host_id: host.id, provider: 'p2p', cf_session_id: null, ended_at: null }]);
  });

  it('opens a call on a live stream only (a call hands out TURN credentials)', async () => {
    // A host of their own: start-live would take up this idle stream as the next one of `host`.
    const early = await signIn('Early Caller');
    const idle = await early.sb.from('streams').insert({ host_id: early.id, title: 'not yet' }).select('id').single();
    const idleId = (idle.data as { id: string }).id;
    const refused = await invoke(early.sb, 'create-call-session', { streamId: idleId });
    expect(refused).toMatchObject({ status: 409, error: `Stream ${idleId} is not live: go live before opening its call` });
    expect((await backend.pool.query('select 1 from public.call_sessions where stream_id = $1', [idleId])).rows).toEqual([]);
  });

  it('opens no call session on a stream that ended while the session was being made', async () => {
    const racer = await signIn('Call Racer');
    const started = await invoke<StartLive>(racer.sb, 'start-live', {});
    const racing = started.data.stream.id;
    // An end_stream under way holds the stream's row: create-call-session has read the stream
    // live, and its insert waits for the end to commit, then sees the stream ended.
    const ending = await backend.pool.connect();
    try {
      await ending.query('begin');
      await ending.query('select 1 from public.streams where id = $1 for update', [racing]);
      await ending.query("update public.streams set status = 'ended', ended_at = now() where id = $1", [racing]);
      const creating = invoke(racer.sb, 'create-call-session', { streamId: racing });
      await expect
        .poll(async () => (await backend.pool.query("select 1 from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%call_sessions%'")).rowCount, { timeout: 5_000 })
        .toBe(1);
      await ending.query('commit');
      expect(await creating).toMatchObject({ status: 409, error: 'This stream has ended' });
    } finally {
      ending.release();
    }
    expect((await backend.pool.query('select 1 from public.call_sessions where stream_id = $1', [racing])).rows).toEqual([]);
    // After it has ended, the same answer at once.
    expect(await invoke(racer.sb, 'create-call-session', { streamId: racing })).toMatchObject({ status: 409 });
  });

  it('gives call tokens to the host and seated guests only, carrying the right claims', async () => {
    expect(await invoke(guest.sb, 'generate-call-token', { streamId, sessionId })).toMatchObject({
      status: 403,
      error: 'Only the host or a seated guest of this stream can join its call',
    });

    await seatGuest(host, streamId, guest);
    const issued = await invoke<{ token: string; expiresAt: string; role: string; iceServers: unknown[] }>(guest.sb, 'generate-call-token', {
      streamId,
      sessionId,
    });
    expect(issued.status).toBe(200);
    expect(issued.data.role).toBe('guest');
    expect(issued.data.iceServers).toEqual([]);
    // Without CALL_TOKEN_SECRET the local backend's JWT secret signs them.
    const { payload, protectedHeader } = await jwtVerify(issued.data.token, new TextEncoder().encode(backend.jwtSecret), {
      audience: 'roast-live-call',
      algorithms: ['HS256'],
    });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: guest.id, sid: sessionId, stream_id: streamId, role: 'guest', aud: 'roast-live-call' });
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(Date.parse(issued.data.expiresAt)).toBe(payload.exp! * 1000);

    const forHost = await invoke<{ token: string; role: string }>(host.sb, 'generate-call-token', { streamId, sessionId });
    expect(forHost.data.role).toBe('host');

    expect(await invoke(host.sb, 'generate-call-token', { streamId, sessionId: '00000000-0000-4000-8000-000000000000' })).toMatchObject({ status: 404 });
  });

  it('lets only the host end a call session, after which no token is issued for it', async () => {
    expect(await invoke(guest.sb, 'end-call-session', { sessionId })).toMatchObject({ status: 403 });
    const ended = await invoke<{ sessionId: string; endedAt: string }>(host.sb, 'end-call-session', { sessionId });
    expect(ended.status).toBe(200);
    expect(ended.data.sessionId).toBe(sessionId);
    const again = await invoke<{ endedAt: string }>(host.sb, 'end-call-session', { sessionId });
    expect(again.data.endedAt).toBe(ended.data.endedAt);
    expect(await invoke(guest.sb, 'generate-call-token', { streamId, sessionId })).toMatchObject({ status: 404 });
  });

  it('end-live: host only; ends the stream, its seats, invitations and call sessions', async () => {
    const open = await invoke<{ sessionId: string }>(host.sb, 'create-call-session', { streamId });
    const invitee = await signIn('Invitee Ivy');
    expect((await host.sb.rpc('invite_guest', { p_stream_id: streamId, p_invitee_id: invitee.id })).error).toBeNull();

    expect(await invoke(guest.sb, 'end-live', { streamId })).toMatchObject({ status: 403, error: 'Only the host of the stream can end it' });
    const ended = await invoke<{ stream: StreamRow }>(host.sb, 'end-live', { streamId });
    expect(ended.status).toBe(200);
    expect(ended.data.stream).toMatchObject({ id: streamId, status: 'ended' });
    expect(ended.data.stream.ended_at).not.toBeNull();

    const seats = await backend.pool.query('select 1 from public.stream_guest_seats where stream_id = $1 and left_at is null', [streamId]);
    expect(seats.rows).toHaveLength(0);
    const invitations = await backend.pool.query('select status from public.stream_guest_invitations where stream_id = $1 and invitee_id = $2', [
      streamId,
      invitee.id,
    ]);
    expect(invitations.rows).toEqual([{ status: 'cancelled' }]);
    const sessions = await backend.pool.query('select ended_at from public.call_sessions where id = $1', [open.data.sessionId]);
    expect(sessions.rows[0].ended_at).not.toBeNull();
    const events = await backend.pool.query<{ event_type: string; metadata: Record<string, number> }>(
      "select event_type, metadata from public.stream_guest_events where stream_id = $1 and event_type = 'stream_ended'",
      [streamId],
    );
    expect(events.rows).toEqual([{ event_type: 'stream_ended', metadata: { seatsClosed: 1, invitationsCancelled: 1, callSessionsEnded: 1 } }]);

    expect(await invoke(host.sb, 'create-call-session', { streamId })).toMatchObject({ status: 409 });
    // A new start-live opens a new stream: the ended one is not reused.
    const next = await invoke<StartLive>(host.sb, 'start-live', {});
    expect(next.data.stream.id).not.toBe(streamId);
    expect(next.data.stream.title).toBe('Host Hana is live');
    await invoke(host.sb, 'end-live', { streamId: next.data.stream.id });
  });

  it('start-live reuses a stream prepared backstage', async () => {
    const prepared = await stranger.sb.from('streams').insert({ host_id: stranger.id, status: 'idle' }).select('id').single();
    expect(prepared.error).toBeNull();
    const started = await invoke<StartLive>(stranger.sb, 'start-live', {});
    expect(started.data.stream).toMatchObject({ id: (prepared.data as { id: string }).id, status: 'live', title: 'Stranger Sam is live' });
    await invoke(stranger.sb, 'end-live', { streamId: started.data.stream.id });
  });

  it('restarts Deno on the next request after it crashed', async () => {
    const { pid } = localRuntime.status();
    expect(pid).not.toBeNull();
    process.kill(pid!, 'SIGKILL');
    await expect.poll(() => localRuntime.status().pid, { timeout: 5_000 }).toBeNull();
    const afterCrash = await invoke(host.sb, 'start-live', { title: 7 });
    expect(afterCrash).toMatchObject({ status: 400, error: 'Invalid request body: title must be a string' });
    expect(localRuntime.status().pid).not.toBe(pid);
    expect(logs.some((l) => l.includes('Deno exited unexpectedly'))).toBe(true);
  });
});

// ------------------------------------------------------------------ Cloudflare

interface Recorded {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

const CF = {
  accountId: 'acc0123',
  streamToken: 'stream-api-token',
  customerCode: 'cust9',
  appId: 'calls-app',
  appSecret: 'calls-app-secret',
  turnKeyId: 'turn-key',
  turnToken: 'turn-api-token',
};

/**
 * Cloudflare's Stream, Calls and TURN endpoints as documented: it answers only requests of the
 * documented method, path, bearer token and body, and a 4xx in Cloudflare's error shape otherwise.
 */
interface CloudflareDouble {
  url: string;
  requests: Recorded[];
  /** How long the double takes to create a live input (a slow Cloudflare lets two calls overlap). */
  inputDelayMs: number;
  /** TURN usernames issued, and whether each was revoked. */
  turnIssued: Map<string, 'valid' | 'revoked'>;
  /** Revocations answer 500 while set. */
  failRevoke: boolean;
  /** Live input deletions answer 500 while set. */
  failInputDelete: boolean;
  /** How long the double takes to answer a live input deletion. */
  inputDeleteDelayMs: number;
  /** How long the double takes to make TURN credentials. */
  turnDelayMs: number;
  close(): Promise<void>;
}

async function startCloudflareDouble(): Promise<CloudflareDouble> {
  const requests: Recorded[] = [];
  let inputs = 0;
  const liveInputs = new Set<string>();
  const turnIssued = new Map<string, 'valid' | 'revoked'>();
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const refuse = (res: ServerResponse, status: number, message: string) =>
    reply(res, status, { success: false, errors: [{ code: status === 401 ? 10000 : 10005, message }], messages: [], result: null });

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        return refuse(res, 400, 'body is not JSON');
      }
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
      const inputPath = new RegExp(`^/client/v4/accounts/${CF.accountId}/stream/live_inputs/([^/]+)$`).exec(path);
      if (req.method === 'DELETE' && inputPath) {
        if (req.headers.authorization !== `Bearer ${CF.streamToken}`) return refuse(res, 401, 'Authentication error');
        if (double.failInputDelete) return refuse(res, 500, 'internal error');
        const answer = () => (liveInputs.delete(inputPath[1]!) ? reply(res, 200, {}) : refuse(res, 404, 'live input not found'));
        if (double.inputDeleteDelayMs > 0) return void setTimeout(answer, double.inputDeleteDelayMs);
        return answer();
      }
      if (req.method !== 'POST') return refuse(res, 405, 'method not allowed');

      if (path === `/client/v4/accounts/${CF.accountId}/stream/live_inputs`) {
        if (req.headers.authorization !== `Bearer ${CF.streamToken}`) return refuse(res, 401, 'Authentication error');
        const b = body as { meta?: { name?: unknown }; recording?: { mode?: unknown } } | undefined;
        if (!req.headers['content-type']?.startsWith('application/json')) return refuse(res, 415, 'content-type must be application/json');
        if (typeof b?.meta?.name !== 'string' || !['off', 'automatic'].includes(String(b.recording?.mode))) {
          return refuse(res, 400, 'meta.name and recording.mode are required');
        }
        inputs += 1;
        const uid = `liveinput${inputs}`.padEnd(32, '0');
        liveInputs.add(uid);
        return void setTimeout(() => reply(res, 201, {
          success: true,
          errors: [],
          messages: [],
          result: {
            uid,
            rtmps: { url: 'rtmps://live.cloudflare.com:443/live/', streamKey: `key${uid}` },
            srt: { url: 'srt://live.cloudflare.com:778', streamId: uid, passphrase: 'p' },
            webRTC: { url: `https://customer-${CF.customerCode}.cloudflarestream.com/${uid}/webRTC/publish` },
            status: null,
            created: new Date().toISOString(),
            meta: b.meta,
            recording: b.recording,
          },
        }), double.inputDelayMs);
      }
      if (path === `/v1/apps/${CF.appId}/sessions/new`) {
        if (req.headers.authorization !== `Bearer ${CF.appSecret}`) return reply(res, 401, { errorCode: 'unauthorized', errorDescription: 'bad app secret' });
        return reply(res, 201, { sessionId: `cf-session-${requests.length}` });
      }
      if (path === `/v1/turn/keys/${CF.turnKeyId}/credentials/generate-ice-servers`) {
        if (req.headers.authorization !== `Bearer ${CF.turnToken}`) return reply(res, 401, { error: 'bad token' });
        if (typeof (body as { ttl?: unknown } | undefined)?.ttl !== 'number') return reply(res, 400, { error: 'ttl is required' });
        const username = `turn-user-${turnIssued.size + 1}`;
        turnIssued.set(username, 'valid');
        return void setTimeout(() => reply(res, 201, {
          iceServers: [
            { urls: ['stun:stun.cloudflare.com:3478'] },
            { urls: ['turn:turn.cloudflare.com:3478?transport=udp', 'turns:turn.cloudflare.com:443?transport=tcp'], username, credential: 'turn-pass' },
          ],
        }), double.turnDelayMs);
      }
      const revokePath = new RegExp(`^/v1/turn/keys/${CF.turnKeyId}/credentials/([^/]+)/revoke$`).exec(path);
      if (revokePath) {
        if (req.headers.authorization !== `Bearer ${CF.turnToken}`) return reply(res, 401, { error: 'bad token' });
        const username = decodeURIComponent(revokePath[1]!);
        if (double.failRevoke) return refuse(res, 500, 'internal error');
        if (!turnIssued.has(username)) return refuse(res, 404, 'credential not found');
        turnIssued.set(username, 'revoked');
        return reply(res, 200, {});
      }
      return refuse(res, 404, `no route for ${path}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  const double: CloudflareDouble = {
    url: `http://127.0.0.1:${port}`,
    requests,
    inputDelayMs: 0,
    turnIssued,
    failRevoke: false,
    failInputDelete: false,
    inputDeleteDelayMs: 0,
    turnDelayMs: 0,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  return double;
}

/**
 * The local backend's API behind a proxy that can lose one answer: the request reaches the
 * backend and is carried out, then the connection closes instead of answering (a network that
 * failed after the database committed).
 */
interface LosingProxy {
  url: string;
  /** The path whose answers are lost while set. */
  loseAnswersOf: string | null;
  lost: number;
  close(): Promise<void>;
}

async function startLosingProxy(target: string): Promise<LosingProxy> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (proxy.loseAnswersOf !== null && new URL(req.url ?? '/', 'http://x').pathname === proxy.loseAnswersOf) {
        answer.resume();
        answer.once('end', () => {
          proxy.lost += 1;
          req.socket.destroy();
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  const proxy: LosingProxy = {
    url: `http://127.0.0.1:${port}`,
    loseAnswersOf: null,
    lost: 0,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return proxy;
}

describe('edge functions with Cloudflare secrets', () => {
  let cloudflare: CloudflareDouble;
  let cfRuntime: FunctionsRuntime;
  /** The functions reach the backend through it. */
  let api: LosingProxy;
  let host: User;
  let guest: User;

  beforeAll(async () => {
    cloudflare = await startCloudflareDouble();
    api = await startLosingProxy(backend.apiUrl);
    cfRuntime = createFunctionsRuntime({
      functionsDir: FUNCTIONS_DIR,
      env: runtimeEnv({
        SUPABASE_URL: api.url,
        CALL_TOKEN_SECRET,
        CLOUDFLARE_API_BASE: `${cloudflare.url}/client/v4`,
        CLOUDFLARE_CALLS_API_BASE: `${cloudflare.url}/v1`,
        CLOUDFLARE_ACCOUNT_ID: CF.accountId,
        CLOUDFLARE_STREAM_API_TOKEN: CF.streamToken,
        CLOUDFLARE_STREAM_CUSTOMER_CODE: CF.customerCode,
        CLOUDFLARE_CALLS_APP_ID: CF.appId,
        CLOUDFLARE_CALLS_APP_SECRET: CF.appSecret,
        CLOUDFLARE_TURN_KEY_ID: CF.turnKeyId,
        CLOUDFLARE_TURN_KEY_API_TOKEN: CF.turnToken,
      }),
      log: (line) => logs.push(line),
    });
    await cfRuntime.start();
    functions = cfRuntime;
    [host, guest] = await Promise.all([signIn('Cloud Host'), signIn('Cloud Guest')]);
  });

  afterAll(async () => {
    functions = localRuntime;
    await cfRuntime?.stop();
    await cloudflare?.close();
    await api?.close();
  });

  it('start-live creates a Stream live input with the documented request and answers its RTMPS ingest', async () => {
    const started = await invoke<StartLive>(host.sb, 'start-live', { title: 'Cloud roast' });
    expect(started.status).toBe(200);
    const { stream, ingest, playbackUrl } = started.data;
    const uid = 'liveinput1'.padEnd(32, '0');
    expect(cloudflare.requests).toEqual([
      {
        method: 'POST',
        path: `/client/v4/accounts/${CF.accountId}/stream/live_inputs`,
        authorization: `Bearer ${CF.streamToken}`,
        contentType: 'application/json',
        body: { meta: { name: 'Cloud roast' }, recording: { mode: 'automatic' } },
      },
    ]);
    expect(ingest).toEqual({
      provider: 'cloudflare',
      rtmpUrl: 'rtmps://live.cloudflare.com:443/live/',
      streamKey: `key${uid}`,
      publishUrl: `rtmps://live.cloudflare.com:443/live/key${uid}`,
    });
    expect(playbackUrl).toBe(`https://customer-${CF.customerCode}.cloudflarestream.com/${uid}/manifest/video.m3u8`);
    expect(stream).toMatchObject({ status: 'live', ingest_provider: 'cloudflare', live_input_id: uid, playback_url: playbackUrl });

    // Resuming keeps the live input: no second request to Cloudflare.
    const again = await invoke<StartLive>(host.sb, 'start-live', {});
    expect(again.data.ingest.streamKey).toBe(`key${uid}`);
    expect(cloudflare.requests).toHaveLength(1);
  });

  const liveInputCreations = () =>
    cloudflare.requests.filter((r) => r.method === 'POST' && r.path === `/client/v4/accounts/${CF.accountId}/stream/live_inputs`);
  const liveInputDeletions = () => cloudflare.requests.filter((r) => r.method === 'DELETE');

  it("end-live deletes the stream's live input and forgets it; one whose deletion failed is deleted by the next end-live; one already gone is forgotten", async () => {
    const ender = await signIn('Cloud Ender');
    const inputOf = async (streamId: string) =>
      (await backend.pool.query<{ live_input_id: string | null }>('select live_input_id from public.streams where id = $1', [streamId])).rows[0]!.live_input_id;
    cloudflare.requests.length = 0;
    const first = await invoke<StartLive>(ender.sb, 'start-live', {});
    expect(first.status).toBe(200);
    const uid = first.data.stream.live_input_id!;
    const ended = await invoke<{ stream: StreamRow }>(ender.sb, 'end-live', { streamId: first.data.stream.id });
    expect(ended).toMatchObject({ status: 200, data: { stream: { status: 'ended' } } });
    expect(liveInputDeletions()).toEqual([
      expect.objectContaining({ method: 'DELETE', path: `/client/v4/accounts/${CF.accountId}/stream/live_inputs/${uid}`, authorization: `Bearer ${CF.streamToken}` }),
    ]);
    expect(await inputOf(first.data.stream.id)).toBeNull();
    // Again: nothing left to delete.
    expect((await invoke(ender.sb, 'end-live', { streamId: first.data.stream.id })).status).toBe(200);
    expect(liveInputDeletions()).toHaveLength(1);

    // Cloudflare fails the deletion: the stream ends all the same, the input is kept on record, and the next end-live deletes it.
    const second = await invoke<StartLive>(ender.sb, 'start-live', {});
    const secondUid = second.data.stream.live_input_id!;
    cloudflare.failInputDelete = true;
    try {
      expect(await invoke<{ stream: StreamRow }>(ender.sb, 'end-live', { streamId: second.data.stream.id })).toMatchObject({
        status: 200,
        data: { stream: { status: 'ended' } },
      });
    } finally {
      cloudflare.failInputDelete = false;
    }
    expect(logs).toContainEqual(expect.stringContaining(`could not delete the live input ${secondUid} of ended stream ${second.data.stream.id}`));
    expect(await inputOf(second.data.stream.id)).toBe(secondUid);
    const third = await invoke<StartLive>(ender.sb, 'start-live', {});
    const thirdUid = third.data.stream.live_input_id!;
    cloudflare.requests.length = 0;
    expect((await invoke(ender.sb, 'end-live', { streamId: third.data.stream.id })).status).toBe(200);
    expect(liveInputDeletions().map((r) => r.path.split('/').pop()).sort()).toEqual([secondUid, thirdUid].sort());
    expect(await inputOf(second.data.stream.id)).toBeNull();
    expect(await inputOf(third.data.stream.id)).toBeNull();

    // An input Cloudflare no longer has (deleted by hand): forgotten without an error.
    const fourth = await invoke<StartLive>(ender.sb, 'start-live', {});
    const fourthUid = fourth.data.stream.live_input_id!;
    const byHand = await fetch(`${cloudflare.url}/client/v4/accounts/${CF.accountId}/stream/live_inputs/${fourthUid}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${CF.streamToken}` },
    });
    expect(byHand.status).toBe(200);
    expect((await invoke(ender.sb, 'end-live', { streamId: fourth.data.stream.id })).status).toBe(200);
    expect(await inputOf(fourth.data.stream.id)).toBeNull();
    expect(logs.filter((l) => l.includes(fourthUid))).toEqual([]);

    // Cloudflare hangs: end-live answers after the deletion's time limit (5 s), not with Cloudflare.
    const fifth = await invoke<StartLive>(ender.sb, 'start-live', {});
    const fifthUid = fifth.data.stream.live_input_id!;
    cloudflare.inputDeleteDelayMs = 20_000;
    const asked = Date.now();
    try {
      expect((await invoke(ender.sb, 'end-live', { streamId: fifth.data.stream.id })).status).toBe(200);
    } finally {
      cloudflare.inputDeleteDelayMs = 0;
    }
    const tookMs = Date.now() - asked;
    expect(tookMs).toBeGreaterThanOrEqual(4_500);
    expect(tookMs).toBeLessThan(15_000);
    expect(logs).toContainEqual(expect.stringContaining(`could not delete the live input ${fifthUid} of ended stream ${fifth.data.stream.id}`));
    expect(await inputOf(fifth.data.stream.id)).toBe(fifthUid);
  }, 60_000);

  it('start-live called twice at once creates one live input and answers one key', async () => {
    const racer = await signIn('Cloud Racer');
    cloudflare.requests.length = 0;
    // Cloudflare takes a while, so the second call arrives while the first waits for its input.
    cloudflare.inputDelayMs = 400;
    let calls: { status: number; data: StartLive; error?: string }[];
    try {
      calls = await Promise.all([invoke<StartLive>(racer.sb, 'start-live', {}), invoke<StartLive>(racer.sb, 'start-live', {})]);
    } finally {
      cloudflare.inputDelayMs = 0;
    }
    expect(calls.map((c) => c.status)).toEqual([200, 200]);
    expect(liveInputCreations()).toHaveLength(1);
    expect(liveInputDeletions()).toEqual([]);
    const [a, b] = calls.map((c) => c.data);
    expect(b!.stream.id).toBe(a!.stream.id);
    expect(b!.ingest).toEqual(a!.ingest);
    expect(b!.playbackUrl).toBe(a!.playbackUrl);
    // What viewers watch is the input both callers publish to.
    const { rows } = await backend.pool.query(
      'select s.status, s.live_input_id, s.playback_url, i.stream_key from public.streams s join public.stream_ingests i on i.stream_id = s.id where s.host_id = $1',
      [racer.id],
    );
    expect(rows).toEqual([{ status: 'live', live_input_id: a!.stream.live_input_id, playback_url: a!.playbackUrl, stream_key: a!.ingest.streamKey }]);
    const started = await backend.pool.query("select 1 from public.stream_guest_events where user_id = $1 and event_type = 'stream_started'", [racer.id]);
    expect(started.rows).toHaveLength(1);
    await invoke(racer.sb, 'end-live', { streamId: a!.stream.id });
  });

  it('start-live deletes the live input it made in vain: a stalled call taken over, a stream ended meanwhile', async () => {
    const slow = await signIn('Cloud Slowpoke');
    cloudflare.requests.length = 0;
    cloudflare.inputDelayMs = 1_000;
    try {
      // The first call reserves the stream's input and waits on Cloudflare; its reservation is
      // then made to look abandoned, so the second call takes it over and makes an input too.
      const first = invoke<StartLive>(slow.sb, 'start-live', {});
      await expect.poll(() => liveInputCreations().length, { timeout: 5_000 }).toBe(1);
      const reserved = await backend.pool.query(
        "update public.live_input_reservations r set reserved_at = now() - interval '1 hour' from public.streams s where s.id = r.stream_id and s.host_id = $1 returning r.stream_id",
        [slow.id],
      );
      expect(reserved.rows).toHaveLength(1);
      const second = invoke<StartLive>(slow.sb, 'start-live', {});
      const [a, b] = await Promise.all([first, second]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(liveInputCreations()).toHaveLength(2);
      // The first input stored is kept; the other is deleted, and both callers publish to the kept one.
      expect(b.data.ingest).toEqual(a.data.ingest);
      const kept = a.data.stream.live_input_id!;
      expect(b.data.stream.live_input_id).toBe(kept);
      expect(a.data.ingest.streamKey).toBe(`key${kept}`);
      const deletions = liveInputDeletions();
      expect(deletions).toHaveLength(1);
      expect(deletions[0]).toMatchObject({ authorization: `Bearer ${CF.streamToken}` });
      const deleted = deletions[0]!.path.split('/').pop();
      expect(deletions[0]!.path).toBe(`/client/v4/accounts/${CF.accountId}/stream/live_inputs/${deleted}`);
      expect(deleted).toMatch(/^liveinput\d+0*$/);
      expect(deleted).not.toBe(kept);
      await invoke(slow.sb, 'end-live', { streamId: a.data.stream.id });

      // A stream ended while its input was being made: start-live answers 409 and deletes the input.
      cloudflare.requests.length = 0;
      const late = invoke<StartLive>(slow.sb, 'start-live', {});
      await expect.poll(() => liveInputCreations().length, { timeout: 5_000 }).toBe(1);
      const { rows } = await backend.pool.query("select id from public.streams where host_id = $1 and status <> 'ended'", [slow.id]);
      expect(rows).toHaveLength(1);
      expect((await invoke(slow.sb, 'end-live', { streamId: rows[0].id })).status).toBe(200);
      expect(await late).toMatchObject({ status: 409, error: 'This stream has ended' });
      expect(liveInputDeletions()).toHaveLength(1);
    } finally {
      cloudflare.inputDelayMs = 0;
    }
  });

  it('start-live waiting for another call’s live input answers 409 when the stream ends meanwhile, and nothing goes live', async () => {
    const waiter = await signIn('Cloud Waiter');
    cloudflare.requests.length = 0;
    cloudflare.inputDelayMs = 1_500;
    try {
      // The first call makes the input (slowly); the second finds it pending and waits.
      const first = invoke<StartLive>(waiter.sb, 'start-live', {});
      await expect.poll(() => liveInputCreations().length, { timeout: 5_000 }).toBe(1);
      const { rows } = await backend.pool.query("select id from public.streams where host_id = $1 and status <> 'ended'", [waiter.id]);
      expect(rows).toHaveLength(1);
      const streamId = rows[0].id as string;
      const second = invoke<StartLive>(waiter.sb, 'start-live', {});
      await expect.poll(() => logs.some((l) => l.includes(`stream ${streamId}: waiting for another start-live's live input`)), { timeout: 5_000 }).toBe(true);
      // The host ends the stream while both calls are under way: neither may put a stream live.
      expect((await invoke(waiter.sb, 'end-live', { streamId })).status).toBe(200);
      const [a, b] = await Promise.all([first, second]);
      expect(a).toMatchObject({ status: 409, error: 'This stream has ended' });
      expect(b).toMatchObject({ status: 409, error: 'This stream has ended' });
      const live = await backend.pool.query("select id from public.streams where host_id = $1 and status = 'live'", [waiter.id]);
      expect(live.rows).toEqual([]);
      // The one input made was of no use and is deleted; no reservation is left behind.
      expect(liveInputCreations()).toHaveLength(1);
      expect(liveInputDeletions()).toHaveLength(1);
      const reservations = await backend.pool.query(
        'select 1 from public.live_input_reservations r join public.streams s on s.id = r.stream_id where s.host_id = $1',
        [waiter.id],
      );
      expect(reservations.rows).toEqual([]);
    } finally {
      cloudflare.inputDelayMs = 0;
    }
  });

  it('start-live keeps the live input go_live stored when the answer was lost on the way, and the next call resumes it', async () => {
    const unlucky = await signIn('Cloud Unlucky');
    cloudflare.requests.length = 0;
    api.loseAnswersOf = '/rest/v1/rpc/go_live';
    const lostBefore = api.lost;
    let failed: Awaited<ReturnType<typeof invoke<StartLive>>>;
    try {
      failed = await invoke<StartLive>(unlucky.sb, 'start-live', {});
    } finally {
      api.loseAnswersOf = null;
    }
    // (The HTTP client may send the call again on a fresh connection: that answer is lost too.)
    expect(api.lost).toBeGreaterThan(lostBefore);
    expect(failed.status).toBe(500);
    // go_live committed: the stream publishes to the input made, which must not be deleted.
    expect(liveInputCreations()).toHaveLength(1);
    expect(liveInputDeletions()).toEqual([]);
    const { rows } = await backend.pool.query("select id, live_input_id from public.streams where host_id = $1 and status = 'live'", [unlucky.id]);
    expect(rows).toHaveLength(1);
    const uid = rows[0].live_input_id as string;
    expect(uid).toMatch(/^liveinput\d+0*$/);
    // The studio's retry resumes the stream with that input, and makes none.
    const retried = await invoke<StartLive>(unlucky.sb, 'start-live', {});
    expect(retried.status).toBe(200);
    expect(retried.data).toMatchObject({ resumed: true, stream: { id: rows[0].id, live_input_id: uid } });
    expect(retried.data.ingest.streamKey).toBe(`key${uid}`);
    expect(liveInputCreations()).toHaveLength(1);
    await invoke(unlucky.sb, 'end-live', { streamId: rows[0].id });
  });

  it('opens a Calls session, and issues tokens signed with CALL_TOKEN_SECRET with TURN servers', async () => {
    const { data: streams } = await host.sb.from('streams').select('id').eq('host_id', host.id).eq('status', 'live');
    const streamId = (streams as { id: string }[])[0]!.id;
    cloudflare.requests.length = 0;

    const created = await invoke<{ sessionId: string; provider: string }>(host.sb, 'create-call-session', { streamId });
    expect(created.data.provider).toBe('cloudflare');
    expect(cloudflare.requests).toEqual([
      { method: 'POST', path: `/v1/apps/${CF.appId}/sessions/new`, authorization: `Bearer ${CF.appSecret}`, contentType: undefined, body: undefined },
    ]);
    const { rows } = await backend.pool.query('select cf_session_id from public.call_sessions where id = $1', [created.data.sessionId]);
    expect(rows).toEqual([{ cf_session_id: 'cf-session-1' }]);

    await seatGuest(host, streamId, guest);
    const issued = await invoke<{ token: string; role: string; iceServers: unknown[] }>(guest.sb, 'generate-call-token', {
      streamId,
      sessionId: created.data.sessionId,
    });
    expect(issued.status).toBe(200);
    expect(issued.data.iceServers).toEqual([
      { urls: ['stun:stun.cloudflare.com:3478'] },
      { urls: ['turn:turn.cloudflare.com:3478?transport=udp', 'turns:turn.cloudflare.com:443?transport=tcp'], username: expect.stringMatching(/^turn-user-\d+$/), credential: 'turn-pass' },
    ]);
    expect(cloudflare.requests[1]).toEqual({
      method: 'POST',
      path: `/v1/turn/keys/${CF.turnKeyId}/credentials/generate-ice-servers`,
      authorization: `Bearer ${CF.turnToken}`,
      contentType: 'application/json',
      body: { ttl: 86_400 },
    });
    const { payload } = await jwtVerify(issued.data.token, new TextEncoder().encode(CALL_TOKEN_SECRET), { audience: 'roast-live-call' });
    expect(payload).toMatchObject({ sub: guest.id, sid: created.data.sessionId, stream_id: streamId, role: 'guest' });
    await expect(jwtVerify(issued.data.token, new TextEncoder().encode(backend.jwtSecret))).rejects.toThrow();
  });
  it('revokes a removed guest’s TURN credentials, and every one of a call that ends or a stream taken off air', async () => {
    const [h, a, b] = await Promise.all([signIn('Turn Host'), signIn('Turn Guest A'), signIn('Turn Guest B')]);
    const started = await invoke<StartLive>(h.sb, 'start-live', { title: 'Relayed roast' });
    const streamId = started.data.stream.id;
    const session = (await invoke<{ sessionId: string }>(h.sb, 'create-call-session', { streamId })).data.sessionId;
    await seatGuest(h, streamId, a);
    await seatGuest(h, streamId, b);
    const turnUser = async (u: User): Promise<string> => {
      const issued = await invoke<{ iceServers: Array<{ username?: string }> }>(u.sb, 'generate-call-token', { streamId, sessionId: session });
      expect(issued.status).toBe(200);
      return issued.data.iceServers.find((x) => x.username)!.username!;
    };
    const [hostUser, aUser, aUser2, bUser] = [await turnUser(h), await turnUser(a), await turnUser(a), await turnUser(b)];
    const { rows } = await backend.pool.query(
      'select username, user_id, expires_at - issued_at as ttl from public.call_turn_credentials where call_session_id = $1 order by issued_at, username',
      [session],
    );
    expect(rows.map((r) => [r.username, r.user_id])).toEqual([[hostUser, h.id], [aUser, a.id], [aUser2, a.id], [bUser, b.id]]);
    // Clients cannot read them.
    expect((await a.sb.from('call_turn_credentials').select('username')).data ?? []).toEqual([]);

    // Only the host; a guest still on their seat keeps what the seat was given.
    expect(await invoke(a.sb, 'end-call-session', { sessionId: session, userId: b.id })).toMatchObject({ status: 403 });
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session, userId: a.id })).toMatchObject({ status: 200, data: { credentialsRevoked: 0 } });
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session, userId: h.id })).toMatchObject({ status: 400 });
    expect(cloudflare.turnIssued.get(aUser)).toBe('valid');

    // The host removes A: A's two credentials are revoked, the call goes on for the others.
    expect((await h.sb.rpc('remove_guest', { p_stream_id: streamId, p_user_id: a.id })).error).toBeNull();
    const removed = await invoke(h.sb, 'end-call-session', { sessionId: session, userId: a.id });
    expect(removed).toMatchObject({ status: 200, data: { sessionId: session, endedAt: null, credentialsRevoked: 2, credentialsNotRevoked: 0 } });
    expect([aUser, aUser2, bUser, hostUser].map((u) => cloudflare.turnIssued.get(u))).toEqual(['revoked', 'revoked', 'valid', 'valid']);
    const revokes = cloudflare.requests.filter((r) => r.path.endsWith('/revoke'));
    expect(revokes.map((r) => [r.method, r.path, r.authorization])).toEqual([
      ['POST', `/v1/turn/keys/${CF.turnKeyId}/credentials/${aUser}/revoke`, `Bearer ${CF.turnToken}`],
      ['POST', `/v1/turn/keys/${CF.turnKeyId}/credentials/${aUser2}/revoke`, `Bearer ${CF.turnToken}`],
    ]);
    // Again: nothing left to revoke.
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session, userId: a.id })).toMatchObject({ data: { credentialsRevoked: 0 } });

    // Seated again: what the old seat got is gone, the new seat's credential stands even when the host's request comes late.
    await seatGuest(h, streamId, a);
    const aUser3 = await turnUser(a);
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session, userId: a.id })).toMatchObject({ data: { credentialsRevoked: 0 } });
    expect(cloudflare.turnIssued.get(aUser3)).toBe('valid');

    // Removed while the credentials were being made: the token is refused and what was made is revoked at once.
    cloudflare.turnDelayMs = 800;
    const joining = invoke(a.sb, 'generate-call-token', { streamId, sessionId: session });
    await new Promise((r) => setTimeout(r, 300));
    expect((await h.sb.rpc('remove_guest', { p_stream_id: streamId, p_user_id: a.id })).error).toBeNull();
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session, userId: a.id })).toMatchObject({ data: { credentialsRevoked: 1 } });
    cloudflare.turnDelayMs = 0;
    expect(await joining).toMatchObject({ status: 403, error: 'You left the stage (or the call ended) while joining the call' });
    const late = [...cloudflare.turnIssued.keys()].at(-1)!;
    expect(cloudflare.turnIssued.get(late)).toBe('revoked');
    expect(cloudflare.turnIssued.get(aUser3)).toBe('revoked');

    // The stream goes off air while the TURN service fails: the stream ends, the failure is logged, the credentials stay open.
    cloudflare.failRevoke = true;
    try {
      expect((await invoke(h.sb, 'end-live', { streamId })).status).toBe(200);
    } finally {
      cloudflare.failRevoke = false;
    }
    expect(logs.some((l) => l.includes('could not revoke TURN credential'))).toBe(true);
    expect(cloudflare.turnIssued.get(bUser)).toBe('valid');
    // Ending the (already ended) call tries again, and revokes what was left.
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session })).toMatchObject({ status: 200, data: { credentialsRevoked: 2, credentialsNotRevoked: 0 } });
    expect([bUser, hostUser].map((u) => cloudflare.turnIssued.get(u))).toEqual(['revoked', 'revoked']);
  });

  it('revokes at once what every guest gone from the stage still holds, for a studio that resumes its show', async () => {
    const [h, a, b, c] = await Promise.all([signIn('Resuming Host'), signIn('Gone Guest A'), signIn('Seated Guest B'), signIn('Back Guest C')]);
    const started = await invoke<StartLive>(h.sb, 'start-live', { title: 'Resumed roast' });
    const streamId = started.data.stream.id;
    const session = (await invoke<{ sessionId: string }>(h.sb, 'create-call-session', { streamId })).data.sessionId;
    const turnUser = async (u: User): Promise<string> => {
      const issued = await invoke<{ iceServers: Array<{ username?: string }> }>(u.sb, 'generate-call-token', { streamId, sessionId: session });
      expect(issued.status).toBe(200);
      return issued.data.iceServers.find((x) => x.username)!.username!;
    };
    for (const g of [a, b, c]) await seatGuest(h, streamId, g);
    const [aUser, bUser, cUser] = [await turnUser(a), await turnUser(b), await turnUser(c)];
    // With no studio there to ask for each: A is removed by the host's hand elsewhere, C leaves and is seated again.
    expect((await h.sb.rpc('remove_guest', { p_stream_id: streamId, p_user_id: a.id })).error).toBeNull();
    expect((await c.sb.rpc('leave_seat', { p_stream_id: streamId })).error).toBeNull();
    await seatGuest(h, streamId, c);
    const cUser2 = await turnUser(c);

    expect(await invoke(b.sb, 'end-call-session', { sessionId: session, formerGuests: true })).toMatchObject({ status: 403 });
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session, formerGuests: true, userId: a.id })).toMatchObject({ status: 400 });
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session, formerGuests: false })).toMatchObject({ status: 400 });
    const ended = await invoke(h.sb, 'end-call-session', { sessionId: session, formerGuests: true });
    expect(ended).toMatchObject({ status: 200, data: { sessionId: session, endedAt: null, credentialsRevoked: 2, credentialsNotRevoked: 0 } });
    // A's are gone; B on stage keeps theirs; C, seated again, keeps only what the present seat was given.
    expect([aUser, bUser, cUser, cUser2].map((u) => cloudflare.turnIssued.get(u))).toEqual(['revoked', 'valid', 'revoked', 'valid']);
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session, formerGuests: true })).toMatchObject({ data: { credentialsRevoked: 0 } });
    expect((await invoke(h.sb, 'end-live', { streamId })).status).toBe(200);
  });

  it('revokes the TURN credentials of a deleted account, and of a deleted host’s calls, at the next revoking call', async () => {
    const [h, a, other] = await Promise.all([signIn('Deleted Host'), signIn('Deleted Guest'), signIn('Other Host')]);
    const streamId = (await invoke<StartLive>(h.sb, 'start-live', {})).data.stream.id;
    const session = (await invoke<{ sessionId: string }>(h.sb, 'create-call-session', { streamId })).data.sessionId;
    await seatGuest(h, streamId, a);
    const turnUser = async (u: User): Promise<string> =>
      (await invoke<{ iceServers: Array<{ username?: string }> }>(u.sb, 'generate-call-token', { streamId, sessionId: session })).data.iceServers.find((x) => x.username)!.username!;
    const [hostUser, guestUser] = [await turnUser(h), await turnUser(a)];

    // The guest's account is deleted (the dashboard, the admin API): the credential stays recorded, linked to nobody.
    await backend.pool.query('delete from auth.users where id = $1', [a.id]);
    const left = await backend.pool.query('select user_id, revoked_at from public.call_turn_credentials where username = $1', [guestUser]);
    expect(left.rows).toEqual([{ user_id: null, revoked_at: null }]);
    // Then the host's: the stream and its call go, and the host's credential with them.
    await backend.pool.query('delete from auth.users where id = $1', [h.id]);
    expect(cloudflare.turnIssued.get(guestUser)).toBe('valid');

    // Another host's show ends: its revocation sweeps the orphans too, and forgets them once revoked.
    const otherStream = (await invoke<StartLive>(other.sb, 'start-live', {})).data.stream.id;
    expect(await invoke(other.sb, 'end-live', { streamId: otherStream })).toMatchObject({ status: 200 });
    expect([hostUser, guestUser].map((u) => cloudflare.turnIssued.get(u))).toEqual(['revoked', 'revoked']);
    const rows = await backend.pool.query('select username from public.call_turn_credentials where username = any($1)', [[hostUser, guestUser]]);
    expect(rows.rows).toEqual([]);
  });

  it('keeps a host’s three newest calls open: opening a fourth ends the oldest and revokes its TURN credentials', async () => {
    const h = await signIn('Many Calls Host');
    const streamId = (await invoke<StartLive>(h.sb, 'start-live', {})).data.stream.id;
    const open = async () => {
      const created = await invoke<{ sessionId: string }>(h.sb, 'create-call-session', { streamId });
      expect(created.status).toBe(200);
      const token = await invoke<{ iceServers: Array<{ username?: string }> }>(h.sb, 'generate-call-token', { streamId, sessionId: created.data.sessionId });
      return { id: created.data.sessionId, turn: token.data.iceServers.find((x) => x.username)!.username! };
    };
    const calls = [await open(), await open(), await open()];
    expect(calls.map((c) => cloudflare.turnIssued.get(c.turn))).toEqual(['valid', 'valid', 'valid']);
    calls.push(await open());
    const { rows } = await backend.pool.query('select id, ended_at is not null as ended from public.call_sessions where host_id = $1 order by created_at', [h.id]);
    expect(rows).toEqual(calls.map((c, i) => ({ id: c.id, ended: i === 0 })));
    expect(calls.map((c) => cloudflare.turnIssued.get(c.turn))).toEqual(['revoked', 'valid', 'valid', 'valid']);
    // The oldest call admits nobody any more; the newest is the one guests find.
    expect(await invoke(h.sb, 'generate-call-token', { streamId, sessionId: calls[0]!.id })).toMatchObject({ status: 404 });
    await invoke(h.sb, 'end-live', { streamId });
  });

  it('revokes TURN credentials it could not record, and says why the token failed', async () => {
    const [h, g] = await Promise.all([signIn('Unrecorded Host'), signIn('Unrecorded Guest')]);
    const streamId = (await invoke<StartLive>(h.sb, 'start-live', {})).data.stream.id;
    const session = (await invoke<{ sessionId: string }>(h.sb, 'create-call-session', { streamId })).data.sessionId;
    await seatGuest(h, streamId, g);
    // The database refuses the record (a full disk, a lost connection…).
    await backend.pool.query(`
      create function public.refuse_turn_records() returns trigger language plpgsql as $$
      begin raise exception 'disk full' using errcode = '53100'; end $$;
      create trigger refuse_turn_records before insert on public.call_turn_credentials for each row execute function public.refuse_turn_records();
    `);
    const before = cloudflare.turnIssued.size;
    let res: Awaited<ReturnType<typeof invoke>>;
    try {
      res = await invoke(g.sb, 'generate-call-token', { streamId, sessionId: session });
    } finally {
      await backend.pool.query('drop trigger refuse_turn_records on public.call_turn_credentials; drop function public.refuse_turn_records();');
    }
    expect(res.status).toBe(500);
    expect(res.error).toMatch(/^Could not join the call: could not record the TURN credentials: disk full/);
    // What Cloudflare made for the failed request no longer works.
    const made = [...cloudflare.turnIssued.entries()].slice(before);
    expect(made).toHaveLength(1);
    expect(made[0]![1]).toBe('revoked');
    await invoke(h.sb, 'end-live', { streamId });
  });

  it('answers 502 when Cloudflare does not answer within 10 s, and a start-live that failed so leaves the stream startable', async () => {
    const [h, g, late] = await Promise.all([signIn('Stalled Host'), signIn('Stalled Guest'), signIn('Stalled Starter')]);
    const streamId = (await invoke<StartLive>(h.sb, 'start-live', {})).data.stream.id;
    const session = (await invoke<{ sessionId: string }>(h.sb, 'create-call-session', { streamId })).data.sessionId;
    await seatGuest(h, streamId, g);
    const recorded = async () =>
      Number((await backend.pool.query('select count(*) from public.call_turn_credentials where user_id = $1', [g.id])).rows[0].count);
    // TURN and Stream both hang for longer than the functions wait; the two calls run side by side.
    cloudflare.turnDelayMs = 13_000;
    cloudflare.inputDelayMs = 13_000;
    let token: Awaited<ReturnType<typeof invoke>>;
    let start: Awaited<ReturnType<typeof invoke>>;
    try {
      [token, start] = await Promise.all([
        invoke(g.sb, 'generate-call-token', { streamId, sessionId: session }),
        invoke(late.sb, 'start-live', { title: 'Stalled roast' }),
      ]);
    } finally {
      cloudflare.turnDelayMs = 0;
      cloudflare.inputDelayMs = 0;
    }
    // Both gave up on their own limit (10 s) before the hanging answers came (13 s): a 502 that says so, not the late answer.
    expect(token.status).toBe(502);
    expect(token.error).toMatch(/Cloudflare TURN did not answer in time/);
    expect(await recorded()).toBe(0);
    expect(start.status).toBe(502);
    expect(start.error).toMatch(/Cloudflare Stream did not answer in time/);
    // Nothing went live, and the reservation is released: the next start-live goes live at once.
    const { rows } = await backend.pool.query("select count(*)::int as n from public.streams where host_id = $1 and status = 'live'", [late.id]);
    expect(rows).toEqual([{ n: 0 }]);
    const again = await invoke<StartLive>(late.sb, 'start-live', { title: 'Stalled roast' });
    expect(again.status).toBe(200);
    expect(again.data.stream.status).toBe('live');
    await Promise.all([invoke(h.sb, 'end-live', { streamId }), invoke(late.sb, 'end-live', { streamId: again.data.stream.id })]);
  }, 60_000);

  it('limits what spends the account: a host makes 12 live inputs in 10 minutes, then is told to wait, and again after', async () => {
    const h = await signIn('Looping Host');
    // Going live, then resuming the show (no new input) as a reloaded studio does, then ending it: twelve shows.
    const answers: number[] = [];
    for (let i = 0; i < 12; i++) {
      const started = await invoke<StartLive>(h.sb, 'start-live', { title: 'Loop' });
      const resumed = await invoke<StartLive>(h.sb, 'start-live', { title: 'Loop' });
      expect(resumed.data.resumed).toBe(true);
      answers.push(started.status, resumed.status, (await invoke(h.sb, 'end-live', { streamId: started.data.stream.id })).status);
    }
    expect(answers).toEqual(Array(36).fill(200));
    const inputsBefore = cloudflare.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/stream/live_inputs')).length;
    const res = await h.sb.functions.invoke('start-live', { body: { title: 'One more' } });
    const refused = (res.error as FunctionsHttpError).context as Response;
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: string }).error).toMatch(/^You went live 12 times in the last 10 minutes: try again in \d+ s$/);
    // Refused before Cloudflare was asked.
    expect(cloudflare.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/stream/live_inputs')).length).toBe(inputsBefore);
    // Another host is not held back; ten minutes later, this one goes live again.
    expect((await invoke(( await signIn('Other Host')).sb, 'start-live', { title: 'Mine' })).status).toBe(200);
    await backend.pool.query("update public.function_calls set at = at - interval '601 seconds' where user_id = $1", [h.id]);
    const back = await invoke<StartLive>(h.sb, 'start-live', { title: 'Back' });
    expect(back.status).toBe(200);
    // A show on air is resumed whatever the count: resuming makes no live input.
    for (let i = 0; i < 12; i++) await invoke(h.sb, 'start-live', { title: 'Back' });
    expect(await invoke<StartLive>(h.sb, 'start-live', { title: 'Back' })).toMatchObject({ status: 200, data: { resumed: true } });
    // Clients cannot read or write the counts.
    expect((await h.sb.from('function_calls').select('*')).data ?? []).toEqual([]);
    expect((await h.sb.rpc('take_function_slot', { p_user_id: h.id, p_action: 'start-live', p_max: 1000, p_window_seconds: 1 })).error).not.toBeNull();
  });

  it('gives the last free slot to one of many calls at once', async () => {
    const u = await signIn('Parallel Caller');
    const taken = await Promise.all(
      Array.from({ length: 12 }, () => backend.pool.query<{ wait: number }>("select public.take_function_slot($1, 'test-action', 5, 60) as wait", [u.id])),
    );
    const waits = taken.map((r) => r.rows[0]!.wait);
    expect(waits.filter((w) => w === 0)).toHaveLength(5);
    expect(waits.filter((w) => w > 0 && w <= 60)).toHaveLength(7);
  });

  it('keeps a participant’s credentials of their three latest token requests in a call, and revokes older ones', async () => {
    const [h, g] = await Promise.all([signIn('Loop Host'), signIn('Loop Guest')]);
    const streamId = (await invoke<StartLive>(h.sb, 'start-live', {})).data.stream.id;
    const session = (await invoke<{ sessionId: string }>(h.sb, 'create-call-session', { streamId })).data.sessionId;
    await seatGuest(h, streamId, g);
    const turnUser = async (u: User): Promise<string> => {
      const issued = await invoke<{ iceServers: Array<{ username?: string }> }>(u.sb, 'generate-call-token', { streamId, sessionId: session });
      expect(issued.status).toBe(200);
      return issued.data.iceServers.find((x) => x.username)!.username!;
    };
    const hostUser = await turnUser(h);
    // The guest asks five times (rejoins, or a client in a loop): each answer works, the oldest two stop working.
    const guestUsers: string[] = [];
    for (let i = 0; i < 5; i++) guestUsers.push(await turnUser(g));
    expect(guestUsers.map((u) => cloudflare.turnIssued.get(u))).toEqual(['revoked', 'revoked', 'valid', 'valid', 'valid']);
    expect(cloudflare.turnIssued.get(hostUser)).toBe('valid');
    const { rows } = await backend.pool.query(
      'select username, revoked_at is not null as revoked from public.call_turn_credentials where call_session_id = $1 and user_id = $2 order by issued_at',
      [session, g.id],
    );
    expect(rows).toEqual(guestUsers.map((username, i) => ({ username, revoked: i < 2 })));
    // Leaving the stage revokes the three left.
    expect((await g.sb.rpc('leave_seat', { p_stream_id: streamId })).error).toBeNull();
    expect(await invoke(h.sb, 'end-call-session', { sessionId: session, userId: g.id })).toMatchObject({ data: { credentialsRevoked: 3 } });
    await invoke(h.sb, 'end-live', { streamId });
  });
});

// ------------------------------------------------------------- misconfiguration

describe('edge functions with a misconfigured environment', () => {
  let badRuntime: FunctionsRuntime;
  let host: User;
  const someId = '00000000-0000-4000-8000-000000000001';

  beforeAll(async () => {
    badRuntime = createFunctionsRuntime({
      functionsDir: FUNCTIONS_DIR,
      env: runtimeEnv({
        // Too short for HS256, and API bases without their scheme: each is the operator's to fix.
        CALL_TOKEN_SECRET: 'only-twenty-chars-ok',
        CLOUDFLARE_ACCOUNT_ID: CF.accountId,
        CLOUDFLARE_STREAM_API_TOKEN: CF.streamToken,
        CLOUDFLARE_STREAM_CUSTOMER_CODE: CF.customerCode,
        CLOUDFLARE_API_BASE: 'api.cloudflare.com/client/v4',
        CLOUDFLARE_CALLS_APP_ID: CF.appId,
        CLOUDFLARE_CALLS_APP_SECRET: CF.appSecret,
        CLOUDFLARE_CALLS_API_BASE: 'rtc.live.cloudflare.com/v1',
      }),
      log: (line) => logs.push(line),
    });
    await badRuntime.start();
    functions = badRuntime;
    host = await signIn('Misconfigured Mo');
  });

  afterAll(async () => {
    functions = localRuntime;
    await badRuntime?.stop();
  });

  it('answers 500 naming CALL_TOKEN_SECRET when it is shorter than 32 characters', async () => {
    // A live stream and call session the host may join, so that nothing but the secret stands in the way.
    const prepared = await host.sb.from('streams').insert({ host_id: host.id, status: 'idle' }).select('id').single();
    expect(prepared.error).toBeNull();
    const streamId = (prepared.data as { id: string }).id;
    await backend.pool.query("update public.streams set status = 'live', started_at = now() where id = $1", [streamId]);
    const session = await backend.pool.query("insert into public.call_sessions (stream_id, host_id, provider) values ($1, $2, 'p2p') returning id", [
      streamId,
      host.id,
    ]);
    const res = await invoke(host.sb, 'generate-call-token', { streamId, sessionId: session.rows[0].id });
    expect(res.status).toBe(500);
    expect(res.error).toContain('CALL_TOKEN_SECRET');
    expect(res.error).toContain('at least 32 characters');
    expect(res.error).not.toContain('only-twenty-chars-ok');
  });

  it('answers 500 naming a Cloudflare API base that is not an http(s) URL', async () => {
    const other = await signIn('Misconfigured Max');
    const started = await invoke(other.sb, 'start-live', {});
    expect(started.status).toBe(500);
    expect(started.error).toContain('CLOUDFLARE_API_BASE');
    // Refused before anything was written.
    const { rows } = await backend.pool.query('select 1 from public.streams where host_id = $1', [other.id]);
    expect(rows).toHaveLength(0);

    const session = await invoke(host.sb, 'create-call-session', { streamId: someId });
    expect(session.status).toBe(500);
    expect(session.error).toContain('CLOUDFLARE_CALLS_API_BASE');
  });
});
