import { describe, expect, it } from 'vitest';
import { MixMinus, type MixContext } from './MixMinus';

/** A graph that records its edges; disconnecting what is not connected throws, as WebAudio does. */
class FakeGraph {
  readonly edges = new Set<string>();
  closed = false;
  resumed = 0;
  private next = 0;
  node(name: string) {
    const edges = this.edges;
    const node = {
      name,
      connect(to: { name: string }) {
        edges.add(`${name}->${to.name}`);
      },
      disconnect(to?: { name: string }) {
        if (!to) {
          for (const e of [...edges]) if (e.startsWith(`${name}->`)) edges.delete(e);
          return;
        }
        if (!edges.delete(`${name}->${to.name}`)) throw new Error(`InvalidAccessError: ${name} is not connected to ${to.name}`);
      },
    };
    return node;
  }
  context(state: AudioContextState = 'running'): MixContext {
    const graph = this as FakeGraph;
    return {
      state,
      createMediaStreamSource: (stream: MediaStream) => graph.node(`src:${(stream as unknown as FakeStream).name}:${graph.next++}`) as unknown as AudioNode,
      createGain: () => Object.assign(graph.node(`gain${graph.next++}`), { gain: { value: 1 } }) as unknown as GainNode,
      createMediaStreamDestination: () => {
        const name = `dest${graph.next++}`;
        const track = { id: `track-${name}`, readyState: 'live', stop() {
          this.readyState = 'ended';
        } };
        return Object.assign(graph.node(name), { stream: { getAudioTracks: () => [track], getTracks: () => [track] } }) as unknown as MediaStreamAudioDestinationNode;
      },
      resume: async () => {
        graph.resumed++;
      },
      close: async () => {
        graph.closed = true;
      },
    };
  }
}

class FakeStream {
  constructor(
    readonly name: string,
    readonly tracks: Array<{ id: string; readyState: string }> = [{ id: `${name}-mic`, readyState: 'live' }],
  ) {}
  getAudioTracks() {
    return this.tracks;
  }
}
const stream = (name: string, tracks?: Array<{ id: string; readyState: string }>) => new FakeStream(name, tracks) as unknown as MediaStream;

/** Which voices reach which listener's destination, read from the graph's edges. */
function heard(graph: FakeGraph, mix: MixMinus, listener: string): string[] {
  const track = mix.trackFor(listener) as unknown as { id: string };
  const dest = track.id.replace('track-', '');
  const gains = [...graph.edges].filter((e) => e.endsWith(`->${dest}`)).map((e) => e.split('->')[0]!);
  return gains
    .map((g) => [...graph.edges].find((e) => e.endsWith(`->${g}`) && e.startsWith('src:'))!.split(':')[1]!)
    .sort();
}

describe('MixMinus', () => {
  it('feeds each guest every voice but their own, including voices and guests that come later', () => {
    const graph = new FakeGraph();
    const mix = new MixMinus(graph.context());
    mix.setVoices([
      { id: 'host', stream: stream('host'), gain: 1 },
      { id: 'g1', stream: stream('g1'), gain: 1 },
    ]);
    const t1 = mix.trackFor('g1');
    expect(heard(graph, mix, 'g1')).toEqual(['host']);
    mix.setVoices([
      { id: 'host', stream: stream('host'), gain: 1 },
      { id: 'g1', stream: stream('g1'), gain: 1 },
      { id: 'g2', stream: stream('g2'), gain: 1 },
    ]);
    expect(heard(graph, mix, 'g1')).toEqual(['g2', 'host']);
    expect(heard(graph, mix, 'g2')).toEqual(['g1', 'host']);
    // The same track all along: the link needs no renegotiation.
    expect(mix.trackFor('g1')).toBe(t1);
    expect(mix.routes()).toEqual({ g1: ['host', 'g2'], g2: ['host', 'g1'] });
  });

  it('applies the gains; a muted voice is silent for everyone, and gains stay within 0..2', () => {
    const graph = new FakeGraph();
    const ctx = graph.context();
    const gains: GainNode[] = [];
    const createGain = ctx.createGain.bind(ctx);
    ctx.createGain = () => {
      const g = createGain();
      gains.push(g);
      return g;
    };
    const mix = new MixMinus(ctx);
    mix.setVoices([
      { id: 'host', stream: stream('host'), gain: 1 },
      { id: 'g1', stream: stream('g1'), gain: 0 },
      { id: 'g2', stream: stream('g2'), gain: 7 },
    ]);
    expect(gains.map((g) => g.gain.value)).toEqual([1, 0, 2]);
    mix.setVoices([
      { id: 'host', stream: stream('host'), gain: Number.NaN },
      { id: 'g1', stream: stream('g1'), gain: 0.5 },
      { id: 'g2', stream: stream('g2'), gain: -1 },
    ]);
    // Same tracks: the nodes stay, only the gains move.
    expect(gains.map((g) => g.gain.value)).toEqual([0, 0.5, 0]);
  });

  it('follows a new microphone, waits for a stream without audio, and drops who left', () => {
    const graph = new FakeGraph();
    const mix = new MixMinus(graph.context());
    mix.trackFor('g1');
    mix.setVoices([
      { id: 'host', stream: stream('host'), gain: 1 },
      { id: 'g2', stream: stream('g2', []), gain: 1 },
    ]);
    expect(heard(graph, mix, 'g1')).toEqual(['host']);
    mix.setVoices([
      { id: 'host', stream: stream('host2', [{ id: 'new-mic', readyState: 'live' }]), gain: 1 },
      { id: 'g2', stream: stream('g2'), gain: 1 },
    ]);
    expect(heard(graph, mix, 'g1')).toEqual(['g2', 'host2']);
    mix.setVoices([{ id: 'g2', stream: stream('g2'), gain: 1 }]);
    expect(heard(graph, mix, 'g1')).toEqual(['g2']);
    // No node of the host's old microphone is left in the graph.
    expect([...graph.edges].some((e) => e.includes('host'))).toBe(false);
  });

  it('a guest who leaves has their track ended and no edges left; dispose closes the context', async () => {
    const graph = new FakeGraph();
    const mix = new MixMinus(graph.context('suspended'));
    mix.setVoices([
      { id: 'host', stream: stream('host'), gain: 1 },
      { id: 'g1', stream: stream('g1'), gain: 1 },
    ]);
    const track = mix.trackFor('g1') as unknown as { readyState: string };
    mix.trackFor('g2');
    // A suspended context is asked to start when a guest's track is made.
    expect(graph.resumed).toBe(2);
    mix.removeListener('g1');
    expect(track.readyState).toBe('ended');
    expect(mix.routes()).toEqual({ g2: ['host', 'g1'] });
    await mix.dispose();
    expect(graph.edges.size).toBe(0);
    expect(graph.closed).toBe(true);
    expect(() => mix.trackFor('g3')).toThrow(/closed/);
  });
});
