import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeMediaStream, FakeTrack } from '../rtc/fakePeerConnection';
import { BackendError } from '../services/errors';
import { GuestSession, keepWaiting, LEAVE_TIMEOUT_MS, offerKind } from './GuestSession';

describe("the guest's connection watchdog", () => {
  it('waits for a link still connecting, up to a minute after the offer', () => {
    expect(keepWaiting('connecting', 20_000)).toBe(true);
    expect(keepWaiting('connecting', 59_999)).toBe(true);
    expect(keepWaiting('connecting', 60_000)).toBe(false);
  });

  it('calls again when the link made no progress or broke', () => {
    for (const state of ['new', 'failed', 'disconnected', 'closed'] as const) expect(keepWaiting(state, 20_000)).toBe(false);
  });
});

describe("the guest's reading of the host's offers", () => {
  const ended = new Set(['old-1', 'old-2']);
  it('takes an offer on a new link as a new call, and one on its link as a renegotiation', () => {
    expect(offerKind('new', 'current', ended)).toBe('new-call');
    expect(offerKind('new', undefined, ended)).toBe('new-call');
    expect(offerKind(undefined, 'current', ended)).toBe('new-call');
    expect(offerKind('current', 'current', ended)).toBe('renegotiation');
  });

  it('ignores an offer on a link it gave up (an ICE restart crossing its new call)', () => {
    expect(offerKind('old-1', 'current', ended)).toBe('stale');
    expect(offerKind('old-2', undefined, ended)).toBe('stale');
  });
});

/*
 * The session itself, with the services, the signaling channel and the peer
 * connection replaced by recorders (the links never connect here), and the
 * browser's devices by fakes.
 */
const g = vi.hoisted(() => ({
  listener: null as ((msg: unknown) => void) | null,
  /** The channel's "closed by the server" callback, and how many channels were joined. */
  dead: null as (() => void) | null,
  joins: 0,
  /** While set, a join waits for it. */
  joinGate: null as Promise<void> | null,
  /** How many joins from now on fail (a busy server). */
  joinFailures: 0,
  /** The last link the guest made: its options (the signaling it sends through) and its connection. */
  link: null as null | { signaling: { send(msg: unknown): Promise<void> }; pc: { connectionState: string } },
  /** The host's open call (its number), and the calls tokens were asked for, in order. */
  callsOpened: 1,
  tokens: [] as string[],
  sent: [] as Array<{ kind: string; call?: string }>,
  opened: [] as Array<{ kind: string; deviceId: string | undefined; stopped: () => boolean }>,
  /** Each getUserMedia waits for the test to let it finish, in order. */
  gates: [] as Array<() => void>,
  /** The active seats the database lists (the guest's own by default). */
  seats: null as unknown[] | null,
  /** The stream row getStream reads. */
  stream: null as { status: string } | null,
  /** What each subscription was given to call when it comes back after a drop. */
  rejoins: [] as Array<() => void>,
  /** What the guest told the database of their switches, in order. */
  saved: [] as string[],
  /** How the database answers a leave (freed at once by default). */
  leave: null as null | (() => Promise<unknown>),
  /** The seat subscription's row handler. */
  seatRow: null as null | ((row: unknown) => void),
  /** What a moderator's actions asked of the database, in order. */
  moderated: [] as string[],
  /** When set, the link refuses a new track (closed during the switch, say). */
  setTrackFailure: null as Error | null,
}));

vi.mock('../rtc/signaling', () => ({
  SignalingChannel: {
    async join() {
      g.joins += 1;
      const channel = g.joins;
      if (g.joinGate) await g.joinGate;
      if (g.joinFailures > 0) {
        g.joinFailures -= 1;
        throw new Error('cannot join the stream\'s signaling channel: no answer within 20 s');
      }
      return {
        onMessage: (l: (msg: unknown) => void) => {
          g.listener = l;
          return () => (g.listener = null);
        },
        onDead: (l: () => void) => {
          g.dead = l;
          return () => (g.dead = null);
        },
        send: async (msg: { kind: string; call?: string }) => {
          g.sent.push({ ...msg, channel } as never);
        },
        close: async () => {},
      };
    },
  },
}));

vi.mock('../rtc/PeerLink', () => ({
  newLinkId: () => Math.random().toString(36).slice(2),
  PeerLink: class {
    readonly id: string;
    readonly pc = { connectionState: 'new', iceConnectionState: 'new', signalingState: 'stable' };
    constructor(opts: { linkId: string; signaling: { send(msg: unknown): Promise<void> } }) {
      this.id = opts.linkId;
      g.link = { signaling: opts.signaling, pc: this.pc };
    }
    async handle() {}
    async setTrack() {
      if (g.setTrackFailure) throw g.setTrackFailure;
    }
    async setVideoCap() {}
    close() {}
  },
}));

vi.mock('../services/cloudflareCallsService', () => ({
  getActiveCallSession: async () => ({ sessionId: `call-${g.callsOpened}` }),
  generateCallToken: async (_streamId: string, sessionId: string) => {
    g.tokens.push(sessionId);
    return { iceServers: [{ urls: 'turn:turn.example:3478', username: `user-${g.tokens.length}`, credential: 'c' }] };
  },
}));
vi.mock('../services/liveService', () => ({
  getStream: async () => g.stream,
  subscribeStream: async (_id: string, _onRow: unknown, onRejoin?: () => void) => {
    if (onRejoin) g.rejoins.push(onRejoin);
    return () => {};
  },
}));
vi.mock('../services/streamGuestService', () => ({
  leaveSeat: async () => (g.leave ? g.leave() : {}),
  listActiveSeats: async () => g.seats ?? [SEAT],
  setMyCamera: async (_id: string, on: boolean) => void g.saved.push(`camera ${on ? 'on' : 'off'}`),
  setMyMic: async (_id: string, on: boolean) => void g.saved.push(`mic ${on ? 'on' : 'off'}`),
  subscribeSeats: async (_id: string, onRow: (row: unknown) => void, onRejoin?: () => void) => {
    g.seatRow = onRow;
    if (onRejoin) g.rejoins.push(onRejoin);
    return () => {};
  },
  ...Object.fromEntries(
    (
      [
        ['muteGuest', { muted_by_host: true }],
        ['unmuteGuest', { muted_by_host: false }],
        ['disableGuestCamera', { camera_disabled_by_host: true }],
        ['enableGuestCamera', { camera_disabled_by_host: false }],
        ['removeGuest', { left_at: '2026-01-01T00:00:00Z' }],
      ] as const
    ).map(([name, patch]) => [
      name,
      async (_stream: string, userId: string) => {
        g.moderated.push(`${name} ${userId}`);
        const seat = ((g.seats ?? []) as Array<{ user_id: string; version: number }>).find((x) => x.user_id === userId)!;
        if (userId.endsWith('moderator')) throw new Error('Only the host can moderate a moderator');
        return { ...seat, ...patch, version: seat.version + 1 };
      },
    ]),
  ),
}));

const HOST = '00000000-0000-4000-8000-000000000001';
const GUEST = '00000000-0000-4000-8000-000000000002';
const SEAT = { id: 'seat-1', stream_id: 'stream-1', user_id: GUEST, seat_index: 0, left_at: null, muted_by_host: false, camera_disabled_by_host: false, mic_enabled: true, camera_enabled: true, version: 1 };

class DeviceTrack extends FakeTrack {
  constructor(
    kind: 'audio' | 'video',
    readonly deviceId: string,
  ) {
    super(kind);
  }
  override getSettings(): MediaTrackSettings {
    return { deviceId: this.deviceId };
  }
}

function newSession(stream = new FakeMediaStream([new DeviceTrack('video', 'cam-0'), new DeviceTrack('audio', 'mic-0')])) {
  return new GuestSession({
    streamId: 'stream-1',
    hostId: HOST,
    userId: GUEST,
    seat: SEAT as never,
    media: { stream: stream as unknown as MediaStream, cameraOn: true, micOn: true } as never,
    log: () => {},
  });
}

/** A guest on stage whose call the host offered and which connected. */
async function connectedSession(): Promise<GuestSession> {
  const session = newSession();
  await session.start();
  g.listener!({ kind: 'description', from: HOST, to: GUEST, link: 'link-1', description: { type: 'offer', sdp: 'v=0' } });
  await vi.waitFor(() => expect(g.link).not.toBeNull());
  g.link!.pc.connectionState = 'connected';
  return session;
}

describe('the guest on stage', () => {
  beforeEach(() => {
    g.listener = null;
    g.dead = null;
    g.joins = 0;
    g.joinFailures = 0;
    g.joinGate = null;
    g.callsOpened = 1;
    g.tokens.length = 0;
    g.sent.length = 0;
    g.opened.length = 0;
    g.gates.length = 0;
    g.seats = null;
    g.stream = null;
    g.rejoins.length = 0;
    g.saved.length = 0;
    g.leave = null;
    g.seatRow = null;
    g.moderated.length = 0;
    vi.stubGlobal('MediaStream', FakeMediaStream);
    vi.stubGlobal('localStorage', { getItem: () => null, setItem: () => {} });
    vi.stubGlobal('window', { localStorage: { getItem: () => null, setItem: () => {} } });
    vi.stubGlobal('navigator', {
      mediaDevices: {
        getUserMedia: async (c: { video?: { deviceId?: { exact?: string } }; audio?: { deviceId?: { exact?: string } } }) => {
          const kind = c.video ? 'video' : 'audio';
          const deviceId = (c.video ?? c.audio)?.deviceId?.exact;
          await new Promise<void>((resolve) => g.gates.push(resolve));
          const track = new DeviceTrack(kind, deviceId ?? `${kind}-default`);
          g.opened.push({ kind, deviceId, stopped: () => track.readyState === 'ended' });
          return new FakeMediaStream([track]);
        },
        enumerateDevices: async () => [],
        addEventListener: () => {},
        removeEventListener: () => {},
      },
    });
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('shows "Try again" once its automatic calls are used up, instead of connecting for ever', async () => {
    vi.useFakeTimers();
    const session = newSession();
    await session.start();
    expect(g.sent.filter((m) => m.kind === 'hello')).toHaveLength(1);
    // Each call is answered with an offer whose link never connects; the guest calls anew after 20 s, three times.
    for (let call = 1; call <= 4; call++) {
      g.listener!({ kind: 'description', from: HOST, to: GUEST, link: `link-${call}`, description: { type: 'offer', sdp: 'v=0' } });
      await vi.advanceTimersByTimeAsync(0);
      expect(session.get().link).toBe('connecting');
      await vi.advanceTimersByTimeAsync(20_000);
    }
    expect(session.get().link).toBe('failed');
    expect(session.get().notice).toMatch(/could not be made/);
    // Nothing goes on by itself now: no more hellos.
    const hellos = g.sent.filter((m) => m.kind === 'hello').length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(g.sent.filter((m) => m.kind === 'hello')).toHaveLength(hellos);
    // "Try again" calls anew, with a new call id.
    session.reconnect();
    expect(session.get().link).toBe('connecting');
    expect(g.sent.at(-1)).toMatchObject({ kind: 'hello' });
    await session.close();
  });

  it('joins a new channel when the server closes the one it has, and calls the host on it', async () => {
    const session = newSession();
    await session.start();
    expect(g.joins).toBe(1);
    const hellos = () => g.sent.filter((m) => m.kind === 'hello').length;
    expect(hellos()).toBe(1);
    g.dead!();
    await vi.waitFor(() => expect(g.joins).toBe(2));
    await vi.waitFor(() => expect(hellos()).toBe(2));
    expect(session.get().link).toBe('connecting');
    await session.close();
  });

  it('keeps a call that is up when the server closes its channel: joins a new one, calls nobody, and the link sends on it', async () => {
    const session = await connectedSession();
    const link = g.link!;
    g.dead!();
    await vi.waitFor(() => expect(g.joins).toBe(2));
    expect(g.sent.filter((m) => m.kind === 'hello')).toHaveLength(1);
    expect(g.link).toBe(link);
    await link.signaling.send({ kind: 'candidate' });
    expect(g.sent.at(-1)).toMatchObject({ kind: 'candidate', channel: 2 });
    await session.close();
  });

  it('keeps a call that is up when joining the channel again fails: tries again after a pause, and calls nobody', async () => {
    const session = await connectedSession();
    const link = g.link!;
    g.joinFailures = 1;
    g.dead!();
    await vi.waitFor(() => expect(g.joins).toBe(2));
    // The join failed: the media still flows, so the call stays; a second join comes a second later.
    expect(g.link).toBe(link);
    await vi.waitFor(() => expect(g.joins).toBe(3), { timeout: 3000 });
    expect(g.sent.filter((m) => m.kind === 'hello')).toHaveLength(1);
    expect(g.link).toBe(link);
    await link.signaling.send({ kind: 'candidate' });
    expect(g.sent.at(-1)).toMatchObject({ kind: 'candidate', channel: 3 });
    await session.close();
  });

  it('calls anew when joining the channel again fails and the link is no longer up either', async () => {
    const session = await connectedSession();
    g.joinFailures = 1;
    g.dead!();
    await vi.waitFor(() => expect(g.joins).toBe(2));
    g.link!.pc.connectionState = 'failed';
    // The pause ends on a link that is down: a new call (a join, then a hello on it).
    await vi.waitFor(() => expect(g.sent.filter((m) => m.kind === 'hello')).toHaveLength(2), { timeout: 3000 });
    expect(session.get().link).toBe('connecting');
    await session.close();
  });

  it('tells the host it is gone when the page closes between calls (no link to say bye)', async () => {
    const session = newSession();
    await session.start();
    expect(g.sent.filter((m) => m.kind === 'hello')).toHaveLength(1);
    await session.close();
    expect(g.sent.at(-1)).toMatchObject({ kind: 'bye', from: GUEST, to: HOST });
  });

  it('a new call while the channel is being joined again waits for that join instead of making a second channel', async () => {
    const session = await connectedSession();
    let open!: () => void;
    g.joinGate = new Promise((resolve) => (open = resolve));
    g.dead!();
    await vi.waitFor(() => expect(g.joins).toBe(2));
    // The link fails meanwhile, and the guest calls again.
    session.reconnect();
    await new Promise((r) => setTimeout(r, 20));
    open();
    await vi.waitFor(() => expect(g.sent.filter((m) => m.kind === 'hello')).toHaveLength(2));
    expect(g.joins).toBe(2);
    expect(g.sent.filter((m) => m.kind === 'hello').at(-1)).toMatchObject({ channel: 2 });
    await session.close();
  });

  it('leaving takes no call and says no hello: not after the host’s bye, not on an offer that comes meanwhile', async () => {
    vi.useFakeTimers();
    g.stream = { status: 'live' };
    const session = newSession();
    await session.start();
    g.leave = () => new Promise(() => {});
    void session.leave();
    const hellos = g.sent.filter((m) => m.kind === 'hello').length;
    g.link = null;
    // The host saw the seat close and says bye; later an offer arrives on a new link.
    g.listener!({ kind: 'bye', from: HOST, to: GUEST });
    g.listener!({ kind: 'description', from: HOST, to: GUEST, link: 'link-9', description: { type: 'offer', sdp: 'v=0' } });
    await vi.advanceTimersByTimeAsync(5000);
    expect(g.link).toBeNull();
    expect(g.sent.filter((m) => m.kind === 'hello')).toHaveLength(hellos);
    await session.close();
  });

  it('asks for the open call’s ICE servers again when the call is another (the old credentials revoked), not for each try', async () => {
    const session = newSession();
    await session.start();
    expect(g.tokens).toEqual(['call-1']);
    // The link fails and "Try again" is tapped, twice, in the same call: its credentials stand, no new token is minted.
    for (let i = 0; i < 2; i++) {
      const before = g.sent.filter((m) => m.kind === 'hello').length;
      session.reconnect();
      await vi.waitFor(() => expect(g.sent.filter((m) => m.kind === 'hello').length).toBe(before + 1));
    }
    expect(g.tokens).toEqual(['call-1']);
    // The host's call was taken down and opened anew; the guest's link failed meanwhile and "Try again" is tapped.
    g.callsOpened = 2;
    const hellos = g.sent.filter((m) => m.kind === 'hello').length;
    session.reconnect();
    await vi.waitFor(() => expect(g.sent.filter((m) => m.kind === 'hello').length).toBe(hellos + 1));
    expect(g.tokens).toEqual(['call-1', 'call-2']);
    await session.close();
  });

  it('"Try again" while an automatic call waits to start places one call, not two', async () => {
    vi.useFakeTimers();
    const session = newSession();
    await session.start();
    g.listener!({ kind: 'description', from: HOST, to: GUEST, link: 'link-1', description: { type: 'offer', sdp: 'v=0' } });
    await vi.advanceTimersByTimeAsync(20_000);
    // The link made no progress: an automatic call is scheduled. The guest taps Try again meanwhile.
    const before = g.sent.filter((m) => m.kind === 'hello').length;
    session.reconnect();
    await vi.advanceTimersByTimeAsync(0);
    const afterTap = g.sent.filter((m) => m.kind === 'hello').length;
    expect(afterTap).toBe(before + 1);
    await vi.advanceTimersByTimeAsync(5_000);
    // Only the hello's own repeats follow: no second call with a new id.
    const calls = new Set(g.sent.filter((m) => m.kind === 'hello').slice(before).map((m) => m.call));
    expect(calls.size).toBe(1);
    await session.close();
  });

  it('after live updates come back from a drop, learns what it missed: a host mute, then its removal', async () => {
    const session = newSession();
    await session.start();
    expect(g.rejoins).toHaveLength(2);
    // Muted by the host while the page was away: nothing was delivered.
    g.seats = [{ ...SEAT, muted_by_host: true, version: 2 }];
    g.rejoins[0]!();
    await vi.waitFor(() => expect(session.get().micOn).toBe(false));
    expect(session.get().local.getAudioTracks()[0]!.enabled).toBe(false);
    expect(session.get().exit).toBeNull();
    // Removed while away: the seat is no longer listed.
    g.seats = [];
    g.stream = { status: 'live' };
    for (const rejoin of g.rejoins) rejoin();
    await vi.waitFor(() => expect(session.get().exit).toBe('removed'));
    await session.close();
  });

  it('reads its seat once more when a second subscription comes back while the first read runs (a mute in between is learnt)', async () => {
    const session = newSession();
    await session.start();
    g.seats = [SEAT];
    // The seats' subscription is back: its read takes the list now, before the mute.
    g.rejoins[0]!();
    // The host mutes the guest before the stream's subscription is back (not delivered), then it is back.
    g.seats = [{ ...SEAT, muted_by_host: true, version: 2 }];
    g.rejoins[1]!();
    await vi.waitFor(() => expect(session.get().micOn).toBe(false));
    await session.close();
  });

  it("on the host's bye, reads its seat at once: removed, it leaves; still seated (the host's page reloaded), it stays", async () => {
    const session = newSession();
    await session.start();
    g.listener!({ kind: 'bye', from: HOST, to: GUEST });
    await vi.waitFor(() => expect(session.get().link).toBe('closed'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(session.get().exit).toBeNull();
    // Removed: the bye comes before the guest's own copy of the seat row, which never arrives here.
    g.seats = [];
    g.stream = { status: 'live' };
    g.listener!({ kind: 'bye', from: HOST, to: GUEST });
    await vi.waitFor(() => expect(session.get().exit).toBe('removed'));
    await session.close();
  });

  it('a camera that stops by itself is turned off, the host told, the guest told why; turning it on opens one again', async () => {
    const session = newSession();
    await session.start();
    const camera = session.get().local.getVideoTracks()[0] as unknown as DeviceTrack;
    camera.unplug();
    expect(session.get().cameraOn).toBe(false);
    expect(session.get().notice).toBe(
      'Your camera stopped (unplugged, or taken by another application) and is off now. Turn it on again when it is back, or choose another camera and turn it on.',
    );
    await vi.waitFor(() => expect(g.saved).toEqual(['camera off']));
    expect(session.get().micOn).toBe(true);
    // Back on: a camera is opened again (the default one here).
    const on = session.setCamera(true);
    await vi.waitFor(() => expect(g.gates).toHaveLength(1));
    g.gates.shift()!();
    await on;
    expect(session.get().cameraOn).toBe(true);
    expect(session.get().notice).toBeNull();
    expect(session.get().local.getVideoTracks()).toHaveLength(1);
    expect(session.get().local.getVideoTracks()[0]!.readyState).toBe('live');
    expect(g.saved).toEqual(['camera off', 'camera on']);
    // A camera the session itself let go (a switch) is not a device that stopped.
    const second = session.get().local.getVideoTracks()[0] as unknown as DeviceTrack;
    second.stop();
    expect(session.get().cameraOn).toBe(true);
    await session.close();
  });

  it('after a drop in which the stream ended, says the stream ended', async () => {
    const session = newSession();
    await session.start();
    g.seats = [];
    g.stream = { status: 'ended' };
    g.rejoins[1]!();
    await vi.waitFor(() => expect(session.get().exit).toBe('stream_ended'));
    await session.close();
  });

  it('two quick camera switches leave the last camera on and no other open', async () => {
    const session = newSession();
    const first = session.switchDevice('video', 'cam-1');
    const second = session.switchDevice('video', 'cam-2');
    // The cameras open one after the other, each when the test lets it.
    await vi.waitFor(() => expect(g.gates).toHaveLength(1));
    g.gates.shift()!();
    await first;
    await vi.waitFor(() => expect(g.gates).toHaveLength(1));
    g.gates.shift()!();
    await second;
    const live = session.get().local.getVideoTracks().filter((t) => t.readyState === 'live');
    expect(live.map((t) => t.getSettings().deviceId)).toEqual(['cam-2']);
    expect(g.opened.map((o) => [o.deviceId, o.stopped()])).toEqual([
      ['cam-1', true],
      ['cam-2', false],
    ]);
    await session.close();
  });
  it('a microphone switch the link refuses still lets the old microphone go', async () => {
    const session = newSession();
    await session.start();
    g.listener!({ kind: 'description', from: HOST, to: GUEST, link: 'link-1', description: { type: 'offer', sdp: 'v=0' } });
    await vi.waitFor(() => expect(session.get().link).toBe('connecting'));
    const oldMic = session.get().local.getAudioTracks()[0]!;
    g.setTrackFailure = new Error('the link closed');
    const switching = session.switchDevice('audio', 'mic-2');
    await vi.waitFor(() => expect(g.gates).toHaveLength(1));
    g.gates.shift()!();
    // The switch reports the refusal (the page shows it as a notice) …
    await expect(switching).rejects.toThrow('the link closed');
    g.setTrackFailure = null;
    // … and the old microphone is let go all the same.
    expect(oldMic.readyState).toBe('ended');
    expect(session.get().local.getAudioTracks().map((t) => t.readyState)).toEqual(['live']);
    await session.close();
  });

  it('a leave with a notice on screen is a plain leave: the notice is not taken for a seat still held', async () => {
    const session = newSession();
    await session.start();
    // A notice from earlier (a refused switch) still on screen.
    (session as unknown as { notice(m: string): void }).notice('The host muted your microphone.');
    await session.leave();
    expect(session.get().exit).toBe('left');
    expect(session.get().leaveError).toBeNull();
  });

  it('leaving stops the camera and the microphone at once, before the database answers', async () => {
    const session = newSession();
    await session.start();
    let free!: () => void;
    g.leave = () => new Promise((resolve) => (free = () => resolve({})));
    const tracks = session.get().local.getTracks();
    const left = session.leave();
    expect(tracks.map((t) => t.readyState)).toEqual(['ended', 'ended']);
    expect(session.get().exit).toBeNull();
    // A second tap changes nothing.
    await session.leave();
    free();
    await left;
    expect(session.get().exit).toBe('left');
    expect(session.get().leaveError).toBeNull();
  });

  it('a leave the database refuses or never answers says the seat is still held', async () => {
    let session = newSession();
    await session.start();
    g.leave = async () => {
      throw new Error('Could not leave: network error');
    };
    await session.leave();
    expect(session.get()).toMatchObject({ exit: 'left', leaveError: 'Could not leave: network error' });

    vi.useFakeTimers();
    session = newSession();
    await session.start();
    g.leave = () => new Promise(() => {});
    const left = session.leave();
    await vi.advanceTimersByTimeAsync(LEAVE_TIMEOUT_MS - 1);
    expect(session.get().exit).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    await left;
    expect(session.get()).toMatchObject({ exit: 'left', leaveError: `the server did not answer in ${LEAVE_TIMEOUT_MS / 1000} s` });
    expect(session.get().local.getTracks().every((t) => t.readyState === 'ended')).toBe(true);
  });
  it('a leave that finds the seat already closed (the stream ended as the guest tapped Leave) says the stream ended, not that a seat is held', async () => {
    let session = newSession();
    await session.start();
    g.leave = async () => {
      throw new BackendError('not_seated', 'You do not hold a seat on this stream');
    };
    g.stream = { status: 'ended' };
    await session.leave();
    expect(session.get()).toMatchObject({ exit: 'stream_ended', leaveError: null });
    // Removed instead: the guest left, as they asked, and nothing is said to be held.
    session = newSession();
    await session.start();
    g.stream = { status: 'live' };
    await session.leave();
    expect(session.get()).toMatchObject({ exit: 'left', leaveError: null });
  });

  it('a seat that says the microphone or camera is off (the page reloaded after muting) turns the switch off: what the guest sees is what the host sends', async () => {
    g.seats = [{ ...SEAT, mic_enabled: false, camera_enabled: false, version: 4 }];
    const session = newSession();
    expect(session.get().micOn).toBe(true);
    await session.start();
    expect(session.get()).toMatchObject({ micOn: false, cameraOn: false });
    expect(session.get().local.getTracks().every((t) => !t.enabled)).toBe(true);
    // Nothing was told to the database: it already says off.
    expect(g.saved).toEqual([]);
    // The guest turns it on (the database saves it), then a change missed while the updates were down comes in.
    const saves = await import('../services/streamGuestService');
    const spy = vi.spyOn(saves, 'setMyMic').mockResolvedValueOnce({ ...SEAT, mic_enabled: true, camera_enabled: false, version: 5 } as never);
    await session.setMic(true);
    expect(session.get().micOn).toBe(true);
    spy.mockRestore();
    g.seatRow!({ ...SEAT, mic_enabled: false, camera_enabled: false, version: 7 });
    await vi.waitFor(() => expect(session.get().micOn).toBe(false));
    await session.close();
  });

  it("says who muted the guest when the database refuses the microphone: the host, or a moderator", async () => {
    const session = newSession();
    await session.start();
    const saves = await import('../services/streamGuestService');
    const refusal = () => new BackendError('muted_by_host', 'Could not turn your microphone on: The host muted your microphone');
    const spy = vi.spyOn(saves, 'setMyMic').mockRejectedValueOnce(refusal());
    g.seatRow!({ ...SEAT, muted_by_host: true, mic_enabled: false, mic_muted_by: HOST, version: 2 } as never);
    await expect(session.setMic(true)).rejects.toThrow();
    expect(session.get().notice).toBe('Could not turn your microphone on: The host muted your microphone');
    g.seatRow!({ ...SEAT, muted_by_host: true, mic_enabled: false, mic_muted_by: 'a-moderator', version: 3 } as never);
    spy.mockRejectedValueOnce(refusal());
    await expect(session.setMic(true)).rejects.toThrow();
    expect(session.get().notice).toBe('Could not turn your microphone on: A moderator muted your microphone');
    // The mute is released: the refusal on screen is no longer true, and goes.
    g.seatRow!({ ...SEAT, muted_by_host: false, mic_enabled: false, mic_muted_by: null, version: 4 } as never);
    await vi.waitFor(() => expect(session.get().notice).toBeNull());
    spy.mockRestore();
    await session.close();
  });

  it('two taps on Start video while the camera opens open it once: the second waits for the first', async () => {
    const session = newSession(new FakeMediaStream([new DeviceTrack('audio', 'mic-0')]));
    await session.start();
    const first = session.setCamera(true);
    const second = session.setCamera(true);
    await vi.waitFor(() => expect(g.gates).toHaveLength(1));
    g.gates.shift()!();
    await first;
    await new Promise((r) => setTimeout(r, 10));
    expect(g.gates).toHaveLength(0);
    await second;
    expect(g.opened.filter((o) => o.kind === 'video')).toHaveLength(1);
    expect(session.get().cameraOn).toBe(true);
    await session.close();
  });

  it('a copy of the seat from before the guest’s own switch, arriving after it, does not turn the switch back', async () => {
    const session = newSession();
    await session.start();
    // The database answers the switch with the seat it saved (version 3); the copy of version 2 comes later.
    const saves = await import('../services/streamGuestService');
    const spy = vi.spyOn(saves, 'setMyMic').mockResolvedValueOnce({ ...SEAT, mic_enabled: true, version: 3 } as never);
    await session.setMic(true);
    g.seatRow!({ ...SEAT, mic_enabled: false, version: 2 });
    await new Promise((r) => setTimeout(r, 0));
    expect(session.get().micOn).toBe(true);
    spy.mockRestore();
    await session.close();
  });

  it('a device that stopped before the stage took it over starts off', () => {
    const mic = new DeviceTrack('audio', 'mic-0');
    mic.unplug();
    const session = newSession(new FakeMediaStream([new DeviceTrack('video', 'cam-0'), mic]));
    expect(session.get()).toMatchObject({ micOn: false, cameraOn: true });
    void session.close();
  });

  it('after Leave, a microphone turned on just before opens no device and calls nobody', async () => {
    const session = newSession();
    await session.start();
    const mic = session.get().local.getAudioTracks()[0] as unknown as DeviceTrack;
    mic.unplug();
    await vi.waitFor(() => expect(g.saved).toContain('mic off'));
    let answer: () => void = () => {};
    const saves = await import('../services/streamGuestService');
    const spy = vi.spyOn(saves, 'setMyMic').mockImplementationOnce(() => new Promise((resolve) => (answer = () => resolve({ ...SEAT, version: 2 } as never))));
    const on = session.setMic(true);
    const hellos = g.sent.filter((m) => m.kind === 'hello').length;
    const leaving = session.leave();
    answer();
    await on;
    await leaving;
    session.reconnect();
    expect(g.gates).toHaveLength(0);
    expect(g.opened).toHaveLength(0);
    expect(g.sent.filter((m) => m.kind === 'hello')).toHaveLength(hellos);
    spy.mockRestore();
  });

  it('a host mute that lands while the microphone opens wins: the switch stays off', async () => {
    const session = newSession();
    await session.start();
    // The guest has no microphone yet (it stopped), and turns it on: the device takes a while to open.
    const mic = session.get().local.getAudioTracks()[0] as unknown as DeviceTrack;
    mic.unplug();
    await vi.waitFor(() => expect(g.saved).toContain('mic off'));
    const on = session.setMic(true);
    await vi.waitFor(() => expect(g.gates).toHaveLength(1));
    // Meanwhile the host mutes them.
    g.seatRow!({ ...SEAT, muted_by_host: true, mic_enabled: false, version: 5 });
    await vi.waitFor(() => expect(session.get().seat.muted_by_host).toBe(true));
    g.gates.shift()!();
    await on;
    expect(session.get().micOn).toBe(false);
    expect(session.get().local.getAudioTracks().every((t) => !t.enabled)).toBe(true);
    // Released later: still off until the guest turns it on.
    g.seatRow!({ ...SEAT, muted_by_host: false, mic_enabled: false, version: 6 });
    await vi.waitFor(() => expect(session.get().seat.muted_by_host).toBe(false));
    expect(session.get().micOn).toBe(false);
    await session.close();
  });

  it("follows the other guests on stage, and a moderator's action shows at once", async () => {
    const other = (n: number, patch: Record<string, unknown> = {}) => ({ ...SEAT, id: `seat-of-${n}`, user_id: `guest-${n}`, seat_index: n, version: 1, ...patch });
    g.seats = [SEAT, other(3), other(1), other(2, { user_id: 'guest-moderator', is_moderator: true })];
    const session = newSession();
    await session.start();
    expect(session.get().others.map((s) => s.user_id)).toEqual(['guest-1', 'guest-moderator', 'guest-3']);
    // Guest 3 leaves; guest 4 takes a seat; an older copy of guest 1's seat changes nothing.
    g.seatRow!(other(3, { left_at: '2026-01-01T00:00:00Z', version: 2 }));
    g.seatRow!(other(4));
    g.seatRow!(other(1, { muted_by_host: true, version: 0 }));
    expect(session.get().others.map((s) => s.user_id)).toEqual(['guest-1', 'guest-moderator', 'guest-4']);
    expect(session.get().others[0]!.muted_by_host).toBe(false);

    await session.moderate('mute', 'guest-1');
    expect(session.get().others[0]).toMatchObject({ user_id: 'guest-1', muted_by_host: true, version: 2 });
    await expect(session.moderate('remove', 'guest-moderator')).rejects.toThrow(/Only the host/);
    await session.moderate('remove', 'guest-1');
    expect(session.get().others.map((s) => s.user_id)).toEqual(['guest-moderator', 'guest-4']);
    expect(g.moderated).toEqual(['muteGuest guest-1', 'removeGuest guest-moderator', 'removeGuest guest-1']);
    // The guest's own seat is never among the others.
    expect(session.get().others.some((s) => s.id === SEAT.id)).toBe(false);
    await session.close();
  });
});
