/**
 * Keeps the PCM written to ffmpeg on the session's media clock (ms since the
 * ffmpeg run started), the clock video frames are stamped with.
 *
 * ffmpeg stamps audio by sample count, so the samples written must track the
 * media clock: a chunk goes where its capture time says (mapped by the
 * SenderClock it shares with video), gaps are filled with silence, overlaps
 * trimmed, and when no audio comes at all, silence keeps ffmpeg from waiting
 * for it. Jitter in arrival times does not move audio: only the sender's
 * timestamps do, unless they go backwards or jump (then arrival time decides).
 *
 * Delivery can also get slower for good (a page that grows busier as guests
 * join): every chunk then lands where silence was already written and would
 * be trimmed away, for as long as the run lasts. After `followLateAfterMs` of
 * chunks in a row that came too late, the mapping follows the new delivery
 * (re-anchored at this chunk's arrival); video, placed with the same mapping,
 * moves with it and stays in sync.
 */
import { SenderClock } from './senderClock';

export interface AudioTimelineOptions {
  sampleRate: number;
  /** Placement errors up to this size are left alone (no silence, no trim). */
  toleranceMs?: number;
  /** With no audio for this long behind the media clock, silence is written. */
  fillAfterMs?: number;
  /** Silence fills up to this far behind the media clock. */
  fillMarginMs?: number;
  /** A chunk later than this beyond the best delay seen re-anchors the sender's clock (when no clock is given). */
  reanchorMs?: number;
  /** The sender→media mapping shared with video; default: one of its own. */
  clock?: SenderClock;
  /** Audio that came too late (trimmed) for this long in a row re-anchors the mapping at its arrival. */
  followLateAfterMs?: number;
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
  private readonly clock: SenderClock;
  /** Frames (samples per channel) written so far. */
  private written = 0;
  private lastSenderEndMs = -Infinity;
  private readonly followLateAfterMs: number;
  /** Audio (ms) trimmed as too late in a row. */
  private lateRunMs = 0;
  /** Times the mapping followed a slower delivery. */
  followed = 0;

  constructor(options: AudioTimelineOptions) {
    this.sampleRate = options.sampleRate;
    this.toleranceMs = options.toleranceMs ?? 20;
    this.fillAfterMs = options.fillAfterMs ?? 150;
    this.fillMarginMs = options.fillMarginMs ?? 30;
    this.clock = options.clock ?? new SenderClock(options.reanchorMs ?? 1000);
    this.followLateAfterMs = options.followLateAfterMs ?? 300;
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
    // Timestamps that stand still or go back carry no timing: place by arrival.
    const backwards = senderMs + chunkMs <= this.lastSenderEndMs || senderMs < this.lastSenderEndMs - this.toleranceMs;
    let startMs = backwards ? this.clock.anchor(senderMs, chunkMs, mediaNowMs) : this.clock.place(senderMs, chunkMs, mediaNowMs);
    this.lastSenderEndMs = senderMs + chunkMs;
    if (startMs - this.writtenMs < -this.toleranceMs) {
      this.lateRunMs += chunkMs;
      if (this.lateRunMs >= this.followLateAfterMs) {
        startMs = this.clock.anchor(senderMs, chunkMs, mediaNowMs);
        this.lateRunMs = 0;
        this.followed += 1;
      }
    } else {
      this.lateRunMs = 0;
    }
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

  private toFrames(ms: number): number {
    return Math.max(0, Math.round((ms * this.sampleRate) / 1000));
  }
}
