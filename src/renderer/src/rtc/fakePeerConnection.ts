/**
 * Test doubles for the RTC layer. `SignalWire` is one direction of a
 * signaling channel held in memory (used by the unit tests and by the
 * end-to-end harness on real connections); `FakePeerConnection` is
 * a model of RTCPeerConnection's negotiation for unit tests (Node has no
 * WebRTC): the signaling state machine, the operations chain, implicit
 * rollback, `negotiationneeded` with its flag, transceiver directions, ICE
 * credentials with restarts and candidates checked against them. Media and
 * ICE connectivity are not modelled: a link counts as connected once a
 * negotiation completed and a candidate of the current remote credentials was
 * added. The end-to-end tests run the same logic on real connections.
 */

import { parseSignal, type SignalMessage } from '../../../shared/signaling';

/** One direction of a signaling channel: every message crosses as JSON, is checked by the app's schema, and arrives in order, `latency()` ms late at the earliest. */
export class SignalWire {
  readonly sent: SignalMessage[] = [];
  /** Messages for which this returns true are sent but never delivered (lost on the way). */
  lose: ((msg: SignalMessage) => boolean) | null = null;
  private readonly queue: Array<{ at: number; msg: SignalMessage }> = [];
  private pumping = false;
  constructor(
    private readonly deliver: (msg: SignalMessage) => void,
    public latency: () => number,
  ) {}

  /** Messages sent and not delivered yet. */
  get inFlight(): number {
    return this.queue.length;
  }

  async send(msg: SignalMessage): Promise<void> {
    const parsed = parseSignal(JSON.parse(JSON.stringify(msg)));
    if (!parsed) throw new Error(`malformed signal ${JSON.stringify(msg)}`);
    this.sent.push(parsed);
    if (this.lose?.(parsed)) return;
    this.queue.push({ at: Date.now() + this.latency(), msg: parsed });
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    while (this.queue.length > 0) {
      const wait = this.queue[0]!.at - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.deliver(this.queue.shift()!.msg);
    }
    this.pumping = false;
  }
}

type Direction = RTCRtpTransceiverDirection;
type Kind = 'audio' | 'video';

interface MediaSection {
  mid: string;
  kind: Kind;
  direction: Direction;
}

export interface FakeSdp {
  ufrag: string;
  media: MediaSection[];
}

/** Writes the model's description as SDP text (just the lines PeerLink and the model read). */
export function writeSdp(sdp: FakeSdp): string {
  return `v=0\r\na=ice-ufrag:${sdp.ufrag}\r\n${sdp.media.map((m) => `m=${m.kind} 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:${m.mid}\r\na=${m.direction}\r\n`).join('')}`;
}

export function readSdp(text: string): FakeSdp {
  const ufrag = /a=ice-ufrag:(\S+)/.exec(text)?.[1] ?? '';
  const media = text
    .split(/\r\nm=/)
    .slice(1)
    .map((section) => ({
      kind: section.split(' ')[0] as Kind,
      mid: /^a=mid:(\S+)/m.exec(section)![1]!,
      direction: /^a=(sendrecv|sendonly|recvonly|inactive)/m.exec(section)![1] as Direction,
    }));
  return { ufrag, media };
}

const sendsOf = (d: Direction | null) => d === 'sendrecv' || d === 'sendonly';
const receivesOf = (d: Direction | null) => d === 'sendrecv' || d === 'recvonly';
const directionOf = (send: boolean, receive: boolean): Direction => (send ? (receive ? 'sendrecv' : 'sendonly') : receive ? 'recvonly' : 'inactive');

function domError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

let trackCounter = 0;

export class FakeTrack {
  readonly id = `track-${++trackCounter}`;
  enabled = true;
  readyState: 'live' | 'ended' = 'live';
  constructor(
    readonly kind: Kind,
    private readonly size = { width: 1280, height: 720 },
  ) {}
  getSettings(): MediaTrackSettings {
    return this.kind === 'video' ? { ...this.size } : {};
  }
  private readonly endedListeners = new Set<() => void>();
  stop(): void {
    this.readyState = 'ended';
  }
  addEventListener(type: string, listener: () => void): void {
    if (type === 'ended') this.endedListeners.add(listener);
  }
  removeEventListener(type: string, listener: () => void): void {
    if (type === 'ended') this.endedListeners.delete(listener);
  }
  /** The device going away by itself (unplugged, taken by another application): unlike stop(), announced. */
  unplug(): void {
    this.readyState = 'ended';
    for (const listener of [...this.endedListeners]) listener();
  }
}

/** Enough of MediaStream for PeerLink's remote stream and the guest's device check. */
export class FakeMediaStream {
  private readonly tracks: FakeTrack[];
  constructor(tracks: FakeTrack[] = []) {
    this.tracks = [...tracks];
  }
  getTracks(): FakeTrack[] {
    return [...this.tracks];
  }
  getVideoTracks(): FakeTrack[] {
    return this.tracks.filter((t) => t.kind === 'video');
  }
  getAudioTracks(): FakeTrack[] {
    return this.tracks.filter((t) => t.kind === 'audio');
  }
  addTrack(track: FakeTrack): void {
    this.tracks.push(track);
  }
}

class FakeSender {
  parameters: { encodings: RTCRtpEncodingParameters[] };
  setParametersCalls = 0;
  constructor(
    public track: FakeTrack | null,
    encodings: RTCRtpEncodingParameters[] | undefined,
  ) {
    this.parameters = { encodings: (encodings ?? [{}]).map((e) => ({ ...e })) };
  }
  async replaceTrack(track: FakeTrack | null): Promise<void> {
    await Promise.resolve();
    this.track = track;
  }
  getParameters(): { encodings: RTCRtpEncodingParameters[] } {
    return { encodings: this.parameters.encodings.map((e) => ({ ...e })) };
  }
  async setParameters(params: { encodings: RTCRtpEncodingParameters[] }): Promise<void> {
    await Promise.resolve();
    if (params.encodings.length !== this.parameters.encodings.length) throw domError('InvalidModificationError', 'encodings changed in number');
    this.parameters = { encodings: params.encodings.map((e) => ({ ...e })) };
    this.setParametersCalls += 1;
  }
}

export class FakeTransceiver {
  mid: string | null = null;
  currentDirection: Direction | null = null;
  /** The direction as last negotiated from our side (what negotiationneeded compares with). */
  negotiated: Direction | null = null;
  /** The remote side sends on this transceiver (ontrack fired). */
  receiving = false;
  readonly sender: FakeSender;
  readonly receiver: { track: FakeTrack };
  private dir: Direction;

  constructor(
    private readonly pc: FakePeerConnection,
    kind: Kind,
    track: FakeTrack | null,
    direction: Direction,
    encodings?: RTCRtpEncodingParameters[],
  ) {
    this.dir = direction;
    this.sender = new FakeSender(track, encodings);
    this.receiver = { track: new FakeTrack(kind) };
  }

  get kind(): Kind {
    return this.receiver.track.kind;
  }

  get direction(): Direction {
    return this.dir;
  }

  set direction(value: Direction) {
    if (value === this.dir) return;
    this.dir = value;
    this.pc.updateNegotiationNeeded();
  }
}

let ufragCounter = 0;

export class FakePeerConnection {
  signalingState: RTCSignalingState = 'stable';
  connectionState: RTCPeerConnectionState = 'new';
  localDescription: RTCSessionDescriptionInit | null = null;
  remoteDescription: RTCSessionDescriptionInit | null = null;
  /** Our side of the last completed negotiation (what stable last had), as in RTCPeerConnection. */
  get currentLocalDescription(): RTCSessionDescriptionInit | null {
    return this.stableLocal;
  }
  onicecandidate: ((event: { candidate: { toJSON(): RTCIceCandidateInit } | null }) => void) | null = null;
  ontrack: ((event: { track: FakeTrack; transceiver: FakeTransceiver }) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  onnegotiationneeded: (() => void) | null = null;
  /** Candidates added, by remote credentials. */
  readonly added: RTCIceCandidateInit[] = [];
  /** Everything the model refused, for assertions. */
  readonly refused: string[] = [];

  private readonly transceivers: FakeTransceiver[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private pendingOps = 0;
  private needFlag = false;
  private closed = false;
  private midCounter = 0;
  private ufrag: string | null = null;
  private remoteUfrag: string | null = null;
  private restartPending = false;
  /** Stable-state values to return to on rollback. */
  private stableLocal: RTCSessionDescriptionInit | null = null;
  private stableUfrag: string | null = null;
  private offeredMids: FakeTransceiver[] = [];
  private offerRestarted = false;

  constructor(readonly config: RTCConfiguration = {}) {}

  getTransceivers(): FakeTransceiver[] {
    return [...this.transceivers];
  }

  addTransceiver(trackOrKind: FakeTrack | Kind, init: RTCRtpTransceiverInit = {}): FakeTransceiver {
    const track = typeof trackOrKind === 'string' ? null : trackOrKind;
    const kind = typeof trackOrKind === 'string' ? trackOrKind : trackOrKind.kind;
    const t = new FakeTransceiver(this, kind, track, init.direction ?? 'sendrecv', init.sendEncodings);
    this.transceivers.push(t);
    this.updateNegotiationNeeded();
    return t;
  }

  restartIce(): void {
    this.restartPending = true;
    this.updateNegotiationNeeded();
  }

  /** The remote credentials in use when the connection failed: only new ones (an ICE restart) connect it again. */
  private failedUfrag: string | null = null;

  /** ICE fails, as when the other side stops answering consent checks: 'failed' until an ICE restart connects again. */
  fail(): void {
    this.failedUfrag = this.remoteUfrag;
    this.connectionState = 'failed';
    this.onconnectionstatechange?.();
  }

  close(): void {
    this.closed = true;
    this.signalingState = 'closed';
    this.connectionState = 'closed';
  }

  /** Runs `step` on the operations chain, one operation at a time, each after a turn of the event loop. */
  private enqueue<T>(step: () => T): Promise<T> {
    this.pendingOps += 1;
    const run = this.chain.then(async () => {
      await new Promise((r) => setTimeout(r, 0));
      if (this.closed) throw domError('InvalidStateError', 'closed');
      return step();
    });
    this.chain = run.catch(() => {});
    return run.finally(() => {
      this.pendingOps -= 1;
      if (this.pendingOps === 0) this.updateNegotiationNeeded();
    });
  }

  get busy(): boolean {
    return this.pendingOps > 0;
  }

  private isNegotiationNeeded(): boolean {
    if (this.restartPending) return true;
    return this.transceivers.some((t) => t.direction !== 'stopped' && (t.mid === null || t.negotiated !== t.direction));
  }

  /** As the specification's "update the negotiation-needed flag": checked later, only in stable state with nothing queued. */
  updateNegotiationNeeded(): void {
    setTimeout(() => {
      if (this.closed || this.pendingOps > 0 || this.signalingState !== 'stable') return;
      if (!this.isNegotiationNeeded()) {
        this.needFlag = false;
        return;
      }
      if (this.needFlag) return;
      this.needFlag = true;
      this.onnegotiationneeded?.();
    }, 0);
  }

  private toStable(): void {
    this.signalingState = 'stable';
    this.stableLocal = this.localDescription;
    this.stableUfrag = this.ufrag;
    this.needFlag = false;
    this.updateNegotiationNeeded();
  }

  private gather(): void {
    const ufrag = this.ufrag!;
    setTimeout(() => {
      if (this.closed || this.ufrag !== ufrag) return;
      // As in Chromium: a host candidate per protocol, one after the other, then the end of gathering (null).
      const port = 5000 + ufragCounter;
      for (const candidate of [`candidate:1 1 udp 1 127.0.0.1 ${port} typ host`, `candidate:2 1 tcp 1 127.0.0.1 9 typ host tcptype active`]) {
        this.onicecandidate?.({
          candidate: { toJSON: () => ({ candidate, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: ufrag }) },
        });
        // The local description lists the candidates gathered so far.
        if (this.localDescription?.sdp && readSdp(this.localDescription.sdp).ufrag === ufrag) {
          this.localDescription = { ...this.localDescription, sdp: `${this.localDescription.sdp}a=${candidate}\r\n` };
        }
      }
      this.onicecandidate?.({ candidate: null });
    }, 1);
  }

  private updateConnection(): void {
    const connected =
      this.signalingState === 'stable' &&
      this.localDescription !== null &&
      this.remoteDescription !== null &&
      this.added.some((c) => c.usernameFragment === this.remoteUfrag);
    const state: RTCPeerConnectionState =
      this.connectionState === 'failed'
        ? connected && this.remoteUfrag !== this.failedUfrag
          ? 'connected'
          : 'failed'
        : connected || this.connectionState === 'connected'
          ? 'connected'
          : 'connecting';
    if (state !== this.connectionState) {
      this.connectionState = state;
      this.onconnectionstatechange?.();
    }
  }

  private fireTracks(media: MediaSection[]): void {
    for (const m of media) {
      const t = this.transceivers.find((x) => x.mid === m.mid);
      if (!t) continue;
      const sends = sendsOf(m.direction);
      if (sends && !t.receiving) {
        t.receiving = true;
        this.ontrack?.({ track: t.receiver.track, transceiver: t });
      } else if (!sends) t.receiving = false;
    }
  }

  setLocalDescription(description?: RTCSessionDescriptionInit): Promise<void> {
    return this.enqueue(() => {
      const type = description?.type ?? (this.signalingState === 'have-remote-offer' ? 'answer' : 'offer');
      if (type === 'offer') {
        if (this.signalingState !== 'stable' && this.signalingState !== 'have-local-offer') throw domError('InvalidStateError', `offer in ${this.signalingState}`);
        this.offeredMids = [];
        for (const t of this.transceivers) {
          if (t.mid === null && t.direction !== 'stopped') {
            while (this.transceivers.some((x) => x.mid === String(this.midCounter))) this.midCounter += 1;
            t.mid = String(this.midCounter++);
            this.offeredMids.push(t);
          }
        }
        this.offerRestarted = this.restartPending || this.ufrag === null;
        if (this.offerRestarted) this.ufrag = `u${++ufragCounter}`;
        this.restartPending = false;
        const sdp: FakeSdp = {
          ufrag: this.ufrag!,
          media: this.transceivers.filter((t) => t.mid !== null).map((t) => ({ mid: t.mid!, kind: t.kind, direction: t.direction })),
        };
        this.localDescription = { type: 'offer', sdp: writeSdp(sdp) };
        this.signalingState = 'have-local-offer';
        if (this.offerRestarted) this.gather();
        return;
      }
      if (this.signalingState !== 'have-remote-offer') throw domError('InvalidStateError', `answer in ${this.signalingState}`);
      const offer = readSdp(this.remoteDescription!.sdp!);
      const restarted = this.ufrag === null || offer.ufrag !== this.stableRemoteUfrag;
      if (restarted) this.ufrag = `u${++ufragCounter}`;
      const media = offer.media.map((m) => {
        const t = this.transceivers.find((x) => x.mid === m.mid)!;
        const direction = directionOf(sendsOf(t.direction) && receivesOf(m.direction), receivesOf(t.direction) && sendsOf(m.direction));
        t.currentDirection = direction;
        t.negotiated = t.direction;
        return { mid: m.mid, kind: m.kind, direction };
      });
      this.localDescription = { type: 'answer', sdp: writeSdp({ ufrag: this.ufrag!, media }) };
      this.stableRemoteUfrag = offer.ufrag;
      this.toStable();
      if (restarted) this.gather();
      this.updateConnection();
    });
  }

  private stableRemoteUfrag: string | null = null;

  setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void> {
    return this.enqueue(() => {
      const sdp = readSdp(description.sdp!);
      // Candidates listed in the description count as added once it is applied (below).
      const listed = [...description.sdp!.matchAll(/^a=(candidate:.*)$/gm)].map((m) => ({ candidate: m[1]!.trim(), usernameFragment: sdp.ufrag }));
      const addListed = () => {
        this.added.push(...listed);
        this.updateConnection();
      };
      if (description.type === 'offer') {
        if (this.signalingState === 'have-local-offer') {
          // Implicit rollback of our own offer.
          for (const t of this.offeredMids) t.mid = null;
          if (this.offerRestarted && this.stableUfrag !== null) this.restartPending = true;
          this.offeredMids = [];
          this.ufrag = this.stableUfrag;
          this.localDescription = this.stableLocal;
          this.signalingState = 'stable';
        } else if (this.signalingState !== 'stable') throw domError('InvalidStateError', `offer in ${this.signalingState}`);
        for (const m of sdp.media) {
          if (!this.transceivers.some((t) => t.mid === m.mid)) {
            const t = new FakeTransceiver(this, m.kind, null, 'recvonly');
            t.mid = m.mid;
            this.transceivers.push(t);
          }
        }
        this.remoteDescription = description;
        this.remoteUfrag = sdp.ufrag;
        this.signalingState = 'have-remote-offer';
        this.fireTracks(sdp.media);
        addListed();
        return;
      }
      if (this.signalingState !== 'have-local-offer') throw domError('InvalidStateError', `Failed to set remote answer sdp: Called in wrong state: ${this.signalingState}`);
      const offer = readSdp(this.localDescription!.sdp!);
      for (const m of sdp.media) {
        const t = this.transceivers.find((x) => x.mid === m.mid)!;
        t.currentDirection = directionOf(sendsOf(t.direction) && receivesOf(m.direction), receivesOf(t.direction) && sendsOf(m.direction));
        t.negotiated = offer.media.find((o) => o.mid === m.mid)?.direction ?? t.direction;
      }
      this.remoteDescription = description;
      this.remoteUfrag = sdp.ufrag;
      this.stableRemoteUfrag = sdp.ufrag;
      this.offeredMids = [];
      this.toStable();
      this.fireTracks(sdp.media);
      addListed();
    });
  }

  addIceCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    return this.enqueue(() => {
      if (!this.remoteDescription) {
        this.refused.push('no remote description');
        throw domError('InvalidStateError', 'The remote description was null');
      }
      if (candidate.usernameFragment && candidate.usernameFragment !== this.remoteUfrag) {
        this.refused.push(`ufrag ${candidate.usernameFragment} is not ${this.remoteUfrag}`);
        throw domError('OperationError', 'Error processing ICE candidate');
      }
      this.added.push(candidate);
      this.updateConnection();
    });
  }

  /** The ICE credentials each side uses now (for convergence checks). */
  get credentials(): { local: string | null; remote: string | null } {
    return { local: this.ufrag, remote: this.remoteUfrag };
  }
}
