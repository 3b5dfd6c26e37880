/**
 * Runs inside the page (bundled by negotiation.spec.ts): two real
 * RTCPeerConnections driven by the app's PeerLink, the host impolite and the
 * guest polite, over an in-page signaling pair that checks every message with
 * the app's schema and delivers it in order after a set latency. The guest
 * takes an offer on a new link as a new call, as GuestSession does.
 */
import { PeerLink, type NegotiationStats } from '../../src/renderer/src/rtc/PeerLink';
import { SignalWire } from '../../src/renderer/src/rtc/fakePeerConnection';
import { GUEST_UPLINK, PROGRAM_RETURN } from '../../src/shared/mediaLimits';

const HOST_ID = '0a0a0a0a-0000-4000-8000-000000000001';
const GUEST_ID = '0b0b0b0b-0000-4000-8000-000000000002';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let host: PeerLink | null = null;
let guest: PeerLink | null = null;
let toHost: SignalWire;
let toGuest: SignalWire;
const logs: string[] = [];
let latencyMs = 0;

/** An animated 1280x720 canvas standing in for the program. */
function programTrack(): MediaStreamTrack {
  const canvas = document.createElement('canvas');
  canvas.width = 1280;
  canvas.height = 720;
  const ctx = canvas.getContext('2d')!;
  let n = 0;
  setInterval(() => {
    n += 1;
    ctx.fillStyle = '#e03020';
    ctx.fillRect(0, 0, 1280, 720);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect((n * 8) % 1280, 300, 80, 80);
  }, 33);
  return canvas.captureStream(30).getVideoTracks()[0]!;
}

async function device(kind: 'audio' | 'video'): Promise<MediaStreamTrack> {
  const stream = await navigator.mediaDevices.getUserMedia(kind === 'video' ? { video: { width: 640, height: 480 } } : { audio: true });
  return stream.getTracks()[0]!;
}

async function until(what: string, test: () => boolean, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (!test()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await snapshot())}`);
    await sleep(50);
  }
}

/** Until nothing is in flight, both sides are stable and connected, for half a second. */
async function settle(): Promise<void> {
  const started = Date.now();
  let quietSince = 0;
  for (;;) {
    const quiet =
      toHost.inFlight + toGuest.inFlight === 0 &&
      host?.pc.signalingState === 'stable' &&
      guest?.pc.signalingState === 'stable' &&
      host.pc.connectionState === 'connected' &&
      guest.pc.connectionState === 'connected';
    if (!quiet) quietSince = 0;
    else if (!quietSince) quietSince = Date.now();
    else if (Date.now() - quietSince >= 500) return;
    if (Date.now() - started > 30_000) throw new Error(`no rest within 30 s: ${JSON.stringify(await snapshot())}`);
    await sleep(25);
  }
}

interface Side {
  connection: RTCPeerConnectionState | null;
  signaling: RTCSignalingState | null;
  stats: NegotiationStats | null;
  /** kind:currentDirection of each transceiver. */
  transceivers: string[];
  /** What arrives, by kind: video frames decoded, audio packets received. */
  received: { video: number; audio: number };
  /** Audio sent: packets, and seconds of the microphone's audio handed to the sender. */
  sentAudio: { packets: number; seconds: number };
  sendEncoding: RTCRtpEncodingParameters | null;
  remoteKinds: string[];
}

async function side(link: PeerLink | null): Promise<Side> {
  const received = { video: 0, audio: 0 };
  const sentAudio = { packets: 0, seconds: 0 };
  if (link) {
    const report = await link.pc.getStats();
    report.forEach((s: { type: string; kind?: string; framesDecoded?: number; packetsReceived?: number; packetsSent?: number; totalSamplesDuration?: number }) => {
      if (s.kind === 'audio' && s.type === 'outbound-rtp') sentAudio.packets += s.packetsSent ?? 0;
      if (s.kind === 'audio' && s.type === 'media-source') sentAudio.seconds += s.totalSamplesDuration ?? 0;
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') received.video += s.framesDecoded ?? 0;
      if (s.kind === 'audio') received.audio += s.packetsReceived ?? 0;
    });
  }
  const video = link?.pc.getTransceivers().find((t) => t.receiver.track.kind === 'video' && t.sender.track);
  return {
    connection: link?.pc.connectionState ?? null,
    signaling: link?.pc.signalingState ?? null,
    stats: link ? { ...link.stats } : null,
    transceivers: link?.pc.getTransceivers().map((t) => `${t.receiver.track.kind}:${t.currentDirection}`) ?? [],
    received,
    sentAudio,
    sendEncoding: video?.sender.track ? (video.sender.getParameters().encodings[0] ?? null) : null,
    remoteKinds: link?.remoteStream?.getTracks().map((t) => t.kind).sort() ?? [],
  };
}

export async function snapshot(): Promise<{ host: Side; guest: Side; logs: string[]; hostOffers: number; guestOffers: number }> {
  const offers = (w: SignalWire | undefined) => w?.sent.filter((m) => m.kind === 'description' && m.description.type === 'offer').length ?? 0;
  return { host: await side(host), guest: await side(guest), logs: [...logs], hostOffers: offers(toGuest), guestOffers: offers(toHost) };
}

/** The host calls: program video, no voice yet; the guest answers with a microphone and no camera. */
export async function start(latency: number): Promise<Awaited<ReturnType<typeof snapshot>>> {
  latencyMs = latency;
  const mic = await device('audio');
  toHost = new SignalWire((msg) => void host?.handle(msg), () => latencyMs);
  toGuest = new SignalWire((msg) => {
    if (msg.kind === 'description' && msg.description.type === 'offer' && msg.link !== guest?.id) {
      guest?.close(false);
      guest = new PeerLink({
        signaling: toHost,
        selfId: GUEST_ID,
        peerId: HOST_ID,
        linkId: msg.link,
        polite: true,
        iceServers: [],
        tracks: { video: null, audio: mic },
        videoCap: GUEST_UPLINK,
        onRemoteStream: () => {},
        log: (m) => logs.push(`guest: ${m}`),
      });
    }
    void guest?.handle(msg);
  }, () => latencyMs);
  host = new PeerLink({
    signaling: toGuest,
    selfId: HOST_ID,
    peerId: GUEST_ID,
    polite: false,
    iceServers: [],
    tracks: { video: programTrack(), audio: null },
    videoCap: PROGRAM_RETURN,
    onRemoteStream: () => {},
    log: (m) => logs.push(`host: ${m}`),
  });
  host.start();
  await until('the first call', () => guest !== null);
  await settle();
  return snapshot();
}

/** At the same moment the guest turns its camera on and the host its microphone: both offer. */
export async function glareAddTracks(): Promise<Awaited<ReturnType<typeof snapshot>>> {
  const [camera, voice] = await Promise.all([device('video'), device('audio')]);
  const g = guest!;
  await Promise.all([host!.setTrack('audio', voice), g.setTrack('video', camera)]);
  await settle();
  if (guest !== g) throw new Error('the guest took a new call instead of renegotiating');
  return snapshot();
}

const ufragOf = (sdp: string) => /a=ice-ufrag:(\S+)/.exec(sdp)?.[1] ?? null;

/**
 * Both sides restart ICE at the same moment: the guest's offer is ignored by
 * the host, and so are the candidates gathered for it. Also says how many such
 * candidates the host was sent (ICE credentials only ever seen in an offer of
 * the guest, never in an answer).
 */
export async function glareRestartIce(): Promise<Awaited<ReturnType<typeof snapshot>> & { ignoredOfferCandidates: number }> {
  const from = toHost.sent.length;
  host!.pc.restartIce();
  guest!.pc.restartIce();
  await sleep(latencyMs);
  await settle();
  const sent = toHost.sent.slice(from);
  const offered = new Set<string>();
  const answered = new Set<string>();
  for (const m of sent) {
    if (m.kind !== 'description') continue;
    const ufrag = ufragOf(m.description.sdp);
    if (ufrag) (m.description.type === 'offer' ? offered : answered).add(ufrag);
  }
  const ignoredOfferCandidates = sent
    .flatMap((m) => (m.kind === 'candidates' ? m.candidates : m.kind === 'candidate' ? [m.candidate] : []))
    .filter((c) => c.usernameFragment && offered.has(c.usernameFragment) && !answered.has(c.usernameFragment)).length;
  return { ...(await snapshot()), ignoredOfferCandidates };
}

/** Both sides replace a track on a kind already sent: no offer at all. */
export async function replaceOnly(): Promise<Awaited<ReturnType<typeof snapshot>>> {
  const [camera, voice] = await Promise.all([device('video'), device('audio')]);
  await Promise.all([guest!.setTrack('video', camera), host!.setTrack('audio', voice)]);
  await sleep(latencyMs * 3);
  await settle();
  return snapshot();
}

/** Frames of the remote video that reach a page's <video> element in `ms`, per side (decoded frames are not enough: they may never reach the track). */
export async function rendered(ms: number): Promise<{ host: number; guest: number }> {
  const count = (link: PeerLink | null) => {
    const track = link?.remoteStream?.getVideoTracks()[0];
    if (!track) return () => 0;
    const video = document.createElement('video');
    video.muted = true;
    video.srcObject = new MediaStream([track]);
    void video.play().catch(() => {});
    let frames = 0;
    const onFrame = () => {
      frames += 1;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    return () => {
      video.srcObject = null;
      return frames;
    };
  };
  const [host_, guest_] = [count(host), count(guest)];
  await sleep(ms);
  return { host: host_(), guest: guest_() };
}

export function close(): void {
  host?.close(false);
  guest?.close(false);
}
