import { describe, expect, it } from 'vitest';
import { ANIMATION_STALL_MS, OutputSlots, PresentFallback, RENDER_TIME_TICKS, RenderTimes } from './outputSlots';

const FRAME = 1000 / 30;

describe('frames lagged by rendering (OutputSlots)', () => {
  it('counts nothing for a clock on time, jitter under half a frame included', () => {
    const s = new OutputSlots(FRAME);
    for (let i = 0; i < 300; i++) s.serve(1000 + i * FRAME + (i % 2 === 0 ? 7 : -7));
    expect(s).toMatchObject({ slots: 300, lagged: 0 });
  });

  it('counts the slots a late or busy clock never served', () => {
    const s = new OutputSlots(FRAME);
    const served = [0, 1, 2, 5, 6, 7, 8, 12];
    for (const slot of served) s.serve(slot * FRAME);
    expect(s).toMatchObject({ slots: 13, lagged: 13 - served.length });
  });

  it('takes two ticks in one slot (a timer catching up) as one', () => {
    const s = new OutputSlots(FRAME);
    expect([s.serve(0), s.serve(FRAME), s.serve(FRAME + 3), s.serve(2 * FRAME)]).toEqual([true, true, false, true]);
    expect(s).toMatchObject({ slots: 3, lagged: 0 });
  });

  it('refuses a frame duration that is not positive', () => {
    expect(() => new OutputSlots(0)).toThrow(/positive/);
  });
});

describe('render time per frame (RenderTimes)', () => {
  it('is the mean of the last ticks, so a tick with nothing new does not read as 0', () => {
    const r = new RenderTimes();
    expect(r.mean()).toBe(0);
    // One tick in two composes (8 ms), the other finds nothing new (0.1 ms).
    for (let i = 0; i < 100; i++) r.add(i % 2 === 0 ? 8 : 0.1);
    expect(r.mean()).toBeCloseTo(4.05, 5);
  });

  it('forgets ticks older than its window', () => {
    const r = new RenderTimes();
    for (let i = 0; i < RENDER_TIME_TICKS; i++) r.add(30);
    for (let i = 0; i < RENDER_TIME_TICKS; i++) r.add(2);
    expect(r.mean()).toBe(2);
  });

  it('ignores a time that is not one and refuses a window that is not a whole number of ticks', () => {
    const r = new RenderTimes(2);
    r.add(Number.NaN);
    r.add(-1);
    r.add(4);
    expect(r.mean()).toBe(4);
    expect(() => new RenderTimes(0)).toThrow(/whole number/);
  });
});

describe('PresentFallback', () => {
  it('leaves presenting to animation frames while they come, and has the tick present once they stop (a hidden page)', () => {
    const fallback = new PresentFallback();
    // Before the first animation frame the tick presents.
    expect(fallback.dueAtTick(0)).toBe(true);
    fallback.presented(10);
    expect(fallback.dueAtTick(43)).toBe(false);
    fallback.presented(26);
    expect(fallback.dueAtTick(76)).toBe(false);
    // The page is hidden: no animation frame for ANIMATION_STALL_MS.
    expect(fallback.dueAtTick(26 + ANIMATION_STALL_MS - 1)).toBe(false);
    expect(fallback.dueAtTick(26 + ANIMATION_STALL_MS)).toBe(true);
    expect(fallback.dueAtTick(26 + ANIMATION_STALL_MS + 33)).toBe(true);
    // Shown again: animation frames take over.
    fallback.presented(1000);
    expect(fallback.dueAtTick(1033)).toBe(false);
  });
});
