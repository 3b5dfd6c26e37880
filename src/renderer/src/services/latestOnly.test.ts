import { describe, expect, it } from 'vitest';
import { latestOnly } from './latestOnly';

/** A request the test finishes by hand, recording what was sent. */
function recorder() {
  const sent: Array<[string, number]> = [];
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  const send = (key: string, value: number) =>
    new Promise<void>((resolve, reject) => {
      sent.push([key, value]);
      pending.push({ resolve, reject });
    });
  return { sent, pending, send };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('latestOnly', () => {
  it('sends one request at a time per key, and only the latest of the values given meanwhile', async () => {
    const r = recorder();
    const set = latestOnly(r.send);
    const results = [0.1, 0.2, 0.3, 0.4].map((v) => set('gus', v));
    await tick();
    expect(r.sent).toEqual([['gus', 0.1]]);
    r.pending[0]!.resolve();
    await tick();
    expect(r.sent).toEqual([['gus', 0.1], ['gus', 0.4]]);
    r.pending[1]!.resolve();
    await expect(Promise.all(results)).resolves.toEqual([undefined, undefined, undefined, undefined]);
    // Idle again: the next value goes at once.
    void set('gus', 1);
    await tick();
    expect(r.sent.at(-1)).toEqual(['gus', 1]);
  });

  it('keeps keys apart', async () => {
    const r = recorder();
    const set = latestOnly(r.send);
    void set('gus', 0.5);
    void set('ada', 1.5);
    await tick();
    expect(r.sent).toEqual([['gus', 0.5], ['ada', 1.5]]);
  });

  it("a failed request rejects its callers; the values after it are still sent", async () => {
    const r = recorder();
    const set = latestOnly(r.send);
    const first = set('gus', 0.1);
    const second = set('gus', 0.9);
    await tick();
    r.pending[0]!.reject(new Error('Could not set the volume: network error'));
    await expect(first).rejects.toThrow(/network error/);
    await tick();
    expect(r.sent).toEqual([['gus', 0.1], ['gus', 0.9]]);
    r.pending[1]!.resolve();
    await expect(second).resolves.toBeUndefined();
  });
});
