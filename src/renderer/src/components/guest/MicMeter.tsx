/**
 * How loud the microphone is, from the captured track itself (an AnalyserNode
 * that plays nothing, so echo cancellation is unaffected).
 */
import { useEffect, useRef } from 'react';

/** Level 0–1 from an RMS amplitude: −60 dBFS and below is 0, 0 dBFS is 1. */
export function levelFromRms(rms: number): number {
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db + 60) / 60));
}

const METER_INTERVAL_MS = 50;

/**
 * One audio context for every meter of the page, running only while a meter
 * uses it. Each running context is an output stream woken by the audio
 * device; a meter needs no low latency, so it asks for the device's largest
 * buffers ('playback'): far fewer wake-ups than the default on a phone.
 */
let shared: { context: AudioContext; users: number } | null = null;

function takeMeterContext(): AudioContext {
  if (!shared || shared.context.state === 'closed') shared = { context: new AudioContext({ latencyHint: 'playback' }), users: 0 };
  shared.users += 1;
  // Always: a suspend() from the last release may still be under way.
  void shared.context.resume().catch(() => {});
  return shared.context;
}

function releaseMeterContext(context: AudioContext): void {
  if (!shared || shared.context !== context) return;
  shared.users -= 1;
  if (shared.users <= 0) void context.suspend().catch(() => {});
}

export function MicMeter({ track, compact = false, testId = 'mic-meter' }: { track: MediaStreamTrack | null; compact?: boolean; testId?: string }) {
  const rootRef = useRef<HTMLDivElement>(null);
  const barRef = useRef<HTMLSpanElement>(null);

  useEffect(() => {
    const root = rootRef.current;
    const bar = barRef.current;
    let shown = -1;
    const show = (level: number) => {
      // Only a visible change touches the page: every write is a repaint (and a phone's battery).
      const rounded = Math.round(level * 100) / 100;
      if (rounded === shown) return;
      shown = rounded;
      if (bar) bar.style.transform = `scaleX(${rounded.toFixed(2)})`;
      root?.setAttribute('aria-valuenow', String(Math.round(rounded * 100)));
    };
    show(0);
    if (!track || track.readyState !== 'live' || typeof AudioContext === 'undefined') return;
    const context = takeMeterContext();
    const source = context.createMediaStreamSource(new MediaStream([track]));
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let level = 0;
    // 20 readings a second are as many as an eye follows; animation frames would repaint the page 60 times a second.
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      // Rise at once, fall slowly: a meter a person can read.
      level = Math.max(levelFromRms(Math.sqrt(sum / samples.length)), level * 0.75);
      show(level < 0.01 ? 0 : level);
    }, METER_INTERVAL_MS);
    // Phones start audio only after a touch.
    const resume = () => void context.resume().catch(() => {});
    document.addEventListener('pointerdown', resume);
    return () => {
      clearInterval(timer);
      document.removeEventListener('pointerdown', resume);
      source.disconnect();
      analyser.disconnect();
      releaseMeterContext(context);
    };
  }, [track]);

  return (
    <div
      ref={rootRef}
      className={compact ? 'g-meter compact' : 'g-meter'}
      role="meter"
      aria-label="Microphone level"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={0}
      data-testid={testId}
    >
      <span ref={barRef} className="g-meter-bar" />
    </div>
  );
}
