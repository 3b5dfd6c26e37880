import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LinkRecovery, redialDelayMs, type RecoverableLink } from './linkRecovery';

/** A link whose ICE restarts never connect (the guest's page is starved), as PeerLink counts them. */
class StubLink implements RecoverableLink {
  readonly pc: { connectionState: RTCPeerConnectionState } = { connectionState: 'connecting' };
  readonly stats = { iceRestarts: 0 };
  private sinceConnected = 0;
  constructor(readonly name: string) {}
  restartIceAfterFailure(max: number): boolean {
    if (this.pc.connectionState !== 'failed' || this.sinceConnected >= max) return false;
    this.sinceConnected += 1;
    this.stats.iceRestarts += 1;
    this.pc.connectionState = 'connecting';
    return true;
  }
  set(state: RTCPeerConnectionState): void {
    this.pc.connectionState = state;
    if (state === 'connected') this.sinceConnected = 0;
  }
}

const GUEST = 'guest-1';

function setup(options: { seated?: () => boolean; iceRestarts?: number; failFirstRedials?: number } = {}) {
  let made = 0;
  let failedRedials = 0;
  const links = new Map<string, StubLink>();
  const logs: string[] = [];
  const redials: string[] = [];
  const recovery = new LinkRecovery({
    iceRestarts: options.iceRestarts ?? 2,
    baseDelayMs: 5000,
    maxDelayMs: 20_000,
    connectTimeoutMs: 45_000,
    current: (peer) => links.get(peer),
    seated: options.seated ?? (() => true),
    redial: async (peer) => {
      if ((options.failFirstRedials ?? 0) > redials.length + failedRedials) {
        failedRedials += 1;
        throw new Error('signaling closed');
      }
      made += 1;
      const link = new StubLink(`link-${made}`);
      links.set(peer, link);
      redials.push(link.name);
    },
    log: (m) => logs.push(m),
  });
  const first = new StubLink('link-0');
  first.set('connected');
  links.set(GUEST, first);
  /** The current link fails, and the host tells recovery as HostSession does. */
  const fail = () => {
    const link = links.get(GUEST)!;
    link.set('failed');
    return recovery.failed(GUEST, link);
  };
  return { recovery, links, logs, redials, fail, current: () => links.get(GUEST)! };
}

describe('LinkRecovery', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('restarts ICE twice, then calls the guest anew after a pause that doubles up to the maximum', async () => {
    const t = setup();
    expect(t.fail()).toEqual({ kind: 'ice-restart', restart: 1 });
    expect(t.fail()).toEqual({ kind: 'ice-restart', restart: 2 });
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 5000, attempt: 1 });
    // Failing again while the call is pending schedules nothing more.
    expect(t.recovery.failed(GUEST, t.current())).toEqual({ kind: 'none' });
    await vi.advanceTimersByTimeAsync(4999);
    expect(t.redials).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.redials).toEqual(['link-1']);
    expect(t.logs).toContain('calling guest-1 anew (new call 1 since their link last connected)');

    // The fresh link fails without ever connecting: its own restarts, then a longer pause.
    expect(t.fail().kind).toBe('ice-restart');
    expect(t.fail().kind).toBe('ice-restart');
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 10_000, attempt: 2 });
    await vi.advanceTimersByTimeAsync(10_000);
    t.fail();
    t.fail();
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 20_000, attempt: 3 });
    await vi.advanceTimersByTimeAsync(20_000);
    t.fail();
    t.fail();
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 20_000, attempt: 4 });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(t.redials).toEqual(['link-1', 'link-2', 'link-3', 'link-4']);
    expect(t.recovery.redials(GUEST)).toBe(4);

    // Connecting starts the pauses over.
    t.current().set('connected');
    t.recovery.connected(GUEST);
    expect(t.recovery.redials(GUEST)).toBe(0);
    t.fail();
    t.fail();
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 5000, attempt: 1 });
    t.recovery.dispose();
  });

  it('ignores a link that is not the current one, and a guest who is not seated', () => {
    let seated = true;
    const t = setup({ seated: () => seated });
    const old = new StubLink('old');
    old.set('failed');
    expect(t.recovery.failed(GUEST, old)).toEqual({ kind: 'none' });
    expect(old.stats.iceRestarts).toBe(0);
    seated = false;
    expect(t.fail()).toEqual({ kind: 'none' });
    expect(t.current().stats.iceRestarts).toBe(0);
  });

  it('makes no new call when the guest left during the pause, or their own new call replaced the link', async () => {
    let seated = true;
    const t = setup({ seated: () => seated });
    t.fail();
    t.fail();
    expect(t.fail().kind).toBe('redial');
    seated = false;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.redials).toEqual([]);

    seated = true;
    t.recovery.forget(GUEST);
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 5000, attempt: 1 });
    // The guest's hello made a new link first (HostSession.connectGuest from onHello): it gets its time, and connects.
    const theirs = new StubLink('from-hello');
    t.links.set(GUEST, theirs);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.redials).toEqual([]);
    theirs.set('connected');
    t.recovery.connected(GUEST);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.redials).toEqual([]);
    expect(t.current()).toBe(theirs);

    // Their next call fails too while a new call of the host's is pending: the host's call still goes.
    theirs.set('failed');
    expect(t.recovery.failed(GUEST, theirs).kind).toBe('ice-restart');
    theirs.set('failed');
    t.recovery.failed(GUEST, theirs);
    theirs.set('failed');
    expect(t.recovery.failed(GUEST, theirs)).toEqual({ kind: 'redial', inMs: 5000, attempt: 1 });
    const again = new StubLink('from-hello-2');
    t.links.set(GUEST, again);
    again.set('failed');
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.redials).toEqual(['link-1']);
    t.recovery.dispose();
  });

  it('gives a new call of the guest its time, then calls anew if it hangs', async () => {
    const t = setup();
    t.fail();
    t.fail();
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 5000, attempt: 1 });
    const theirs = new StubLink('from-hello');
    t.links.set(GUEST, theirs);
    await vi.advanceTimersByTimeAsync(5000 + 44_999);
    expect(t.redials).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.logs).toContain('link to guest-1 not connected after 45 s (connecting)');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.redials).toEqual(['link-1']);
    t.recovery.dispose();
  });

  it('calls anew when a restarted or fresh link hangs without connecting or failing', async () => {
    const t = setup();
    // The restart's offer is lost: the link stays 'connecting'.
    expect(t.fail().kind).toBe('ice-restart');
    await vi.advanceTimersByTimeAsync(45_000);
    expect(t.logs).toContain('link to guest-1 not connected after 45 s (connecting)');
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.redials).toEqual(['link-1']);
    // The fresh link's offer is lost too: after 45 s, the next call, 10 s later.
    await vi.advanceTimersByTimeAsync(45_000 + 9_999);
    expect(t.redials).toEqual(['link-1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.redials).toEqual(['link-1', 'link-2']);
    // This one connects in time: nothing more.
    t.current().set('connected');
    t.recovery.connected(GUEST);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.redials).toEqual(['link-1', 'link-2']);
  });

  it('stops everything on dispose', async () => {
    const t = setup();
    t.fail();
    t.fail();
    t.fail();
    t.recovery.dispose();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.redials).toEqual([]);
    expect(t.fail()).toEqual({ kind: 'none' });
  });

  it('drops what is pending on reset and recovers again afterwards (the next broadcast)', async () => {
    const t = setup({ iceRestarts: 0 });
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 5000, attempt: 1 });
    t.recovery.reset();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.redials).toEqual([]);
    // The pauses start over: the next failure is the first new call again, and it is made.
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 5000, attempt: 1 });
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.redials).toEqual(['link-1']);
    t.recovery.dispose();
  });

  it('retries a new call that could not be made', async () => {
    const t = setup({ iceRestarts: 0, failFirstRedials: 1 });
    expect(t.fail()).toEqual({ kind: 'redial', inMs: 5000, attempt: 1 });
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.logs).toContain('calling guest-1 anew failed: signaling closed');
    expect(t.redials).toEqual([]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.redials).toEqual(['link-1']);
    t.recovery.dispose();
  });
});

describe('redialDelayMs', () => {
  it('doubles from the base and stops at the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => redialDelayMs(n, 5000, 60_000))).toEqual([5000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
    expect(redialDelayMs(0, 5000, 60_000)).toBe(5000);
  });
});
