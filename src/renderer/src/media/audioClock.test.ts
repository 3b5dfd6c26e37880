import { describe, expect, it, vi } from 'vitest';
import { followOffset, MAX_STEP_MS, measureOffsetMs } from './audioClock';

describe("the program audio's clock offset", () => {
  it('follows a drifting audio clock within a step', () => {
    // 100 ppm over 2 s: 0.2 ms, taken whole.
    expect(followOffset(1000, 1000.2)).toBeCloseTo(1000.2, 6);
    expect(followOffset(1000, 999.8)).toBeCloseTo(999.8, 6);
  });

  it('follows a slip after a glitch by at most a step each time, and gets there', () => {
    let offset = 1000;
    const steps: number[] = [];
    for (let i = 0; i < 30 && offset !== 1050; i++) {
      const next = followOffset(offset, 1050);
      steps.push(next - offset);
      offset = next;
    }
    expect(offset).toBe(1050);
    expect(Math.max(...steps)).toBe(MAX_STEP_MS);
    expect(steps).toHaveLength(25);
  });

  it('keeps the offset when a measurement is not a number', () => {
    expect(followOffset(1000, Number.NaN)).toBe(1000);
  });

  it('measures page clock minus audio clock, less the buffering ahead of the output', () => {
    const context = {
      getOutputTimestamp: () => ({ performanceTime: 5000, contextTime: 3 }),
      baseLatency: 0.01,
      outputLatency: 0.03,
      currentTime: 3.05,
    } as unknown as AudioContext;
    expect(measureOffsetMs(context)).toBeCloseTo(5000 - 3000 - 40, 6);
  });

  it('before the device has called back, takes now minus the block rendered now, with no buffering taken off twice', () => {
    vi.spyOn(performance, 'now').mockReturnValue(8000);
    try {
      const context = {
        getOutputTimestamp: () => ({ performanceTime: 0, contextTime: 0 }),
        baseLatency: 0.01,
        outputLatency: 0.03,
        currentTime: 3.05,
      } as unknown as AudioContext;
      expect(measureOffsetMs(context)).toBeCloseTo(8000 - 3050, 6);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
