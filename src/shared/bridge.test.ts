import { describe, expect, it } from 'vitest';
import { avcCProblem, decodeH264Unit, decodeMediaMessage, encodeH264Unit, encodeMediaMessage, encoderStartSchema, MEDIA_CHANNEL, MEDIA_KIND } from './bridge';

const AVCC = Uint8Array.from([1, 0x42, 0xe0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 1, 0, 2, 0x68, 0xce]);

describe('H.264 units of encoder:h264', () => {
  it('round-trips a keyframe with its avcC and a delta frame without one', () => {
    const key = decodeH264Unit(encodeH264Unit({ key: true, config: AVCC, data: Uint8Array.from([0, 0, 0, 1, 0x65]) }));
    expect(key.key).toBe(true);
    expect([...key.config!]).toEqual([...AVCC]);
    expect([...key.data]).toEqual([0, 0, 0, 1, 0x65]);
    const delta = decodeH264Unit(encodeH264Unit({ key: false, config: null, data: Uint8Array.from([0, 0, 0, 1, 0x41]) }));
    expect(delta).toMatchObject({ key: false, config: null });
    expect([...delta.data]).toEqual([0, 0, 0, 1, 0x41]);
  });

  it('refuses what cannot be muxed, saying why', () => {
    expect(() => decodeH264Unit(new Uint8Array(2))).toThrow(/too short/);
    expect(() => decodeH264Unit(Uint8Array.from([4, 0, 0, 1]))).toThrow(/unknown flags/);
    expect(() => decodeH264Unit(Uint8Array.from([1, 0, 0, 1]))).toThrow(/without its decoder configuration/);
    expect(() => decodeH264Unit(Uint8Array.from([0, 0, 1, 1, 9]))).toThrow(/delta frame with a decoder configuration/);
    expect(() => decodeH264Unit(Uint8Array.from([1, 0, 9, ...AVCC.subarray(0, 9)]))).toThrow(/no frame after/);
    expect(() => decodeH264Unit(encodeH264Unit({ key: true, config: Uint8Array.from([2, 0, 0, 0, 0, 0, 0]), data: new Uint8Array(1) }))).toThrow(
      'h264 decoder configuration is not a usable avcC record: version 2, not 1',
    );
  });

  it('travels the WebSocket framing as kind 3, to the encoder:h264 channel', () => {
    const unit = encodeH264Unit({ key: false, config: null, data: new Uint8Array(10).fill(7) });
    const msg = decodeMediaMessage(encodeMediaMessage(MEDIA_KIND.h264, 1234.5, unit));
    expect(msg.kind).toBe('h264');
    expect(MEDIA_CHANNEL[msg.kind]).toBe('encoder:h264');
    expect(msg.timestampMs).toBe(1234.5);
    expect(decodeH264Unit(msg.payload).data).toEqual(new Uint8Array(10).fill(7));
    expect(() => decodeMediaMessage(encodeMediaMessage(4 as 3, 0, new Uint8Array(1)))).toThrow(/unknown media kind 4/);
  });

  it('starts raw unless the renderer encodes, and knows no third kind of video', () => {
    const base = { url: 'rtmp://127.0.0.1/live/k', width: 1280, height: 720, fps: 30 };
    expect(encoderStartSchema.parse(base).video).toBe('i420');
    expect(encoderStartSchema.parse({ ...base, video: 'h264' }).video).toBe('h264');
    expect(encoderStartSchema.safeParse({ ...base, video: 'vp8' }).success).toBe(false);
  });
});

describe('avcC records', () => {
  it('takes a whole record, and names what is wrong with a damaged one', () => {
    expect(avcCProblem(AVCC)).toBeNull();
    const damaged = (edit: (b: Uint8Array) => void, length = AVCC.length) => {
      const b = AVCC.slice(0, length);
      edit(b);
      return avcCProblem(b);
    };
    expect(damaged(() => {}, 6)).toBe('6 bytes is too short');
    expect(damaged((b) => (b[5] = 0xe0))).toBe('no SPS');
    expect(damaged((b) => (b[7] = 40))).toBe('SPS 1 of 1 (40 bytes) does not fit');
    expect(damaged((b) => (b[8] = 0x68))).toBe('SPS 1 is a NAL unit of type 8, not 7');
    expect(damaged(() => {}, 12)).toBe('no PPS count');
    expect(damaged((b) => (b[12] = 0))).toBe('no PPS');
    expect(damaged((b) => (b[12] = 2))).toBe('PPS 2 of 2 has no length');
    expect(damaged((b) => (b[15] = 0x65))).toBe('PPS 1 is a NAL unit of type 5, not 8');
    // A keyframe carrying one is refused with the reason: no new run of ffmpeg for it.
    expect(() => decodeH264Unit(encodeH264Unit({ key: true, config: AVCC.slice(0, 14), data: new Uint8Array(1) }))).toThrow(
      'h264 decoder configuration is not a usable avcC record: PPS 1 of 1 has no length',
    );
  });
});
