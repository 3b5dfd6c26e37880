import { describe, expect, it } from 'vitest';
import { readFrames } from './readFrames';

class Frame {
  closed = false;
  constructor(readonly label: string) {}
  close(): void {
    this.closed = true;
  }
}

describe('readFrames', () => {
  it('a copy that fails costs only its own source: the others are read and used, every frame is closed', async () => {
    const frames: Array<[string, Frame]> = [
      ['host', new Frame('host')],
      ['guest', new Frame('guest')],
      ['screen', new Frame('screen')],
    ];
    const used: string[] = [];
    const outcomes = await readFrames(
      frames,
      async (id, frame) => {
        if (id === 'guest') throw new Error('copyTo: the frame is detached');
        return `${frame.label} picture`;
      },
      (id, picture) => used.push(`${id}: ${picture}`),
      1000,
    );
    expect(used.sort()).toEqual(['host: host picture', 'screen: screen picture']);
    expect(outcomes.get('host')).toEqual({ outcome: 'read' });
    expect(outcomes.get('guest')).toMatchObject({ outcome: 'failed', error: new Error('copyTo: the frame is detached') });
    expect(frames.every(([, f]) => f.closed)).toBe(true);
  });

  it('gives up a copy that never settles, and a use that throws counts for its source only', async () => {
    const frames: Array<[string, Frame]> = [
      ['stuck', new Frame('stuck')],
      ['bad', new Frame('bad')],
      ['ok', new Frame('ok')],
    ];
    const used: string[] = [];
    const outcomes = await readFrames(
      frames,
      (id) => (id === 'stuck' ? new Promise<string>(() => {}) : Promise.resolve(id)),
      (id) => {
        if (id === 'bad') throw new RangeError('picture larger than its source');
        used.push(id);
      },
      20,
    );
    expect(used).toEqual(['ok']);
    expect(outcomes.get('stuck')).toEqual({ outcome: 'timeout' });
    expect(outcomes.get('bad')?.outcome).toBe('failed');
    expect(frames.every(([, f]) => f.closed)).toBe(true);
  });
});
