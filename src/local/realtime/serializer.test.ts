import { describe, expect, it } from 'vitest';
import ClientSerializer from '@supabase/realtime-js/dist/module/lib/serializer.js';
import { RealtimeError } from './errors.js';
import { decodeFrame, encodeMessage, encodeUserBroadcast } from './serializer.js';

const client = new ClientSerializer();

function clientEncode(msg: { join_ref: string | null; ref: string | null; topic: string; event: string; payload: Record<string, unknown> }): ArrayBuffer | string {
  let out: ArrayBuffer | string = '';
  client.encode(msg, (result) => {
    out = result;
  });
  return out;
}

function clientDecode(raw: ArrayBuffer | string): { join_ref: unknown; ref: unknown; topic: string; event: string; payload: Record<string, unknown> } {
  let out: unknown;
  client.decode(raw, (msg: unknown) => {
    out = msg;
  });
  return out as ReturnType<typeof clientDecode>;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function expectReason(fn: () => unknown, reason: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RealtimeError);
    expect((err as RealtimeError).reason).toBe(reason);
    return;
  }
  throw new Error('expected a RealtimeError');
}

describe('binary kind 3 (user broadcast push from realtime-js)', () => {
  it('decodes a JSON payload, with multi-byte text', () => {
    const raw = clientEncode({
      join_ref: '1',
      ref: '42',
      topic: 'realtime:salle-é',
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'offer 🎥', payload: { sdp: 'v=0', n: 3 } },
    });
    expect(raw).toBeInstanceOf(ArrayBuffer);
    const msg = decodeFrame(new Uint8Array(raw as ArrayBuffer), true, '2.0.0');
    expect(msg).toEqual({
      joinRef: '1',
      ref: '42',
      topic: 'realtime:salle-é',
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'offer 🎥', payload: { sdp: 'v=0', n: 3 } },
    });
  });

  it('decodes a binary payload and metadata', () => {
    const bytes = new Uint8Array([0, 1, 2, 255]);
    const raw = clientEncode({
      join_ref: '3',
      ref: '4',
      topic: 'realtime:room',
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'blob', payload: bytes.buffer, persist: true },
    });
    const msg = decodeFrame(new Uint8Array(raw as ArrayBuffer), true, '2.0.0');
    const payload = msg.payload as Record<string, unknown>;
    expect(payload.event).toBe('blob');
    expect(payload.meta).toEqual({ persist: true });
    expect(Array.from(payload.payload as Uint8Array)).toEqual([0, 1, 2, 255]);
  });

  it('turns empty refs into null', () => {
    const raw = clientEncode({ join_ref: null, ref: null, topic: 'realtime:r', event: 'broadcast', payload: { type: 'broadcast', event: 'e', payload: {} } });
    const msg = decodeFrame(new Uint8Array(raw as ArrayBuffer), true, '2.0.0');
    expect(msg.joinRef).toBeNull();
    expect(msg.ref).toBeNull();
  });

  it('refuses truncated, unknown and vsn 1.0.0 binary frames', () => {
    const raw = new Uint8Array(clientEncode({ join_ref: '1', ref: '2', topic: 'realtime:r', event: 'broadcast', payload: { type: 'broadcast', event: 'e', payload: { a: 1 } } }) as ArrayBuffer);
    expectReason(() => decodeFrame(raw.subarray(0, 9), true, '2.0.0'), 'malformed_frame');
    expectReason(() => decodeFrame(new Uint8Array([3, 0, 0]), true, '2.0.0'), 'malformed_frame');
    expectReason(() => decodeFrame(new Uint8Array([9, 0, 0, 0, 0, 0, 1]), true, '2.0.0'), 'malformed_frame');
    expectReason(() => decodeFrame(raw, true, '1.0.0'), 'malformed_frame');
    const badJson = new Uint8Array([...raw.subarray(0, raw.length - 1), 0x7b]);
    expectReason(() => decodeFrame(badJson, true, '2.0.0'), 'malformed_frame');
    const badEncoding = new Uint8Array(raw);
    badEncoding[6] = 7;
    expectReason(() => decodeFrame(badEncoding, true, '2.0.0'), 'malformed_frame');
  });
});

describe('binary kind 4 (user broadcast to realtime-js)', () => {
  it('is decoded by realtime-js into a broadcast with a JSON payload', () => {
    const frame = encodeUserBroadcast({ topic: 'realtime:salle-é', event: 'answer ✓', body: { encoding: 'json', value: { sdp: 'x' } } });
    expect(frame[0]).toBe(4);
    const msg = clientDecode(toArrayBuffer(frame));
    expect(msg).toEqual({
      join_ref: null,
      ref: null,
      topic: 'realtime:salle-é',
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'answer ✓', payload: { sdp: 'x' } },
    });
  });

  it('carries binary payloads and metadata', () => {
    const frame = encodeUserBroadcast({
      topic: 'realtime:r',
      event: 'bytes',
      body: { encoding: 'binary', bytes: new Uint8Array([9, 8, 7]) },
      meta: { id: 'abc' },
    });
    const msg = clientDecode(toArrayBuffer(frame));
    expect(msg.payload.meta).toEqual({ id: 'abc' });
    expect(Array.from(new Uint8Array(msg.payload.payload as ArrayBuffer))).toEqual([9, 8, 7]);
  });

  it('refuses fields longer than 255 bytes', () => {
    expectReason(() => encodeUserBroadcast({ topic: `realtime:${'x'.repeat(300)}`, event: 'e', body: { encoding: 'json', value: 1 } }), 'frame_too_large');
  });
});

describe('JSON frames', () => {
  it('vsn 2.0.0 reads and writes arrays', () => {
    const msg = decodeFrame(Buffer.from('["1","2","realtime:r","phx_join",{"config":{}}]'), false, '2.0.0');
    expect(msg).toEqual({ joinRef: '1', ref: '2', topic: 'realtime:r', event: 'phx_join', payload: { config: {} } });
    const out = encodeMessage({ joinRef: '1', ref: '2', topic: 'realtime:r', event: 'phx_reply', payload: { status: 'ok', response: {} } }, '2.0.0');
    expect(JSON.parse(out)).toEqual(['1', '2', 'realtime:r', 'phx_reply', { status: 'ok', response: {} }]);
    expect(clientDecode(out)).toEqual({ join_ref: '1', ref: '2', topic: 'realtime:r', event: 'phx_reply', payload: { status: 'ok', response: {} } });
  });

  it('reads a JSON broadcast frame of realtime-js (payload without a string event)', () => {
    const raw = clientEncode({ join_ref: '1', ref: '5', topic: 'phoenix', event: 'heartbeat', payload: {} });
    expect(decodeFrame(Buffer.from(raw as string), false, '2.0.0')).toEqual({ joinRef: '1', ref: '5', topic: 'phoenix', event: 'heartbeat', payload: {} });
  });

  it('vsn 1.0.0 reads and writes objects', () => {
    const msg = decodeFrame('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7","join_ref":null}', false, '1.0.0');
    expect(msg).toEqual({ joinRef: null, ref: '7', topic: 'phoenix', event: 'heartbeat', payload: {} });
    const out = JSON.parse(encodeMessage({ joinRef: null, ref: '7', topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} } }, '1.0.0'));
    expect(out).toEqual({ join_ref: null, ref: '7', topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} } });
  });

  it('refuses malformed frames with a reason', () => {
    expectReason(() => decodeFrame('not json', false, '2.0.0'), 'malformed_frame');
    expectReason(() => decodeFrame('["1","2","t","e"]', false, '2.0.0'), 'malformed_frame');
    expectReason(() => decodeFrame('[1,2,3,4,5]', false, '2.0.0'), 'malformed_frame');
    expectReason(() => decodeFrame('["1","2","",  "e", {}]', false, '2.0.0'), 'malformed_frame');
    expectReason(() => decodeFrame('[{},"2","t","e",{}]', false, '2.0.0'), 'malformed_frame');
    expectReason(() => decodeFrame('["1","2","t","e",{}]', false, '1.0.0'), 'malformed_frame');
    expectReason(() => decodeFrame('{"topic":"t"}', false, '1.0.0'), 'malformed_frame');
  });
});
