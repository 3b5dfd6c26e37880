/** One RTCPeerConnection between the host and one guest, driven by signaling messages. */
import type { SignalMessage } from '../../../shared/signaling';
import { scaleDownBy, type SendCap } from '../../../shared/mediaLimits';
import type { SignalingChannel } from './signaling';

export interface PeerLinkOptions {
  signaling: SignalingChannel;
  selfId: string;
  peerId: string;
  iceServers: RTCIceServer[];
  /** Called with the remote media as tracks arrive. */
  onRemoteStream: (stream: MediaStream) => void;
  onStateChange?: (state: RTCPeerConnectionState) => void;
  log?: (message: string) => void;
}

export class PeerLink {
  readonly pc: RTCPeerConnection;
  readonly remoteStream = new MediaStream();
  private pendingCandidates: RTCIceCandidateInit[] = [];
  private closed = false;

  constructor(private readonly opts: PeerLinkOptions) {
    this.pc = new RTCPeerConnection({ iceServers: opts.iceServers });
    this.pc.onicecandidate = (event) => {
      if (!event.candidate) return;
      void this.signal({ kind: 'candidate', from: opts.selfId, to: opts.peerId, candidate: event.candidate.toJSON() as never });
    };
    this.pc.ontrack = (event) => {
      for (const t of this.remoteStream.getTracks()) if (t.kind === event.track.kind) this.remoteStream.removeTrack(t);
      this.remoteStream.addTrack(event.track);
      opts.onRemoteStream(this.remoteStream);
    };
    this.pc.onconnectionstatechange = () => opts.onStateChange?.(this.pc.connectionState);
  }

  private async signal(msg: SignalMessage): Promise<void> {
    try {
      await this.opts.signaling.send(msg);
    } catch (err) {
      this.opts.log?.(`signaling to ${this.opts.peerId}: ${(err as Error).message}`);
    }
  }

  /** Host side: offer to send `tracks` and receive the guest's camera and microphone. */
  async offer(tracks: { video: MediaStreamTrack | null; audio: MediaStreamTrack | null }, videoCap?: SendCap): Promise<void> {
    const settings = tracks.video?.getSettings();
    const sendEncodings = videoCap
      ? [{ maxBitrate: videoCap.maxBitrateKbps * 1000, maxFramerate: videoCap.maxFramerate, scaleResolutionDownBy: scaleDownBy(settings?.width ?? 0, settings?.height ?? 0, videoCap) }]
      : undefined;
    this.pc.addTransceiver(tracks.video ?? 'video', { direction: 'sendrecv', sendEncodings });
    this.pc.addTransceiver(tracks.audio ?? 'audio', { direction: 'sendrecv' });
    await this.pc.setLocalDescription();
    const description = this.pc.localDescription!;
    await this.signal({ kind: 'description', from: this.opts.selfId, to: this.opts.peerId, description: { type: description.type as 'offer', sdp: description.sdp } });
  }

  /** Guest side: answer an offer, sending our own camera and microphone on its transceivers. */
  async answer(offer: RTCSessionDescriptionInit, local: { video: MediaStreamTrack | null; audio: MediaStreamTrack | null }, videoCap?: SendCap): Promise<void> {
    this.videoCap = videoCap ?? null;
    await this.pc.setRemoteDescription(offer);
    await this.flushCandidates();
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      const track = kind === 'video' ? local.video : local.audio;
      transceiver.direction = track ? 'sendrecv' : 'recvonly';
      if (track) await transceiver.sender.replaceTrack(track);
    }
    await this.pc.setLocalDescription();
    const description = this.pc.localDescription!;
    await this.signal({ kind: 'description', from: this.opts.selfId, to: this.opts.peerId, description: { type: description.type as 'answer', sdp: description.sdp } });
    await this.applyVideoCap();
  }

  private videoCap: SendCap | null = null;

  /** Caps what we send on video (size, bitrate, frame rate) without renegotiating. */
  private async applyVideoCap(): Promise<void> {
    const cap = this.videoCap;
    const sender = this.pc.getTransceivers().find((t) => t.receiver.track.kind === 'video')?.sender;
    if (!cap || !sender?.track) return;
    const settings = sender.track.getSettings();
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) params.encodings = [{}];
    params.encodings[0]!.maxBitrate = cap.maxBitrateKbps * 1000;
    params.encodings[0]!.maxFramerate = cap.maxFramerate;
    params.encodings[0]!.scaleResolutionDownBy = scaleDownBy(settings.width ?? 0, settings.height ?? 0, cap);
    await sender.setParameters(params).catch((e: Error) => this.opts.log?.(`send cap: ${e.message}`));
  }

  /** Applies a signaling message addressed to this link. */
  async handle(msg: SignalMessage): Promise<void> {
    if (this.closed) return;
    if (msg.kind === 'description' && msg.description.type === 'answer') {
      await this.pc.setRemoteDescription(msg.description);
      await this.flushCandidates();
    } else if (msg.kind === 'candidate') {
      if (this.pc.remoteDescription) await this.pc.addIceCandidate(msg.candidate).catch((e: Error) => this.opts.log?.(`candidate: ${e.message}`));
      else this.pendingCandidates.push(msg.candidate);
    }
  }

  private async flushCandidates(): Promise<void> {
    const queued = this.pendingCandidates.splice(0);
    for (const c of queued) await this.pc.addIceCandidate(c).catch((e: Error) => this.opts.log?.(`candidate: ${e.message}`));
  }

  /** Replaces what we send, e.g. a new camera, without renegotiating. */
  async replaceTrack(kind: 'audio' | 'video', track: MediaStreamTrack | null): Promise<void> {
    const transceiver = this.pc.getTransceivers().find((t) => t.receiver.track.kind === kind);
    await transceiver?.sender.replaceTrack(track);
    if (kind === 'video') await this.applyVideoCap();
  }

  close(sayBye = true): void {
    if (this.closed) return;
    this.closed = true;
    if (sayBye) void this.signal({ kind: 'bye', from: this.opts.selfId, to: this.opts.peerId });
    this.pc.close();
  }
}
