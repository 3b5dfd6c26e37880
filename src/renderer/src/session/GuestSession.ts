/** A seated guest's side of the call: send camera and mic to the host, receive the program. */
import { PeerLink } from '../rtc/PeerLink';
import { SignalingChannel } from '../rtc/signaling';
import { generateCallToken, getActiveCallSession } from '../services/cloudflareCallsService';
import { leaveSeat } from '../services/streamGuestService';

export type GuestLinkState = 'connecting' | RTCPeerConnectionState;

export interface GuestSessionOptions {
  streamId: string;
  hostId: string;
  userId: string;
  local: MediaStream;
  onProgram: (stream: MediaStream) => void;
  onState: (state: GuestLinkState) => void;
  log?: (message: string) => void;
}

const HELLO_INTERVAL_MS = 2000;
const HELLO_ATTEMPTS = 15;

export class GuestSession {
  private signaling: SignalingChannel | null = null;
  private link: PeerLink | null = null;
  private helloTimer: ReturnType<typeof setInterval> | null = null;
  private unsubscribe: (() => void) | null = null;
  private closed = false;

  constructor(private readonly opts: GuestSessionOptions) {}

  async start(): Promise<void> {
    const { streamId, userId, hostId } = this.opts;
    this.opts.onState('connecting');
    const session = await getActiveCallSession(streamId);
    const iceServers = session ? (await generateCallToken(streamId, session.sessionId)).iceServers : [];
    this.signaling = await SignalingChannel.join(streamId, userId);
    this.unsubscribe = this.signaling.onMessage((msg) => {
      if (msg.from !== hostId) return;
      if (msg.kind === 'description' && msg.description.type === 'offer') {
        this.stopHello();
        this.link?.close(false);
        this.link = new PeerLink({
          signaling: this.signaling!,
          selfId: userId,
          peerId: hostId,
          iceServers,
          onRemoteStream: (stream) => this.opts.onProgram(stream),
          onStateChange: (state) => this.opts.onState(state),
          log: this.opts.log,
        });
        const local = this.opts.local;
        void this.link.answer(msg.description, { video: local.getVideoTracks()[0] ?? null, audio: local.getAudioTracks()[0] ?? null });
      } else if (msg.kind === 'bye') {
        this.link?.close(false);
        this.link = null;
        this.opts.onState('closed');
      } else {
        void this.link?.handle(msg);
      }
    });
    // Say hello until the host answers with an offer (the host may join the channel after us).
    let attempts = 0;
    const hello = () => {
      attempts += 1;
      if (attempts > HELLO_ATTEMPTS) {
        this.stopHello();
        this.opts.onState('failed');
        return;
      }
      void this.signaling?.send({ kind: 'hello', from: userId, to: hostId }).catch(() => {});
    };
    hello();
    this.helloTimer = setInterval(hello, HELLO_INTERVAL_MS);
  }

  private stopHello(): void {
    if (this.helloTimer) clearInterval(this.helloTimer);
    this.helloTimer = null;
  }

  /** Leaves the seat and the call. */
  async leave(): Promise<void> {
    await this.close();
    await leaveSeat(this.opts.streamId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopHello();
    this.unsubscribe?.();
    this.link?.close();
    this.link = null;
    await this.signaling?.close();
  }
}
