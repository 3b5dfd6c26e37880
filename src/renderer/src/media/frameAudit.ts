/** Camera frames received, and those not closed (yet). */
export interface FrameCount {
  received: number;
  unclosed: number;
}

/**
 * Counts the frames a worker received and how many of them it closed, so a
 * test (or a diagnostic run) can tell whether every frame that reached the
 * program's code was let go. It watches `close()` on the frames' prototype;
 * frames that never reach `track()` (still inside a stream when it is
 * cancelled, or inside the browser's own stream transfer) are not counted.
 */
export class FrameAudit {
  received = 0;
  closed = 0;
  private readonly open = new WeakSet<object>();

  /** Starts watching `close()` on `proto` (VideoFrame.prototype in the worker). */
  constructor(proto: { close(): void }) {
    const close = proto.close;
    const open = this.open;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the patched method needs both `this` (the frame) and the audit
    const audit = this;
    proto.close = function (this: object) {
      if (open.delete(this)) audit.closed += 1;
      close.call(this);
    };
  }

  /** A frame the worker's code now owns. */
  track(frame: object): void {
    if (this.open.has(frame)) return;
    this.open.add(frame);
    this.received += 1;
  }

  /** Frames received and not closed (yet). */
  get unclosed(): number {
    return this.received - this.closed;
  }

  summary(): FrameCount {
    return { received: this.received, unclosed: this.unclosed };
  }
}
