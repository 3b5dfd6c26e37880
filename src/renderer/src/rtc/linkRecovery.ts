/**
 * What the host does when its link to a seated guest stops carrying media.
 *
 * A link fails when ICE gets no answer for a while (either machine starved,
 * a network change). The guest's side may not notice (its own checks can still
 * be answered) and then never calls again, so the host acts on its own:
 * first it restarts ICE on the same link (new credentials, media kept); when
 * those restarts do not connect, it calls the guest anew on a fresh link (the
 * guest takes an offer on a new link as a new call), again and again with a
 * growing pause, as long as the guest is seated. A fresh link that does not
 * connect in time counts as failed too. Any link of the guest connecting
 * starts the pauses over.
 */

/** The part of a PeerLink this needs. */
export interface RecoverableLink {
  readonly pc: { readonly connectionState: RTCPeerConnectionState };
  readonly stats: { readonly iceRestarts: number };
  restartIceAfterFailure(max: number): boolean;
}

export interface LinkRecoveryOptions {
  /** ICE restarts on one link before calling anew. */
  iceRestarts: number;
  /** Pause before the first new call; each further one doubles it, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A fresh link not connected after this long is called anew. */
  connectTimeoutMs: number;
  /** The guest's current link (undefined when they have none). */
  current: (peer: string) => RecoverableLink | undefined;
  /** Whether the guest is still on stage. */
  seated: (peer: string) => boolean;
  /** Calls the guest anew on a fresh link (which then becomes current). */
  redial: (peer: string) => Promise<unknown>;
  log?: (message: string) => void;
}

export type RecoveryStep = { kind: 'ice-restart'; restart: number } | { kind: 'redial'; inMs: number; attempt: number } | { kind: 'none' };

/** The pause before new call number `attempt` (1-based). */
export function redialDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

export class LinkRecovery {
  /** New calls made per guest since one of their links last connected. */
  private readonly attempts = new Map<string, number>();
  /** A new call waiting for its pause to end, per guest. */
  private readonly redialTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** A fresh link's connect deadline, per guest. */
  private readonly watchTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private disposed = false;

  constructor(private readonly opts: LinkRecoveryOptions) {}

  /** Calls made anew to `peer` since their link last connected. */
  redials(peer: string): number {
    return this.attempts.get(peer) ?? 0;
  }

  /** A link reported 'failed'. Ignored unless it is the guest's current link and the guest is seated. */
  failed(peer: string, link: RecoverableLink): RecoveryStep {
    if (this.disposed || this.opts.current(peer) !== link || !this.opts.seated(peer)) return { kind: 'none' };
    if (link.restartIceAfterFailure(this.opts.iceRestarts)) {
      // A restart whose offer or answer is lost leaves the link hanging rather than failed.
      this.watch(peer);
      return { kind: 'ice-restart', restart: link.stats.iceRestarts };
    }
    return this.scheduleRedial(peer);
  }

  /** One of the guest's links connected: the pauses start over. */
  connected(peer: string): void {
    this.attempts.delete(peer);
    this.clearTimers(peer);
  }

  /** The guest left or was removed: nothing pending for them. (A new call of their own needs nothing here: timers check the link is still the one they were set for.) */
  forget(peer: string): void {
    this.attempts.delete(peer);
    this.clearTimers(peer);
  }

  /** The broadcast ended: nothing pending for anyone, ready for the next one. */
  reset(): void {
    for (const peer of [...this.redialTimers.keys(), ...this.watchTimers.keys()]) this.clearTimers(peer);
    this.attempts.clear();
  }

  /** The studio closed: nothing pending, and nothing more is done. */
  dispose(): void {
    this.disposed = true;
    this.reset();
  }

  private scheduleRedial(peer: string): RecoveryStep {
    if (this.redialTimers.has(peer)) return { kind: 'none' };
    this.clearTimer(this.watchTimers, peer);
    const attempt = (this.attempts.get(peer) ?? 0) + 1;
    this.attempts.set(peer, attempt);
    const inMs = redialDelayMs(attempt, this.opts.baseDelayMs, this.opts.maxDelayMs);
    const failedLink = this.opts.current(peer);
    this.redialTimers.set(
      peer,
      setTimeout(() => {
        this.redialTimers.delete(peer);
        if (this.disposed || !this.opts.seated(peer)) return;
        const now = this.opts.current(peer);
        if (now?.pc.connectionState === 'connected') return;
        if (now !== failedLink && now?.pc.connectionState !== 'failed') {
          // The guest's own new call got there first and is under way: it gets its time to connect.
          this.watch(peer);
          return;
        }
        this.opts.log?.(`calling ${peer} anew (new call ${attempt} since their link last connected)`);
        void this.opts.redial(peer).then(
          () => this.watch(peer),
          (err: Error) => {
            this.opts.log?.(`calling ${peer} anew failed: ${err.message}`);
            this.scheduleRedial(peer);
          },
        );
      }, inMs),
    );
    return { kind: 'redial', inMs, attempt };
  }

  /** A fresh or restarted link gets connectTimeoutMs to connect; otherwise the guest is called anew. */
  private watch(peer: string): void {
    const link = this.opts.current(peer);
    if (!link || this.disposed) return;
    this.clearTimer(this.watchTimers, peer);
    this.watchTimers.set(
      peer,
      setTimeout(() => {
        this.watchTimers.delete(peer);
        if (this.disposed || this.opts.current(peer) !== link || !this.opts.seated(peer)) return;
        const state = link.pc.connectionState;
        // Connected, or failed and already handled by failed() (restarts, then a new call pending).
        if (state === 'connected' || this.redialTimers.has(peer)) return;
        this.opts.log?.(`link to ${peer} not connected after ${Math.round(this.opts.connectTimeoutMs / 1000)} s (${state})`);
        this.scheduleRedial(peer);
      }, this.opts.connectTimeoutMs),
    );
  }

  private clearTimers(peer: string): void {
    this.clearTimer(this.redialTimers, peer);
    this.clearTimer(this.watchTimers, peer);
  }

  private clearTimer(timers: Map<string, ReturnType<typeof setTimeout>>, peer: string): void {
    const timer = timers.get(peer);
    if (timer) clearTimeout(timer);
    timers.delete(peer);
  }
}
