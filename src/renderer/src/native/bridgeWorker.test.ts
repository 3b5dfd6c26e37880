import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeH264Unit, decodeMediaMessage, encodeH264Unit } from '../../../shared/bridge';

/** The worker's sockets: opened by the test, with a send queue whose size the test sets. */
class FakeSocket {
  static OPEN = 1;
  static made: FakeSocket[] = [];
  readyState = 0;
  bufferedAmount = 0;
  binaryType = '';
  sent: Array<string | Uint8Array> = [];
  onopen: (() => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  constructor(readonly url: URL) {
    FakeSocket.made.push(this);
  }
  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
}

const posted: unknown[] = [];
const scope = { postMessage: (m: unknown) => posted.push(m), onmessage: null as null | ((e: { data: unknown }) => void) };

beforeAll(async () => {
  vi.stubGlobal('self', scope);
  vi.stubGlobal('WebSocket', FakeSocket);
  await import('./bridgeWorker');
});

afterAll(() => {
  vi.unstubAllGlobals();
});

const unit = (key: boolean, n: number): ArrayBuffer => {
  const bytes = encodeH264Unit({ key, config: key ? new Uint8Array([1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xce]) : null, data: new Uint8Array([n, 0, 0]) });
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
};

describe('the bridge worker, its media socket not open (video shares the control socket)', () => {
  it('lets H.264 leave no more waiting than raw video would, and drops a broken group of pictures up to the next keyframe', () => {
    const send = (data: unknown) => scope.onmessage!({ data });
    send({ type: 'connect', url: 'ws://127.0.0.1:1/bridge' });
    const control = FakeSocket.made[0]!;
    control.readyState = FakeSocket.OPEN;
    control.onopen!();
    // The media socket was asked for but never opens.
    expect(FakeSocket.made).toHaveLength(2);
    const sentUnits = () => control.sent.filter((d): d is Uint8Array => typeof d !== 'string').map((d) => decodeH264Unit(decodeMediaMessage(d).payload).data[0]);

    send({ type: 'media', kind: 'h264', payload: unit(true, 1), timestampMs: 0 });
    send({ type: 'media', kind: 'h264', payload: unit(false, 2), timestampMs: 33 });
    // Two megabytes wait on the shared socket (a slow drain): over what video may leave there.
    control.bufferedAmount = 2 * 1024 * 1024;
    send({ type: 'media', kind: 'h264', payload: unit(false, 3), timestampMs: 66 });
    // Drained again, but the deltas after the lost one would decode against a missing picture: dropped until a keyframe.
    control.bufferedAmount = 0;
    send({ type: 'media', kind: 'h264', payload: unit(false, 4), timestampMs: 100 });
    send({ type: 'media', kind: 'h264', payload: unit(true, 5), timestampMs: 133 });
    send({ type: 'media', kind: 'h264', payload: unit(false, 6), timestampMs: 166 });
    expect(sentUnits()).toEqual([1, 2, 5, 6]);
    expect(posted.filter((m) => (m as { type: string }).type === 'dropped').at(-1)).toEqual({ type: 'dropped', video: 2, audio: 0 });
  });
});
