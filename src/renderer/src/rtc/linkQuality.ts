/**
 * How good a guest's connection is, as a person reads it on the seat tile:
 * good, fair or poor, with the figures behind the grade.
 *
 * The host reads its peer connection's counters every few seconds (packets
 * received and lost, the round trip of the selected candidate pair, frames
 * decoded, freezes) and grades the interval between two readings. The guest's
 * page adds what only it can see: how long the program's frames wait for its
 * decoder (`ViewWatch`) — a page too busy to decode shows the program late
 * however clean the network is.
 */

/** One reading of a link's cumulative counters. */
export interface LinkCounters {
  /** When it was read (ms, any monotonic clock). */
  at: number;
  /** RTP packets of every inbound stream (audio and video). */
  packetsReceived: number;
  packetsLost: number;
  /** Video frames decoded from the guest (their camera). */
  framesDecoded: number;
  freezeCount: number;
  /** Round trip of the selected candidate pair (ms), when known. */
  rttMs: number | null;
}

export type QualityGrade = 'good' | 'fair' | 'poor';

export interface LinkQuality {
  grade: QualityGrade;
  /** Share of the interval's packets lost (%), null when none were expected. */
  lossPct: number | null;
  rttMs: number | null;
  /** Guest camera frames decoded a second in the interval. */
  fps: number;
  /** Freezes of the guest's video in the interval (WebRTC's count). */
  freezes: number;
  /** How far behind the guest's page shows the program (ms), as the guest reported it; 0 when keeping up. */
  viewBehindMs: number;
  /** Why the grade is not good, in words (empty when good). */
  reasons: string[];
}

/** Loss (%) and round trip (ms) at and above which a link is fair, then poor (what calls start to sound and look broken at). */
export const FAIR_LOSS_PCT = 2;
export const POOR_LOSS_PCT = 8;
export const FAIR_RTT_MS = 300;
export const POOR_RTT_MS = 700;

const worse = (a: QualityGrade, b: QualityGrade): QualityGrade => (a === 'poor' || b === 'poor' ? 'poor' : a === 'fair' || b === 'fair' ? 'fair' : 'good');

/**
 * A lag in words. The frames' wait for the decoder tracks the lag a person
 * sees only roughly (at host + 9 on two starved cores: waits of 9–42 s for
 * views measured 13–30 s late), so beyond ten seconds no figure is given.
 */
export function lagInWords(ms: number): string {
  return ms >= 10_000 ? 'over 10 s' : `about ${Math.max(1, Math.round(ms / 1000))} s`;
}

/**
 * Grades the interval between two readings of one link, with the guest's own
 * report of its program view. Freezes are told, not graded: a camera turned
 * off, or one that sends frames unevenly, counts as frozen by WebRTC's rule
 * (a gap three times the usual one) with nothing wrong in the connection.
 */
export function rateLink(prev: LinkCounters, now: LinkCounters, viewBehindMs = 0): LinkQuality {
  const received = Math.max(0, now.packetsReceived - prev.packetsReceived);
  // packetsLost can fall (late packets counted again); never a negative share.
  const lost = Math.max(0, now.packetsLost - prev.packetsLost);
  const lossPct = received + lost > 0 ? (lost / (received + lost)) * 100 : null;
  const interval = Math.max(1, now.at - prev.at);
  const fps = (Math.max(0, now.framesDecoded - prev.framesDecoded) * 1000) / interval;
  const freezes = Math.max(0, now.freezeCount - prev.freezeCount);
  const reasons: string[] = [];
  let grade: QualityGrade = 'good';
  if (lossPct !== null && lossPct >= FAIR_LOSS_PCT) {
    grade = worse(grade, lossPct >= POOR_LOSS_PCT ? 'poor' : 'fair');
    reasons.push(`${lossPct.toFixed(1)} % of packets lost`);
  }
  if (now.rttMs !== null && now.rttMs >= FAIR_RTT_MS) {
    grade = worse(grade, now.rttMs >= POOR_RTT_MS ? 'poor' : 'fair');
    reasons.push(`round trip ${Math.round(now.rttMs)} ms`);
  }
  if (viewBehindMs >= VIEW_BEHIND_MS) {
    grade = 'poor';
    reasons.push(`their view of the program runs ${lagInWords(viewBehindMs)} behind`);
  }
  return { grade, lossPct, rttMs: now.rttMs, fps, freezes, viewBehindMs, reasons };
}

/** The figures of a grade in one line, for a tooltip. */
export function describeQuality(q: LinkQuality): string {
  const figures = [
    q.lossPct === null ? null : `loss ${q.lossPct.toFixed(1)} %`,
    q.rttMs === null ? null : `round trip ${Math.round(q.rttMs)} ms`,
    `camera ${q.fps.toFixed(0)} fps received`,
    q.freezes ? `${q.freezes} ${q.freezes === 1 ? 'freeze' : 'freezes'}` : null,
  ].filter(Boolean);
  return [q.reasons.length ? q.reasons.join('; ') : null, figures.join(' · ')].filter(Boolean).join(' — ');
}

type StatsRow = {
  type: string;
  kind?: string;
  packetsReceived?: number;
  packetsLost?: number;
  framesDecoded?: number;
  freezeCount?: number;
  jitterBufferDelay?: number;
  jitterBufferEmittedCount?: number;
  framesReceived?: number;
  state?: string;
  nominated?: boolean;
  selected?: boolean;
  currentRoundTripTime?: number;
  selectedCandidatePairId?: string;
};

/** Reads a link's counters (null when it has no inbound stream yet). */
export async function readLinkCounters(pc: RTCPeerConnection, at = performance.now()): Promise<LinkCounters | null> {
  const report = await pc.getStats();
  const rows: StatsRow[] = [];
  report.forEach((r: StatsRow) => rows.push(r));
  const inbound = rows.filter((r) => r.type === 'inbound-rtp');
  if (!inbound.length) return null;
  const sum = (pick: (r: StatsRow) => number | undefined, of = inbound) => of.reduce((s, r) => s + (pick(r) ?? 0), 0);
  const video = inbound.filter((r) => r.kind === 'video');
  // The selected pair: named by the transport where the browser says, else the nominated one that succeeded.
  const transport = rows.find((r) => r.type === 'transport' && r.selectedCandidatePairId);
  const pair =
    (transport && rows.find((r) => r.type === 'candidate-pair' && (r as { id?: string }).id === transport.selectedCandidatePairId)) ??
    rows.find((r) => r.type === 'candidate-pair' && r.state === 'succeeded' && (r.nominated || r.selected));
  return {
    at,
    packetsReceived: sum((r) => r.packetsReceived),
    packetsLost: sum((r) => r.packetsLost),
    framesDecoded: sum((r) => r.framesDecoded, video),
    freezeCount: sum((r) => r.freezeCount, video),
    rttMs: typeof pair?.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null,
  };
}

/* ---- The guest's side: is this page keeping up with the program it receives? ---- */

/** The program video's jitter-buffer counters at one moment (WebRTC's inbound-rtp). */
export interface ViewCounters {
  /** Seconds frames spent in the jitter buffer before decoding, summed. */
  jitterBufferDelay: number;
  jitterBufferEmittedCount: number;
  framesReceived: number;
}

/** Frames waiting longer than this on average: the page shows the program late. */
export const VIEW_BEHIND_MS = 1000;
/** Frames waiting less than this on average, CALM_SAMPLES readings in a row: caught up again. */
export const VIEW_CAUGHT_UP_MS = 300;
export const CALM_SAMPLES = 3;

/**
 * Follows how long the program's frames wait before the guest's page decodes
 * them. On two starved cores they waited 4–36 s each and the guest saw the
 * program that late; with a page that keeps up, 10–100 ms. `sample` returns
 * the new lag (ms, 0 when caught up) when what the guest should be told
 * changes — behind or not, or a lag that moved by a second and by half.
 */
export class ViewWatch {
  private prev: ViewCounters | null = null;
  private calm = 0;
  /** The lag last reported (ms; 0: keeping up). */
  behindMs = 0;

  sample(now: ViewCounters): number | null {
    const prev = this.prev;
    this.prev = now;
    if (!prev) return null;
    const frames = now.jitterBufferEmittedCount - prev.jitterBufferEmittedCount;
    const received = now.framesReceived - prev.framesReceived;
    // Frames received with none decoded: the page decodes nothing at all (as behind as it gets; the lag is unknown).
    const wait = frames > 0 ? ((now.jitterBufferDelay - prev.jitterBufferDelay) / frames) * 1000 : received > 0 ? Infinity : null;
    if (wait === null) return null;
    if (wait > VIEW_BEHIND_MS) {
      this.calm = 0;
      const lag = Number.isFinite(wait) ? wait : Math.max(this.behindMs, VIEW_BEHIND_MS);
      // Told again only when the lag moved by a second and by half (a starved page's lag wanders by seconds).
      if (this.behindMs && Math.abs(lag - this.behindMs) < Math.max(1000, this.behindMs / 2)) return null;
      this.behindMs = lag;
      return lag;
    }
    if (!this.behindMs) return null;
    this.calm = wait < VIEW_CAUGHT_UP_MS ? this.calm + 1 : 0;
    if (this.calm < CALM_SAMPLES) return null;
    this.calm = 0;
    this.behindMs = 0;
    return 0;
  }

  /** A new link: its counters start from zero (what was reported stands until the new link says otherwise). */
  reset(): void {
    this.prev = null;
    this.calm = 0;
  }
}

/** The counters of the program video a guest's peer connection receives (null before any). */
export async function readViewCounters(pc: RTCPeerConnection): Promise<ViewCounters | null> {
  let counters: ViewCounters | null = null;
  (await pc.getStats()).forEach((r: StatsRow) => {
    if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
    counters = { jitterBufferDelay: r.jitterBufferDelay ?? 0, jitterBufferEmittedCount: r.jitterBufferEmittedCount ?? 0, framesReceived: r.framesReceived ?? 0 };
  });
  return counters;
}

/* ---- The host's side: every guest's link graded every few seconds. ---- */

/** What the monitor needs of a link: its id (a new one per call) and its peer connection. */
export interface MonitoredLink {
  readonly id: string;
  readonly pc: RTCPeerConnection;
}

export interface QualityMonitorOptions {
  /** The guests' current links. */
  links: () => Iterable<[string, MonitoredLink]>;
  /** A guest's grade (null: no grade, e.g. the link is gone or not connected). */
  publish: (guestId: string, quality: LinkQuality | null) => void;
  /** Reads a link's counters (`readLinkCounters`; replaced in tests). */
  read?: (pc: RTCPeerConnection) => Promise<LinkCounters | null>;
  log?: (message: string) => void;
}

/**
 * Grades each connected link from two readings of its counters, the last
 * interval at a time, with the lag its guest last reported. A link that is
 * not connected has no grade (its tile says its state instead).
 */
export class QualityMonitor {
  private readonly prev = new Map<string, { link: string; counters: LinkCounters }>();
  private readonly behind = new Map<string, number>();
  private readonly graded = new Set<string>();
  private ticking = false;

  constructor(private readonly opts: QualityMonitorOptions) {}

  /** The guest's page says how far behind it shows the program (0: keeping up). */
  viewReported(guestId: string, behindMs: number): void {
    this.behind.set(guestId, behindMs);
  }

  /** The guest left: nothing of theirs is kept. */
  forget(guestId: string): void {
    this.prev.delete(guestId);
    this.behind.delete(guestId);
    if (this.graded.delete(guestId)) this.opts.publish(guestId, null);
  }

  /** One round: reads every connected link once (a round still under way is not doubled). */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const read = this.opts.read ?? ((pc: RTCPeerConnection) => readLinkCounters(pc));
      for (const [guestId, link] of [...this.opts.links()]) {
        if (link.pc.connectionState !== 'connected') {
          this.prev.delete(guestId);
          if (this.graded.delete(guestId)) this.opts.publish(guestId, null);
          continue;
        }
        const counters = await read(link.pc).catch((err: Error) => {
          this.opts.log?.(`link quality of ${guestId}: ${err.message}`);
          return null;
        });
        if (!counters) continue;
        // Dropped (or its link replaced) while its counters were being read: nothing of it is kept or shown.
        if (new Map(this.opts.links()).get(guestId) !== link) continue;
        const before = this.prev.get(guestId);
        this.prev.set(guestId, { link: link.id, counters });
        // A new link's counters start from zero: no interval is read across two links.
        if (!before || before.link !== link.id) continue;
        this.graded.add(guestId);
        this.opts.publish(guestId, rateLink(before.counters, counters, this.behind.get(guestId) ?? 0));
      }
    } finally {
      this.ticking = false;
    }
  }
}
