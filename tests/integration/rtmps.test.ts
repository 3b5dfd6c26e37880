/**
 * RTMPS for real: the encoder session publishes over TLS (ffmpeg's own TLS,
 * as to Cloudflare Stream's rtmps://live.cloudflare.com:443) to a TLS
 * terminator in front of the local RTMP ingest, and the stream is read back
 * from the ingest with ffprobe. An address that says rtmps:// where the
 * server speaks plain RTMP fails to start with a sentence saying so.
 * The certificate in tests/fixtures/tls is self-signed for 127.0.0.1 (ffmpeg
 * does not verify certificates unless told to).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIngest, type Ingest } from '../../src/local/ingest';
import { EncoderSession } from '../../src/main/encoder/EncoderSession';
import { resolveFfprobe } from '../../src/main/encoder/ffmpegPath';
import { StereoTone } from '../support/media';

const run = promisify(execFile);
const W = 640;
const H = 360;
const FPS = 30;
const RATE = 48_000;
const TLS_DIR = path.join(__dirname, '..', 'fixtures', 'tls');

let ingest: Ingest;
let terminator: tls.Server;
let tlsPort = 0;
/** Bytes that came in over TLS and went on to the ingest. */
let bytesThroughTls = 0;

beforeAll(async () => {
  ingest = await startIngest({ rtmpPort: 0, httpPort: 0, hls: false });
  terminator = tls.createServer({ key: readFileSync(path.join(TLS_DIR, 'key.pem')), cert: readFileSync(path.join(TLS_DIR, 'cert.pem')) }, (secure) => {
    const plain = net.connect(ingest.rtmpPort, '127.0.0.1');
    secure.on('data', (chunk: Buffer) => (bytesThroughTls += chunk.length));
    secure.pipe(plain).pipe(secure);
    const end = () => {
      secure.destroy();
      plain.destroy();
    };
    secure.on('error', end);
    plain.on('error', end);
    secure.on('close', end);
    plain.on('close', end);
  });
  await new Promise<void>((resolve) => terminator.listen(0, '127.0.0.1', resolve));
  tlsPort = (terminator.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (terminator ? terminator.close(() => resolve()) : resolve()));
  await ingest?.stop();
});

/** Frames with a moving bar and a tone, at 30 fps, until stopped. */
function feed(session: EncoderSession): () => void {
  const origin = performance.now();
  let n = 0;
  let samples = 0;
  const tone = new StereoTone(RATE);
  const video = setInterval(() => {
    const frame = new Uint8Array((W * H * 3) / 2).fill(128);
    const x0 = (n * 8) % (W - 64);
    for (let row = 0; row < H; row++) frame.fill(200, row * W + x0, row * W + x0 + 64);
    n += 1;
    session.pushVideo(frame, performance.now());
  }, 1000 / FPS);
  const audio = setInterval(() => {
    const due = Math.floor(((performance.now() - origin) * RATE) / 1000) - samples;
    if (due <= 0) return;
    const pcm = new Float32Array(due * 2);
    tone.fill(pcm);
    session.pushAudio(new Uint8Array(pcm.buffer), origin + (samples * 1000) / RATE);
    samples += due;
  }, 20);
  return () => {
    clearInterval(video);
    clearInterval(audio);
  };
}

describe('EncoderSession over RTMPS', () => {
  it('publishes H.264 and AAC through TLS, and the ingest serves them', async () => {
    const session = new EncoderSession();
    const stop = feed(session);
    try {
      await session.start({ url: `rtmps://127.0.0.1:${tlsPort}/live/secure-show`, width: W, height: H, fps: FPS, videoBitrateKbps: 800 });
      await new Promise((r) => setTimeout(r, 1500));
      const { stdout } = await run(resolveFfprobe().path, ['-v', 'error', '-show_streams', '-of', 'json', `${ingest.rtmpBaseUrl}/secure-show`], { timeout: 20_000 });
      const streams = (JSON.parse(stdout) as { streams: Array<{ codec_type: string; codec_name: string; width?: number; sample_rate?: string }> }).streams;
      expect(streams).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ codec_type: 'video', codec_name: 'h264', width: W }),
          expect.objectContaining({ codec_type: 'audio', codec_name: 'aac', sample_rate: String(RATE) }),
        ]),
      );
      expect(session.getStats().state).toBe('live');
      // The stream went through the TLS terminator (tens of kB a second of video).
      expect(bytesThroughTls).toBeGreaterThan(20_000);
    } finally {
      stop();
      await session.stop();
      session.dispose();
    }
  });

  it('says the secure connection could not be made when the server does not speak TLS', async () => {
    const session = new EncoderSession();
    const stop = feed(session);
    try {
      const plainPort = ingest.rtmpPort;
      await expect(session.start({ url: `rtmps://127.0.0.1:${plainPort}/live/not-secure`, width: W, height: H, fps: FPS, videoBitrateKbps: 800 })).rejects.toThrow(
        /took the connection but no secure \(RTMPS\) session could be made/,
      );
    } finally {
      stop();
      await session.stop().catch(() => {});
      session.dispose();
    }
  });
});
