/**
 * Maps the renderer's capture timestamps onto the session's media clock (ms
 * since the ffmpeg run started). Audio and video come from the same renderer
 * clock, so one mapping serves both: that is what keeps them in sync however
 * late each kind of message arrives (a 1.4 MB frame travels slower than a
 * 10 ms audio chunk, and a frame is read back a frame or two after capture).
 *
 * The mapping is `media = sender + offset`, with the offset the smallest
 * arrival delay seen so far (arrival − capture end): the fastest message
 * bounds the clocks' difference, and jitter only ever makes messages later.
 * A message much later than that (the sender's clock restarted, e.g. after a
 * page reload) re-anchors the mapping.
 */
export class SenderClock {
  private offset: number | null = null;

  /** @param reanchorMs a message this much later than the best delay seen re-anchors the mapping. */
  constructor(private readonly reanchorMs = 1000) {}

  /** The current offset (media ms − sender ms); null before the first message. */
  get offsetMs(): number | null {
    return this.offset;
  }

  /**
   * Observes content captured from `senderMs` for `durationMs` that arrived
   * (whole) at media time `arrivalMs`; returns the media time of `senderMs`.
   */
  place(senderMs: number, durationMs: number, arrivalMs: number): number {
    const implied = arrivalMs - durationMs - senderMs;
    if (this.offset === null || implied < this.offset || implied > this.offset + this.reanchorMs) this.offset = implied;
    return senderMs + this.offset;
  }

  /** Like place(), but the mapping is reset to this message's arrival (its timestamp is not to be trusted against earlier ones). */
  anchor(senderMs: number, durationMs: number, arrivalMs: number): number {
    this.offset = arrivalMs - durationMs - senderMs;
    return senderMs + this.offset;
  }
}
