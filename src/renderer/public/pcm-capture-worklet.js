// Captures the program mix as interleaved stereo f32 PCM in fixed-size chunks
// and posts each chunk (transferred, not copied) to the main thread — or,
// once the page routes them ({ type: 'route', port, offsetMs }, then
// { type: 'offset', offsetMs } as the page re-measures it), straight to
// the bridge's worker as media messages stamped on the page's clock, so that
// fifty chunks a second do not wait on a busy page.
const CHUNK_FRAMES = 960; // 20 ms at 48 kHz

// The mix of several voices (and a guest turned up to 200 %) can pass full
// scale, which AAC carries and players then clip harshly. Samples are left as
// they are up to KNEE; above it they bend smoothly towards ±1, never past it.
const KNEE = 0.9;
function softClip(x) {
  if (x <= KNEE && x >= -KNEE) return x;
  const over = (Math.abs(x) - KNEE) / (1 - KNEE);
  return Math.sign(x) * (KNEE + (1 - KNEE) * (over / (1 + over)));
}

class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buffer = new Float32Array(CHUNK_FRAMES * 2);
    this.filled = 0;
    this.route = null;
    this.port.onmessage = (event) => {
      const msg = event.data;
      if (msg && msg.type === 'route' && msg.port) this.route = { port: msg.port, offsetMs: msg.offsetMs };
      // The page measures the clocks' offset again every few seconds (they drift apart over a long show).
      else if (msg && msg.type === 'offset' && this.route && Number.isFinite(msg.offsetMs)) this.route.offsetMs = msg.offsetMs;
    };
  }

  process(inputs) {
    const input = inputs[0];
    const left = input && input[0];
    const right = input && (input[1] || input[0]);
    const frames = left ? left.length : 128;
    for (let i = 0; i < frames; i++) {
      this.buffer[this.filled * 2] = left ? softClip(left[i]) : 0;
      this.buffer[this.filled * 2 + 1] = right ? softClip(right[i]) : 0;
      this.filled++;
      if (this.filled === CHUNK_FRAMES) {
        const chunk = this.buffer;
        // currentFrame (the audio clock) is this render quantum's first frame; the chunk's first sample:
        const firstFrame = currentFrame + i + 1 - CHUNK_FRAMES;
        if (this.route) {
          const timestampMs = this.route.offsetMs + (firstFrame / 48000) * 1000;
          this.route.port.postMessage({ type: 'media', kind: 'audio', payload: chunk.buffer, timestampMs }, [chunk.buffer]);
        } else {
          this.port.postMessage({ pcm: chunk.buffer, firstFrame }, [chunk.buffer]);
        }
        this.buffer = new Float32Array(CHUNK_FRAMES * 2);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor('pcm-capture', PcmCapture);
