/**
 * The server with raw WebSocket frames (what supabase-js never sends) and a
 * stand-in pool: malformed input, unmatched topics, protocol versions and the
 * refusal of private channels when the database lacks their function.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { rawExchange, rawUpgrade } from '../../../tests/support/rawHttp.js';
import { makeApiKeys } from '../jwt.js';
import { createRealtimeServer, type RealtimeServer } from './index.js';

const SECRET = 'unit-test-secret-with-at-least-32-characters!';

/** A pool whose database has no public.realtime_topic_allowed. */
function poolWithoutTopicFunction(): pg.Pool {
  const client = {
    async query(sql: string) {
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

let server: RealtimeServer;
let http: Server;
let base: string;
let anonKey: string;
let logs: string[];
const sockets: WebSocket[] = [];

beforeEach(async () => {
  logs = [];
  anonKey = (await makeApiKeys(SECRET)).anonKey;
  server = createRealtimeServer({ pool: poolWithoutTopicFunction(), jwtSecret: SECRET, anonKey, log: (m) => logs.push(m) });
  http = createServer((req, res) => {
    void server.handleHttp(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end('not realtime');
    });
  });
  http.on('upgrade', (req, socket, head) => server.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await server.close();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

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
        const timer = setTimeout(() => reject(new Error('no frame arrived')), ms);
        waiters.push((m) => {
          clearTimeout(timer);
          resolve(m);
        });
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
  });

  it('closes its connections on close(), and close() is idempotent', async () => {
    const peer = await connect('2.0.0');
    const closed = new Promise<number>((resolve) => peer.ws.once('close', (code) => resolve(code)));
    await Promise.all([server.close(), server.close()]);
    expect(await closed).toBe(1001);
    expect(await upgradeStatus(`/realtime/v1/websocket?apikey=${anonKey}`)).toBe(503);
  });
});
