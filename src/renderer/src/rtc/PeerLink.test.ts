/**
 * Perfect negotiation between a host link (impolite) and a guest link (polite)
 * over a signaling pair that validates every message with the real schema and
 * delivers it in order, late. The peer connections are a model
 * (fakePeerConnection.ts); tests/e2e/negotiation.spec.ts runs the same links on
 * real ones in Chromium.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GUEST_UPLINK, PROGRAM_RETURN } from '../../../shared/mediaLimits';
import { parseSignal, type SignalMessage } from '../../../shared/signaling';
import { FakeMediaStream, FakePeerConnection, FakeTrack, SignalWire, writeSdp, type FakeTransceiver } from './fakePeerConnection';
import { AUDIO_PACKET_MS, PeerLink, directionsByMid, newLinkId, withAudioPacketTime } from './PeerLink';

const HOST = '11111111-1111-4111-8111-111111111111';
const GUEST = '22222222-2222-4222-8222-222222222222';

const saved = (globalThis as { MediaStream?: unknown }).MediaStream;
beforeAll(() => {
  (globalThis as { MediaStream?: unknown }).MediaStream = FakeMediaStream;
});
afterAll(() => {
  (globalThis as { MediaStream?: unknown }).MediaStream = saved;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Call {
  host: PeerLink;
  guest: () => PeerLink | null;
  toGuest: SignalWire;
  toHost: SignalWire;
  hostStreams: MediaStream[];
  guestStreams: MediaStream[];
  logs: string[];
  settle(): Promise<void>;
}

/**
 * The host starts a call as HostSession does; the guest takes every offer on
 * a new link as a new call and everything else on its link, as GuestSession does.
 */
function call(options: { hostTracks: { video: FakeTrack | null; audio: FakeTrack | null }; guestTracks: { video: FakeTrack | null; audio: FakeTrack | null }; latency?: () => number; hostVideoSize?: { width: number; height: number }; hostVideoLayers?: 'L1T2' | 'L1T3'; hostPeerConnection?: (c: RTCConfiguration) => FakePeerConnection; offerRetryMs?: number }): Call {
  const logs: string[] = [];
  const hostStreams: MediaStream[] = [];
  const guestStreams: MediaStream[] = [];
  let guest: PeerLink | null = null;
  const latency = options.latency ?? (() => 5);
  const toHost = new SignalWire((msg) => void host.handle(msg), latency);
  const toGuest = new SignalWire((msg) => {
    if (msg.kind === 'description' && msg.description.type === 'offer' && msg.link !== guest?.id) {
      guest?.close(false);
      guest = new PeerLink({
        signaling: toHost,
        selfId: GUEST,
        peerId: HOST,
        linkId: msg.link,
        polite: true,
        iceServers: [],
        tracks: options.guestTracks as never,
        videoCap: GUEST_UPLINK,
        onRemoteStream: (s) => guestStreams.push(s),
        log: (m) => logs.push(`guest: ${m}`),
        createPeerConnection: (c) => new FakePeerConnection(c) as unknown as RTCPeerConnection,
        ...(options.offerRetryMs ? { offerRetryMs: options.offerRetryMs } : {}),
      });
    }
    void guest?.handle(msg);
  }, latency);
  const host: PeerLink = new PeerLink({
    signaling: toGuest,
    selfId: HOST,
    peerId: GUEST,
    polite: false,
    iceServers: [],
    tracks: options.hostTracks as never,
    videoCap: PROGRAM_RETURN,
    videoSize: options.hostVideoSize,
    videoLayers: options.hostVideoLayers,
    onRemoteStream: (s) => hostStreams.push(s),
    log: (m) => logs.push(`host: ${m}`),
    createPeerConnection: (c) => (options.hostPeerConnection?.(c) ?? new FakePeerConnection(c)) as unknown as RTCPeerConnection,
    ...(options.offerRetryMs ? { offerRetryMs: options.offerRetryMs } : {}),
  });
  const fake = (link: PeerLink | null) => link?.pc as unknown as FakePeerConnection | undefined;
  return {
    host,
    guest: () => guest,
    toGuest,
    toHost,
    hostStreams,
    guestStreams,
    logs,
    async settle() {
      let quiet = 0;
      const started = Date.now();
      while (quiet < 5) {
        if (Date.now() - started > 5000) throw new Error(`no rest after 5 s: host ${host.pc.signalingState}, guest ${guest?.pc.signalingState}\n${logs.join("\n")}\n${JSON.stringify({ host: host.stats, guest: guest?.stats, hostSent: toGuest.sent.slice(-4), guestSent: toHost.sent.slice(-4) }, null, 1)}`);
        await sleep(10);
        const busy =
          toHost.inFlight + toGuest.inFlight > 0 ||
          host.pc.signalingState !== 'stable' ||
          guest?.pc.signalingState !== 'stable' ||
          fake(host)!.busy ||
          fake(guest)!.busy;
        quiet = busy ? 0 : quiet + 1;
      }
    },
  };
}

const kinds = (stream: MediaStream | undefined) => stream?.getTracks().map((t) => t.kind).sort() ?? [];
const directions = (link: PeerLink) => link.pc.getTransceivers().map((t) => `${t.receiver.track.kind}:${t.currentDirection}`);
const offers = (wire: SignalWire) => wire.sent.filter((m) => m.kind === 'description' && m.description.type === 'offer').length;

async function connected(c: Call): Promise<void> {
  c.host.start();
  await c.settle();
  expect(c.host.pc.connectionState).toBe('connected');
  expect(c.guest()!.pc.connectionState).toBe('connected');
}

describe('PeerLink negotiation', () => {
  it('makes new link ids that the schema accepts', () => {
    const id = newLinkId();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseSignal({ kind: 'bye', from: HOST, to: GUEST })).not.toBeNull();
    expect(parseSignal({ kind: 'candidate', from: HOST, to: GUEST, link: id, candidate: { candidate: '' } })).not.toBeNull();
    expect(parseSignal({ kind: 'candidate', from: HOST, to: GUEST, link: 'x', candidate: { candidate: '' } })).toBeNull();
  });

  it('reads the direction of each m-line of a description', () => {
    const sdp = [
      'v=0',
      'o=- 1 2 IN IP4 127.0.0.1',
      'a=group:BUNDLE 0 1 2',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=mid:0',
      'a=sendonly',
      'a=rtpmap:96 VP8/90000',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=mid:1',
      'a=rtcp-mux',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=mid:2',
      'a=recvonly',
      '',
    ].join('\r\n');
    expect([...directionsByMid(sdp)]).toEqual([
      ['0', 'sendonly'],
      ['1', 'sendrecv'],
      ['2', 'recvonly'],
    ]);
    expect(directionsByMid(undefined).size).toBe(0);
  });

  it('asks for 40 ms audio packets in each audio section it sends, leaving video and a stated ptime alone', () => {
    const sdp = ['v=0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:1', 'a=rtpmap:111 opus/48000/2', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:2', 'a=ptime:60', ''].join('\r\n');
    const out = withAudioPacketTime(sdp, 40);
    const sections = out.split(/\r\n(?=m=)/);
    expect(sections[1]).not.toMatch(/ptime/);
    expect(sections[2]).toBe('m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\na=ptime:40');
    expect(sections[3]).toBe('m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:2\r\na=ptime:60\r\n');
    expect(out.endsWith('\r\n')).toBe(true);
    // Idempotent: a description sent again is not changed twice.
    expect(withAudioPacketTime(out, 40)).toBe(out);
    // A section at the end without a final line break still gets a line of its own.
    expect(withAudioPacketTime('v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0', 20)).toBe('v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=ptime:20\r\n');
  });

  it('every description a link sends asks for its audio packet time', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') } });
    await connected(c);
    const descriptions = [...c.toGuest.sent, ...c.toHost.sent].flatMap((m) => (m.kind === 'description' ? [m.description.sdp ?? ''] : []));
    expect(descriptions.length).toBeGreaterThanOrEqual(2);
    for (const sdp of descriptions) expect(sdp).toMatch(new RegExp(`m=audio[^]*a=ptime:${AUDIO_PACKET_MS}`));
  });

  it('sends the candidates of one gathering in one message, and takes each of them', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') } });
    await connected(c);
    for (const wire of [c.toGuest, c.toHost]) {
      const batches = wire.sent.flatMap((m) => (m.kind === 'candidates' ? [m.candidates] : []));
      expect(wire.sent.some((m) => m.kind === 'candidate')).toBe(false);
      expect(batches.length).toBe(1);
      expect(batches[0]!.map((x) => x.candidate.split(' ')[2])).toEqual(['udp', 'tcp']);
    }
    const hostPc = c.host.pc as unknown as FakePeerConnection;
    expect(hostPc.added.length).toBe(2);
    expect(parseSignal({ kind: 'candidates', from: HOST, to: GUEST, candidates: [] })).toBeNull();
  });

  it('the host offers the program and its voice; a guest without a camera answers with the microphone', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') } });
    await connected(c);
    expect(kinds(c.guestStreams.at(-1))).toEqual(['audio', 'video']);
    expect(kinds(c.hostStreams.at(-1))).toEqual(['audio']);
    // Video one way per m-line (the program; the guest's camera, none yet), audio both ways.
    expect(directions(c.guest()!)).toEqual(['video:recvonly', 'audio:sendrecv', 'video:inactive']);
    expect(directions(c.host)).toEqual(['video:sendonly', 'audio:sendrecv', 'video:inactive']);
    expect(c.host.stats).toMatchObject({ offersSent: 1, errors: 0 });
    expect(c.guest()!.stats).toMatchObject({ answersSent: 1, offersSent: 0, errors: 0 });
    // The program goes out capped: 1280x720 scaled by 2 to 640x360 at 600 kbps.
    const encoding = c.host.pc.getTransceivers()[0]!.sender.getParameters().encodings[0];
    expect(encoding).toMatchObject({ maxBitrate: 600_000, maxFramerate: 30, scaleResolutionDownBy: 2 });
    expect(c.logs).toEqual([]);
  });

  it('sends the program in temporal layers when asked, and keeps them through a new cap', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') }, hostVideoLayers: 'L1T3' });
    await connected(c);
    const sender = c.host.pc.getTransceivers()[0]!.sender;
    expect(sender.getParameters().encodings[0]).toMatchObject({ scalabilityMode: 'L1T3', maxFramerate: 30 });
    await c.host.setVideoCap({ maxWidth: 480, maxHeight: 270, maxBitrateKbps: 350, maxFramerate: 15 });
    expect(sender.getParameters().encodings[0]).toMatchObject({ scalabilityMode: 'L1T3', maxFramerate: 15 });
    expect(c.logs).toEqual([]);
  });

  it('restarts the video from a keyframe by pausing and resuming its encoding, keeping the cap', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') }, hostVideoLayers: 'L1T3' });
    await connected(c);
    const sender = c.host.pc.getTransceivers()[0]!.sender as unknown as { setParametersCalls: number; parameters: { encodings: RTCRtpEncodingParameters[] }; setParameters: (p: { encodings: RTCRtpEncodingParameters[] }) => Promise<void> };
    const seen: Array<boolean | undefined> = [];
    const setParameters = sender.setParameters.bind(sender);
    sender.setParameters = async (p) => {
      seen.push(p.encodings[0]!.active);
      await setParameters(p);
    };
    await c.host.refreshVideo();
    expect(seen).toEqual([false, true]);
    expect(sender.parameters.encodings[0]).toMatchObject({ active: true, scalabilityMode: 'L1T3', maxBitrate: 600_000 });
    expect(c.logs).toEqual([]);
  });

  it('sends one chain of frames, and says why, where the browser cannot make the layers asked for', async () => {
    class NoLayers extends FakePeerConnection {
      override addTransceiver(trackOrKind: Parameters<FakePeerConnection['addTransceiver']>[0], init: RTCRtpTransceiverInit = {}) {
        if (init.sendEncodings?.some((e) => 'scalabilityMode' in e)) throw new DOMException('scalabilityMode L1T3 is not supported', 'OperationError');
        return super.addTransceiver(trackOrKind, init);
      }
    }
    const c = call({
      hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') },
      guestTracks: { video: null, audio: new FakeTrack('audio') },
      hostVideoLayers: 'L1T3',
      hostPeerConnection: (config) => new NoLayers(config),
    });
    await connected(c);
    expect(kinds(c.guestStreams.at(-1))).toEqual(['audio', 'video']);
    const encoding = c.host.pc.getTransceivers()[0]!.sender.getParameters().encodings[0]!;
    expect(encoding).toMatchObject({ maxBitrate: 600_000, maxFramerate: 30 });
    expect('scalabilityMode' in encoding).toBe(false);
    expect(c.logs).toEqual([expect.stringMatching(/^host: temporal layers L1T3 \(.*\): .*not supported/)]);
  });

  it("caps a program track that does not know its size yet by the size it was given (a generated track before its first frame)", async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video', {} as never), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') }, hostVideoSize: { width: 1280, height: 720 } });
    await connected(c);
    const encoding = c.host.pc.getTransceivers()[0]!.sender.getParameters().encodings[0];
    expect(encoding).toMatchObject({ maxBitrate: 600_000, scaleResolutionDownBy: 2 });
  });

  it('an offer lost on the way is sent again when asked, and a copy that arrives twice is answered with the same answer', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') } });
    c.toGuest.lose = (m) => m.kind === 'description';
    c.host.start();
    await sleep(100);
    expect(c.guest()).toBeNull();
    expect(c.host.pc.signalingState).toBe('have-local-offer');
    c.toGuest.lose = null;
    // Twice: the first copy reaches the guest, the second is a duplicate of it.
    expect(c.host.resendOffer()).toBe(true);
    expect(c.host.resendOffer()).toBe(true);
    await c.settle();
    expect(c.host.pc.connectionState).toBe('connected');
    expect(c.guest()!.pc.connectionState).toBe('connected');
    // The copy is not negotiated again: the guest sends the answer it made once more, and the host, already stable, drops it.
    expect(c.host.stats).toMatchObject({ offersSent: 1, offersResent: 2, staleMessages: 1, errors: 0 });
    expect(c.guest()!.stats).toMatchObject({ answersSent: 2, staleMessages: 1, errors: 0 });
    // Nothing waits for an answer any more: nothing to send again.
    expect(c.host.resendOffer()).toBe(false);
    expect(c.logs).toEqual([]);
  });

  it('an answer lost on the way: the offer goes again by itself and the copy is answered, on the same link', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, offerRetryMs: 100 });
    let lost = 0;
    c.toHost.lose = (m) => m.kind === 'description' && m.description.type === 'answer' && lost++ === 0;
    c.host.start();
    await c.settle();
    expect(c.host.pc.connectionState).toBe('connected');
    const guest = c.guest()!;
    expect(guest.pc.connectionState).toBe('connected');
    expect(c.host.stats).toMatchObject({ offersSent: 1, offersResent: 1, errors: 0 });
    expect(guest.stats).toMatchObject({ answersSent: 2, errors: 0 });
    expect(c.logs).toEqual([expect.stringMatching(/^host: no answer from \S+ to our offer after 0\.1 s; sending it again \(1\/3\)$/)]);
  });

  it('an answer lost while the guest makes an offer of its own (a camera turned on): the copy of the offer still gets the answer, and both converge', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') }, offerRetryMs: 100 });
    let lost = 0;
    c.toHost.lose = (m) => m.kind === 'description' && m.description.type === 'answer' && lost++ === 0;
    c.host.start();
    await vi.waitFor(() => expect(c.guest()?.stats.answersSent).toBe(1));
    const guest = c.guest()!;
    // Before the host sends its offer again, the guest offers its camera: the host, still waiting for an answer, ignores it.
    await guest.setTrack('video', new FakeTrack('video') as never);
    await c.settle();
    expect(c.guest()).toBe(guest);
    expect(c.host.pc.connectionState).toBe('connected');
    expect(c.host.stats.offersIgnored).toBeGreaterThanOrEqual(1);
    expect(kinds(c.hostStreams.at(-1))).toEqual(['audio', 'video']);
    expect(guest.stats).toMatchObject({ answersSent: 2, errors: 0 });
  });

  it("a guest's renegotiation offer lost after the call connected (a camera turned on) goes again by itself", async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') }, offerRetryMs: 100 });
    await connected(c);
    const guest = c.guest()!;
    let lost = 0;
    c.toHost.lose = (m) => m.kind === 'description' && m.description.type === 'offer' && lost++ === 0;
    await guest.setTrack('video', new FakeTrack('video') as never);
    await c.settle();
    expect(c.guest()).toBe(guest);
    expect(guest.stats).toMatchObject({ offersSent: 1, offersResent: 1, errors: 0 });
    expect(kinds(c.hostStreams.at(-1))).toEqual(['audio', 'video']);
  });

  it('sends an unanswered offer at most three times more, and not once it is answered or the link closed', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') }, offerRetryMs: 20 });
    c.toGuest.lose = (m) => m.kind === 'description';
    c.host.start();
    await sleep(20 + 40 + 80 + 200);
    expect(c.host.stats).toMatchObject({ offersSent: 1, offersResent: 3 });
    c.host.close(false);
  });

  it('a camera turned on later is offered by the guest on the same link, capped', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') } });
    await connected(c);
    const guest = c.guest()!;
    await guest.setTrack('video', new FakeTrack('video', { width: 1920, height: 1080 }) as never);
    await c.settle();
    expect(c.guest()).toBe(guest);
    expect(guest.stats.offersSent).toBe(1);
    expect(c.host.stats.answersSent).toBe(1);
    expect(kinds(c.hostStreams.at(-1))).toEqual(['audio', 'video']);
    expect(directions(guest)).toEqual(['video:recvonly', 'audio:sendrecv', 'video:sendonly']);
    const encoding = guest.pc.getTransceivers()[2]!.sender.getParameters().encodings[0];
    expect(encoding).toMatchObject({ maxBitrate: 500_000, maxFramerate: 30, scaleResolutionDownBy: 3 });
    expect(c.logs).toEqual([]);
  });

  it('a new uplink cap from the host applies to what the guest sends, without renegotiating', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: null, audio: new FakeTrack('audio') } });
    await connected(c);
    const guest = c.guest()!;
    await guest.setTrack('video', new FakeTrack('video', { width: 1280, height: 720 }) as never);
    await c.settle();
    const offers = guest.stats.offersSent;
    await guest.setVideoCap({ maxWidth: 320, maxHeight: 180, maxBitrateKbps: 250, maxFramerate: 15 });
    await c.settle();
    const encoding = guest.pc.getTransceivers()[2]!.sender.getParameters().encodings[0];
    expect(encoding).toMatchObject({ maxBitrate: 250_000, maxFramerate: 15, scaleResolutionDownBy: 4 });
    expect(guest.stats.offersSent).toBe(offers);
    expect(c.logs).toEqual([]);
  });

  it('a track replaced on a kind already sent does not renegotiate', async () => {
    const c = call({ hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') }, guestTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') } });
    await connected(c);
    const mic = new FakeTrack('audio');
    await c.guest()!.setTrack('audio', mic as never);
    await c.host.setTrack('video', new FakeTrack('video') as never);
    await c.settle();
    expect(offers(c.toHost)).toBe(0);
    expect(offers(c.toGuest)).toBe(1);
    expect(c.guest()!.pc.getTransceivers()[1]!.sender.track).toBe(mic);
  });

  it('glare: both add a track at the same moment; the host ignores the guest, the guest rolls back, both tracks arrive', async () => {
    const c = call({
      hostTracks: { video: new FakeTrack('video'), audio: null },
      guestTracks: { video: null, audio: new FakeTrack('audio') },
      latency: () => 30,
    });
    await connected(c);
    expect(kinds(c.guestStreams.at(-1))).toEqual(['video']);
    const guest = c.guest()!;
    await Promise.all([c.host.setTrack('audio', new FakeTrack('audio') as never), guest.setTrack('video', new FakeTrack('video') as never)]);
    await c.settle();
    expect(c.host.stats.offersIgnored).toBe(1);
    expect(guest.stats.rollbacks).toBe(1);
    expect(c.guest()).toBe(guest);
    expect(kinds(c.guestStreams.at(-1))).toEqual(['audio', 'video']);
    expect(kinds(c.hostStreams.at(-1))).toEqual(['audio', 'video']);
    expect(directions(c.host)).toEqual(['video:sendonly', 'audio:sendrecv', 'video:recvonly']);
    expect(directions(guest)).toEqual(['video:recvonly', 'audio:sendrecv', 'video:sendonly']);
    expect(c.host.stats.errors + guest.stats.errors).toBe(0);
    expect(c.logs).toEqual([]);
  });

  it('glare on ICE restarts: candidates of the ignored offer are dropped without an error', async () => {
    const c = call({
      hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') },
      guestTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') },
      latency: () => 30,
    });
    await connected(c);
    const guest = c.guest()!;
    c.host.pc.restartIce();
    guest.pc.restartIce();
    await c.settle();
    expect(c.host.stats.offersIgnored).toBeGreaterThanOrEqual(1);
    expect(guest.stats.rollbacks).toBeGreaterThanOrEqual(1);
    expect(c.host.stats.candidatesIgnored).toBeGreaterThanOrEqual(1);
    const hostPc = c.host.pc as unknown as FakePeerConnection;
    const guestPc = guest.pc as unknown as FakePeerConnection;
    expect(hostPc.refused.length).toBe(c.host.stats.candidatesIgnored);
    // Both ends agree on the credentials in use.
    expect(hostPc.credentials.remote).toBe(guestPc.credentials.local);
    expect(guestPc.credentials.remote).toBe(hostPc.credentials.local);
    expect(c.host.stats.errors + guest.stats.errors).toBe(0);
    expect(c.logs).toEqual([]);
  });

  it('a failed link restarts ICE on the same link and connects again, a limited number of times', async () => {
    const c = call({
      hostTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') },
      guestTracks: { video: new FakeTrack('video'), audio: new FakeTrack('audio') },
    });
    await connected(c);
    const guest = c.guest()!;
    const hostPc = c.host.pc as unknown as FakePeerConnection;
    const before = hostPc.credentials.remote;
    // Not failed: nothing to restart.
    expect(c.host.restartIceAfterFailure(1)).toBe(false);

    hostPc.fail();
    expect(c.host.pc.connectionState).toBe('failed');
    expect(c.host.restartIceAfterFailure(1)).toBe(true);
    await c.settle();
    expect(c.guest()).toBe(guest);
    expect(c.host.pc.connectionState).toBe('connected');
    expect(hostPc.credentials.remote).not.toBe(before);
    expect(c.host.stats.iceRestarts).toBe(1);

    // Connected again, so a later failure gets its restarts again; one that never connects uses them up.
    hostPc.fail();
    expect(c.host.restartIceAfterFailure(1)).toBe(true);
    expect(c.host.restartIceAfterFailure(1)).toBe(false);
    await c.settle();
    expect(c.host.pc.connectionState).toBe('connected');
    expect(c.host.stats.iceRestarts).toBe(2);
    expect(c.host.stats.errors + guest.stats.errors).toBe(0);
    expect(c.logs).toEqual([]);
    c.host.close(false);
    guest.close(false);
  });

  it('drops descriptions and candidates of another link, and holds candidates that come before their description', async () => {
    const sent: SignalMessage[] = [];
    const guest = new PeerLink({
      signaling: { send: async (m) => void sent.push(m) },
      selfId: GUEST,
      peerId: HOST,
      linkId: newLinkId(),
      polite: true,
      iceServers: [],
      onRemoteStream: () => {},
      createPeerConnection: (c) => new FakePeerConnection(c) as unknown as RTCPeerConnection,
    });
    const other = newLinkId();
    await guest.handle({ kind: 'candidate', from: HOST, to: GUEST, link: other, candidate: { candidate: 'candidate:x', usernameFragment: 'h1' } });
    await guest.handle({ kind: 'candidate', from: HOST, to: GUEST, link: guest.id, candidate: { candidate: 'candidate:y', usernameFragment: 'h1' } });
    const offer = writeSdp({ ufrag: 'h1', media: [{ mid: '0', kind: 'video', direction: 'sendonly' }] });
    await guest.handle({ kind: 'description', from: HOST, to: GUEST, link: other, description: { type: 'offer', sdp: offer } });
    expect(guest.pc.remoteDescription).toBeNull();
    await guest.handle({ kind: 'description', from: HOST, to: GUEST, link: guest.id, description: { type: 'offer', sdp: offer } });
    expect(guest.stats.staleMessages).toBe(2);
    expect((guest.pc as unknown as FakePeerConnection).added.map((c) => c.candidate)).toEqual(['candidate:y']);
    expect(sent.filter((m) => m.kind === 'description').map((m) => m.kind === 'description' && m.description.type)).toEqual(['answer']);
    expect(guest.stats.errors).toBe(0);
    guest.close(false);
  });

  it('converges whatever both sides change at once, at any latency', async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const c = call({
      hostTracks: { video: new FakeTrack('video'), audio: null },
      guestTracks: { video: null, audio: null },
      latency: () => Math.floor(random() * 40),
    });
    await connected(c);
    const guest = c.guest()!;
    const actions: Array<(link: PeerLink) => void> = [
      (l) => l.pc.restartIce(),
      (l) => void l.setTrack('audio', new FakeTrack('audio') as never),
      (l) => void l.setTrack('video', new FakeTrack('video') as never),
      (l) => void l.setTrack('audio', null),
    ];
    for (let round = 0; round < 25; round++) {
      actions[Math.floor(random() * actions.length)]!(c.host);
      if (random() < 0.5) await sleep(Math.floor(random() * 20));
      actions[Math.floor(random() * actions.length)]!(guest);
      await c.settle();
      expect(c.guest()).toBe(guest);
      expect(c.host.stats.errors + guest.stats.errors, c.logs.join('\n')).toBe(0);
    }
    // Every transceiver is negotiated as it stands, and what the guest sends reaches the host.
    for (const link of [c.host, guest]) {
      for (const t of link.pc.getTransceivers() as unknown as FakeTransceiver[]) expect(t.negotiated).toBe(t.direction);
    }
    const sending = guest.pc
      .getTransceivers()
      .filter((t) => t.direction === 'sendrecv')
      .map((t) => t.receiver.track.kind);
    for (const kind of sending) expect(kinds(c.hostStreams.at(-1))).toContain(kind);
    expect(c.host.stats.offersIgnored).toBeGreaterThan(0);
    expect(guest.stats.rollbacks).toBeGreaterThan(0);
    expect(c.logs).toEqual([]);
  });
});
