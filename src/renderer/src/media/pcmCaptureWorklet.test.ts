/** The program mix's capture worklet, its file run with the globals the audio thread gives it. */
import { describe, expect, it } from 'vitest';
import source from '../../public/pcm-capture-worklet.js?raw';

type Processor = { process(inputs: Float32Array[][]): boolean };

function loadWorklet(): { processor: Processor; chunks: Float32Array[] } {
  const chunks: Float32Array[] = [];
  let Capture: (new () => Processor) | null = null;
  class AudioWorkletProcessor {
    port = { postMessage: (m: { pcm: ArrayBuffer }) => chunks.push(new Float32Array(m.pcm)), onmessage: null };
  }
  const registerProcessor = (_name: string, c: new () => Processor) => (Capture = c);
  // The worklet's globals, as the audio rendering thread gives them.
  new Function('AudioWorkletProcessor', 'registerProcessor', 'currentFrame', source)(AudioWorkletProcessor, registerProcessor, 0);
  return { processor: new Capture!(), chunks };
}

describe('the program mix capture worklet', () => {
  it('posts 20 ms chunks of interleaved stereo, samples up to 0.9 as they are, louder ones bent below full scale', () => {
    const { processor, chunks } = loadWorklet();
    const levels = [0.5, -0.25, 0.9, 1.2, 1.8, -3, 4, 0];
    for (let q = 0; q < 8; q++) {
      const left = new Float32Array(128).fill(levels[q]!);
      const right = new Float32Array(128).fill(-levels[q]!);
      processor.process([[left, right]]);
    }
    expect(chunks).toHaveLength(1);
    const chunk = chunks[0]!;
    expect(chunk).toHaveLength(960 * 2);
    const at = (quantum: number) => [chunk[quantum * 128 * 2]!, chunk[quantum * 128 * 2 + 1]!];
    expect(at(0)).toEqual([0.5, -0.5]);
    expect(at(1)).toEqual([-0.25, 0.25]);
    expect(at(2)[0]).toBeCloseTo(0.9, 6);
    for (const q of [3, 4, 5, 6]) {
      const [l, r] = at(q);
      expect(Math.abs(l!)).toBeGreaterThan(0.9);
      expect(Math.abs(l!)).toBeLessThan(1);
      expect(r).toBeCloseTo(-l!, 6);
    }
    // Louder stays louder: the bend keeps the order of levels.
    expect(at(4)[0]!).toBeGreaterThan(at(3)[0]!);
    expect(at(6)[0]!).toBeGreaterThan(at(4)[0]!);
  });
});
