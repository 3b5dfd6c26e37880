import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { encodeMediaMessage, MEDIA_KIND } from '../shared/bridge';
import type { EncoderLike } from './bridgeHost';
import { bridgeRefusal, hostRefusal, startStudioServer, type StudioServer } from './studioServer';

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

async function start<E extends EncoderLike = ReturnType<typeof fakeEncoder>>(encoder: E = fakeEncoder() as unknown as E, log?: (message: string) => void, more: { maxPayloadBytes?: number; reattachGraceMs?: number; createEncoder?: () => EncoderLike } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'studio-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>studio</title>');
  server = await startStudioServer({
    rendererDir: dir,
    config: { supabaseUrl: 'http://127.0.0.1:54321', supabaseAnonKey: 'anon' },
    createEncoder: more.createEncoder ?? (() => encoder),
    ...(log ? { log } : {}),
    ...(more.maxPayloadBytes ? { maxPayloadBytes: more.maxPayloadBytes } : {}),
    ...(more.reattachGraceMs ? { reattachGraceMs: more.reattachGraceMs } : {}),
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

  it("is never framed by another site's page, and answers nothing to a name rebound to this machine", async () => {
    const { server } = await start();
    const page = await fetch(`${server.url}/`);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const { port } = new URL(server.url);
    // A site whose name now points at 127.0.0.1 asks for the config (the backend's address and key) as its own.
    const rebound = await rawExchange(server.url, `GET /config.json HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`);
    expect(rebound).toMatch(/^HTTP\/1\.1 403 /);
    expect(rebound).not.toContain('anon');
    expect(rebound).toContain('the studio answers on this machine only, not as "evil.example"');
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      expect(hostRefusal(host)).toBeNull();
    }
    expect(hostRefusal('192.168.1.20:5190', '192.168.1.20')).toBeNull();
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

  describe('a page whose bridge socket drops mid-show', () => {
    const START = { url: 'rtmp://127.0.0.1/live/k', width: 640, height: 360, fps: 30 };
    const STUDIO = '3f0c1b9e-5d2a-4c4e-9a51-0d8f6a2b7c10';

    /** A page's control socket under a studio id (STUDIO unless given), whose stream has started. */
    async function livePage(url: string, peer: string, studio = STUDIO): Promise<WebSocket> {
      const ws = await connect(url, `/bridge?peer=${peer}&studio=${studio}`);
      ws.send(JSON.stringify({ id: 1, channel: 'encoder:start', args: [START] }));
      expect(await nextJson(ws)).toMatchObject({ id: 1, ok: true });
      return ws;
    }

    /** An encoder whose stats listeners the test can call, and whose start and stop it can see. */
    function statsEncoder() {
      const listeners = new Set<(stats: never) => void>();
      const encoder = {
        ...fakeEncoder(),
        onStats: (l: (stats: never) => void) => {
          listeners.add(l);
          return () => listeners.delete(l);
        },
      };
      return { encoder, emitStats: (stats: object) => listeners.forEach((l) => l(stats as never)) };
    }

    it('keeps its encoder when the socket is cut (a message over the limit): the page comes back under its studio id and goes on with it', async () => {
      const log = vi.fn<(message: string) => void>();
      const { encoder, emitStats } = statsEncoder();
      const { server } = await start(encoder, log, { maxPayloadBytes: 64 * 1024 });
      const first = await livePage(server.url, 'p1');

      const cut = closed(first);
      first.send(new Uint8Array(65 * 1024));
      expect(await cut).toBe(1009);
      expect(log).toHaveBeenCalledWith(expect.stringMatching(/closed during its broadcast \(code \d+\): the stream goes on for up to 5 s/));

      const again = await connect(server.url, `/bridge?peer=p2&studio=${STUDIO}`);
      again.send(JSON.stringify({ id: 2, channel: 'encoder:resume', args: [] }));
      expect(await nextJson(again)).toMatchObject({ id: 2, ok: true, result: { encoder: 'libx264', recordingPath: null } });
      expect(log).toHaveBeenCalledWith('studio: the studio page came back to its bridge: its stream goes on');
      expect(encoder.start).toHaveBeenCalledTimes(1);
      expect(encoder.stop).not.toHaveBeenCalled();

      // Its media socket (the new connection's peer id) feeds the same encoder, and the encoder's events reach the new socket.
      const media = await connect(server.url, '/bridge/media?peer=p2');
      media.send(encodeMediaMessage(MEDIA_KIND.video, 90, new Uint8Array(4096)));
      await expect.poll(() => encoder.pushVideo.mock.calls.length).toBe(1);
      await expect(connect(server.url, '/bridge/media?peer=p1')).rejects.toThrow(/404/);
      const event = nextJson(again);
      emitStats({ state: 'live' });
      expect(await event).toEqual({ event: 'encoder:stats', args: [expect.objectContaining({ state: 'live' })] });

      // Closed by the page itself: the stream stops at once.
      const gone = closed(again);
      again.close();
      await gone;
      await expect.poll(() => encoder.stop.mock.calls.length).toBe(1);
      media.close();
    });

    it('stops the stream when the page does not come back in time; a page coming back later starts afresh', async () => {
      const log = vi.fn<(message: string) => void>();
      const { server, encoder } = await start(fakeEncoder(), log, { reattachGraceMs: 150 });
      const first = await livePage(server.url, 'p1');
      const cut = closed(first);
      first.terminate();
      expect(await cut).toBe(1006);
      expect(encoder.stop).not.toHaveBeenCalled();
      await expect.poll(() => encoder.stop.mock.calls.length).toBe(1);
      expect(log).toHaveBeenCalledWith(expect.stringMatching(/did not come back to its bridge within 0 s: its stream stops/));

      const late = await connect(server.url, `/bridge?peer=p2&studio=${STUDIO}`);
      late.send(JSON.stringify({ id: 2, channel: 'encoder:resume', args: [] }));
      expect(await nextJson(late)).toEqual({ id: 2, ok: true, result: null });
      late.close();
    });

    it('does not wait for a page that let its bridge go on purpose, nor for one that was not live, nor for a socket without a studio id', async () => {
      const { server, encoder } = await start(fakeEncoder(), undefined, { reattachGraceMs: 60_000 });
      // Closed by the page (no code): stopped at once.
      const deliberate = await livePage(server.url, 'p1');
      deliberate.close();
      await expect.poll(() => encoder.stop.mock.calls.length).toBe(1);

      // No studio id: nothing can come back to it.
      const anonymous = await connect(server.url, '/bridge?peer=p2');
      anonymous.send(JSON.stringify({ id: 1, channel: 'encoder:start', args: [START] }));
      await nextJson(anonymous);
      anonymous.terminate();
      await expect.poll(() => encoder.stop.mock.calls.length).toBe(2);

      // A studio id that is not one (too short) is ignored the same way.
      const odd = await connect(server.url, '/bridge?peer=p3&studio=x');
      odd.send(JSON.stringify({ id: 1, channel: 'encoder:start', args: [START] }));
      await nextJson(odd);
      odd.terminate();
      await expect.poll(() => encoder.stop.mock.calls.length).toBe(3);

      // Not live: nothing to keep; the page coming back finds nothing to resume.
      const idle = await connect(server.url, `/bridge?peer=p4&studio=${STUDIO}`);
      idle.terminate();
      const back = await connect(server.url, `/bridge?peer=p5&studio=${STUDIO}`);
      back.send(JSON.stringify({ id: 2, channel: 'encoder:resume', args: [] }));
      expect(await nextJson(back)).toEqual({ id: 2, ok: true, result: null });
      back.close();
    });

    it("ends a broadcast waiting for its page before another page's stream starts, so two never publish at once", async () => {
      const order: string[] = [];
      const made = [fakeEncoder(), fakeEncoder()];
      made.forEach((e, i) => {
        e.start.mockImplementation(async () => {
          order.push(`start ${i}`);
          return { encoder: 'libx264', ffmpegPath: '/usr/bin/ffmpeg', ffmpegSource: 'PATH' as const };
        });
        e.stop.mockImplementation(async () => {
          order.push(`stop ${i}`);
        });
      });
      let n = 0;
      const { server } = await start(undefined, undefined, { reattachGraceMs: 60_000, createEncoder: () => made[n++]! });
      const a = await livePage(server.url, 'a');
      const cut = closed(a);
      a.terminate();
      await cut;
      const b = await connect(server.url, '/bridge?peer=b&studio=7d1e2f3a-0000-4000-8000-000000000001');
      b.send(JSON.stringify({ id: 1, channel: 'encoder:start', args: [START] }));
      expect(await nextJson(b)).toMatchObject({ id: 1, ok: true });
      expect(order).toEqual(['start 0', 'stop 0', 'start 1']);
      b.close();
    });

    it('does not resume an encoder that gave up while its page was away; the page hears the latest stats when it resumes one', async () => {
      const { encoder, emitStats } = statsEncoder();
      const { server } = await start(encoder, undefined, { reattachGraceMs: 60_000 });
      const a = await livePage(server.url, 'a');
      a.terminate();
      // Said while nobody listened: the page coming back hears it on resuming.
      await new Promise((r) => setTimeout(r, 50));
      emitStats({ state: 'reconnecting', framesWritten: 7 });
      const b = await connect(server.url, `/bridge?peer=b&studio=${STUDIO}`);
      const heard: Array<Record<string, unknown>> = [];
      b.on('message', (data) => heard.push(JSON.parse(data.toString())));
      b.send(JSON.stringify({ id: 2, channel: 'encoder:resume', args: [] }));
      await expect.poll(() => heard.find((m) => m.id === 2)).toMatchObject({ ok: true, result: { encoder: 'libx264' } });
      expect(heard[0]).toEqual({ event: 'encoder:stats', args: [expect.objectContaining({ state: 'reconnecting', framesWritten: 7 })] });

      // The encoder gives up (its restarts used up) while the page is away again: nothing to resume.
      const bClosed = closed(b);
      b.terminate();
      await bClosed;
      emitStats({ state: 'error' });
      const c = await connect(server.url, `/bridge?peer=c&studio=${STUDIO}`);
      c.send(JSON.stringify({ id: 3, channel: 'encoder:resume', args: [] }));
      expect(await nextJson(c)).toEqual({ id: 3, ok: true, result: null });
      c.close();
    });

    it('stops a broadcast waiting for its page once when the studio server closes', async () => {
      const { server, encoder } = await start(fakeEncoder(), undefined, { reattachGraceMs: 300 });
      const a = await livePage(server.url, 'a');
      const cut = closed(a);
      a.terminate();
      await cut;
      await new Promise((r) => setTimeout(r, 50));
      await server.close();
      expect(encoder.stop).toHaveBeenCalledTimes(1);
      // The wait's timer was cleared with it: nothing stops the encoder a second time.
      await new Promise((r) => setTimeout(r, 400));
      expect(encoder.stop).toHaveBeenCalledTimes(1);
    });

    it('a newer connection of the same page takes over from one still open', async () => {
      const { server, encoder } = await start(fakeEncoder(), undefined, { reattachGraceMs: 60_000 });
      const a = await livePage(server.url, 'a');
      const aClosed = closed(a);
      const b = await connect(server.url, `/bridge?peer=b&studio=${STUDIO}`);
      await aClosed;
      b.send(JSON.stringify({ id: 2, channel: 'encoder:resume', args: [] }));
      expect(await nextJson(b)).toMatchObject({ id: 2, ok: true, result: { encoder: 'libx264' } });
      expect(encoder.stop).not.toHaveBeenCalled();
      b.close();
      await expect.poll(() => encoder.stop.mock.calls.length).toBe(1);
    });
  });
});
