/**
 * The local Realtime server against the unmodified supabase-js client:
 * a throwaway embedded PostgreSQL with the project's migrations, the server
 * on a node:http server, clients in this process over `ws`.
 */
import { WRITE_AUTH_TTL_MS } from '../../src/local/realtime/connection';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import { freePort, startDatabase, type Database } from '../../src/local/db.js';
import { makeApiKeys, signJwt } from '../../src/local/jwt.js';
import { createRealtimeServer, installRealtimeTriggers, type RealtimeServer } from '../../src/local/realtime/index.js';
import { inbox } from './helpers/inbox';
import { watchTable } from '../../src/renderer/src/services/realtime';

const SECRET = 'realtime-test-secret-with-at-least-32-characters';

let db: Database;
let realtime: RealtimeServer;
let http: Server;
let apiUrl: string;
let anonKey: string;
const logs: string[] = [];
const clients: SupabaseClient[] = [];

const host = { id: randomUUID(), token: '' };
const guest = { id: randomUUID(), token: '' };
const stranger = { id: randomUUID(), token: '' };
const streamId = randomUUID();
const signalingTopic = `stream:${streamId}:signaling:${guest.id}`;

function userToken(sub: string, expiresIn = 3600): Promise<string> {
  return signJwt({ sub, role: 'authenticated', aud: 'authenticated', is_anonymous: false }, SECRET, expiresIn);
}

/**
 * A supabase-js client as an app would make it; `token` is the signed-in user's JWT.
 * The client sets its token asynchronously: a join sent before that carries none
 * (and counts as the anon key), so this waits for it.
 */
async function client(
  token?: string,
  opts: { vsn?: string; heartbeatIntervalMs?: number; onHeartbeat?: (status: string) => void } = {},
): Promise<SupabaseClient> {
  const c = createClient(apiUrl, anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    ...(token ? { accessToken: async () => token } : {}),
    realtime: {
      transport: WebSocket as never,
      ...(opts.vsn ? { vsn: opts.vsn } : {}),
      ...(opts.heartbeatIntervalMs ? { heartbeatIntervalMs: opts.heartbeatIntervalMs } : {}),
      ...(opts.onHeartbeat ? { heartbeatCallback: opts.onHeartbeat } : {}),
    },
  });
  clients.push(c);
  await c.realtime.setAuth();
  return c;
}

function subscribe(channel: RealtimeChannel): Promise<void> {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve();
      else reject(new Error(`${status}: ${err?.message ?? ''}`));
    });
  });
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  db = await startDatabase({ ephemeral: true, port: await freePort() });
  await installRealtimeTriggers(db.pool);
  await installRealtimeTriggers(db.pool); // idempotent

  // Added to the publication after the triggers were installed: the event trigger follows.
  await db.pool.query(`
    create table public.rt_notes (
      id bigserial primary key,
      owner uuid not null,
      body text not null default '',
      n int not null default 0
    );
    alter table public.rt_notes enable row level security;
    create policy "owners read their notes" on public.rt_notes for select to authenticated using (owner = auth.uid());
    create policy "owners write their notes" on public.rt_notes for insert to authenticated with check (owner = auth.uid());
    grant select on public.rt_notes to authenticated;
    alter publication supabase_realtime add table public.rt_notes;
  `);
  for (const u of [host, guest, stranger]) {
    await db.pool.query('insert into auth.users (id, email) values ($1, $2)', [u.id, `${u.id}@example.test`]);
    u.token = await userToken(u.id);
  }
  await db.pool.query('insert into public.streams (id, host_id, title) values ($1, $2, $3)', [streamId, host.id, 'test']);
  await db.pool.query('insert into public.stream_guest_seats (stream_id, user_id, seat_index) values ($1, $2, 0)', [streamId, guest.id]);

  anonKey = (await makeApiKeys(SECRET)).anonKey;
  realtime = createRealtimeServer({ pool: db.pool, callerPool: db.realtimePool, jwtSecret: SECRET, anonKey, log: (m) => logs.push(m) });
  http = createServer((req, res) => {
    realtime
      .handleHttp(req, res)
      .then((handled) => {
        if (!handled) res.writeHead(404).end();
      })
      .catch(() => res.writeHead(500).end());
  });
  http.on('upgrade', (req, socket, head) => realtime.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.removeAllChannels().catch(() => undefined)));
  await realtime?.close();
  await realtime?.close(); // idempotent
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  await db?.stop();
});

describe('connection', () => {
  it('refuses a connection without a valid apikey and answers heartbeats', async () => {
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${apiUrl.replace('http', 'ws')}/realtime/v1/websocket?apikey=forged&vsn=2.0.0`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(refused).toBe(401);

    const beats = inbox<string>();
    const c = await client(undefined, { heartbeatIntervalMs: 300, onHeartbeat: (s) => beats.push(s) });
    await subscribe(c.channel('beat'));
    const statuses = [await beats.next(), await beats.next()];
    expect(statuses).toEqual(['sent', 'ok']);
  });
});

describe('broadcast', () => {
  it('fans out to the others, echoes with self, replies with ack; vsn 1.0.0 and 2.0.0 interoperate', async () => {
    const a = await client(host.token);
    const b = await client();
    const v1 = await client(undefined, { vsn: '1.0.0' });
    const toA = inbox<unknown>();
    const toB = inbox<unknown>();
    const toV1 = inbox<unknown>();
    const chA = a.channel('room-1', { config: { broadcast: { self: false, ack: true } } }).on('broadcast', { event: '*' }, (m) => toA.push(m));
    const chB = b.channel('room-1', { config: { broadcast: { self: true } } }).on('broadcast', { event: '*' }, (m) => toB.push(m));
    const chV1 = v1.channel('room-1').on('broadcast', { event: '*' }, (m) => toV1.push(m));
    await Promise.all([subscribe(chA), subscribe(chB), subscribe(chV1)]);

    expect(await chA.send({ type: 'broadcast', event: 'offer', payload: { sdp: 'v=0 é' } })).toBe('ok');
    expect(await toB.next()).toEqual({ type: 'broadcast', event: 'offer', payload: { sdp: 'v=0 é' } });
    expect(await toV1.next()).toEqual({ type: 'broadcast', event: 'offer', payload: { sdp: 'v=0 é' } });

    await chB.send({ type: 'broadcast', event: 'answer', payload: { n: 2 } });
    expect(await toB.next()).toMatchObject({ event: 'answer', payload: { n: 2 } }); // self: true
    expect(await toA.next()).toMatchObject({ event: 'answer', payload: { n: 2 } });
    expect(await toV1.next()).toMatchObject({ event: 'answer', payload: { n: 2 } });

    await chV1.send({ type: 'broadcast', event: 'from-v1', payload: { ok: true } });
    expect(await toA.next()).toMatchObject({ event: 'from-v1', payload: { ok: true } });
    expect(await toB.next()).toMatchObject({ event: 'from-v1', payload: { ok: true } });

    // Binary payloads travel as bytes between vsn 2.0.0 clients.
    await chB.send({ type: 'broadcast', event: 'bytes', payload: new Uint8Array([1, 2, 250]).buffer });
    const bytes = (await toA.next()) as { payload: ArrayBuffer };
    expect(Array.from(new Uint8Array(bytes.payload))).toEqual([1, 2, 250]);
    await toB.next(); // its own echo

    await sleep(200);
    expect(toA.items).toEqual([]); // self: false — never its own messages
    expect(toV1.items).toEqual([]); // a binary payload has no JSON form for vsn 1.0.0
  });

  it('sends over REST (single and batch) to subscribed clients', async () => {
    const a = await client(host.token);
    const got = inbox<unknown>();
    const ch = a.channel('rest-room').on('broadcast', { event: 'note' }, (m) => got.push(m));
    await subscribe(ch);
    await expect(ch.httpSend('note', { via: 'httpSend' })).resolves.toEqual({ success: true });
    expect(await got.next()).toMatchObject({ event: 'note', payload: { via: 'httpSend' } });

    const res = await fetch(`${apiUrl}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { apikey: anonKey, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ topic: 'rest-room', event: 'note', payload: { via: 'batch' } }] }),
    });
    expect(res.status).toBe(202);
    expect(await got.next()).toMatchObject({ event: 'note', payload: { via: 'batch' } });

    const bad = await fetch(`${apiUrl}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { apikey: 'nope', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ reason: 'invalid_token' });

    // A payload nested too deep to pass on: refused as a whole, nobody gets a part of the batch.
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const nested = await fetch(`${apiUrl}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { apikey: anonKey, 'content-type': 'application/json' },
      body: `{"messages":[{"topic":"rest-room","event":"note","payload":{"first":true}},{"topic":"rest-room","event":"note","payload":${deep}}]}`,
    });
    expect(nested.status).toBe(400);
    expect(await nested.json()).toMatchObject({ reason: 'invalid_request', error: 'messages[1].payload cannot be sent on as JSON (nested too deep)' });
    await sleep(200);
    expect(got.items).toEqual([]);
  });
});

describe('presence', () => {
  it('syncs state, announces joins and leaves, also when a socket closes', async () => {
    const watcher = await client(host.token);
    const joiner = await client(guest.token);
    const syncs = inbox<number>();
    const joins = inbox<{ key: string; newPresences: unknown[] }>();
    const leaves = inbox<{ key: string; leftPresences: unknown[] }>();
    const chW = watcher
      .channel('lobby', { config: { presence: { key: 'host' } } })
      .on('presence', { event: 'sync' }, () => syncs.push(1))
      .on('presence', { event: 'join' }, (p) => joins.push(p))
      .on('presence', { event: 'leave' }, (p) => leaves.push(p));
    await subscribe(chW);
    await syncs.next(); // presence_state after the join
    expect(await chW.track({ role: 'host' })).toBe('ok');
    expect((await joins.next()).key).toBe('host');

    const chJ = joiner.channel('lobby', { config: { presence: { key: 'guest-1' } } }).on('presence', { event: 'sync' }, () => undefined);
    await subscribe(chJ);
    await chJ.track({ role: 'guest', name: 'Ada' });
    const joined = await joins.next();
    expect(joined.key).toBe('guest-1');
    expect(joined.newPresences[0]).toMatchObject({ role: 'guest', name: 'Ada' });
    expect(Object.keys(chW.presenceState()).sort()).toEqual(['guest-1', 'host']);
    expect(chJ.presenceState()['host']?.[0]).toMatchObject({ role: 'host' });

    await chJ.untrack();
    expect((await leaves.next()).key).toBe('guest-1');
    expect(Object.keys(chW.presenceState())).toEqual(['host']);

    await chJ.track({ role: 'guest', name: 'Ada' });
    expect((await joins.next()).key).toBe('guest-1');
    await joiner.realtime.disconnect();
    const left = await leaves.next();
    expect(left.key).toBe('guest-1');
    expect(Object.keys(chW.presenceState())).toEqual(['host']);
  });
});

/** A raw Phoenix socket (JSON, vsn 1.0.0) whose replies the test reads by ref. */
async function rawSocket(token: string): Promise<{ send(msg: string): void; reply(ref: string): Promise<{ status: string; response: unknown }>; close(): Promise<void> }> {
  const ws = new WebSocket(`${apiUrl.replace('http', 'ws')}/realtime/v1/websocket?apikey=${token}&vsn=1.0.0`);
  const replies = new Map<string, { status: string; response: unknown }>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { event: string; ref: string | null; payload: { status: string; response: unknown } };
    if (msg.event === 'phx_reply' && msg.ref) replies.set(msg.ref, msg.payload);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return {
    send: (msg) => ws.send(msg),
    async reply(ref) {
      for (let i = 0; i < 100 && !replies.has(ref); i++) await sleep(20);
      const r = replies.get(ref);
      if (!r) throw new Error(`no reply to ${ref}`);
      return r;
    },
    close: () => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve()).close())),
  };
}

describe('what a client sends that cannot be passed on', () => {
  it('a presence or broadcast nested too deep to send on is refused where it comes in, and the server lives on', async () => {
    const deep = `${'{"x":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    const a = await rawSocket(anonKey);
    a.send('{"topic":"realtime:deep-room","event":"phx_join","payload":{"config":{"presence":{"key":"a","enabled":true}}},"ref":"1","join_ref":"1"}');
    expect((await a.reply('1')).status).toBe('ok');
    a.send(`{"topic":"realtime:deep-room","event":"presence","payload":{"type":"presence","event":"track","payload":${deep}},"ref":"2","join_ref":"1"}`);
    expect(await a.reply('2')).toMatchObject({ status: 'error', response: { reason: expect.stringMatching(/nested too deep/) } });
    a.send(`{"topic":"realtime:deep-room","event":"broadcast","payload":{"type":"broadcast","event":"x","payload":${deep}},"ref":"3","join_ref":"1"}`);
    expect(await a.reply('3')).toMatchObject({ status: 'error', response: { reason: expect.stringMatching(/nested too deep/) } });
    const big = JSON.stringify({ blob: 'x'.repeat(70_000) });
    a.send(`{"topic":"realtime:deep-room","event":"presence","payload":{"type":"presence","event":"track","payload":${big}},"ref":"4","join_ref":"1"}`);
    expect(await a.reply('4')).toMatchObject({ status: 'error', response: { reason: expect.stringMatching(/over 65536 bytes/) } });
    // Another member joins, and the first leaves: nothing it sent is passed on, nothing breaks.
    const b = await rawSocket(anonKey);
    b.send('{"topic":"realtime:deep-room","event":"phx_join","payload":{"config":{"presence":{"key":"b","enabled":true}}},"ref":"1","join_ref":"1"}');
    expect((await b.reply('1')).status).toBe('ok');
    await a.close();
    const c = await client(host.token);
    await subscribe(c.channel('after-the-deep-room'));
    await b.close();
  });

  it('one connection holds at most 256 KiB of presence across its channels; a channel left gives its share back', async () => {
    const a = await rawSocket(anonKey);
    const meta = JSON.stringify({ blob: 'x'.repeat(60_000) });
    for (let i = 1; i <= 5; i++) {
      a.send(`{"topic":"realtime:presence-heap-${i}","event":"phx_join","payload":{"config":{"presence":{"key":"a","enabled":true}}},"ref":"j${i}","join_ref":"j${i}"}`);
      expect((await a.reply(`j${i}`)).status).toBe('ok');
    }
    for (let i = 1; i <= 4; i++) {
      a.send(`{"topic":"realtime:presence-heap-${i}","event":"presence","payload":{"type":"presence","event":"track","payload":${meta}},"ref":"t${i}","join_ref":"j${i}"}`);
      expect((await a.reply(`t${i}`)).status).toBe('ok');
    }
    // The same channel tracked again replaces its own share.
    a.send(`{"topic":"realtime:presence-heap-4","event":"presence","payload":{"type":"presence","event":"track","payload":${meta}},"ref":"again","join_ref":"j4"}`);
    expect((await a.reply('again')).status).toBe('ok');
    a.send(`{"topic":"realtime:presence-heap-5","event":"presence","payload":{"type":"presence","event":"track","payload":${meta}},"ref":"t5","join_ref":"j5"}`);
    expect(await a.reply('t5')).toMatchObject({ status: 'error', response: { reason: expect.stringMatching(/over 262144 bytes of JSON across its channels/) } });
    a.send('{"topic":"realtime:presence-heap-1","event":"phx_leave","payload":{},"ref":"l1","join_ref":"j1"}');
    expect((await a.reply('l1')).status).toBe('ok');
    a.send(`{"topic":"realtime:presence-heap-5","event":"presence","payload":{"type":"presence","event":"track","payload":${meta}},"ref":"t5b","join_ref":"j5"}`);
    expect((await a.reply('t5b')).status).toBe('ok');
    await a.close();
  });

  it('a token made for another audience (a call token, role guest) opens no channel', async () => {
    const callToken = await signJwt({ sub: guest.id, role: 'guest', aud: 'roast-live-call' }, SECRET, 600);
    const s = await rawSocket(anonKey);
    s.send(`{"topic":"realtime:guest-room","event":"phx_join","payload":{"config":{},"access_token":"${callToken}"},"ref":"1","join_ref":"1"}`);
    expect(await s.reply('1')).toMatchObject({ status: 'error', response: { reason: expect.stringMatching(/role "guest" is not one of anon, authenticated, service_role/) } });
    await s.close();
  });
});

describe('private channels', () => {
  it('lets the host and the seated guest in, refuses others, and keeps public and private apart', async () => {
    const hostClient = await client(host.token);
    const guestClient = await client(guest.token);
    const hostInbox = inbox<unknown>();
    const chHost = hostClient
      .channel(signalingTopic, { config: { private: true } })
      .on('broadcast', { event: '*' }, (m) => hostInbox.push(m));
    const chGuest = guestClient.channel(signalingTopic, { config: { private: true, broadcast: { ack: true } } });
    await Promise.all([subscribe(chHost), subscribe(chGuest)]);

    const strangerClient = await client(stranger.token);
    const refused = strangerClient.channel(signalingTopic, { config: { private: true } });
    await expect(subscribe(refused)).rejects.toThrow(/Unauthorized/);
    await strangerClient.removeChannel(refused); // else the client keeps trying to rejoin
    const anonClient = await client();
    const anonRefused = anonClient.channel(signalingTopic, { config: { private: true } });
    await expect(subscribe(anonRefused)).rejects.toThrow(/CHANNEL_ERROR/);
    await anonClient.removeChannel(anonRefused);

    // A public channel of the same name hears nothing of the private one.
    const eavesdrop = inbox<unknown>();
    const chPublic = (await client(stranger.token)).channel(signalingTopic).on('broadcast', { event: '*' }, (m) => eavesdrop.push(m));
    await subscribe(chPublic);

    expect(await chGuest.send({ type: 'broadcast', event: 'offer', payload: { sdp: 'guest' } })).toBe('ok');
    expect(await hostInbox.next()).toMatchObject({ event: 'offer', payload: { sdp: 'guest' } });

    // A burst (an offer and its ICE candidates) arrives whole and in the order it was sent.
    const burst = Array.from({ length: 40 }, (_, i) => chGuest.send({ type: 'broadcast', event: 'ice', payload: { n: i } }));
    expect(await Promise.all(burst)).toEqual(Array(40).fill('ok'));
    const received: number[] = [];
    for (let i = 0; i < 40; i++) received.push(((await hostInbox.next()) as { payload: { n: number } }).payload.n);
    expect(received).toEqual(Array.from({ length: 40 }, (_, i) => i));

    // REST: private sends are checked against the caller.
    await expect(chHost.httpSend('ice', { c: 1 })).resolves.toEqual({ success: true });
    expect(await hostInbox.next()).toMatchObject({ event: 'ice', payload: { c: 1 } }); // REST has no sender to skip
    const strangerRest = await fetch(`${apiUrl}/realtime/v1/api/broadcast/${encodeURIComponent(signalingTopic)}/events/ice?private=true`, {
      method: 'POST',
      headers: { apikey: anonKey, authorization: `Bearer ${stranger.token}`, 'content-type': 'application/json' },
      body: '{"c":2}',
    });
    expect(strangerRest.status).toBe(403);

    // The guest leaves the seat: once the channel's write authorization is due again (as hosted
    // Realtime, it is not re-checked on every message), the next send is refused.
    await db.pool.query('update public.stream_guest_seats set left_at = now() where user_id = $1', [guest.id]);
    await sleep(WRITE_AUTH_TTL_MS + 100);
    expect(await chGuest.send({ type: 'broadcast', event: 'offer', payload: { sdp: 'late' } })).toBe('error');

    await sleep(200);
    expect(hostInbox.items).toEqual([]);
    expect(eavesdrop.items).toEqual([]);
    await db.pool.query('update public.stream_guest_seats set left_at = null where user_id = $1', [guest.id]);
  });

  it('closes the channel with a system message when the new access token is bad', async () => {
    const c = createClient(apiUrl, anonKey, { auth: { persistSession: false }, realtime: { transport: WebSocket as never } });
    clients.push(c);
    await c.realtime.setAuth(host.token);
    const system = inbox<{ status: string; message: string }>();
    const statuses = inbox<string>();
    const ch = c.channel(signalingTopic, { config: { private: true } }).on('system', {}, (p) => system.push(p));
    ch.subscribe((status) => statuses.push(status));
    expect(await statuses.next()).toBe('SUBSCRIBED');

    await c.realtime.setAuth(await signJwt({ sub: host.id, role: 'authenticated' }, 'another-secret-of-at-least-32-characters!'));
    expect(await system.next()).toMatchObject({ status: 'error', message: expect.stringMatching(/invalid access token/) });
    expect(await statuses.next()).toBe('CLOSED');
  });

  it('closes the channel when its token expires', async () => {
    const shortLived = await userToken(host.id, 2);
    const c = await client(shortLived);
    const system = inbox<{ message: string }>();
    const statuses = inbox<string>();
    c.channel(signalingTopic, { config: { private: true } })
      .on('system', {}, (p) => system.push(p))
      .subscribe((status) => statuses.push(status));
    expect(await statuses.next()).toBe('SUBSCRIBED');
    expect((await system.next(5000)).message).toBe('Token has expired');
    expect(await statuses.next()).toBe('CLOSED');
  });
});

describe('a table watch of the app', () => {
  it('is opened again with a fresh token when the server closes it for an expired one, and reports the gap', async () => {
    // The first token runs out in 2 s (a page hidden too long to refresh it); the next the client asks for is good.
    const tokens = [await userToken(host.id, 2), host.token];
    const c = createClient(apiUrl, anonKey, {
      auth: { persistSession: false, autoRefreshToken: false },
      accessToken: async () => (tokens.length > 1 ? tokens.shift()! : tokens[0]!),
      realtime: { transport: WebSocket as never },
    });
    clients.push(c);
    const rows = inbox<{ body: string }>();
    let rejoins = 0;
    const stop = await watchTable<{ body: string }>(c, 'notes-watch', {
      table: 'rt_notes',
      filter: `owner=eq.${host.id}`,
      events: ['INSERT'],
      onRow: (row) => rows.push(row),
      onRejoin: () => (rejoins += 1),
    });
    try {
      await expect.poll(() => logs.some((l) => l.includes('Token has expired') && l.includes('notes-watch')), { timeout: 10_000 }).toBe(true);
      await expect.poll(() => rejoins, { timeout: 10_000 }).toBe(1);
      await db.pool.query('insert into public.rt_notes (owner, body) values ($1, $2)', [host.id, 'after the gap']);
      expect(await rows.next(5000)).toMatchObject({ body: 'after the gap' });
    } finally {
      stop();
    }
  });
});

describe('postgres_changes', () => {
  it('delivers filtered INSERT/UPDATE/DELETE only to subscribers who may see the row', async () => {
    const u = await client(host.token);
    const other = await client(guest.token);
    const filtered = inbox<Record<string, unknown>>();
    const all = inbox<Record<string, unknown>>();
    const system = inbox<{ extension: string; status: string }>();
    const ch = u
      .channel('notes')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rt_notes', filter: `owner=eq.${host.id}` }, (p) => filtered.push(p))
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'rt_notes', filter: 'n=gte.10' }, (p) => filtered.push(p))
      .on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes' }, (p) => all.push(p))
      .on('system', {}, (p) => system.push(p));
    await subscribe(ch);
    expect(await system.next()).toMatchObject({ extension: 'postgres_changes', status: 'ok' });
    const selected = inbox<Record<string, unknown>>();
    await subscribe(
      u
        .channel('notes-select')
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rt_notes', select: ['id', 'n'] }, (p) => selected.push(p)),
    );
    const otherAll = inbox<Record<string, unknown>>();
    await subscribe(other.channel('notes-other').on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes' }, (p) => otherAll.push(p)));

    // The guest's row: hidden from the host by RLS, and the other way round.
    await db.pool.query('insert into public.rt_notes (owner, body) values ($1, $2)', [guest.id, 'secret']);
    // The host's row, written as the host (as the REST API would): the trigger runs for any role.
    const conn = await db.pool.connect();
    let id: number;
    try {
      await conn.query('begin');
      await conn.query("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)", [
        JSON.stringify({ sub: host.id, role: 'authenticated' }),
      ]);
      const { rows } = await conn.query<{ id: string }>('insert into public.rt_notes (owner, body, n) values ($1, $2, 1) returning id', [host.id, 'mine']);
      await conn.query('commit');
      id = Number(rows[0]!.id);
    } finally {
      conn.release();
    }

    const inserted = await filtered.next();
    expect(inserted).toMatchObject({ eventType: 'INSERT', schema: 'public', table: 'rt_notes', new: { id, owner: host.id, body: 'mine', n: 1 } });
    expect(typeof inserted.commit_timestamp).toBe('string');
    expect(await all.next()).toMatchObject({ eventType: 'INSERT', new: { id, body: 'mine' } });
    expect((await otherAll.next()).new).toMatchObject({ owner: guest.id, body: 'secret' });
    expect((await selected.next()).new).toEqual({ id, n: 1 }); // only the selected columns

    await db.pool.query('update public.rt_notes set n = 5 where id = $1', [id]); // filter n>=10 does not match
    await db.pool.query('update public.rt_notes set n = 12, body = $2 where id = $1', [id, 'x'.repeat(9000)]); // too big for one notification
    expect(await all.next()).toMatchObject({ eventType: 'UPDATE', new: { n: 5 } });
    const updated = await filtered.next();
    expect(updated).toMatchObject({ eventType: 'UPDATE', new: { id, n: 12 }, old: { id } });
    expect((updated.new as { body: string }).body).toHaveLength(9000);
    expect(await all.next()).toMatchObject({ eventType: 'UPDATE', new: { n: 12 } });

    await db.pool.query('delete from public.rt_notes where id = $1', [id]);
    const deleted = await all.next();
    expect(deleted).toMatchObject({ eventType: 'DELETE', old: { id } });
    expect(Object.keys(deleted.old as object)).toEqual(['id']); // only the primary key
    // The row is gone, so RLS cannot be asked: a DELETE reaches every matching subscriber, key only.
    expect(await otherAll.next()).toMatchObject({ eventType: 'DELETE', old: { id } });

    await sleep(200);
    expect(filtered.items).toEqual([]);
    expect(selected.items).toEqual([]);
    expect(all.items).toEqual([]); // never the guest's row
    expect(otherAll.items).toEqual([]); // never the host's rows
  });

  it('refuses bindings to a table that does not exist or a bad filter', async () => {
    const c = await client(host.token);
    await expect(
      subscribe(c.channel('nope').on('postgres_changes', { event: '*', schema: 'public', table: 'no_such_table' }, () => undefined)),
    ).rejects.toThrow(/does not exist/);
    await expect(
      subscribe(c.channel('nope-2').on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes', filter: 'n=zz.1' }, () => undefined)),
    ).rejects.toThrow(/invalid filter/);
    await expect(
      subscribe(c.channel('nope-3').on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes', filter: 'body=match.^(a+)+$' }, () => undefined)),
    ).rejects.toThrow(/operator "match" is not supported \(Realtime filters take eq, neq, lt, lte, gt, gte, in\)/);
    // A value that is not of its column's type is refused, as hosted Realtime does, not left to match nothing.
    await expect(
      subscribe(c.channel('nope-4').on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes', filter: 'owner=eq.not-a-uuid' }, () => undefined)),
    ).rejects.toThrow(/a filter value is not of its column's type, owner \(uuid\): invalid input syntax for type uuid/);
    await expect(
      subscribe(c.channel('nope-5').on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes', filter: 'n=in.(1,two)' }, () => undefined)),
    ).rejects.toThrow(/n \(integer\)/);
    // Values of the column's type subscribe.
    await subscribe(c.channel('ok-6').on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes', filter: `owner=eq.${host.id}` }, () => undefined));
    await subscribe(c.channel('ok-7').on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes', filter: 'n=in.(1,2)' }, () => undefined));
    // Cast as hosted does, to the type without its precision (1000 is a numeric, if not a numeric(5,2)); a domain's
    // check refuses a value as not of the type.
    await db.pool.query(`
      create domain public.rt_positive as int check (value > 0);
      create table public.rt_prices (id bigserial primary key, price numeric(5,2) not null, qty public.rt_positive not null);
      alter publication supabase_realtime add table public.rt_prices;
    `);
    await subscribe(c.channel('ok-8').on('postgres_changes', { event: '*', schema: 'public', table: 'rt_prices', filter: 'price=lt.1000' }, () => undefined));
    await expect(
      subscribe(c.channel('nope-9').on('postgres_changes', { event: '*', schema: 'public', table: 'rt_prices', filter: 'qty=eq.-1' }, () => undefined)),
    ).rejects.toThrow(/a filter value is not of its column's type, qty \(rt_positive\)/);
  });
});

describe('server health', () => {
  it('logged no internal failure along the way', () => {
    expect(logs.filter((line) => /failed:|broke|change not delivered|internal/.test(line))).toEqual([]);
  });
});
