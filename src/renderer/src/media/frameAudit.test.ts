import { describe, expect, it } from 'vitest';
import { FrameAudit } from './frameAudit';

class FakeFrame {
  closedTimes = 0;
  close(): void {
    this.closedTimes += 1;
  }
}

/** Frames whose prototype's close() an audit watches (as VideoFrame.prototype in the worker). */
function audited() {
  const proto = { close: FakeFrame.prototype.close };
  class Frame extends FakeFrame {}
  Object.setPrototypeOf(Frame.prototype, proto);
  return { audit: new FrameAudit(proto), Frame };
}

describe('FrameAudit', () => {
  it('counts frames received and closed, each frame once, and still closes them', () => {
    const { audit, Frame } = audited();
    const a = new Frame();
    const b = new Frame();
    const c = new Frame();
    audit.track(a);
    audit.track(b);
    audit.track(b);
    audit.track(c);
    expect(audit.summary()).toEqual({ received: 3, unclosed: 3 });
    a.close();
    a.close();
    b.close();
    expect(audit.summary()).toEqual({ received: 3, unclosed: 1 });
    expect(a.closedTimes).toBe(2);
    expect(b.closedTimes).toBe(1);
    c.close();
    expect(audit.unclosed).toBe(0);
  });

  it('ignores frames it was never given', () => {
    const { audit, Frame } = audited();
    const stranger = new Frame();
    stranger.close();
    expect(audit.summary()).toEqual({ received: 0, unclosed: 0 });
    expect(stranger.closedTimes).toBe(1);
  });
});
