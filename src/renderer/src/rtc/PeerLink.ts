/**
 * One RTCPeerConnection between the host and one guest, negotiated with the
 * W3C "perfect negotiation" pattern: either side changes what it sends at any
 * time, `negotiationneeded` makes the offer, and when both offer at once the
 * polite peer (the guest) rolls its own offer back while the impolite peer (the
 * host, the hub of the star) ignores the other's. Nothing glares.
 *
 * Each call is one link with its own id: the host makes it when a guest says
 * hello, every description and candidate carries it, and messages of any other
 * link are dropped.
 *
 * Transceivers: audio goes both ways on one m-line; video goes one way per
 * m-line (the program on one, the guest's camera on another). Chromium
 * (156 here) stops handing received video to its track after a rollback of
 * an offer in which the same transceiver was also sending video: frames are
 * still decoded, none reaches the page. One-way video keeps the polite side's
 * receiving transceivers out of that case (tests/e2e/negotiation.spec.ts).
 */
import { MAX_CANDIDATES_PER_MESSAGE, type SignalMessage } from '../../../shared/signaling';
import { scaleDownBy, type SendCap } from '../../../shared/mediaLimits';

export type TrackKind = 'audio' | 'video';

export interface LocalTracks {
  video: MediaStreamTrack | null;
  audio: MediaStreamTrack | null;
}

/** Where a link's messages go: the stream's SignalingChannel (or a stand-in in tests). */
export interface SignalSender {
  send(msg: SignalMessage): Promise<void>;
}

export interface PeerLinkOptions {
  signaling: SignalSender;
  selfId: string;
  peerId: string;
  /** The link's id: the host leaves it out (a new one is made), the guest passes the id of the offer that started the call. */
  linkId?: string;
  /** The polite peer yields when both sides offer at once. The guest is polite, the host is not. */
  polite: boolean;
  iceServers: RTCIceServer[];
  /** What we send. A kind without a track is received only, until `setTrack` gives it one. */
  tracks?: LocalTracks;
  /** Caps what we send on video (size, bitrate, frame rate). */
  videoCap?: SendCap;
  /**
   * Temporal layers for the video we send (e.g. 'L1T3'), where the browser's
   * encoder can make them: a receiver too slow to decode every frame then
   * skips frames of the upper layers and stays current, where a single chain
   * of frames (each needing the one before) would queue for its decoder and
   * fall further and further behind.
   */
  videoLayers?: 'L1T2' | 'L1T3';
  /** The size of the video we send, for the cap while the track's settings do not say it yet (a generated track before its first frame). */
  videoSize?: { width: number; height: number };
  /** Called with the remote media whenever a track arrives (a new stream object each time). */
  onRemoteStream: (stream: MediaStream) => void;
  onStateChange?: (state: RTCPeerConnectionState) => void;
  /** Problems only: every call is something that went wrong (also counted in `stats.errors`). */
  log?: (message: string) => void;
  /** Makes the peer connection (unit tests pass a model of one). */
  createPeerConnection?: (config: RTCConfiguration) => RTCPeerConnection;
  /** An offer still unanswered after this long is sent again, then after twice as long, and so on (OFFER_RETRIES times). */
  offerRetryMs?: number;
}

/** What happened on a link, for tests and diagnostics. */
export interface NegotiationStats {
  offersSent: number;
  answersSent: number;
  /** Impolite side: offers that collided with our own and were dropped. */
  offersIgnored: number;
  /** Polite side: our own offer rolled back for the other side's. */
  rollbacks: number;
  /** Candidates that belonged to an ignored offer. */
  candidatesIgnored: number;
  /** Descriptions and candidates of another link (an earlier call), and offers we already took (sent again). */
  staleMessages: number;
  /** Our pending offer sent again because the other side said it never got one. */
  offersResent: number;
  /** ICE restarts after the link failed (restartIceAfterFailure). */
  iceRestarts: number;
  errors: number;
}

/** End-to-end tests put a Set here before the page loads to reach the page's links; nothing else does. */
function testRegistry(): Set<PeerLink> | undefined {
  return (globalThis as { __roastPeerLinks?: Set<PeerLink> }).__roastPeerLinks;
}

/** A random RFC 4122 version 4 id (crypto.randomUUID needs a secure context; this does not). */
export function newLinkId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Making an offer takes milliseconds; this long, and the log says so. */
const SLOW_OFFER_MS = 2000;
/**
 * An offer or its answer can be lost on the way (a signaling channel
 * rejoining, a send that timed out). Unanswered this long, the offer is sent
 * again (the other side answers a copy with the answer it already made); then
 * after 20 and 40 s. Not sooner: a page starved of CPU can take seconds to
 * answer, and every copy is more work for it. Before the first answer the
 * host also sends it again when the guest's hello says it never came.
 */
const OFFER_RETRY_MS = 10_000;
const OFFER_RETRIES = 3;
/**
 * Candidates gathered within this many ms go in one message. Host candidates
 * come all at once (one per address and protocol: four to six here); server
 * reflexive and relay ones come later, in a message of their own.
 */
const CANDIDATE_BATCH_MS = 40;
const sends = (direction: RTCRtpTransceiverDirection | undefined) => direction === 'sendrecv' || direction === 'sendonly';
const receives = (direction: RTCRtpTransceiverDirection | undefined) => direction === 'sendrecv' || direction === 'recvonly';

/**
 * Audio packets of 40 ms instead of Opus's default 20: half the packets for
 * every voice on the star (the host sends and receives one audio stream per
 * guest, and each packet costs its WebRTC network thread about as much as a
 * small video packet), and half the per-packet header overhead, for 20 ms
 * more delay.
 */
export const AUDIO_PACKET_MS = 40;

/**
 * Asks the other side to send audio in `ms` packets: `a=ptime` in each audio
 * section of a description we send (WebRTC's Opus sender follows the ptime of
 * the remote description). A section that states one already is left alone.
 */
export function withAudioPacketTime(sdp: string, ms: number): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const parts = sdp.split(/(?=^m=)/m);
  return parts
    .map((part) => {
      if (!part.startsWith('m=audio') || /^a=ptime:/m.test(part)) return part;
      return `${part.endsWith(eol) || part.endsWith('\n') ? part : part + eol}a=ptime:${ms}${eol}`;
    })
    .join('');
}

/** The direction each m-line of a session description has, by mid, as its author sees it. */
export function directionsByMid(sdp: string | undefined): Map<string, RTCRtpTransceiverDirection> {
  const directions = new Map<string, RTCRtpTransceiverDirection>();
  for (const section of (sdp ?? '').split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const direction = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/m.exec(section)?.[1] as RTCRtpTransceiverDirection | undefined;
    if (mid !== undefined) directions.set(mid, direction ?? 'sendrecv');
  }
  return directions;
}

export class PeerLink {
  readonly id: string;
  readonly pc: RTCPeerConnection;
  readonly stats: NegotiationStats = {
    offersSent: 0,
    answersSent: 0,
    offersIgnored: 0,
    rollbacks: 0,
    candidatesIgnored: 0,
    staleMessages: 0,
    offersResent: 0,
    iceRestarts: 0,
    errors: 0,
  };
  /** The last offer we applied, by its origin line (an offer sent again carries the same one). */
  private lastOfferKey: string | null = null;
  private readonly local: LocalTracks;
  private stream: MediaStream | null = null;
  /** True while our own offer is being made (between negotiationneeded and its local description). */
  private makingOffer = false;
  /** The last offer received was dropped (impolite side, collision): its candidates may fail. */
  private ignoreOffer = false;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  /** Incoming messages are applied one after the other, in the order they arrived. */
  private inbox: Promise<void> = Promise.resolve();
  /** Send caps are applied one after the other (setParameters needs the parameters it just read). */
  private caps: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: PeerLinkOptions) {
    this.id = opts.linkId ?? newLinkId();
    this.local = { video: opts.tracks?.video ?? null, audio: opts.tracks?.audio ?? null };
    const create = opts.createPeerConnection ?? ((config: RTCConfiguration) => new RTCPeerConnection(config));
    this.pc = create({ iceServers: opts.iceServers });
    this.pc.onicecandidate = (event) => {
      // Gathering done (a null candidate): what is held goes at once.
      if (!event.candidate) return this.sendCandidates();
      this.outbox.push(event.candidate.toJSON() as RTCIceCandidateInit & { candidate: string });
      this.flushTimer ??= setTimeout(() => this.sendCandidates(), CANDIDATE_BATCH_MS);
    };
    this.pc.ontrack = (event) => this.addRemoteTrack(event.track);
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === 'connected') this.iceRestarts = 0;
      if (!this.closed) opts.onStateChange?.(this.pc.connectionState);
    };
    this.pc.onnegotiationneeded = () => void this.negotiate();
    testRegistry()?.add(this);
  }

  /** ICE restarts asked for by restartIceAfterFailure since the link last connected. */
  private iceRestarts = 0;

  /**
   * Restarts ICE on a link that failed: a new offer with new credentials on
   * the same link (its transceivers and media stay), which the other side
   * answers through the usual negotiation. At most `max` times until the link
   * connects again. False when the link is closed, has not failed, or used them all.
   */
  restartIceAfterFailure(max: number): boolean {
    if (this.closed || this.pc.connectionState !== 'failed' || this.iceRestarts >= max) return false;
    this.iceRestarts += 1;
    this.stats.iceRestarts += 1;
    this.pc.restartIce();
    return true;
  }

  get polite(): boolean {
    return this.opts.polite;
  }

  get peerId(): string {
    return this.opts.peerId;
  }

  /** The remote media received so far (null before the first track). */
  get remoteStream(): MediaStream | null {
    return this.stream;
  }

  private addRemoteTrack(track: MediaStreamTrack): void {
    const current = this.stream?.getTracks() ?? [];
    if (current.includes(track)) return;
    // A new stream object, so that media elements and the program pick the new track up.
    this.stream = new MediaStream([...current.filter((t) => t.kind !== track.kind), track]);
    this.opts.onRemoteStream(this.stream);
  }

  private fail(what: string, err: unknown): void {
    if (this.closed) return;
    this.stats.errors += 1;
    this.opts.log?.(`${what} (${this.opts.peerId}): ${(err as Error)?.message ?? String(err)}`);
  }

  /** Candidates gathered and not sent yet (sent together, see CANDIDATE_BATCH_MS). */
  private readonly outbox: Array<RTCIceCandidateInit & { candidate: string }> = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;

  private sendCandidates(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    while (this.outbox.length > 0 && !this.closed) {
      const candidates = this.outbox.splice(0, MAX_CANDIDATES_PER_MESSAGE);
      void this.signal({ kind: 'candidates', from: this.opts.selfId, to: this.opts.peerId, link: this.id, candidates });
    }
  }

  private async signal(msg: SignalMessage): Promise<void> {
    try {
      await this.opts.signaling.send(msg);
    } catch (err) {
      this.fail('signaling', err);
    }
  }

  private sendDescription(description: RTCSessionDescription | null, again = false): void {
    if (!description || this.closed) return;
    const type = description.type as 'offer' | 'answer';
    if (type === 'offer') this.stats[again ? 'offersResent' : 'offersSent'] += 1;
    else this.stats.answersSent += 1;
    void this.signal({ kind: 'description', from: this.opts.selfId, to: this.opts.peerId, link: this.id, description: { type, sdp: withAudioPacketTime(description.sdp, AUDIO_PACKET_MS) } });
  }

  /**
   * The transceiver we send a kind on: one we already send on, else one the
   * other side receives on, else (audio, which goes both ways) the first of
   * its kind.
   */
  private sendTransceiver(kind: TrackKind): RTCRtpTransceiver | undefined {
    const live = this.pc.getTransceivers().filter((t) => t.receiver.track.kind === kind && t.direction !== 'stopped' && t.currentDirection !== 'stopped');
    const remote = directionsByMid(this.pc.remoteDescription?.sdp);
    return (
      live.find((t) => sends(t.direction)) ??
      live.find((t) => t.mid !== null && receives(remote.get(t.mid))) ??
      (kind === 'audio' ? live[0] : undefined)
    );
  }

  /** Starts sending on a transceiver: both ways for audio, or for video where the other side sends too; one way otherwise. */
  private startSending(transceiver: RTCRtpTransceiver, kind: TrackKind): void {
    if (sends(transceiver.direction)) return;
    const remoteSends = transceiver.mid !== null && sends(directionsByMid(this.pc.remoteDescription?.sdp).get(transceiver.mid));
    transceiver.direction = kind === 'audio' || remoteSends ? 'sendrecv' : 'sendonly';
  }

  /** How much the sender scales the track down to fit the cap: by its settings, else the size we were told. */
  private scaleFor(track: MediaStreamTrack | null, cap: SendCap): number {
    const settings = track?.getSettings();
    const size = settings?.width && settings.height ? { width: settings.width, height: settings.height } : this.opts.videoSize;
    return scaleDownBy(size?.width ?? 0, size?.height ?? 0, cap);
  }

  private sendEncodings(kind: TrackKind, track: MediaStreamTrack | null): RTCRtpEncodingParameters[] | undefined {
    const cap = this.opts.videoCap;
    if (kind !== 'video' || !cap) return undefined;
    const encoding: RTCRtpEncodingParameters & { scalabilityMode?: string } = { maxBitrate: cap.maxBitrateKbps * 1000, maxFramerate: cap.maxFramerate, scaleResolutionDownBy: this.scaleFor(track, cap) };
    if (this.opts.videoLayers && !this.layersRefused) encoding.scalabilityMode = this.opts.videoLayers;
    return [encoding];
  }

  /** The browser refused the temporal layers asked for: the video goes as one chain of frames. */
  private layersRefused = false;

  /** A sending transceiver with our encodings; layers the browser cannot make are dropped (and said) rather than failing the call. */
  private addSendTransceiver(kind: TrackKind, track: MediaStreamTrack, direction: RTCRtpTransceiverDirection): void {
    try {
      this.pc.addTransceiver(track, { direction, sendEncodings: this.sendEncodings(kind, track) });
    } catch (err) {
      if (kind !== 'video' || !this.opts.videoLayers || this.layersRefused) throw err;
      this.layersRefused = true;
      this.fail(`temporal layers ${this.opts.videoLayers}`, err);
      this.pc.addTransceiver(track, { direction, sendEncodings: this.sendEncodings(kind, track) });
    }
  }

  /**
   * Starts the call (the host): our video on a send-only m-line, audio both
   * ways on one m-line, the other side's video on a receive-only m-line;
   * `negotiationneeded` then makes the offer.
   */
  start(): void {
    const { video, audio } = this.local;
    if (video) this.addSendTransceiver('video', video, 'sendonly');
    this.pc.addTransceiver(audio ?? 'audio', { direction: audio ? 'sendrecv' : 'recvonly' });
    this.pc.addTransceiver('video', { direction: 'recvonly' });
  }

  /** Makes and sends an offer whenever the connection needs one (either side, any time). */
  private async negotiate(): Promise<void> {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      const started = Date.now();
      await this.pc.setLocalDescription();
      // The messages that arrive meanwhile are applied in order; only an offer is ours to send here.
      if (this.pc.localDescription?.type === 'offer') {
        const took = Date.now() - started;
        // A slow offer is a sign of a starved page: worth a line in the log.
        if (took >= SLOW_OFFER_MS) this.opts.log?.(`offer to ${this.opts.peerId} made in ${(took / 1000).toFixed(1)} s`);
        this.sendDescription(this.pc.localDescription);
        this.retryOffer(offerKey(this.pc.localDescription.sdp), 1);
      }
    } catch (err) {
      this.fail('offer', err);
    } finally {
      this.makingOffer = false;
    }
  }

  /** Applies a description or candidate of this link (others are dropped). */
  handle(msg: SignalMessage): Promise<void> {
    if (this.closed || (msg.kind !== 'description' && msg.kind !== 'candidate' && msg.kind !== 'candidates')) return Promise.resolve();
    if (msg.link !== undefined && msg.link !== this.id) {
      this.stats.staleMessages += 1;
      return Promise.resolve();
    }
    const next = this.inbox.then(async () => {
      if (msg.kind === 'description') return this.onDescription(msg.description);
      for (const candidate of msg.kind === 'candidate' ? [msg.candidate] : msg.candidates) await this.onCandidate(candidate);
    });
    this.inbox = next;
    return next;
  }

  /**
   * Sends our offer again while it waits for an answer (the other side says it
   * never got one: a message lost on a busy signaling server). It carries the
   * candidates gathered since. False when there is no offer waiting.
   */
  resendOffer(): boolean {
    if (this.closed || this.pc.signalingState !== 'have-local-offer' || this.pc.localDescription?.type !== 'offer') return false;
    this.sendDescription(this.pc.localDescription, true);
    return true;
  }

  private offerRetryTimer: ReturnType<typeof setTimeout> | null = null;

  /** Sends our offer again while it stays unanswered (see OFFER_RETRY_MS); a newer offer or an answer ends it. */
  private retryOffer(key: string, attempt: number): void {
    if (this.offerRetryTimer) clearTimeout(this.offerRetryTimer);
    this.offerRetryTimer = null;
    if (attempt > OFFER_RETRIES) return;
    const waitMs = (this.opts.offerRetryMs ?? OFFER_RETRY_MS) * 2 ** (attempt - 1);
    this.offerRetryTimer = setTimeout(() => {
      this.offerRetryTimer = null;
      const offer = this.pc.localDescription;
      if (this.closed || this.pc.signalingState !== 'have-local-offer' || offer?.type !== 'offer' || offerKey(offer.sdp) !== key) return;
      this.opts.log?.(`no answer from ${this.opts.peerId} to our offer after ${(waitMs / 1000).toFixed(1)} s; sending it again (${attempt}/${OFFER_RETRIES})`);
      this.sendDescription(offer, true);
      this.retryOffer(key, attempt + 1);
    }, waitMs);
  }

  private async onDescription(description: RTCSessionDescriptionInit): Promise<void> {
    if (this.closed) return;
    if (description.type === 'offer' && offerKey(description.sdp) === this.lastOfferKey) {
      // The same offer again (a copy sent again because our answer seemed lost): answered with the answer already made —
      // also when we have made an offer of our own since (a camera turned on): the other side, still waiting for that
      // answer, ignores our offer until it has it.
      this.stats.staleMessages += 1;
      const answer = this.pc.signalingState === 'stable' ? this.pc.localDescription : this.pc.currentLocalDescription;
      if (answer?.type === 'answer' && offerKey(this.pc.remoteDescription?.sdp) === this.lastOfferKey) this.sendDescription(answer);
      return;
    }
    if (description.type === 'answer' && this.pc.signalingState === 'stable') {
      // A second copy of an answer already applied (our offer went twice): nothing waits for it.
      this.stats.staleMessages += 1;
      return;
    }
    try {
      const collision = description.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
      this.ignoreOffer = collision && !this.opts.polite;
      if (this.ignoreOffer) {
        this.stats.offersIgnored += 1;
        return;
      }
      // The polite side's own offer is rolled back by setRemoteDescription itself (implicit rollback).
      if (collision) this.stats.rollbacks += 1;
      await this.pc.setRemoteDescription(description);
      await this.flushCandidates();
      if (description.type === 'offer') {
        this.lastOfferKey = offerKey(description.sdp);
        await this.bindLocalTracks();
        await this.pc.setLocalDescription();
        this.sendDescription(this.pc.localDescription);
      }
      if (this.pc.signalingState === 'stable') void this.applyVideoCap();
    } catch (err) {
      this.fail(`${description.type ?? 'description'}`, err);
    }
  }

  private async onCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    if (this.closed) return;
    if (!this.pc.remoteDescription) {
      if (this.ignoreOffer) this.stats.candidatesIgnored += 1;
      else this.pendingCandidates.push(candidate);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (err) {
      // Candidates of an offer we ignored cannot be added: that is expected.
      if (this.ignoreOffer) this.stats.candidatesIgnored += 1;
      else this.fail('candidate', err);
    }
  }

  private async flushCandidates(): Promise<void> {
    for (const c of this.pendingCandidates.splice(0)) await this.pc.addIceCandidate(c).catch((err: unknown) => this.fail('candidate', err));
  }

  /** Before answering: send our tracks on the transceivers the offer brought. */
  private async bindLocalTracks(): Promise<void> {
    for (const kind of ['video', 'audio'] as const) {
      const track = this.local[kind];
      const transceiver = this.sendTransceiver(kind);
      if (!track || !transceiver) continue;
      if (transceiver.sender.track !== track) await transceiver.sender.replaceTrack(track);
      this.startSending(transceiver, kind);
    }
  }

  /**
   * Sends `track` for its kind: on the same transceiver without renegotiating
   * when that kind is already being sent, otherwise by starting to send it
   * (and `negotiationneeded` offers, from whichever side this is). `null`
   * stops sending the kind's picture or sound but keeps the transceiver.
   */
  async setTrack(kind: TrackKind, track: MediaStreamTrack | null): Promise<void> {
    if (this.closed) return;
    this.local[kind] = track;
    const transceiver = this.sendTransceiver(kind);
    if (transceiver) {
      await transceiver.sender.replaceTrack(track);
      if (track) this.startSending(transceiver, kind);
    } else if (track && (this.pc.remoteDescription || this.pc.localDescription)) {
      // Nowhere to send this kind yet (the call started without it): a new m-line.
      this.addSendTransceiver(kind, track, kind === 'audio' ? 'sendrecv' : 'sendonly');
    }
    // Before the first description, the track is sent once the call's offer arrives (bindLocalTracks).
    if (kind === 'video') await this.applyVideoCap();
  }

  /** Changes the cap on what we send on video (e.g. the host asks for less as the stage fills); no renegotiation. */
  setVideoCap(cap: SendCap): Promise<void> {
    this.opts.videoCap = cap;
    return this.applyVideoCap();
  }

  /**
   * Makes the video we send start again from a keyframe: its encoding paused
   * and resumed (a page has no other way to ask its encoder for one). A
   * receiver whose frames queue for its decoder drops what came before a
   * keyframe once it is late, and shows the present again.
   */
  refreshVideo(): Promise<void> {
    const run = this.caps.then(async () => {
      const sender = this.sendTransceiver('video')?.sender;
      if (this.closed || !sender?.track) return;
      const params = sender.getParameters();
      const encoding = params.encodings?.[0];
      if (!encoding || encoding.active === false) return;
      encoding.active = false;
      await sender.setParameters(params);
      const again = sender.getParameters();
      if (again.encodings?.[0]) again.encodings[0].active = true;
      await sender.setParameters(again);
    });
    this.caps = run.catch((err: unknown) => this.fail('video refresh', err));
    return this.caps;
  }

  /** Caps what we send on video (size, bitrate, frame rate) without renegotiating. */
  private applyVideoCap(): Promise<void> {
    const run = this.caps.then(async () => {
      const cap = this.opts.videoCap;
      const sender = this.sendTransceiver('video')?.sender;
      if (this.closed || !cap || !sender?.track) return;
      const params = sender.getParameters();
      const encoding = params.encodings?.[0];
      // Encodings exist once the sender has been negotiated; the next negotiation applies the cap otherwise.
      if (!encoding) return;
      const scale = this.scaleFor(sender.track, cap);
      if (encoding.maxBitrate === cap.maxBitrateKbps * 1000 && encoding.maxFramerate === cap.maxFramerate && encoding.scaleResolutionDownBy === scale) return;
      encoding.maxBitrate = cap.maxBitrateKbps * 1000;
      encoding.maxFramerate = cap.maxFramerate;
      encoding.scaleResolutionDownBy = scale;
      await sender.setParameters(params);
    });
    this.caps = run.catch((err: unknown) => this.fail('send cap', err));
    return this.caps;
  }

  close(sayBye = true): void {
    if (this.closed) return;
    this.closed = true;
    testRegistry()?.delete(this);
    if (sayBye) void this.opts.signaling.send({ kind: 'bye', from: this.opts.selfId, to: this.opts.peerId }).catch(() => {});
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.offerRetryTimer) clearTimeout(this.offerRetryTimer);
    this.outbox.length = 0;
    this.pc.onicecandidate = null;
    this.pc.ontrack = null;
    this.pc.onconnectionstatechange = null;
    this.pc.onnegotiationneeded = null;
    this.pc.close();
  }
}

/**
 * What identifies an offer across copies: its origin line (session id and
 * version, the same in a copy sent again with more candidates), else the SDP
 * without its candidate lines.
 */
export function offerKey(sdp: string | undefined): string {
  const text = sdp ?? '';
  return /^o=.*$/m.exec(text)?.[0] ?? text.replace(/^a=candidate:.*\r?\n/gm, '');
}
