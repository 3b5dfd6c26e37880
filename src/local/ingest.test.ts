import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { rawExchange, rawGet } from '../../tests/support/rawHttp.js';
import { IngestError, startIngest, type Ingest } from './ingest';

const run = promisify(execFile);
/** The tools the tests run, as the tests elsewhere find them. */
const FFMPEG = process.env.FFMPEG_PATH?.trim() || 'ffmpeg';
const FFPROBE = process.env.FFPROBE_PATH?.trim() || 'ffprobe';

let ingest: Ingest | null = null;
let publisher: ChildProcess | null = null;

afterEach(async () => {
  publisher?.kill('SIGKILL');
  publisher = null;
  await ingest?.stop();
  ingest = null;
  vi.restoreAllMocks();
});

/** ffmpeg publishing a test pattern with a tone, in real time, to `url`. */
function publish(url: string, seconds: number): ChildProcess {
  return spawn(
    FFMPEG,
    [
      '-hide_banner', '-loglevel', 'error', '-nostdin', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=s=320x180:r=30', '-f', 'lavfi', '-i', 'sine=f=440:r=48000',
      '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac',
      '-f', 'flv', url,
    ],
    { stdio: 'ignore' },
  );
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startIngest', () => {
  it('is a real RTMP server: ffmpeg publishes, ffprobe reads it back, HLS plays, and stop frees the ports', async () => {
    const log = vi.spyOn(console, 'log');
    ingest = await startIngest({ rtmpPort: 0, httpPort: 0 });
    expect(ingest.rtmpBaseUrl).toBe(`rtmp://127.0.0.1:${ingest.rtmpPort}/live`);
    expect(ingest.playbackUrl('show1')).toBe(`http://127.0.0.1:${ingest.httpPort}/live/show1/index.m3u8`);
    expect(ingest.playbackUrl('{id}')).toBe(`http://127.0.0.1:${ingest.httpPort}/live/{id}/index.m3u8`);

    publisher = publish(`${ingest.rtmpBaseUrl}/show1`, 10);
    const current = ingest;
    await waitFor(() => current.isPublishing('show1'), 5000);

    const probe = await run(FFPROBE, ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height,sample_rate', '-of', 'json', `${ingest.rtmpBaseUrl}/show1`], {
      timeout: 15_000,
    });
    const streams = (JSON.parse(probe.stdout) as { streams: Array<Record<string, unknown>> }).streams;
    expect(streams).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ codec_type: 'video', codec_name: 'h264', width: 320, height: 180 }),
        expect.objectContaining({ codec_type: 'audio', codec_name: 'aac', sample_rate: '48000' }),
      ]),
    );

    const playlistUrl = ingest.playbackUrl('show1');
    await waitFor(async () => (await fetch(playlistUrl)).status === 200, 10_000);
    const playlist = await fetch(playlistUrl);
    expect(playlist.headers.get('access-control-allow-origin')).toBe('*');
    expect(playlist.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    const text = await playlist.text();
    expect(text).toMatch(/^#EXTM3U/);
    const segment = /^(segment-\d+\.ts)$/m.exec(text)?.[1];
    expect(segment).toBeDefined();
    const media = await fetch(new URL(segment ?? '', playlistUrl));
    expect(media.status).toBe(200);
    expect(media.headers.get('content-type')).toBe('video/mp2t');
    expect((await media.arrayBuffer()).byteLength).toBeGreaterThan(1000);

    expect((await fetch(`http://127.0.0.1:${ingest.httpPort}/live/show1/../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${ingest.httpPort}/live/nobody/index.m3u8`)).status).toBe(404);

    publisher.kill('SIGKILL');
    await waitFor(() => !current.isPublishing('show1'), 5000);

    const { rtmpPort, httpPort } = ingest;
    const stopping = ingest.stop();
    expect(ingest.stop()).toBe(stopping);
    await stopping;
    ingest = null;
    expect(await canConnect(rtmpPort)).toBe(false);
    expect(await canConnect(httpPort)).toBe(false);
    expect(log).not.toHaveBeenCalled(); // silent by default
  });

  it('lets in only the keys authorizePublish knows, and serves each under its playback id, never its key', async () => {
    const lines: string[] = [];
    const asked: string[] = [];
    ingest = await startIngest({
      rtmpPort: 0,
      httpPort: 0,
      log: (m) => lines.push(m),
      authorizePublish: async (key) => {
        asked.push(key);
        return key === 'secret-key' ? 'public-id' : null;
      },
    });
    const current = ingest;
    const refusedAt = Date.now();
    const forged = publish(`${ingest.rtmpBaseUrl}/guessed-key`, 10);
    const code = await new Promise<number | null>((resolve) => forged.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(Date.now() - refusedAt).toBeLessThan(6000);
    expect(current.isPublishing('guessed-key')).toBe(false);
    expect(lines.some((l) => l.includes('refused a publisher on /live: unknown stream key'))).toBe(true);

    publisher = publish(`${ingest.rtmpBaseUrl}/secret-key`, 10);
    await waitFor(() => current.isPublishing('secret-key'), 5000);
    await waitFor(async () => (await fetch(current.playbackUrl('public-id'))).status === 200, 10_000);
    expect((await fetch(current.playbackUrl('secret-key'))).status).toBe(404);
    expect(asked).toEqual(['guessed-key', 'secret-key']);
    // The log names neither key (a key publishes as its owner), only the playback id of the one let in.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.includes('secret-key') || l.includes('guessed-key'))).toEqual([]);
    expect(lines.some((l) => l.includes('/live/<key of public-id>'))).toBe(true);
  }, 30_000);

  it('cuts off a publisher whose key is no longer let in (the show ended), and not for a check that fails', async () => {
    const lines: string[] = [];
    let answer: 'yes' | 'fail' | 'no' = 'yes';
    ingest = await startIngest({
      rtmpPort: 0,
      httpPort: 0,
      hls: false,
      reauthorizeMs: 300,
      log: (m) => lines.push(m),
      authorizePublish: async () => {
        if (answer === 'fail') throw new Error('database away');
        return answer === 'yes' ? 'public-id' : null;
      },
    });
    const current = ingest;
    publisher = publish(`${ingest.rtmpBaseUrl}/show-key`, 60);
    const exited = new Promise<number | null>((resolve) => publisher!.once('exit', resolve));
    await waitFor(() => current.isPublishing('show-key'), 10_000);
    // A check that fails (the database away) leaves the stream on.
    answer = 'fail';
    await new Promise((r) => setTimeout(r, 1500));
    expect(current.isPublishing('show-key')).toBe(true);
    // The show ends: the publisher is cut off within a check or two.
    answer = 'no';
    expect(await exited).not.toBe(0);
    expect(current.isPublishing('show-key')).toBe(false);
    expect(lines.some((l) => l.includes('its stream key is no longer let in'))).toBe(true);
  }, 30_000);

  it('tries a packager that cannot run again after 1 s, then 2 s…, saying so, while the stream goes on', async () => {
    const logs: string[] = [];
    ingest = await startIngest({ rtmpPort: 0, httpPort: 0, ffmpegPath: '/nonexistent/ffmpeg', log: (m) => logs.push(m) });
    publisher = publish(`${ingest.rtmpBaseUrl}/show2`, 12);
    const current = ingest;
    await waitFor(() => current.isPublishing('show2'), 5000);
    await waitFor(() => logs.some((l) => l.includes('stopped 2 times in a row; trying again in 2 s')), 8000);
    expect(logs.filter((l) => l.includes('could not run /nonexistent/ffmpeg')).length).toBeLessThanOrEqual(3);
    expect(current.isPublishing('show2')).toBe(true);
  }, 20_000);

  it('starts again a packager that hangs (its playlist stands still), and the playlist moves on', async () => {
    const logs: string[] = [];
    ingest = await startIngest({ rtmpPort: 0, httpPort: 0, log: (m) => logs.push(m), packagerStallMs: 6000 });
    const current = ingest;
    publisher = publish(`${ingest.rtmpBaseUrl}/stuck`, 20);
    await waitFor(async () => (await fetch(current.playbackUrl('stuck'))).status === 200, 10_000);
    // The packager is the ffmpeg reading this ingest's stream: stopped (SIGSTOP) as a hung process would be.
    const source = `${current.rtmpBaseUrl}/stuck`;
    const pid = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .find((d) => {
        try {
          // Reading it (`-i <stream>`): the publisher names the same URL as its output.
          const args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
          return args[args.indexOf(source) - 1] === '-i';
        } catch {
          return false;
        }
      });
    expect(pid, 'the packager reading the stream').toBeDefined();
    process.kill(Number(pid), 'SIGSTOP');
    const playlistAt = async () => (await fetch(current.playbackUrl('stuck'))).text();
    await waitFor(() => logs.some((l) => l.includes(`HLS packager for rtmp://`) && l.includes('made no playlist for')), 10_000);
    // Another packager takes over: the playlist names new segments again.
    const before = await playlistAt();
    await waitFor(async () => (await playlistAt()) !== before, 20_000);
    expect(current.isPublishing('stuck')).toBe(true);
  }, 40_000);

  it('reports a port in use as an error instead of exiting, and can start again afterwards', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const error = await startIngest({ rtmpPort: taken, httpPort: 0 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IngestError);
      expect(error).toMatchObject({ reason: 'port_in_use' });
      expect((error as Error).message).toContain(String(taken));
      const httpError = await startIngest({ rtmpPort: 0, httpPort: taken }).catch((e: unknown) => e);
      expect(httpError).toMatchObject({ reason: 'port_in_use' });
    } finally {
      blocker.close();
    }
    ingest = await startIngest({ rtmpPort: 0, httpPort: 0 });
    expect(await canConnect(ingest.rtmpPort)).toBe(true);
  });

  it('runs one ingest per process and restarts on the same port after a stop', async () => {
    const lines: string[] = [];
    ingest = await startIngest({ rtmpPort: 0, httpPort: 0, log: (m) => lines.push(m) });
    await expect(startIngest({ rtmpPort: 0, httpPort: 0 })).rejects.toMatchObject({ reason: 'ingest_running' });
    expect(lines.some((l) => l.includes('Rtmp Server listening'))).toBe(true);
    const { rtmpPort, httpPort } = ingest;
    await ingest.stop();
    ingest = await startIngest({ rtmpPort, httpPort });
    expect(await canConnect(rtmpPort)).toBe(true);
  });

  it('closes the connection of a publisher whose RTMP data is malformed, and keeps serving', async () => {
    const lines: string[] = [];
    ingest = await startIngest({ rtmpPort: 0, httpPort: 0, hls: false, log: (m) => lines.push(m) });
    const socket = net.connect(ingest.rtmpPort, '127.0.0.1');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    let received = 0;
    const handshakeDone = new Promise<void>((resolve) =>
      socket.on('data', (d: Buffer) => {
        received += d.length;
        if (received >= 1 + 1536 * 2) resolve();
      }),
    );
    socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)])); // C0 + C1
    await handshakeDone;
    socket.write(Buffer.alloc(1536)); // C2
    // An AMF0 "connect" command whose transaction number is cut short after its first byte.
    const payload = Buffer.concat([Buffer.from([0x02, 0x00, 0x07]), Buffer.from('connect'), Buffer.from([0x00, 0x3f])]);
    const header = Buffer.from([0x03, 0, 0, 0, 0, 0, payload.length, 0x14, 0, 0, 0, 0]);
    socket.write(Buffer.concat([header, payload]));
    // A peer that goes on sending: dropped unread, one line in the log for the connection.
    for (let i = 0; i < 3; i++) socket.write(Buffer.concat([header, payload]));
    await closed;
    expect(lines.filter((l) => /malformed RTMP data/.test(l))).toHaveLength(1);
    expect(await canConnect(ingest.rtmpPort)).toBe(true);
  });

  it('answers 400 to a playback request whose target is not a URL, and keeps serving', async () => {
    ingest = await startIngest({ rtmpPort: 0, httpPort: 0, hls: false });
    for (const target of ['*', 'http://[']) expect(await rawExchange(ingest.httpPort, rawGet(target)), target).toMatch(/^HTTP\/1\.1 400 /);
    for (const target of ['//', '//[']) expect(await rawExchange(ingest.httpPort, rawGet(target)), target).toMatch(/^HTTP\/1\.1 404 /);
    const res = await fetch(`http://127.0.0.1:${ingest.httpPort}/live/nobody/index.m3u8`);
    expect(res.status).toBe(404);
  });
});
