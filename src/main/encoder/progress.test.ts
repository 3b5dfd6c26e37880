import { describe, expect, it } from 'vitest';
import { OutputRate, ProgressParser } from './progress';

// A block as ffmpeg 5.1 writes it with -progress.
const BLOCK = [
  'frame=92',
  'fps=30.12',
  'stream_0_0_q=23.0',
  'bitrate=3012.4kbits/s',
  'total_size=1157120',
  'out_time_us=3072000',
  'out_time_ms=3072000',
  'out_time=00:00:03.072000',
  'dup_frames=1',
  'drop_frames=2',
  'speed=1.01x',
  'progress=continue',
  '',
].join('\n');

describe('ProgressParser', () => {
  it('parses a whole block', () => {
    const parser = new ProgressParser();
    expect(parser.push(BLOCK)).toEqual([
      {
        frame: 92,
        fps: 30.12,
        bitrateKbps: 3012.4,
        totalSizeBytes: 1157120,
        outTimeMs: 3072,
        dupFrames: 1,
        dropFrames: 2,
        speed: 1.01,
        progress: 'continue',
      },
    ]);
  });

  it('joins lines and blocks split across chunks at any byte', () => {
    const text = BLOCK + BLOCK.replace('frame=92', 'frame=122').replace('progress=continue', 'progress=end');
    for (const size of [1, 3, 7, 64]) {
      const parser = new ProgressParser();
      const updates = [];
      for (let i = 0; i < text.length; i += size) updates.push(...parser.push(text.slice(i, i + size)));
      expect(updates.map((u) => [u.frame, u.progress])).toEqual([
        [92, 'continue'],
        [122, 'end'],
      ]);
    }
  });

  it('accepts bytes and CRLF line ends', () => {
    const parser = new ProgressParser();
    const [update] = parser.push(new TextEncoder().encode(BLOCK.replace(/\n/g, '\r\n')));
    expect(update?.speed).toBe(1.01);
    expect(update?.outTimeMs).toBe(3072);
  });

  it('reports N/A values as null and reads out_time when the microsecond fields are missing', () => {
    const parser = new ProgressParser();
    const [update] = parser.push('frame=0\nfps=0.00\nbitrate=N/A\ntotal_size=N/A\nout_time=00:01:02.500000\nspeed=N/A\nprogress=continue\n');
    expect(update).toMatchObject({ frame: 0, fps: 0, bitrateKbps: null, totalSizeBytes: null, outTimeMs: 62_500, speed: null, dupFrames: null });
  });

  it('treats the legacy out_time_ms as microseconds and clamps negative times to zero', () => {
    const parser = new ProgressParser();
    expect(parser.push('out_time_ms=1500000\nprogress=continue\n')[0]?.outTimeMs).toBe(1500);
    expect(parser.push('out_time_us=-23220\nprogress=continue\n')[0]?.outTimeMs).toBe(0);
    expect(parser.push('out_time=-00:00:00.023220\nprogress=continue\n')[0]?.outTimeMs).toBe(0);
  });

  it('starts each block afresh and ignores junk lines', () => {
    const parser = new ProgressParser();
    parser.push('frame=10\nprogress=continue\n');
    const [update] = parser.push('garbage without equals\n=novalue\nfps=29.97\nprogress=continue\n');
    expect(update).toMatchObject({ frame: null, fps: 29.97 });
  });

  it('reset() forgets a partial line', () => {
    const parser = new ProgressParser();
    parser.push('frame=1');
    parser.reset();
    expect(parser.push('0\nprogress=continue\n')[0]?.frame).toBe(null);
  });
});

describe('OutputRate', () => {
  it('gives nothing until the reports span about a second', () => {
    const rate = new OutputRate();
    rate.add(0, 0);
    rate.add(500, 25);
    expect(rate.perSecond()).toBeNull();
    rate.add(1000, 40);
    expect(rate.perSecond()).toBe(40);
  });

  it('is the rate of the last two seconds: a burst at the start (ffmpeg filling its first slots) passes', () => {
    const rate = new OutputRate();
    // 50 frames in the first half second, then 30 a second.
    rate.add(0, 0);
    rate.add(500, 50);
    for (let t = 1000; t <= 4000; t += 500) rate.add(t, 50 + ((t - 500) / 1000) * 30);
    expect(rate.perSecond()).toBe(30);
  });

  it('shows a stall at once, where an average since the start would not', () => {
    const rate = new OutputRate();
    for (let t = 0; t <= 60_000; t += 500) rate.add(t, (t / 1000) * 30);
    for (let t = 60_500; t <= 62_000; t += 500) rate.add(t, 1800);
    expect(rate.perSecond()).toBe(0);
  });

  it('falls to 0 when the reports stop coming (ffmpeg blocked on the network stops reporting too)', () => {
    const rate = new OutputRate();
    for (let t = 0; t <= 10_000; t += 500) rate.add(t, (t / 1000) * 30);
    expect(rate.perSecond(10_000)).toBe(30);
    // Between two reports the rate is the one up to the last (not 30 frames over 2.4 s).
    expect(rate.perSecond(10_400)).toBe(30);
    expect(rate.perSecond(11_000)).toBe(15);
    expect(rate.perSecond(13_000)).toBe(0);
  });

  it('starts over when the counter goes back (ffmpeg restarted)', () => {
    const rate = new OutputRate();
    rate.add(0, 0);
    rate.add(1000, 30);
    rate.add(1500, 5);
    expect(rate.perSecond()).toBeNull();
    rate.add(2500, 35);
    expect(rate.perSecond()).toBe(30);
  });
});
