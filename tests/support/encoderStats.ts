import type { EncoderStats } from '../../src/shared/bridge';

/** Encoder stats of a healthy live stream at 30 fps (10 s in, nothing lost), with `over` laid on top. */
export function liveEncoderStats(over: Partial<EncoderStats> = {}): EncoderStats {
  return {
    state: 'live',
    encoder: 'libx264',
    framesIn: 300,
    framesWritten: 300,
    framesRepeated: 0,
    framesDropped: 0,
    framesDroppedNetwork: 0,
    fps: 30,
    bitrateKbps: 3000,
    speed: 1,
    outTimeMs: 10_000,
    restarts: 0,
    encoderCpuPercent: 40,
    encoderNote: null,
    lastExit: null,
    error: null,
    ...over,
  };
}
