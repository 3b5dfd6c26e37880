import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { encodeMediaMessage, MEDIA_KIND } from '../shared/bridge';
import type { EncoderLike } from './bridgeHost';
import { bridgeRefusal, startStudioServer, type StudioServer } from './studioServer';

let server: StudioServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

function fakeEncoder() {
  return {
    start: vi.fn(async () => ({ encoder: 'libx264', ffmpegPath: '/usr/bin/ffmpeg', ffmpegSource: 'PATH' as const })),
    pushVideo: vi.fn<(i420: Uint8Array, timestampMs: number) => void>(),
    pushAudio: vi.fn<(pcm: Uint8Array, timestampMs: number) => void>(),
    stop: vi.fn(async () => {}),
    onStats: () => () => {},
    dispose: vi.fn(),
    pushH264: vi.fn<(unit: Uint8Array, timestampMs: number) => void>(),
    onKeyframeNeeded: () => () => {},
  } satisfies EncoderLike;
}

async function start(encoder = fakeEncoder(), log?: (message: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'studio-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>studio</title>');
  server = await startStudioServer({
    rendererDir: dir,
    config: { supabaseUrl: 'http://127.0.0.1:54321', supabaseAnonKey: 'anon' },
    createEncoder: () => encoder,
    ...(log ? { log } : {}),
  });
  return { server, encoder };
}

/** Sends raw bytes to the server and resolves with all it answers until it closes the connection. */
function rawExchange(url: string, request: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(port), hostname, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

function connect(url: string, path = '/bridge', headers?: Record<string, string>): Promise<WebSocket> {
  const ws = new WebSocket(url.replace('http', 'ws') + path, headers ? { headers } : undefined);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Writes one masked client frame straight to the socket, past the client's own checks (a bad frame the server must survive). */
function sendRawFrame(ws: WebSocket, opcode: number, payload: Buffer): void {
  if (payload.length > 125) throw new Error('short frames only');
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  const frame = Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
  (ws as unknown as { _socket: Socket })._socket.write(frame);
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

function nextJson(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(data.toString()))));
}

describe('studio server', () => {
  it('serves the renderer, its config and an index.html fallback, and refuses path escapes', async () => {
    const { server } = await start();
    const config = await (await fetch(`${server.url}/config.json`)).json();
    expect(config).toEqual({ supabaseUrl: 'http://127.0.0.1:54321', supabaseAnonKey: 'anon', shell: 'browser' });
    expect(await (await fetch(`${server.url}/some/route`)).text()).toContain('<title>studio</title>');
    const escape = await fetch(`${server.url}/..%2f..%2fetc%2fpasswd`);
    expect(await escape.text()).not.toContain('root:');
  });

  it('answers a request or a socket upgrade whose target is not a URL with 400, logs it and keeps serving', async () => {
    const log = vi.fn<(message: string) => void>();
    const { server } = await start(fakeEncoder(), log);
    const { host } = new URL(server.url);
    const plain = await rawExchange(server.url, `GET //[ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(plain).toMatch(/^HTTP\/1\.1 400 /);
    const upgrade = await rawExchange(
      server.url,
      `GET //[ HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(upgrade).toMatch(/^HTTP\/1\.1 400 /);
    expect(log).toHaveBeenCalledWith(expect.stringContaining('bad request target'));
    expect(log.mock.calls.filter(([m]) => m.includes('bad request target'))).toHaveLength(2);
    expect((await fetch(`${server.url}/config.json`)).status).toBe(200);
    const ws = await connect(server.url);
    ws.close();
  });

  it('survives a frame ws refuses (an unknown opcode): that socket closes, the fault is counted as a bad request, the studio goes on; text that is not UTF-8 is a malformed request, not a reason to close', async () => {
    const log = vi.fn<(message: string) => void>();
    const { server, encoder } = await start(fakeEncoder(), log);
    const ws = await connect(server.url, '/bridge?peer=page-1');
    ws.send(JSON.stringify({ id: 1, channel: 'encoder:start', args: [{ url: 'rtmp://127.0.0.1/live/k', width: 640, height: 360, fps: 30 }] }));
    await nextJson(ws);

    const media = await connect(server.url, '/bridge/media?peer=page-1');
    const mediaClosed = closed(media);
    sendRawFrame(media, 0x3, Buffer.from([1, 2, 3]));
    expect(await mediaClosed).toBe(1002);
    // The page's control socket and its encoder carry on.
    ws.send(JSON.stringify({ id: 2, channel: 'app:config', args: [] }));
    expect(await nextJson(ws)).toMatchObject({ id: 2, ok: true });
    expect(encoder.stop).not.toHaveBeenCalled();

    sendRawFrame(ws, 0x1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect(await nextJson(ws)).toEqual({ id: -1, ok: false, error: { reason: 'bridge_invalid_message', message: 'message is not UTF-8 text' } });
    // Bad bytes inside a JSON string too: refused, not run with U+FFFD in their place.
    sendRawFrame(ws, 0x1, Buffer.concat([Buffer.from('{"id":9,"channel":"app:config","args":["'), Buffer.from([0xc3, 0x28]), Buffer.from('"]}')]));
    expect(await nextJson(ws)).toMatchObject({ id: -1, ok: false, error: { message: 'message is not UTF-8 text' } });
    ws.send(JSON.stringify({ id: 4, channel: 'app:config', args: [] }));
    expect(await nextJson(ws)).toMatchObject({ id: 4, ok: true });
    expect(encoder.stop).not.toHaveBeenCalled();
    expect(log).toHaveBeenCalledWith(expect.stringMatching(/malformed request.*media socket was closed/));

    const wsClosed = closed(ws);
    sendRawFrame(ws, 0x3, Buffer.from([1]));
    expect(await wsClosed).toBe(1002);
    expect(log).toHaveBeenCalledWith(expect.stringMatching(/malformed request.*bridge socket was closed/));

    const again = await connect(server.url);
    again.send(JSON.stringify({ id: 3, channel: 'app:config', args: [] }));
    expect(await nextJson(again)).toMatchObject({ id: 3, ok: true });
    expect((await fetch(`${server.url}/config.json`)).status).toBe(200);
    again.close();
  });

  it("opens the bridge to the studio's own page only: another site's page, or a name rebound to this machine, is refused", async () => {
    const { server, encoder } = await start();
    const own = new URL(server.url);
    const ws = await connect(server.url, '/bridge', { origin: own.origin });
    ws.close();
    await expect(connect(server.url, '/bridge', { origin: 'https://evil.example' })).rejects.toThrow(/403/);
    await expect(connect(server.url, '/bridge?peer=p', { origin: 'http://localhost:1' })).rejects.toThrow(/403/);
    await expect(connect(server.url, '/bridge', { host: `evil.example:${own.port}`, origin: `http://evil.example:${own.port}` })).rejects.toThrow(/403/);
    expect(encoder.start).not.toHaveBeenCalled();
    expect(bridgeRefusal(`localhost:${own.port}`, `http://localhost:${own.port}`)).toBeNull();
    expect(bridgeRefusal(`[::1]:${own.port}`, undefined)).toBeNull();
    expect(bridgeRefusal('192.168.1.20:5190', 'http://192.168.1.20:5190', '192.168.1.20')).toBeNull();
    expect(bridgeRefusal(undefined, undefined)).toBe('no Host header');
  });

  it('cuts off a refused upgrade even when the client keeps its side open, and lives through a reset on it', async () => {
    const { server } = await start();
    const own = new URL(server.url);
    const raw = (origin: string) =>
      new Promise<{ socket: Socket; answer: Promise<string>; ended: Promise<void> }>((resolve) => {
        // allowHalfOpen: this client never ends its side by itself, as a hostile one would not.
        const socket = tcpConnect({ host: own.hostname, port: Number(own.port), allowHalfOpen: true }, () => {
          socket.write(
            `GET /bridge HTTP/1.1\r\nHost: ${own.host}\r\nOrigin: ${origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
          );
          let text = '';
          const answer = new Promise<string>((done) => socket.on('data', (d: Buffer) => done((text += d.toString()))));
          const ended = new Promise<void>((done) => socket.on('end', () => done()));
          socket.on('error', () => {});
          resolve({ socket, answer, ended });
        });
      });
    const first = await raw('https://evil.example');
    expect(await first.answer).toMatch(/^HTTP\/1.1 403/);
    await first.ended;
    // A client that resets a refused upgrade does not take the process down.
    const second = await raw('https://evil.example');
    expect(await second.answer).toMatch(/^HTTP\/1.1 403/);
    second.socket.resetAndDestroy();
    const ws = await connect(server.url, '/bridge', { origin: own.origin });
    ws.close();
    // The refused connection the client still holds open is not the server's any more: closing the server ends.
    await server.close();
    first.socket.destroy();
  });

  it('invokes over JSON and streams media as binary messages', async () => {
    const { server, encoder } = await start();
    const ws = await connect(server.url);
    ws.send(JSON.stringify({ id: 1, channel: 'encoder:start', args: [{ url: 'rtmp://127.0.0.1/live/k', width: 640, height: 360, fps: 30 }] }));
    expect(await nextJson(ws)).toMatchObject({ id: 1, ok: true, result: { encoder: 'libx264' } });
    ws.send(encodeMediaMessage(MEDIA_KIND.video, 40, new Uint8Array(640 * 360 * 1.5)));
    ws.send(JSON.stringify({ id: 2, channel: 'app:config', args: [] }));
    await nextJson(ws);
    expect(encoder.pushVideo).toHaveBeenCalledWith(expect.any(Uint8Array), 40);
    expect((encoder.pushVideo.mock.calls[0]![0] as Uint8Array).byteLength).toBe(640 * 360 * 1.5);
    ws.close();
  });

  it('takes media on a second socket of the same page (its peer id), and refuses one without a page', async () => {
    const { server, encoder } = await start();
    const ws = await connect(server.url, '/bridge?peer=page-1');
    ws.send(JSON.stringify({ id: 1, channel: 'encoder:start', args: [{ url: 'rtmp://127.0.0.1/live/k', width: 640, height: 360, fps: 30 }] }));
    await nextJson(ws);
    const media = await connect(server.url, '/bridge/media?peer=page-1');
    media.send(encodeMediaMessage(MEDIA_KIND.video, 80, new Uint8Array(640 * 360 * 1.5)));
    ws.send(encodeMediaMessage(MEDIA_KIND.audio, 81, new Uint8Array(4096)));
    await expect.poll(() => encoder.pushVideo.mock.calls.length).toBe(1);
    await expect.poll(() => encoder.pushAudio.mock.calls.length).toBe(1);
    expect(encoder.pushVideo).toHaveBeenCalledWith(expect.any(Uint8Array), 80);
    await expect(connect(server.url, '/bridge/media?peer=nobody')).rejects.toThrow(/404/);
    media.close();
    ws.close();
  });

  it('answers malformed requests with a clear error and keeps the connection', async () => {
    const { server } = await start();
    const ws = await connect(server.url);
    ws.send('{not json');
    expect(await nextJson(ws)).toMatchObject({ ok: false, error: { reason: 'bridge_invalid_message', message: 'message is not JSON' } });
    ws.send(JSON.stringify({ id: 3, channel: 'encoder:start', args: [{ url: 'file:///etc/passwd', width: 640, height: 360, fps: 30 }] }));
    const reply = await nextJson(ws);
    expect(reply).toMatchObject({ id: 3, ok: false, error: { reason: 'bridge_invalid_message' } });
    ws.send(new Uint8Array([9, 9, 9]));
    ws.send(JSON.stringify({ id: 4, channel: 'app:config', args: [] }));
    expect(await nextJson(ws)).toMatchObject({ id: 4, ok: true });
    ws.close();
  });

  it('answers JSON that is not a request object (null, a number, a list, a string, no id or channel) with an error and keeps serving', async () => {
    const { server } = await start();
    const ws = await connect(server.url);
    for (const text of ['null', '7', '[1,2]', '"encoder:start"', 'true', '{}', '{"id":"1","channel":"app:config","args":[]}', '{"id":-3,"channel":"app:config"}']) {
      ws.send(text);
      expect(await nextJson(ws)).toMatchObject({ id: -1, ok: false, error: { reason: 'bridge_invalid_message' } });
    }
    ws.send('{"id":5,"args":[]}');
    expect(await nextJson(ws)).toMatchObject({ id: 5, ok: false, error: { message: 'a request needs a channel name' } });
    ws.send(JSON.stringify({ id: 6, channel: 'app:config', args: [] }));
    expect(await nextJson(ws)).toMatchObject({ id: 6, ok: true });
    ws.close();
  });
});
