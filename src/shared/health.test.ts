import { describe, expect, it } from 'vitest';
import { broadcastHealth } from './health';

const base = { framesWritten: 0, framesRepeated: 0, framesDropped: 0, framesDroppedNetwork: 0 };

describe('broadcastHealth', () => {
  it('is ok with no losses and a render well inside the budget', () => {
    const h = broadcastHealth({ ...base, framesWritten: 3000 }, 10, 30);
    expect(h.level).toBe('ok');
    expect(h.render.budgetMs).toBeCloseTo(33.33, 1);
  });

  it('warns at 1 % and errors at 5 %, per counter', () => {
    expect(broadcastHealth({ ...base, framesWritten: 990, framesRepeated: 10 }, 5, 30).laggedByRendering.level).toBe('warn');
    expect(broadcastHealth({ ...base, framesWritten: 989, framesRepeated: 9 }, 5, 30).laggedByRendering.level).toBe('ok');
    expect(broadcastHealth({ ...base, framesWritten: 970, framesDropped: 30 }, 5, 30).skippedByEncoding.level).toBe('warn');
    const h = broadcastHealth({ ...base, framesWritten: 900, framesDroppedNetwork: 100 }, 5, 30);
    expect(h.droppedByNetwork.level).toBe('error');
    expect(h.droppedByNetwork.percent).toBeCloseTo(10);
    expect(h.level).toBe('error');
  });

  it('warns when rendering takes more than 75 % of the frame budget', () => {
    expect(broadcastHealth({ ...base, framesWritten: 10 }, 25.5, 30).render.level).toBe('warn');
    expect(broadcastHealth({ ...base, framesWritten: 10 }, 24.9, 30).render.level).toBe('ok');
    expect(broadcastHealth({ ...base, framesWritten: 10 }, 13, 60).render.level).toBe('warn');
  });

  it('counts audio filled with silence or trimmed as a share of the output duration', () => {
    // 3000 frames at 30 fps: 100 s of output. Late audio is both filled (1.1 s of silence) and trimmed (0.6 s of it came
    // after all): the sound was disturbed 1.1 s, 1.1 %, not the sum.
    const h = broadcastHealth({ ...base, framesWritten: 3000, audioFilledMs: 1100, audioTrimmedMs: 600 }, 5, 30);
    expect(h.audioRepaired.count).toBe(1100);
    expect(h.audioRepaired.percent).toBeCloseTo(1.1);
    expect(h.audioRepaired.level).toBe('warn');
    expect(h.level).toBe('warn');
    expect(broadcastHealth({ ...base, framesWritten: 3000, audioFilledMs: 5000 }, 5, 30).audioRepaired.level).toBe('error');
    expect(broadcastHealth({ ...base, framesWritten: 3000 }, 5, 30).audioRepaired).toEqual({ count: 0, percent: 0, level: 'ok' });
  });

  it('reports 0 % before any frame', () => {
    expect(broadcastHealth(base, 0, 30).laggedByRendering).toEqual({ count: 0, percent: 0, level: 'ok' });
  });
});

describe('frames lagged by rendering where the program clock counts them', () => {
  it('does not take a still picture the encoder repeats for lag', () => {
    // Everyone's camera off: every output frame repeats the last picture, yet every slot was served on time.
    const h = broadcastHealth({ ...base, framesWritten: 30, framesRepeated: 2970 }, 1, 30, { slots: 3000, lagged: 0 });
    expect(h.laggedByRendering).toEqual({ count: 0, percent: 0, level: 'ok' });
    expect(h.level).toBe('ok');
  });

  it('counts the slots the program missed, against all slots', () => {
    const h = broadcastHealth({ ...base, framesWritten: 2000 }, 1, 30, { slots: 2000, lagged: 200 });
    expect(h.laggedByRendering).toEqual({ count: 200, percent: 10, level: 'error' });
  });

  it('counts what the renderer skipped for a backed-up encoder or bridge as skipped by encoding lag, in the frames attempted', () => {
    const h = broadcastHealth({ ...base, framesWritten: 950, framesDropped: 10 }, 1, 30, { slots: 1000, lagged: 0, skipped: 40 });
    expect(h.skippedByEncoding.count).toBe(50);
    expect(h.skippedByEncoding.percent).toBeCloseTo(5);
    expect(h.skippedByEncoding.level).toBe('error');
  });

  it('takes the frames ffmpeg dropped out of the frames written: they never reached the output, and count once, as skipped', () => {
    const h = broadcastHealth({ ...base, framesWritten: 1000, framesDropped: 50, framesDroppedInFfmpeg: 50 }, 1, 30);
    expect(h.skippedByEncoding.count).toBe(50);
    expect(h.skippedByEncoding.percent).toBeCloseTo(5);
  });
});
