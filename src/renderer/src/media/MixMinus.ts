/**
 * What each guest hears: the host and every other guest on stage, but not
 * themselves (a mix-minus: their own voice coming back late would echo), at
 * the gains the program uses — a guest the host muted is heard by nobody.
 *
 * One WebAudio graph: one source and gain per voice, one destination per
 * guest fed by every gain but their own. A guest's track stays the same
 * track whatever happens to the voices (a device switch, a mute, someone
 * joining or leaving), so their link never renegotiates for it, and the star
 * still encodes one audio stream per guest.
 */
export interface Voice {
  id: string;
  stream: MediaStream;
  /** 0 silences the voice for every listener; 1 is as captured. */
  gain: number;
}

/** The part of an AudioContext the mix uses (a fake stands in for it in unit tests). */
export interface MixContext {
  readonly state: AudioContextState;
  createMediaStreamSource(stream: MediaStream): AudioNode;
  createGain(): GainNode;
  createMediaStreamDestination(): MediaStreamAudioDestinationNode;
  resume(): Promise<void>;
  close(): Promise<void>;
}

interface Source {
  /** The audio tracks the source node was made from: a change makes a new one. */
  trackIds: string;
  node: AudioNode;
  gain: GainNode;
}

export class MixMinus {
  private readonly sources = new Map<string, Source>();
  private readonly listeners = new Map<string, MediaStreamAudioDestinationNode>();
  private closed = false;

  /** Conversation wants the shortest buffers ('interactive'), unlike the program mix. */
  constructor(private readonly context: MixContext = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' })) {}

  /** Who speaks now (every participant whose audio counts), with their gains; anyone not named is taken out. */
  setVoices(voices: Voice[]): void {
    if (this.closed) return;
    const named = new Set(voices.map((v) => v.id));
    for (const id of [...this.sources.keys()]) if (!named.has(id)) this.removeSource(id);
    for (const voice of voices) {
      const tracks = voice.stream.getAudioTracks().filter((t) => t.readyState === 'live');
      const trackIds = tracks.map((t) => t.id).join(',');
      if (this.sources.get(voice.id)?.trackIds !== trackIds) {
        this.removeSource(voice.id);
        // A stream without audio (yet) has nothing to read: the voice joins once its track comes.
        if (trackIds) this.addSource(voice.id, trackIds, voice.stream);
      }
      const source = this.sources.get(voice.id);
      if (source) source.gain.gain.value = Math.max(0, Math.min(2, Number.isFinite(voice.gain) ? voice.gain : 0));
    }
  }

  /** The track `listenerId` is sent: everyone's voice but theirs. Made on the first ask, the same track after. */
  trackFor(listenerId: string): MediaStreamTrack {
    if (this.closed) throw new Error('the guests’ audio mix is closed');
    let destination = this.listeners.get(listenerId);
    if (!destination) {
      destination = this.context.createMediaStreamDestination();
      for (const [id, source] of this.sources) if (id !== listenerId) source.gain.connect(destination);
      this.listeners.set(listenerId, destination);
      // Made on a user's action (an invitation) or after one, so the page may start it.
      if (this.context.state === 'suspended') void this.context.resume().catch(() => {});
    }
    return destination.stream.getAudioTracks()[0]!;
  }

  /** Who hears whom, for tests and the log: listener id → the voices they are fed. */
  routes(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const listenerId of this.listeners.keys()) out[listenerId] = [...this.sources.keys()].filter((id) => id !== listenerId);
    return out;
  }

  /** The guest left: their track ends and nothing is mixed for them any more. */
  removeListener(listenerId: string): void {
    const destination = this.listeners.get(listenerId);
    if (!destination) return;
    for (const [id, source] of this.sources) if (id !== listenerId) source.gain.disconnect(destination);
    for (const track of destination.stream.getTracks()) track.stop();
    this.listeners.delete(listenerId);
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.listeners.keys()]) this.removeListener(id);
    for (const id of [...this.sources.keys()]) this.removeSource(id);
    await this.context.close();
  }

  /** (The browser reads a stream's first audio track: every participant's stream has one.) */
  private addSource(id: string, trackIds: string, stream: MediaStream): void {
    const node = this.context.createMediaStreamSource(stream);
    const gain = this.context.createGain();
    node.connect(gain);
    for (const [listenerId, destination] of this.listeners) if (listenerId !== id) gain.connect(destination);
    this.sources.set(id, { trackIds, node, gain });
  }

  private removeSource(id: string): void {
    const source = this.sources.get(id);
    if (!source) return;
    source.node.disconnect();
    source.gain.disconnect();
    this.sources.delete(id);
  }
}
