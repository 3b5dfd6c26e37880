/**
 * The program audio mix: one gain per source into an AudioWorklet that hands
 * out 48 kHz interleaved stereo f32 PCM chunks. Only the program (what is
 * encoded) goes through WebAudio; what people hear plays through media elements.
 */
import { followOffset, measureOffsetMs, REMEASURE_MS } from './audioClock';

export interface PcmChunk {
  pcm: ArrayBuffer;
  /** Capture time of the first sample, on the page's performance clock (ms). */
  timestampMs: number;
}

export class AudioMixer {
  readonly context: AudioContext;
  private readonly inputs = new Map<string, { source: MediaStreamAudioSourceNode; gain: GainNode; analyser: AnalyserNode; samples: Float32Array<ArrayBuffer> }>();
  private readonly bus: GainNode;
  private worklet: AudioWorkletNode | null = null;
  private sink: GainNode | null = null;
  private disposed = false;

  constructor() {
    // Nobody listens to this graph (its output is silent): the device's largest buffers
    // ('playback') wake the audio threads far less often than 'interactive'. The
    // chunks' times take the longer output path into account (start()).
    this.context = new AudioContext({ sampleRate: 48000, latencyHint: 'playback' });
    this.bus = this.context.createGain();
    this.bus.channelCount = 2;
    this.bus.channelCountMode = 'explicit';
  }

  /**
   * Starts capturing; `onChunk` receives every 20 ms chunk — or, given `route`
   * (a port of the bridge's worker), the worklet sends the chunks there itself
   * as audio media messages, and `onChunk` only sees any made before that.
   */
  async start(onChunk: (chunk: PcmChunk) => void, workletUrl = 'pcm-capture-worklet.js', route?: MessagePort): Promise<void> {
    await this.context.audioWorklet.addModule(workletUrl);
    if (this.disposed) return;
    const worklet = new AudioWorkletNode(this.context, 'pcm-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [2],
      channelCount: 2,
      channelCountMode: 'explicit',
    });
    // The worklet must be pulled by the graph to run; its output is silent.
    const sink = this.context.createGain();
    sink.gain.value = 0;
    this.bus.connect(worklet);
    worklet.connect(sink);
    sink.connect(this.context.destination);
    this.worklet = worklet;
    this.sink = sink;
    if (this.context.state !== 'running') await this.context.resume();
    if (this.disposed) return;
    // Relate the audio clock to the page clock now that it runs, and again every few seconds (the two drift apart
    // over a long show: audioClock.ts); chunks carry audio-clock frames (their messages wait on the port until this
    // handler is set).
    let offsetMs = measureOffsetMs(this.context);
    worklet.port.onmessage = (event: MessageEvent<{ pcm: ArrayBuffer; firstFrame: number }>) => {
      onChunk({ pcm: event.data.pcm, timestampMs: offsetMs + (event.data.firstFrame / 48000) * 1000 });
    };
    if (route) worklet.port.postMessage({ type: 'route', port: route, offsetMs }, [route]);
    this.clockTimer = setInterval(() => {
      if (this.disposed || this.context.state !== 'running') return;
      const next = followOffset(offsetMs, measureOffsetMs(this.context));
      if (next === offsetMs) return;
      offsetMs = next;
      if (route) worklet.port.postMessage({ type: 'offset', offsetMs });
    }, REMEASURE_MS);
  }

  private clockTimer: ReturnType<typeof setInterval> | null = null;

  /** Adds (or replaces) a participant's audio in the program. */
  setInput(id: string, stream: MediaStream, gain = 1): void {
    this.removeInput(id);
    if (stream.getAudioTracks().length === 0) return;
    const source = this.context.createMediaStreamSource(stream);
    const gainNode = this.context.createGain();
    gainNode.gain.value = gain;
    // The meter reads after the gain: what the program carries of this person.
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(gainNode);
    gainNode.connect(this.bus);
    gainNode.connect(analyser);
    this.inputs.set(id, { source, gain: gainNode, analyser, samples: new Float32Array(analyser.fftSize) });
  }

  setGain(id: string, gain: number): void {
    const input = this.inputs.get(id);
    if (input) input.gain.gain.value = Math.max(0, Math.min(2, gain));
  }

  removeInput(id: string): void {
    const input = this.inputs.get(id);
    if (!input) return;
    input.source.disconnect();
    input.gain.disconnect();
    input.analyser.disconnect();
    this.inputs.delete(id);
  }

  /** Level of each input in dBFS (RMS over the last ~21 ms), −100 for silence. */
  levels(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, input] of this.inputs) {
      input.analyser.getFloatTimeDomainData(input.samples);
      let sum = 0;
      for (const v of input.samples) sum += v * v;
      const rms = Math.sqrt(sum / input.samples.length);
      out[id] = rms > 0 ? Math.max(-100, 20 * Math.log10(rms)) : -100;
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.clockTimer = null;
    for (const id of [...this.inputs.keys()]) this.removeInput(id);
    if (this.worklet) this.worklet.port.onmessage = null;
    this.worklet?.disconnect();
    this.sink?.disconnect();
    await this.context.close();
  }
}
