/**
 * The server with raw WebSocket frames (what supabase-js never sends) and a
 * stand-in pool: malformed input, unmatched topics, protocol versions and the
 * refusal of private channels when the database lacks their function; the
 * limits of one connection.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { rawExchange, rawUpgrade } from '../../../tests/support/rawHttp.js';
import { makeApiKeys, signJwt } from '../jwt.js';
import { createRealtimeServer, type RealtimeServer, type RealtimeServerOptions } from './index.js';

const SECRET = 'unit-test-secret-with-at-least-32-characters!';

/** A pool whose database has no public.realtime_topic_allowed; with `stall`, that check answers once it resolves. */
function poolWithoutTopicFunction(stall?: Promise<void>): pg.Pool {
  const client = {
    async query(sql: string) {
      if (stall && sql.includes('realtime_topic_allowed')) await stall;
      if (sql.includes('realtime_topic_allowed')) {
        throw Object.assign(new Error('function public.realtime_topic_allowed(unknown) does not exist'), { code: '42883' });
      }
      return { rows: [], rowCount: 0 };
    },
    release() {},
    on() {},
    removeListener() {},
  };
  return { connect: async () => client } as unknown as pg.Pool;
}

/**
 * A pool whose topic check allows every topic, answering at once until `hold()`: from then on the
 * checks wait until the function it returns is called.
 */
function gatedPool(): { pool: pg.Pool; hold: () => () => void } {
  let gate: Promise<void> = Promise.resolve();
  const client = {
    async query(sql: string) {
      if (sql.includes('realtime_topic_allowed')) {
        await gate;
        return { rows: [{ allowed: true }], rowCount: 1 };
      }
      return { rows: [], rowCount: 0 };
    },
    release() {},
    on() {},
    removeListener() {},
  };
  return {
    pool: { connect: async () => client } as unknown as pg.Pool,
    hold: () => {
      let open = (): void => undefined;
      gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      return open;
    },
  };
}

let server: RealtimeServer;
let http: Server;
let base: string;
let anonKey: string;
let logs: string[];
const sockets: WebSocket[] = [];

async function start(opts: Partial<RealtimeServerOptions> = {}): Promise<void> {
  logs = [];
  anonKey = (await makeApiKeys(SECRET)).anonKey;
  server = createRealtimeServer({ pool: poolWithoutTopicFunction(), jwtSecret: SECRET, anonKey, log: (m) => logs.push(m), ...opts });
  http = createServer((req, res) => {
    void server.handleHttp(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end('not realtime');
    });
  });
  http.on('upgrade', (req, socket, head) => server.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `127.0.0.1:${(http.address() as AddressInfo).port}`;
}

async function stop(): Promise<void> {
  for (const ws of sockets.splice(0)) ws.terminate();
  await server.close();
  await new Promise<void>((resolve) => http.close(() => resolve()));
}

/** The server of the test, made anew with these options. */
async function restart(opts: Partial<RealtimeServerOptions>): Promise<void> {
  await stop();
  await start(opts);
}

beforeEach(() => start());
afterEach(() => stop());

interface Peer {
  ws: WebSocket;
  send(frame: unknown): void;
  next(ms?: number): Promise<unknown>;
  received: unknown[];
}

async function connect(vsn?: string): Promise<Peer> {
  const query = `apikey=${anonKey}${vsn ? `&vsn=${vsn}` : ''}`;
  const ws = new WebSocket(`ws://${base}/realtime/v1/websocket?${query}`);
  ws.binaryType = 'nodebuffer';
  sockets.push(ws);
  const received: unknown[] = [];
  const waiters: Array<(m: unknown) => void> = [];
  ws.on('message', (data: Buffer, isBinary) => {
    const msg = isBinary ? { binary: Array.from(data) } : JSON.parse(data.toString('utf8'));
    const waiter = waiters.shift();
    if (waiter) waiter(msg);
    else received.push(msg);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    received,
    send: (frame) => ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame)),
    next: (ms = 2000) => {
      const ready = received.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const waiter = (m: unknown): void => {
          clearTimeout(timer);
          resolve(m);
        };
        // A wait that timed out takes no later frame away from the next one.
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error('no frame arrived'));
        }, ms);
        waiters.push(waiter);
      });
    },
  };
}

function upgradeStatus(path: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${base}${path}`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', () => undefined);
  });
}

describe('realtime server, raw frames', () => {
  it('ignores malformed frames and keeps serving the connection', async () => {
    const peer = await connect('2.0.0');
    peer.send('this is not json');
    peer.send('[1,2]');
    peer.send(JSON.stringify({ topic: 'phoenix' }));
    peer.send(Buffer.from([9, 1, 2, 3]));
    peer.ws.send(Buffer.from([3, 200, 0, 0, 0, 0, 1]), { binary: true });
    peer.send(['1', '2', 'phoenix', 'heartbeat', {}]);
    expect(await peer.next()).toEqual(['1', '2', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
    expect(peer.received).toEqual([]);
    expect(logs.filter((l) => l.includes('ignored a frame'))).toHaveLength(5);
  });

  it('answers a malformed push whose ref and topic could be read with the reason, as its reply', async () => {
    const peer = await connect('2.0.0');
    // A binary broadcast push (kind 3) with an empty event: join_ref "1", ref "7", topic "realtime:room".
    const topic = Buffer.from('realtime:room');
    peer.ws.send(Buffer.concat([Buffer.from([3, 1, 1, topic.length, 0, 0, 1]), Buffer.from('17'), topic]), { binary: true });
    expect(await peer.next()).toEqual(['1', '7', 'realtime:room', 'phx_reply', { status: 'error', response: { reason: 'broadcast event must be a non-empty string' } }]);
    // Its JSON payload is not JSON.
    const event = Buffer.from('hi');
    peer.ws.send(Buffer.concat([Buffer.from([3, 1, 1, topic.length, event.length, 0, 1]), Buffer.from('18'), topic, event, Buffer.from('{nope')]), { binary: true });
    expect(await peer.next()).toMatchObject(['1', '8', 'realtime:room', 'phx_reply', { status: 'error', response: { reason: expect.stringMatching(/payload/) } }]);
    // A text frame with an empty event.
    peer.send(['1', '9', 'realtime:room', '', {}]);
    expect(await peer.next()).toEqual(['1', '9', 'realtime:room', 'phx_reply', { status: 'error', response: { reason: 'event must be a non-empty string' } }]);
  });

  it('answers pushes to topics it has not joined with "unmatched topic"', async () => {
    const peer = await connect('2.0.0');
    peer.send(['1', '3', 'realtime:room', 'broadcast', { type: 'broadcast', event: 'x', payload: {} }]);
    expect(await peer.next()).toEqual(['1', '3', 'realtime:room', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }]);
  });

  it('refuses joins with a bad config or topic, with a reason', async () => {
    const peer = await connect('2.0.0');
    peer.send(['1', '1', 'room', 'phx_join', {}]);
    expect(await peer.next()).toMatchObject(['1', '1', 'room', 'phx_reply', { status: 'error', response: { reason: expect.stringMatching(/realtime:/) } }]);
    peer.send(['2', '2', 'realtime:room', 'phx_join', { config: { postgres_changes: [{ event: 'NOPE', schema: 'public' }] } }]);
    expect(await peer.next()).toMatchObject(['2', '2', 'realtime:room', 'phx_reply', { status: 'error', response: { reason: expect.stringMatching(/event/) } }]);
    peer.send(['3', '3', 'realtime:room', 'phx_join', { config: {}, access_token: 'forged' }]);
    expect(await peer.next()).toMatchObject(['3', '3', 'realtime:room', 'phx_reply', { status: 'error', response: { reason: expect.stringMatching(/Invalid token/) } }]);
  });

  it('refuses private channels when the database has no realtime_topic_allowed', async () => {
    const peer = await connect('2.0.0');
    peer.send(['1', '1', 'realtime:stream:x:signaling', 'phx_join', { config: { private: true } }]);
    const reply = (await peer.next()) as [string, string, string, string, { status: string; response: { reason: string } }];
    expect(reply[4].status).toBe('error');
    expect(reply[4].response.reason).toMatch(/public\.realtime_topic_allowed/);
  });

  it('speaks vsn 1.0.0 (the default) with objects, and relays broadcasts between versions', async () => {
    const v1 = await connect();
    const v2 = await connect('2.0.0');
    v1.send({ topic: 'realtime:mix', event: 'phx_join', payload: { config: { broadcast: { ack: true } } }, ref: '1', join_ref: '1' });
    expect(await v1.next()).toEqual({ topic: 'realtime:mix', event: 'phx_reply', payload: { status: 'ok', response: { postgres_changes: [] } }, ref: '1', join_ref: '1' });
    v2.send(['9', '9', 'realtime:mix', 'phx_join', { config: {} }]);
    expect(await v2.next()).toEqual(['9', '9', 'realtime:mix', 'phx_reply', { status: 'ok', response: { postgres_changes: [] } }]);

    v1.send({ topic: 'realtime:mix', event: 'broadcast', payload: { type: 'broadcast', event: 'hi', payload: { a: 1 } }, ref: '2', join_ref: '1' });
    expect(await v1.next()).toMatchObject({ event: 'phx_reply', ref: '2', payload: { status: 'ok' } }); // ack
    const frame = (await v2.next()) as { binary: number[] };
    const bytes = Buffer.from(frame.binary);
    expect(bytes[0]).toBe(4); // kind 4 user broadcast
    expect(bytes.subarray(5).toString('utf8')).toBe('realtime:mixhi{"a":1}');

    v2.send(['9', '10', 'realtime:mix', 'broadcast', { type: 'broadcast', event: 'yo', payload: { b: 2 } }]);
    expect(await v1.next()).toEqual({
      topic: 'realtime:mix',
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'yo', payload: { b: 2 } },
      ref: null,
      join_ref: null,
    });

    v2.send(['9', '11', 'realtime:mix', 'phx_leave', {}]);
    expect(await v2.next()).toEqual(['9', '11', 'realtime:mix', 'phx_reply', { status: 'ok', response: {} }]);
  });

  it('refuses other paths, bad versions and bad keys at the upgrade; leaves other HTTP paths alone', async () => {
    expect(await upgradeStatus(`/realtime/v1/websocket?apikey=${anonKey}&vsn=3.0.0`)).toBe(400);
    expect(await upgradeStatus(`/elsewhere?apikey=${anonKey}`)).toBe(404);
    expect(await upgradeStatus('/realtime/v1/websocket?vsn=2.0.0')).toBe(401);
    const port = Number(base.split(':')[1]);
    for (const target of ['*', 'http://[']) expect(await rawExchange(port, rawUpgrade(target)), target).toMatch(/^HTTP\/1\.1 400 .*"reason":"invalid_request"/s);
    expect(await rawExchange(port, rawUpgrade('//['))).toMatch(/^HTTP\/1\.1 404 /);
    const res = await fetch(`http://${base}/rest/v1/things`);
    expect(await res.text()).toBe('not realtime');
    const bad = await fetch(`http://${base}/realtime/v1/api/broadcast`, { method: 'POST', headers: { apikey: anonKey }, body: '{"messages":[]}' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ reason: 'invalid_request' });
    const latin1 = await fetch(`http://${base}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { apikey: anonKey, 'content-type': 'application/json' },
      body: Buffer.from('{"messages":[{"topic":"room","event":"caf\xe9","payload":{}}]}', 'latin1'),
    });
    expect(latin1.status).toBe(400);
    expect(await latin1.json()).toMatchObject({ reason: 'invalid_request', error: 'body is not UTF-8 text' });
  });

  it('closes its connections on close(), and close() is idempotent', async () => {
    const peer = await connect('2.0.0');
    const closed = new Promise<number>((resolve) => peer.ws.once('close', (code) => resolve(code)));
    await Promise.all([server.close(), server.close()]);
    expect(await closed).toBe(1001);
    expect(await upgradeStatus(`/realtime/v1/websocket?apikey=${anonKey}`)).toBe(503);
  });
});

describe('limits of one connection', () => {
  const join = (peer: Peer, ref: number, config: Record<string, unknown> = {}): void =>
    peer.send([String(ref), String(ref), `realtime:room-${ref}`, 'phx_join', { config }]);
  /** The reply refusing that join. */
  const refusal = (ref: number, reason: string): unknown[] => [
    String(ref),
    String(ref),
    `realtime:room-${ref}`,
    'phx_reply',
    { status: 'error', response: { reason } },
  ];

  it('joins at most 100 channels; joining one of them again still works', async () => {
    const peer = await connect('2.0.0');
    for (let i = 1; i <= 100; i++) join(peer, i);
    for (let i = 1; i <= 100; i++) expect(await peer.next()).toMatchObject([String(i), String(i), `realtime:room-${i}`, 'phx_reply', { status: 'ok' }]);
    join(peer, 101);
    expect(await peer.next()).toEqual(refusal(101, 'Too many channels: one connection may join at most 100'));
    peer.send(['102', '102', 'realtime:room-7', 'phx_join', { config: {} }]); // the same topic again
    expect(await peer.next()).toMatchObject(['7', '7', 'realtime:room-7', 'phx_close', {}]);
    expect(await peer.next()).toMatchObject(['102', '102', 'realtime:room-7', 'phx_reply', { status: 'ok' }]);
    peer.send(['7', '103', 'realtime:room-8', 'phx_leave', {}]);
    peer.send(['8', '104', 'realtime:room-8', 'phx_leave', {}]);
    expect(await peer.next()).toMatchObject(['7', '103', 'realtime:room-8', 'phx_reply', { status: 'error' }]);
    expect(await peer.next()).toMatchObject(['8', '104', 'realtime:room-8', 'phx_reply', { status: 'ok' }]);
    join(peer, 105); // a place was freed
    expect(await peer.next()).toMatchObject(['105', '105', 'realtime:room-105', 'phx_reply', { status: 'ok' }]);
  });

  it('refuses a join with more than 100 postgres_changes bindings', async () => {
    const peer = await connect('2.0.0');
    const binding = { event: '*', schema: 'public', table: 'notes' };
    join(peer, 1, { postgres_changes: Array(101).fill(binding) });
    expect(await peer.next()).toEqual(refusal(1, 'Too many postgres_changes bindings: 101 in one join, at most 100'));
  });

  it('closes a connection that sends more frames than wait to be handled, saying why', async () => {
    let answer = (): void => undefined;
    const stall = new Promise<void>((resolve) => {
      answer = resolve;
    });
    await restart({ pool: poolWithoutTopicFunction(stall), maxWaitingFrames: 20 });
    try {
      const peer = await connect('2.0.0');
      const closed = new Promise<[number, string]>((resolve) => peer.ws.once('close', (code, reason) => resolve([code, reason.toString()])));
      // A private join whose check does not answer holds the frames behind it.
      peer.send(['1', '1', 'realtime:private-room', 'phx_join', { config: { private: true } }]);
      // A heartbeat is answered at once, whatever waits: the client would otherwise drop the connection after 25 s.
      peer.send([null, 'hb', 'phoenix', 'heartbeat', {}]);
      expect(await peer.next()).toEqual([null, 'hb', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
      for (let i = 0; i < 25; i++) peer.send([null, String(i + 2), 'realtime:elsewhere', 'phx_leave', {}]);
      expect(await closed).toEqual([1008, 'too many messages waiting: more than 20 sent and not yet handled']);
      expect(logs.some((l) => l.includes('more than 20 frames'))).toBe(true);
    } finally {
      answer();
    }
  });

  it('sends a broadcast nowhere when its channel was left while its write check ran', async () => {
    const checks = gatedPool();
    await restart({ pool: checks.pool });
    const sender = await connect('2.0.0');
    const other = await connect('2.0.0');
    sender.send(['1', '1', 'realtime:private-room', 'phx_join', { config: { private: true, broadcast: { ack: true } } }]);
    expect(await sender.next()).toMatchObject(['1', '1', 'realtime:private-room', 'phx_reply', { status: 'ok' }]);
    other.send(['1', '1', 'realtime:private-room', 'phx_join', { config: { private: true } }]);
    expect(await other.next()).toMatchObject(['1', '1', 'realtime:private-room', 'phx_reply', { status: 'ok' }]);
    // A new token: the next broadcast is checked again, and that check is held.
    sender.send(['1', '2', 'realtime:private-room', 'access_token', { access_token: anonKey }]);
    expect(await sender.next()).toMatchObject(['1', '2', 'realtime:private-room', 'phx_reply', { status: 'ok' }]);
    const open = checks.hold();
    sender.send(['1', '3', 'realtime:private-room', 'broadcast', { type: 'broadcast', event: 'late', payload: { n: 1 } }]);
    sender.send(['1', '4', 'realtime:private-room', 'phx_leave', {}]);
    expect(await sender.next()).toMatchObject(['1', '4', 'realtime:private-room', 'phx_reply', { status: 'ok' }]);
    open();
    await expect(other.next(500)).rejects.toThrow('no frame arrived');
    await expect(sender.next(200)).rejects.toThrow('no frame arrived');
  });

  it('keeps a channel whose token was refreshed while its expiry came round', async () => {
    const checks = gatedPool();
    await restart({ pool: checks.pool });
    const peer = await connect('2.0.0');
    const shortLived = await signJwt({ role: 'anon' }, SECRET, 1);
    peer.send(['1', '1', 'realtime:private-room', 'phx_join', { config: { private: true }, access_token: shortLived }]);
    expect(await peer.next()).toMatchObject(['1', '1', 'realtime:private-room', 'phx_reply', { status: 'ok' }]);
    // The refresh's check is held past the old token's expiry: the closing queued meanwhile must find the new token.
    const open = checks.hold();
    peer.send(['1', '2', 'realtime:private-room', 'access_token', { access_token: await signJwt({ role: 'anon' }, SECRET, 3600) }]);
    await new Promise((r) => setTimeout(r, 1300));
    open();
    expect(await peer.next()).toMatchObject(['1', '2', 'realtime:private-room', 'phx_reply', { status: 'ok' }]);
    await new Promise((r) => setTimeout(r, 300));
    // Nothing came in between (a closing would have sent a system message and phx_close first).
    peer.send([null, '4', 'phoenix', 'heartbeat', {}]);
    expect(await peer.next()).toEqual([null, '4', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
    expect(logs.filter((l) => l.includes('Token has expired'))).toEqual([]);
  });

  it('refuses a message over the limit with a reply and goes on; a frame the socket cannot take closes it (1009)', async () => {
    await restart({ maxPayloadBytes: 1024 });
    const peer = await connect('2.0.0');
    join(peer, 1, { broadcast: { ack: true } });
    expect(await peer.next()).toMatchObject(['1', '1', 'realtime:room-1', 'phx_reply', { status: 'ok' }]);
    peer.send(['1', 'big', 'realtime:room-1', 'broadcast', { type: 'broadcast', event: 'x', payload: { text: 'a'.repeat(2000) } }]);
    const reply = (await peer.next()) as [string, string, string, string, { status: string; response: { reason: string } }];
    expect(reply.slice(0, 4)).toEqual(['1', 'big', 'realtime:room-1', 'phx_reply']);
    expect(reply[4]).toEqual({ status: 'error', response: { reason: expect.stringMatching(/^message of 20\d\d bytes is over the 1024 a message may carry$/) } });
    peer.send([null, 'hb', 'phoenix', 'heartbeat', {}]);
    expect(await peer.next()).toEqual([null, 'hb', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
    const closed = new Promise<number>((resolve) => peer.ws.once('close', (code) => resolve(code)));
    peer.send(['1', 'huge', 'realtime:room-1', 'broadcast', { type: 'broadcast', event: 'x', payload: { text: 'a'.repeat(5000) } }]);
    expect(await closed).toBe(1009);
  });

  it('closes a channel whose expiry timer fired a moment before the token expired by the clock', async () => {
    const peer = await connect('2.0.0');
    const shortLived = await signJwt({ role: 'anon' }, SECRET, 1);
    peer.send(['1', '1', 'realtime:room-exp', 'phx_join', { config: {}, access_token: shortLived }]);
    expect(await peer.next()).toMatchObject(['1', '1', 'realtime:room-exp', 'phx_reply', { status: 'ok' }]);
    // The wall clock steps back 300 ms after the timer was set: when it fires, the token has not expired by the clock yet.
    const realNow = Date.now.bind(Date);
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 300);
    try {
      const frames: unknown[] = [];
      for (let i = 0; i < 2; i++) frames.push(await peer.next(3000));
      expect(frames).toEqual([
        ['1', null, 'realtime:room-exp', 'system', expect.objectContaining({ status: 'error', message: 'Token has expired' })],
        ['1', '1', 'realtime:room-exp', 'phx_close', {}],
      ]);
    } finally {
      spy.mockRestore();
    }
  });

  it("delivers to nobody a broadcast whose sender's token expired while its write check ran", async () => {
    const checks = gatedPool();
    await restart({ pool: checks.pool });
    const sender = await connect('2.0.0');
    const other = await connect('2.0.0');
    const shortLived = await signJwt({ role: 'anon' }, SECRET, 1);
    sender.send(['1', '1', 'realtime:private-room', 'phx_join', { config: { private: true, broadcast: { ack: true } }, access_token: shortLived }]);
    expect(await sender.next()).toMatchObject(['1', '1', 'realtime:private-room', 'phx_reply', { status: 'ok' }]);
    other.send(['1', '1', 'realtime:private-room', 'phx_join', { config: { private: true } }]);
    expect(await other.next()).toMatchObject(['1', '1', 'realtime:private-room', 'phx_reply', { status: 'ok' }]);
    // A refresh makes the next broadcast check its rights again; that check is then held past the token's expiry.
    sender.send(['1', '2', 'realtime:private-room', 'access_token', { access_token: shortLived }]);
    expect(await sender.next()).toMatchObject(['1', '2', 'realtime:private-room', 'phx_reply', { status: 'ok' }]);
    const open = checks.hold();
    sender.send(['1', '3', 'realtime:private-room', 'broadcast', { type: 'broadcast', event: 'late', payload: {} }]);
    await new Promise((r) => setTimeout(r, 1300));
    open();
    // The sender's channel is closed for its expired token; the broadcast is not acknowledged and reaches nobody.
    const frames: unknown[] = [];
    for (let i = 0; i < 2; i++) frames.push(await sender.next(3000));
    expect(frames).toEqual([
      ['1', null, 'realtime:private-room', 'system', expect.objectContaining({ message: 'Token has expired' })],
      ['1', '1', 'realtime:private-room', 'phx_close', {}],
    ]);
    await expect(sender.next(300)).rejects.toThrow('no frame arrived');
    await expect(other.next(300)).rejects.toThrow('no frame arrived');
  });

  it('keeps serving a connection whose frames are handled as they come', async () => {
    await restart({ maxWaitingFrames: 5 });
    const peer = await connect('2.0.0');
    for (let i = 0; i < 30; i++) {
      peer.send([null, String(i), 'phoenix', 'heartbeat', {}]);
      expect(await peer.next()).toEqual([null, String(i), 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
    }
    join(peer, 1, { broadcast: { ack: true } });
    expect(await peer.next()).toMatchObject(['1', '1', 'realtime:room-1', 'phx_reply', { status: 'ok' }]);
    for (let i = 0; i < 30; i++) {
      peer.send(['1', `b${i}`, 'realtime:room-1', 'broadcast', { type: 'broadcast', event: 'x', payload: {} }]);
      expect(await peer.next()).toEqual(['1', `b${i}`, 'realtime:room-1', 'phx_reply', { status: 'ok', response: {} }]);
    }
  });
});
