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

export function MicMeter({ track, compact = false, testId = 'mic-meter' }: { track: MediaStreamTrack | null; compact?: boolean; testId?: string }) {
  const rootRef = useRef<HTMLDivElement>(null);
  const barRef = useRef<HTMLSpanElement>(null);

  useEffect(() => {
    const root = rootRef.current;
    const bar = barRef.current;
    const show = (level: number) => {
      if (bar) bar.style.transform = `scaleX(${level.toFixed(3)})`;
      if (root) {
        const value = String(Math.round(level * 100));
        if (root.getAttribute('aria-valuenow') !== value) root.setAttribute('aria-valuenow', value);
      }
    };
    show(0);
    if (!track || track.readyState !== 'live' || typeof AudioContext === 'undefined') return;
    const context = new AudioContext();
    const source = context.createMediaStreamSource(new MediaStream([track]));
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let level = 0;
    let frame = 0;
    const tick = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      // Rise at once, fall slowly: a meter a person can read.
      level = Math.max(levelFromRms(Math.sqrt(sum / samples.length)), level * 0.9);
      show(level);
      frame = requestAnimationFrame(tick);
    };
    frame = requestAnimationFrame(tick);
    // Phones start audio only after a touch.
    const resume = () => void context.resume().catch(() => {});
    document.addEventListener('pointerdown', resume);
    return () => {
      cancelAnimationFrame(frame);
      document.removeEventListener('pointerdown', resume);
      source.disconnect();
      void context.close().catch(() => {});
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
