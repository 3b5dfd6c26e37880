/**
 * Keeps the PCM written to ffmpeg on the session's media clock, the clock the
 * video pacer runs on (ms since ffmpeg started, minus frames dropped).
 *
 * ffmpeg stamps audio by sample count, so the samples written must track the
 * media clock: a chunk goes where its capture time says (sender timestamp +
 * the smallest sender→here delay seen), gaps are filled with silence, overlaps
 * trimmed, and when no audio comes at all, silence keeps ffmpeg from waiting
 * for it. Jitter in arrival times does not move audio: only the sender's
 * timestamps do, unless they go backwards or jump (then arrival time decides).
 */

export interface AudioTimelineOptions {
  sampleRate: number;
  /** Placement errors up to this size are left alone (no silence, no trim). */
  toleranceMs?: number;
  /** With no audio for this long behind the media clock, silence is written. */
  fillAfterMs?: number;
  /** Silence fills up to this far behind the media clock. */
  fillMarginMs?: number;
  /** A chunk later than this beyond the best delay seen re-anchors the sender's clock. */
  reanchorMs?: number;
}

export interface AudioPlacement {
  /** Silent frames to write before the chunk. */
  silenceFrames: number;
  /** Frames to drop from the start of the chunk (they overlap what is already written). */
  skipFrames: number;
}

export class AudioTimeline {
  private readonly sampleRate: number;
  private readonly toleranceMs: number;
  private readonly fillAfterMs: number;
  private readonly fillMarginMs: number;
  private readonly reanchorMs: number;
  /** Frames (samples per channel) written so far. */
  private written = 0;
  /** media ms = sender ms + offset; null until the first chunk. */
  private offset: number | null = null;
  private lastSenderEndMs = -Infinity;

  constructor(options: AudioTimelineOptions) {
    this.sampleRate = options.sampleRate;
    this.toleranceMs = options.toleranceMs ?? 20;
    this.fillAfterMs = options.fillAfterMs ?? 150;
    this.fillMarginMs = options.fillMarginMs ?? 30;
    this.reanchorMs = options.reanchorMs ?? 1000;
  }

  get framesWritten(): number {
    return this.written;
  }

  /** Media time (ms) up to which audio has been written. */
  get writtenMs(): number {
    return (this.written * 1000) / this.sampleRate;
  }

  /**
   * Where a chunk of `frames` frames, captured at sender time `senderMs` and
   * arriving at media time `mediaNowMs`, goes. Call `commit` with what was written.
   */
  place(senderMs: number, frames: number, mediaNowMs: number): AudioPlacement {
    const chunkMs = (frames * 1000) / this.sampleRate;
    // Offset this chunk would imply if it had arrived with no delay at all.
    const implied = mediaNowMs - chunkMs - senderMs;
    // Timestamps that stand still or go back carry no timing: place by arrival.
    const backwards = senderMs + chunkMs <= this.lastSenderEndMs || senderMs < this.lastSenderEndMs - this.toleranceMs;
    if (this.offset === null || backwards || implied > this.offset + this.reanchorMs) this.offset = implied;
    else if (implied < this.offset) this.offset = implied;
    this.lastSenderEndMs = senderMs + chunkMs;

    const startMs = senderMs + this.offset;
    const delta = startMs - this.writtenMs;
    if (delta > this.toleranceMs) return { silenceFrames: this.toFrames(delta), skipFrames: 0 };
    if (delta < -this.toleranceMs) return { silenceFrames: 0, skipFrames: Math.min(frames, this.toFrames(-delta)) };
    return { silenceFrames: 0, skipFrames: 0 };
  }

  /** Silent frames to write now so that audio does not fall behind the media clock. */
  fill(mediaNowMs: number): number {
    const behind = mediaNowMs - this.writtenMs;
    if (behind <= this.fillAfterMs) return 0;
    return this.toFrames(behind - this.fillMarginMs);
  }

  /** Records frames written to ffmpeg. */
  commit(frames: number): void {
    this.written += frames;
  }

  /** The media clock moved back by `ms` (video frames were dropped): audio follows. */
  shift(ms: number): void {
    if (this.offset !== null) this.offset -= ms;
  }

  private toFrames(ms: number): number {
    return Math.max(0, Math.round((ms * this.sampleRate) / 1000));
  }
}
