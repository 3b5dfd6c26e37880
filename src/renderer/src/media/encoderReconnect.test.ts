import { describe, expect, it, vi } from 'vitest';
import type { EncoderStartResult } from '../../../shared/bridge';
import { AppError } from '../../../shared/errors';
import { reconnectEncoder } from './encoderReconnect';

const OPTIONS = { url: 'rtmp://127.0.0.1/live/k', width: 1280, height: 720, fps: 30 };
const RESULT: EncoderStartResult = { encoder: 'libx264', ffmpegPath: '/usr/bin/ffmpeg', ffmpegSource: 'PATH', recordingPath: null };

/** A bridge whose answers per channel are queued by the test (a value, or an Error to reject with). */
function bridge(answers: { resume?: Array<EncoderStartResult | null | Error>; start?: Array<EncoderStartResult | Error> }) {
  const calls: string[] = [];
  const invoke = vi.fn(async (channel: string) => {
    calls.push(channel);
    const queue = channel === 'encoder:resume' ? answers.resume : channel === 'encoder:start' ? answers.start : undefined;
    const next = queue?.shift();
    if (next instanceof Error) throw next;
    if (next === undefined) throw new Error(`no answer queued for ${channel}`);
    return next;
  });
  return { bridge: { invoke } as never, calls, invoke };
}

const noSleep = () => Promise.resolve();

describe('reconnectEncoder', () => {
  it('goes on with the encoder the server kept: no new start', async () => {
    const b = bridge({ resume: [RESULT] });
    expect(await reconnectEncoder({ bridge: b.bridge, options: OPTIONS, wanted: () => true, sleep: noSleep })).toEqual({ kind: 'resumed', result: RESULT });
    expect(b.calls).toEqual(['encoder:resume']);
  });

  it('starts a new encoder with the show\'s options when nothing was kept, and asks for none again after that', async () => {
    const b = bridge({ resume: [null], start: [new Error('ingest refused'), RESULT] });
    const sleeps: number[] = [];
    const outcome = await reconnectEncoder({ bridge: b.bridge, options: OPTIONS, wanted: () => true, sleep: async (ms) => void sleeps.push(ms) });
    expect(outcome).toEqual({ kind: 'started', result: RESULT });
    expect(b.calls).toEqual(['encoder:resume', 'encoder:start', 'encoder:start']);
    expect(b.invoke).toHaveBeenCalledWith('encoder:start', OPTIONS);
    expect(sleeps).toEqual([1000]);
  });

  it('treats a native side that does not know encoder:resume as having nothing to resume', async () => {
    const b = bridge({ resume: [new AppError('bridge_invalid_message', 'unknown channel "encoder:resume"')], start: [RESULT] });
    expect(await reconnectEncoder({ bridge: b.bridge, options: OPTIONS, wanted: () => true, sleep: noSleep })).toEqual({ kind: 'started', result: RESULT });
    expect(b.calls).toEqual(['encoder:resume', 'encoder:start']);
  });

  it('asks to resume again when the request itself failed (the bridge closed again before it was answered)', async () => {
    const b = bridge({ resume: [new AppError('bridge_closed', 'the connection closed'), RESULT] });
    expect(await reconnectEncoder({ bridge: b.bridge, options: OPTIONS, wanted: () => true, sleep: noSleep })).toEqual({ kind: 'resumed', result: RESULT });
    expect(b.calls).toEqual(['encoder:resume', 'encoder:resume']);
  });

  it('gives up after the last attempt with the last reason, and stops as soon as the show no longer wants it', async () => {
    const failing = bridge({ resume: [null], start: [new Error('a'), new Error('b'), new Error('c')] });
    expect(await reconnectEncoder({ bridge: failing.bridge, options: OPTIONS, wanted: () => true, delaysMs: [0, 1, 1], sleep: noSleep })).toEqual({
      kind: 'failed',
      last: 'c',
    });

    let wanted = true;
    const ended = bridge({ resume: [RESULT] });
    ended.invoke.mockImplementationOnce(async () => {
      wanted = false; // the streamer pressed End live while the request was on its way
      return RESULT;
    });
    expect(await reconnectEncoder({ bridge: ended.bridge, options: OPTIONS, wanted: () => wanted, sleep: noSleep })).toEqual({ kind: 'cancelled' });
    expect(await reconnectEncoder({ bridge: ended.bridge, options: OPTIONS, wanted: () => false, sleep: noSleep })).toEqual({ kind: 'cancelled' });
    expect(ended.invoke).toHaveBeenCalledTimes(1);
  });

  it('a new encoder whose start is answered after End live is not the show\'s', async () => {
    let wanted = true;
    const b = bridge({ resume: [null], start: [] });
    b.invoke.mockImplementation(async (channel: string) => {
      b.calls.push(channel);
      if (channel === 'encoder:resume') return null;
      wanted = false; // End live while the start was on its way
      return RESULT;
    });
    expect(await reconnectEncoder({ bridge: b.bridge, options: OPTIONS, wanted: () => wanted, sleep: noSleep })).toEqual({ kind: 'cancelled' });
    expect(b.calls).toEqual(['encoder:resume', 'encoder:start']);
  });
});
