/**
 * The host's go-live and end, with the program, the services and the
 * signaling channel replaced by recorders: a start that fails part way is
 * undone (nothing keeps publishing, the stream is ended), and end() stops the
 * call before it ends the stream.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamRow } from '../../../shared/domain';

const h = vi.hoisted(() => {
  const calls: string[] = [];
  const failures: Record<string, Error | undefined> = {};
  const step = (name: string) => {
    calls.push(name);
    const err = failures[name];
    if (err) throw err;
  };
  return {
    calls,
    failures,
    step,
    /** The recording file the fake encoder's start names. */
    recordPath: null as string | null,
    /** What the broadcaster's onRecordingFile was set to. */
    onRecordingFile: null as ((file: string) => void) | null,
    subscriptions: 0,
    rejoins: [] as Array<() => void>,
    eventLimits: [] as Array<number | undefined>,
    seatList: [] as unknown[],
    programs: [] as Array<{ width: number; height: number; fps: number }>,
    goLiveOptions: null as unknown,
    /** The encoder's stats listener the session gave the broadcaster. */
    onStats: null as ((stats: Record<string, unknown>) => void) | null,
    eventList: [] as unknown[],
    /** start-live answers that the stream was live before (another studio's show). */
    resumed: false,
    /** The stream's status getStream reads. */
    streamStatus: 'live' as 'live' | 'ended',
    /** The id of the stream the next Go live makes (and End live ends). */
    streamId: '11111111-1111-4111-8111-111111111111',
    /** When set, the next listEvents waits for it (once). */
    eventGate: null as Promise<void> | null,
    lastParticipants: [] as Array<{ id: string; stream: MediaStream; cameraOn?: boolean }>,
    /** Each time the program was given the host's camera as on: whether its track was enabled then. */
    hostCameraEnabledWhenShown: [] as boolean[],
    opened: [] as Array<{ kind: string; deviceId: string | null }>,
    /** Every device the session tried to open, in order, whether it opened or not. */
    tried: [] as Array<{ kind: string; deviceId: string | null }>,
    openFailure: null as Error | null,
    /** Opening this device id fails (a remembered device unplugged since). */
    openFailureFor: null as string | null,
    /** The devices "remembered on this computer" per kind. */
    remembered: {} as Record<string, string | undefined>,
    /** Each guest's signaling handler, as the session subscribed it. */
    handlers: new Map<string, (msg: unknown) => void>(),
    /** Each guest's channel's "closed by the server" callback. */
    dead: new Map<string, () => void>(),
    /** The caps each guest's link was made with, then set to. */
    linkCaps: new Map<string, unknown[]>(),
    /** Each guest's latest link: what it was given to send, and its remote-stream callback. */
    links: new Map<
      string,
      { audio: unknown; onRemoteStream: (stream: MediaStream) => void; onStateChange: (state: RTCPeerConnectionState) => void; signaling: { send(msg: { kind: string }): Promise<void> } }
    >(),
    /** The layouts the program was given, in order. */
    layouts: [] as string[],
    /** Channels joined so far, per guest (each channel's sends are recorded with its number). */
    joined: new Map<string, number>(),
    /** Guests whose failed link the session restarted ICE on, in order. */
    iceRestarts: [] as string[],
    /** Guests whose program return was made to start again from a keyframe, in order. */
    refreshes: [] as string[],
    /** Audio tracks set on a link after it was made: guest and the track's device, in order. */
    audioSets: [] as Array<{ guestId: string; track: string | null }>,
    /** Program tracks set on a link after it was made: guest and the track's number, in order. */
    videoSets: [] as Array<{ guestId: string; track: number | null }>,
    /** Making a mix throws this (a page without WebAudio). */
    mixFailure: null as Error | null,
    /** The latest program (the broadcaster the session made): its counters are set by tests. */
    broadcaster: null as { outputSlots: number; framesLagged: number; framesSkipped: number } | null,
    /** The guests' audio mixes the session made: the voices last set, its listeners, whether it was let go. */
    mixes: [] as Array<{ voices: Array<{ id: string; gain: number }>; listeners: Set<string>; disposed: boolean }>,
    /** The ends prepared for a page that goes away: for which stream, whether sent, whether let go. */
    unloadEnders: [] as Array<{ streamId: string; fired: number; disposed: boolean }>,
    /** What each read of the stream's invitations returns, in turn (then nothing). */
    invitationLists: [] as unknown[][],
    invitationReads: 0,
    /** The ICE servers the host's call token comes with. */
    iceServers: [] as RTCIceServer[],
    /** The stream subscription's row handler. */
    streamRow: null as null | ((row: unknown) => void),
  };
});

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function streamRow(status: 'live' | 'ended'): StreamRow {
  return { id: h.streamId, host_id: 'host', title: 't', status, locked_seats: [] } as unknown as StreamRow;
}

vi.mock('../media/Broadcaster', () => ({
  parseCompositorMode: () => 'auto',
  Broadcaster: class {
    constructor(
      _container: unknown,
      _bridge: unknown,
      readonly width: number,
      readonly height: number,
      readonly fps: number,
    ) {
      h.programs.push({ width, height, fps });
      h.broadcaster = this;
    }
    framesSent = 0;
    framesSkipped = 0;
    framesLagged = 0;
    outputSlots = 0;
    framesRepeated = 0;
    get framesRepeatedThisEncoder() {
      return this.framesRepeated;
    }
    lastRenderMs = 0;
    busyMs = null;
    compositor = null;
    encoderChoice = null;
    onProblem: ((message: string) => void) | null = null;
    set onRecordingFile(listener: ((file: string) => void) | null) {
      h.onRecordingFile = listener;
    }
    onCompositorChanged: ((c: unknown) => void) | null = null;
    captures = 0;
    audioLevels = () => ({});
    setParticipants = (participants: Array<{ id: string; stream: MediaStream }>) => {
      h.lastParticipants = participants;
      // What the program's copy of the host's camera would carry when made now (a copy keeps the enabled flag).
      const host = participants.find((p) => p.id === 'host') as { stream: MediaStream; cameraOn?: boolean } | undefined;
      if (host?.cameraOn) h.hostCameraEnabledWhenShown.push(host.stream.getVideoTracks()[0]?.enabled ?? false);
    };
    setLayout = (layout: string, focusId: string | null) => {
      h.layouts.push(`${layout} ${focusId ?? '-'}`);
    };
    async goLive(options: unknown, onStats?: (stats: Record<string, unknown>) => void) {
      h.goLiveOptions = options;
      h.onStats = onStats ?? null;
      h.step('encoder:start');
      return { encoder: 'libx264', recordingPath: h.recordPath };
    }
    async captureProgram() {
      h.step('captureProgram');
      const n = ++this.captures;
      return { n, stop: () => h.calls.push(n === 1 ? 'return track stopped' : `return track ${n} stopped`) };
    }
    async stop() {
      h.step('encoder:stop');
    }
    dispose() {
      h.calls.push('dispose');
    }
  },
}));

vi.mock('../rtc/signaling', () => ({
  SignalingChannel: {
    async join(to: { guestId: string; peerId: string }) {
      h.step(`signaling:join ${to.guestId}`);
      const n = (h.joined.get(to.guestId) ?? 0) + 1;
      h.joined.set(to.guestId, n);
      return {
        onMessage: (handler: (msg: unknown) => void) => {
          h.handlers.set(to.guestId, handler);
          return () => h.handlers.delete(to.guestId);
        },
        onDead: (listener: () => void) => {
          h.dead.set(to.guestId, listener);
          return () => h.dead.delete(to.guestId);
        },
        send: async (msg: { kind: string }) => {
          h.calls.push(`send ${msg.kind} to ${to.guestId} on channel ${n}`);
        },
        close: async () => {
          h.calls.push(`signaling:close ${to.guestId}`);
        },
      };
    },
  },
}));

vi.mock('../media/MixMinus', () => ({
  MixMinus: class {
    private readonly record = { voices: [] as Array<{ id: string; gain: number }>, listeners: new Set<string>(), disposed: false };
    constructor() {
      if (h.mixFailure) throw h.mixFailure;
      h.mixes.push(this.record);
    }
    setVoices(voices: Array<{ id: string; gain: number }>) {
      this.record.voices = voices.map(({ id, gain }) => ({ id, gain }));
    }
    trackFor(listenerId: string) {
      this.record.listeners.add(listenerId);
      return { id: `mix-for-${listenerId}` };
    }
    removeListener(listenerId: string) {
      this.record.listeners.delete(listenerId);
    }
    async dispose() {
      this.record.disposed = true;
    }
  },
}));

vi.mock('../rtc/PeerLink', () => ({
  PeerLink: class {
    readonly pc = { connectionState: 'new', signalingState: 'stable' };
    readonly stats = { iceRestarts: 0 };
    constructor(
      private readonly opts: {
        peerId: string;
        videoCap: unknown;
        tracks: { audio: unknown };
        onRemoteStream: (stream: MediaStream) => void;
        onStateChange: (state: RTCPeerConnectionState) => void;
        signaling: { send(msg: { kind: string }): Promise<void> };
      },
    ) {
      h.linkCaps.set(opts.peerId, [opts.videoCap]);
      h.links.set(opts.peerId, { audio: opts.tracks.audio, onRemoteStream: opts.onRemoteStream, onStateChange: opts.onStateChange, signaling: opts.signaling });
    }
    restartIceAfterFailure() {
      this.stats.iceRestarts += 1;
      h.iceRestarts.push(this.opts.peerId);
      return true;
    }
    start() {}
    close(sayBye = true) {
      h.calls.push(`link:close ${this.opts.peerId}${sayBye ? ' with bye' : ''}`);
    }
    async handle() {}
    resendOffer() {
      return false;
    }
    async setVideoCap(cap: unknown) {
      h.linkCaps.get(this.opts.peerId)?.push(cap);
    }
    async refreshVideo() {
      h.refreshes.push(this.opts.peerId);
    }
    async setTrack(kind: string, track: { getSettings(): { deviceId: string } } | null) {
      if (kind === 'audio') h.audioSets.push({ guestId: this.opts.peerId, track: track?.getSettings().deviceId ?? null });
      if (kind === 'video') h.videoSets.push({ guestId: this.opts.peerId, track: (track as unknown as { n?: number } | null)?.n ?? null });
    }
  },
}));

vi.mock('../services/cloudflareCallsService', () => ({
  createCallSession: async () => {
    h.step('createCallSession');
    return { sessionId: 'call-1' };
  },
  generateCallToken: async () => ({ iceServers: h.iceServers }),
  endCallSession: async () => {
    h.step('endCallSession');
  },
  endCallAccess: async (sessionId: string, userId: string) => {
    h.step(`endCallAccess ${sessionId} ${userId}`);
  },
  endFormerGuestsAccess: async (sessionId: string) => {
    h.step(`endFormerGuestsAccess ${sessionId}`);
  },
}));

vi.mock('../services/liveService', () => ({
  startLive: async () => {
    h.step('startLive');
    return { stream: streamRow('live'), ingest: { publishUrl: 'rtmp://127.0.0.1/live/k' }, playbackUrl: null, resumed: h.resumed };
  },
  endLive: async () => {
    h.step('endLive');
    return streamRow('ended');
  },
  getStream: async () => streamRow(h.streamStatus),
  prepareEndOnUnload: async (streamId: string) => {
    const ender = { streamId, fired: 0, disposed: false };
    h.unloadEnders.push(ender);
    return {
      fire: () => {
        ender.fired += 1;
      },
      dispose: () => {
        ender.disposed = true;
      },
    };
  },
  subscribeStream: async (_id: string, onRow: (row: unknown) => void) => {
    h.subscriptions += 1;
    h.streamRow = onRow;
    return () => (h.subscriptions -= 1);
  },
}));

/** A camera or microphone track that knows its device and whether it was stopped. */
function fakeTrack(kind: 'audio' | 'video', deviceId: string | null) {
  const ended = new Set<() => void>();
  return {
    kind,
    label: `${kind} ${deviceId}`,
    enabled: true,
    readyState: 'live' as MediaStreamTrackState,
    getSettings: () => ({ deviceId }),
    addEventListener(type: string, listener: () => void) {
      if (type === 'ended') ended.add(listener);
    },
    stop() {
      this.readyState = 'ended';
    },
    /** The device going away by itself (unplugged): unlike stop(), this is announced. */
    unplug() {
      this.readyState = 'ended';
      for (const listener of ended) listener();
    },
  };
}
type FakeTrack = ReturnType<typeof fakeTrack>;

/** MediaStream as far as the session uses it (node has none). */
class FakeStream {
  constructor(private readonly tracks: FakeTrack[] = []) {}
  getTracks = () => [...this.tracks];
  getAudioTracks = () => this.tracks.filter((t) => t.kind === 'audio');
  getVideoTracks = () => this.tracks.filter((t) => t.kind === 'video');
}
// Set outright, not stubbed: the tests that stub a global and undo it keep this one.
Object.assign(globalThis, { MediaStream: FakeStream });

vi.mock('../media/capture', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../media/capture')>()),
  rememberedDevice: (_role: string, kind: string) => h.remembered[kind] ?? null,
  rememberDevice: () => {},
  openDevice: async (kind: 'audio' | 'video', deviceId: string | null) => {
    h.tried.push({ kind, deviceId });
    if (h.openFailure) throw h.openFailure;
    if (h.openFailureFor !== null && deviceId === h.openFailureFor) throw new Error(`${deviceId} is gone`);
    h.opened.push({ kind, deviceId });
    return fakeTrack(kind, deviceId);
  },
}));

vi.mock('../services/streamGuestService', () => {
  const subscribe = async (_id: string, _onRow: unknown, onRejoin?: () => void) => {
    h.step('subscribe');
    h.subscriptions += 1;
    if (onRejoin) h.rejoins.push(onRejoin);
    return () => (h.subscriptions -= 1);
  };
  return {
    getProfiles: async () => [],
    listActiveSeats: async () => h.seatList,
    listEvents: async (_streamId: string, options?: { limit?: number }) => {
      h.eventLimits.push(options?.limit);
      const gate = h.eventGate;
      h.eventGate = null;
      const rows = h.eventList;
      if (gate) await gate;
      return rows;
    },
    listStreamInvitations: async () => {
      h.invitationReads += 1;
      return h.invitationLists.shift() ?? [];
    },
    subscribeEvents: subscribe,
    subscribeSeats: subscribe,
    subscribeStreamInvitations: subscribe,
  };
});

const { HostSession, EXPIRY_CHECK_MS, EXPIRY_CHECKS, SCREEN_ID } = await import('./HostSession');
const { EVENTS_KEPT, useStore } = await import('../store');

let cameraTracks: FakeTrack[] = [];

function newSession(log: (message: string) => void = () => {}, kinds: Array<'audio' | 'video'> = ['video', 'audio']) {
  cameraTracks = kinds.map((kind) => fakeTrack(kind, kind === 'video' ? 'cam-a' : 'mic-a'));
  const camera = new FakeStream(cameraTracks) as unknown as MediaStream;
  const session = new HostSession({} as HTMLElement, {} as never, 'host', 'Host', camera, log);
  return session;
}

let session: InstanceType<typeof HostSession>;

beforeEach(() => {
  h.calls.length = 0;
  h.recordPath = null;
  h.resumed = false;
  h.streamStatus = 'live';
  h.streamId = '11111111-1111-4111-8111-111111111111';
  for (const k of Object.keys(h.failures)) delete h.failures[k];
  h.subscriptions = 0;
  h.rejoins.length = 0;
  h.eventLimits.length = 0;
  h.seatList = [];
  h.programs.length = 0;
  h.eventList = [];
  h.opened.length = 0;
  h.tried.length = 0;
  h.unloadEnders.length = 0;
  h.openFailure = null;
  h.openFailureFor = null;
  h.remembered = {};
  h.handlers.clear();
  h.linkCaps.clear();
  h.links.clear();
  h.joined.clear();
  h.layouts.length = 0;
  h.iceRestarts.length = 0;
  h.mixes.length = 0;
  h.mixFailure = null;
  h.audioSets.length = 0;
  h.videoSets.length = 0;
  h.refreshes.length = 0;
  h.invitationLists.length = 0;
  h.invitationReads = 0;
  useStore.setState({ hostMicOn: true, hostCameraOn: true, hostDeviceProblems: {} });
  useStore.setState({ seats: [], outputFormat: '720p30' });
  useStore.setState({ phase: 'idle', stream: null, error: null, programProblem: null });
  session = newSession();
});

afterEach(async () => {
  await session.dispose();
});

describe('going live', () => {
  it('starts the stream, the encoder and the call, in that order', async () => {
    await session.goLive('Show');
    expect(h.calls).toEqual(['startLive', 'encoder:start', 'createCallSession', 'captureProgram', 'subscribe', 'subscribe', 'subscribe']);
    expect(useStore.getState().phase).toBe('live');
    expect(h.subscriptions).toBe(4);
  });

  it('undoes a start whose call cannot open: the encoder stops, the call session and the stream end', async () => {
    h.failures['subscribe'] = new Error('Could not subscribe to seats: TIMED_OUT');
    await expect(session.goLive('Show')).rejects.toThrow(/TIMED_OUT/);
    expect(h.calls.slice(h.calls.indexOf('subscribe'))).toEqual(['subscribe', 'return track stopped', 'encoder:stop', 'endCallSession', 'endLive']);
    const state = useStore.getState();
    expect(state.phase).toBe('error');
    expect(state.error).toMatch(/TIMED_OUT/);
    expect(state.stream?.status).toBe('ended');
    expect(h.subscriptions).toBe(0);
  });

  it('can go live again after a failed start, without doubling the subscriptions', async () => {
    h.failures['createCallSession'] = new Error('Could not start the call: 503');
    await expect(session.goLive('Show')).rejects.toThrow(/503/);
    expect(h.calls).toContain('encoder:stop');
    delete h.failures['createCallSession'];
    await session.goLive('Show');
    expect(useStore.getState().phase).toBe('live');
    expect(h.subscriptions).toBe(4);
  });

  it('says so when the stream could not be ended after a failed start, and offers End live', async () => {
    h.failures['encoder:start'] = new Error('the ingest did not take the stream');
    h.failures['endLive'] = new Error('Could not end the stream: network');
    await expect(session.goLive('Show')).rejects.toThrow(/ingest/);
    const state = useStore.getState();
    expect(state.phase).toBe('error');
    expect(state.error).toMatch(/ingest did not take the stream.*could not be ended.*press End live/);
    expect(state.stream?.status).toBe('live');
  });

  it('leaves a stream that was live before its Go live (another studio may be on air with it) live when the start fails', async () => {
    h.resumed = true;
    h.failures['encoder:start'] = new Error('the ingest did not take the stream');
    await expect(session.goLive('Show')).rejects.toThrow(/ingest/);
    expect(h.calls).toContain('encoder:stop');
    expect(h.calls).not.toContain('endLive');
    const state = useStore.getState();
    expect(state.phase).toBe('error');
    expect(state.error).toMatch(/ingest did not take the stream.*already live before.*stays live: press End live/);
    expect(state.stream?.status).toBe('live');
    // Nothing ends it when this page goes away either.
    expect(h.unloadEnders.every((e) => e.disposed || e.fired === 0)).toBe(true);
    session.pageHidden();
    expect(h.unloadEnders.some((e) => e.fired > 0)).toBe(false);
  });

  it('refuses a second go-live while one is starting', async () => {
    const first = session.goLive('Show');
    await expect(session.goLive('Show')).rejects.toThrow(/starting/);
    await first;
  });
});

describe("the program's problems", () => {
  const program = () => (session as unknown as { broadcaster: { onProblem: ((message: string) => void) | null } }).broadcaster;

  it('are shown to the streamer while live, the latest one with its time, and cleared by the next go-live', async () => {
    await session.goLive('Show');
    expect(program().onProblem).toBeTypeOf('function');
    program().onProblem!('The H.264 encoder failed and was rebuilt (1 of 3 this minute).');
    program().onProblem!("The program's video stopped: the H.264 encoder failed 4 times in a minute.");
    const problem = useStore.getState().programProblem;
    expect(problem?.message).toMatch(/video stopped/);
    expect(Math.abs(problem!.atMs - Date.now())).toBeLessThan(5_000);
    expect(useStore.getState().phase).toBe('live');
    await session.end();
    await session.goLive('Show');
    expect(useStore.getState().programProblem).toBeNull();
  });
});

describe('the health counters', () => {
  it('count the renderer’s repeated pictures once, as repeats (the session counts them as units written), and the bridge’s drops of this show only', async () => {
    const bridge = { dropped: { video: 7 } };
    await session.dispose();
    session = new HostSession({} as HTMLElement, bridge as never, 'host', 'Host', new FakeStream([fakeTrack('video', 'cam-a')]) as unknown as MediaStream, () => {});
    await session.goLive('Show');
    const broadcaster = h.broadcaster as unknown as { framesRepeated: number };
    broadcaster.framesRepeated = 20;
    h.onStats!({ state: 'live', framesWritten: 100, framesRepeated: 5, framesDropped: 0, framesDroppedNetwork: 0 });
    expect(useStore.getState().stats).toMatchObject({ framesWritten: 80, framesRepeated: 25 });
    bridge.dropped.video = 12;
    await vi.waitFor(() => expect(useStore.getState().pipeline.bridgeDroppedThisShow).toBe(5));
  });
});

describe('the recording', () => {
  it('names every file of the show: the parts a reconnect went on in, and a new session’s file, each once', async () => {
    h.recordPath = '/rec/show.mkv';
    await session.goLive('Show');
    expect(useStore.getState().recordingPath).toBe('/rec/show.mkv');
    h.onStats!({ state: 'live', recordingFiles: ['/rec/show.mkv'] });
    expect(useStore.getState().recordingPath).toBe('/rec/show.mkv');
    // The ingest dropped; ffmpeg went on in the next part.
    h.onStats!({ state: 'live', recordingFiles: ['/rec/show.mkv', '/rec/show-2.mkv'] });
    expect(useStore.getState().recordingPath).toBe('/rec/show.mkv, then /rec/show-2.mkv');
    // The bridge's connection came back on a new encoder, with its own file.
    h.onRecordingFile!('/rec/show (2).mkv');
    h.onStats!({ state: 'live', recordingFiles: ['/rec/show (2).mkv'] });
    expect(useStore.getState().recordingPath).toBe('/rec/show.mkv, then /rec/show-2.mkv, then /rec/show (2).mkv');
    // The next show starts its own list.
    await session.end();
    h.recordPath = '/rec/next.mkv';
    await session.goLive('Next');
    expect(useStore.getState().recordingPath).toBe('/rec/next.mkv');
  });
});

describe('the layout', () => {
  it('a studio opened again starts its program in the layout the picker shows', async () => {
    await session.dispose();
    useStore.getState().setProgram({ layout: 'pip', focusId: 'guest-a' });
    try {
      h.layouts.length = 0;
      session = newSession();
      expect(h.layouts).toEqual(['pip guest-a']);
    } finally {
      useStore.getState().setProgram({ layout: 'grid', focusId: null });
    }
  });
});

describe('the output format', () => {
  it('starts at 720p30 and goes live with its size, rate and bitrate', async () => {
    expect(h.programs).toEqual([{ width: 1280, height: 720, fps: 30 }]);
    await session.goLive('Show');
    expect(h.goLiveOptions).toMatchObject({ width: 1280, height: 720, fps: 30, videoBitrateKbps: 3000 });
  });

  it('rebuilds the program at the chosen size before going live, and the stream uses it', async () => {
    await session.setOutputFormat('1080p60');
    expect(h.programs.at(-1)).toEqual({ width: 1920, height: 1080, fps: 60 });
    expect(h.calls).toContain('dispose');
    expect(useStore.getState().outputFormat).toBe('1080p60');
    await session.goLive('Show');
    expect(h.goLiveOptions).toMatchObject({ width: 1920, height: 1080, fps: 60, videoBitrateKbps: 6000 });
  });

  it('is refused while live, and an unknown format is refused saying which exist', async () => {
    await expect(session.setOutputFormat('4k120')).rejects.toThrow(/unknown output format "4k120": choose one of 720p30, 720p60, 1080p30, 1080p60/);
    await session.goLive('Show');
    await expect(session.setOutputFormat('720p60')).rejects.toThrow(/cannot change while the broadcast is live/);
    expect(useStore.getState().outputFormat).toBe('720p30');
    expect(h.programs).toHaveLength(1);
  });
});

describe("the host's camera and microphone", () => {
  const hostStream = () => h.lastParticipants.find((p) => p.id === 'host')!.stream as unknown as FakeStream;

  it('switch live: the program takes the new device, muted if the host is muted, and the old one is let go', async () => {
    await session.goLive('Show');
    useStore.getState().setProgram({ hostMicOn: false });
    await session.switchDevice('audio', 'mic-b');
    const mic = hostStream().getAudioTracks()[0]!;
    expect(mic.getSettings().deviceId).toBe('mic-b');
    expect(mic.enabled).toBe(false);
    expect(cameraTracks[1]!.readyState).toBe('ended');
    expect(hostStream().getVideoTracks()[0]).toBe(cameraTracks[0]);
    expect(session.devices()).toEqual({ cameraId: 'cam-a', microphoneId: 'mic-b' });
  });

  it('one after another, and choosing the device in use opens nothing', async () => {
    await Promise.all([session.switchDevice('video', 'cam-b'), session.switchDevice('video', 'cam-c'), session.switchDevice('video', 'cam-c')]);
    expect(h.opened).toEqual([
      { kind: 'video', deviceId: 'cam-b' },
      { kind: 'video', deviceId: 'cam-c' },
    ]);
    expect(session.devices().cameraId).toBe('cam-c');
  });

  it('a device that cannot open changes nothing and says why', async () => {
    h.openFailure = new Error('The camera is in use by another application.');
    await expect(session.switchDevice('video', 'cam-b')).rejects.toThrow(/in use/);
    expect(cameraTracks[0]!.readyState).toBe('live');
    expect(session.devices().cameraId).toBe('cam-a');
  });

  it('are turned off when the studio closes', async () => {
    await session.dispose();
    expect(cameraTracks.map((t) => t.readyState)).toEqual(['ended', 'ended']);
  });

  const hostTile = () => h.lastParticipants.find((p) => p.id === 'host')!;

  it('without a camera, the host goes live on the microphone with the avatar tile, and a camera picked later is shown', async () => {
    await session.dispose();
    session = newSession(() => {}, ['audio']);
    expect(hostTile().cameraOn).toBe(false);
    useStore.getState().setProgram({ hostDeviceProblems: { video: 'No camera was found.' } });
    await session.goLive('Show');
    expect(useStore.getState().phase).toBe('live');
    await session.switchDevice('video', 'cam-b');
    expect(hostTile().cameraOn).toBe(true);
    expect(hostStream().getVideoTracks()[0]!.getSettings().deviceId).toBe('cam-b');
    expect(hostStream().getAudioTracks()[0]).toBe(cameraTracks[0]);
    expect(useStore.getState().hostDeviceProblems).toEqual({});
  });

  it('the camera turned off and on again is enabled before the program reads it again', async () => {
    await session.goLive('Show');
    session.setOwnCamera(false);
    expect(hostTile().cameraOn).toBe(false);
    expect(hostStream().getVideoTracks()[0]!.enabled).toBe(false);
    h.hostCameraEnabledWhenShown.length = 0;
    session.setOwnCamera(true);
    expect(hostTile().cameraOn).toBe(true);
    expect(h.hostCameraEnabledWhenShown).toEqual([true]);
  });

  it('a camera that stops by itself is said so, and the tile shows the avatar, not its last picture', async () => {
    const log: string[] = [];
    await session.dispose();
    session = newSession((m) => log.push(m));
    await session.goLive('Show');
    expect(hostTile().cameraOn).toBe(true);
    cameraTracks[0]!.unplug();
    expect(hostTile().cameraOn).toBe(false);
    expect(useStore.getState().hostDeviceProblems.video).toMatch(/^The camera stopped .*your tile shows your name instead\. Try again when it is back, or pick another camera below\.$/);
    expect(useStore.getState().hostDeviceProblems.audio).toBeUndefined();
    expect(log.some((m) => m.startsWith('host camera stopped'))).toBe(true);
    // The stopped camera is not the one in use: the picker offers it again.
    expect(session.devices().cameraId).toBeNull();
    // Picked again (or another): the problem goes.
    await session.switchDevice('video', 'cam-b');
    expect(useStore.getState().hostDeviceProblems).toEqual({});
    const camB = hostStream().getVideoTracks()[0] as unknown as FakeTrack;
    await session.switchDevice('video', 'cam-c');
    // A camera switched away from that then ends (its device unplugged later) is not the host's problem any more.
    camB.unplug();
    expect(useStore.getState().hostDeviceProblems).toEqual({});
    expect(hostTile().cameraOn).toBe(true);
  });

  it('"Try again" opens the camera chosen last, else the default one', async () => {
    await session.goLive('Show');
    cameraTracks[0]!.unplug();
    h.remembered.video = 'cam-gone';
    h.openFailureFor = 'cam-gone';
    h.tried.length = 0;
    await session.reopenDevice('video');
    expect(h.tried).toEqual([
      { kind: 'video', deviceId: 'cam-gone' },
      { kind: 'video', deviceId: null },
    ]);
    expect(h.opened.at(-1)).toEqual({ kind: 'video', deviceId: null });
    expect(useStore.getState().hostDeviceProblems).toEqual({});
    expect(hostTile().cameraOn).toBe(true);
    // The remembered camera is back: it is the one opened.
    cameraTracks.at(-1)?.unplug();
    h.openFailureFor = null;
    h.tried.length = 0;
    await session.reopenDevice('video');
    expect(h.tried).toEqual([{ kind: 'video', deviceId: 'cam-gone' }]);
    expect(hostTile().cameraOn).toBe(true);
    // Nothing opens: it says why, and the problem stays for the next try.
    useStore.getState().setProgram({ hostDeviceProblems: { audio: 'The microphone stopped.' } });
    h.openFailure = new Error('No microphone was found.');
    await expect(session.reopenDevice('audio')).rejects.toThrow('No microphone was found.');
    expect(useStore.getState().hostDeviceProblems).toEqual({ audio: 'The microphone stopped.' });
  });
});

describe('the studio closing', () => {
  it('while live ends the broadcast as End live does: nothing keeps publishing, the stream is ended', async () => {
    await session.goLive('Show');
    h.calls.length = 0;
    await session.dispose();
    expect(h.calls).toEqual(['return track stopped', 'encoder:stop', 'endCallSession', 'endLive', 'dispose']);
    expect(useStore.getState().phase).toBe('ended');
    expect(h.subscriptions).toBe(0);
  });

  it('while going live lets the start finish, then ends it', async () => {
    const starting = session.goLive('Show');
    const closing = session.dispose();
    await starting;
    await closing;
    expect(h.calls.slice(h.calls.indexOf('captureProgram'))).toEqual(['captureProgram', 'subscribe', 'subscribe', 'subscribe', 'return track stopped', 'encoder:stop', 'endCallSession', 'endLive', 'dispose']);
    expect(useStore.getState().phase).toBe('ended');
  });

  it('when not live only lets go (no stream is ended)', async () => {
    await session.goLive('Show');
    await session.end();
    h.calls.length = 0;
    await session.dispose();
    expect(h.calls).toEqual(['dispose']);
  });

  it('as the page goes away while live (a closed tab, a reload), sends the end of the stream the browser completes alone', async () => {
    await session.goLive('Show');
    await settle();
    expect(h.unloadEnders).toEqual([{ streamId: h.streamId, fired: 0, disposed: false }]);
    session.pageHidden();
    expect(h.unloadEnders[0]!.fired).toBe(1);
  });

  it('as the page goes away when not live, sends nothing: the end prepared for the last broadcast went with it', async () => {
    await session.goLive('Show');
    await settle();
    await session.end();
    expect(h.unloadEnders[0]!.disposed).toBe(true);
    session.pageHidden();
    expect(h.unloadEnders[0]!.fired).toBe(0);
  });

  it('an End live whose request failed leaves the stream to be ended as the page goes away, or as the studio closes', async () => {
    await session.goLive('Show');
    await settle();
    h.failures['endLive'] = new Error('network down');
    await expect(session.end()).rejects.toThrow(/could not be ended on the server: network down\. Press End live again/);
    expect(useStore.getState().stream?.status).toBe('live');
    // The page goes away before End live is pressed again: the unload request ends it.
    expect(h.unloadEnders[0]).toMatchObject({ fired: 0, disposed: false });
    session.pageHidden();
    expect(h.unloadEnders[0]!.fired).toBe(1);
  });

  it('the studio closed after an End live that failed ends the stream then', async () => {
    await session.goLive('Show');
    await settle();
    h.failures['endLive'] = new Error('network down');
    await expect(session.end()).rejects.toThrow(/Press End live again/);
    delete h.failures['endLive'];
    h.calls.length = 0;
    await session.dispose();
    expect(h.calls).toContain('endLive');
    expect(useStore.getState()).toMatchObject({ phase: 'ended', error: null });
    expect(h.unloadEnders[0]!.disposed).toBe(true);
  });

  it('a failed start whose undoing could not end the stream leaves it to be ended as the page goes away', async () => {
    h.failures['encoder:start'] = new Error('the ingest did not take the stream');
    h.failures['endLive'] = new Error('network down');
    await expect(session.goLive('Show')).rejects.toThrow(/ingest/);
    await settle();
    session.pageHidden();
    expect(h.unloadEnders.some((e) => e.fired === 1)).toBe(true);
  });

  it('does not keep an end prepared for a start that failed meanwhile', async () => {
    h.failures['captureProgram'] = new Error('no encoder');
    await expect(session.goLive('Show')).rejects.toThrow('no encoder');
    await settle();
    expect(h.unloadEnders.map((e) => e.disposed)).toEqual([true]);
    session.pageHidden();
    expect(h.unloadEnders[0]!.fired).toBe(0);
  });

  it('says so when the stream could not be ended', async () => {
    await session.goLive('Show');
    h.failures['endLive'] = new Error('network down');
    await session.dispose();
    expect(useStore.getState().phase).toBe('error');
    expect(useStore.getState().error).toMatch(/studio closed while live.*network down.*End live/);
  });
});

describe('ending', () => {
  it('stops the call and the encoder before it ends the stream', async () => {
    await session.goLive('Show');
    h.calls.length = 0;
    await session.end();
    expect(h.calls).toEqual(['return track stopped', 'encoder:stop', 'endCallSession', 'endLive']);
    expect(useStore.getState().phase).toBe('ended');
    expect(useStore.getState().stream?.status).toBe('ended');
    expect(h.subscriptions).toBe(0);
  });

  it("shows the ending's own events (read once, the feed's subscription being closed)", async () => {
    await session.goLive('Show');
    h.eventList = [{ id: 41, event_type: 'stream_ended', stream_id: 's', created_at: '2026-12-05T10:00:00Z' }];
    await session.end();
    expect(useStore.getState().events.map((e) => e.event_type)).toContain('stream_ended');
  });

  it('shows the seats the ending closed as empty, and keeps one the server still holds', async () => {
    await session.goLive('Show');
    const seat = (userId: string, index: number) =>
      ({ id: `seat-${userId}`, stream_id: h.streamId, user_id: userId, seat_index: index, left_at: null, version: 1 }) as never;
    useStore.getState().upsertSeat(seat('guest-a', 0));
    useStore.getState().upsertSeat(seat('guest-b', 1));
    h.seatList = [seat('guest-b', 1)];
    await session.end();
    const open = useStore.getState().seats.filter((s) => s.left_at === null).map((s) => s.user_id);
    expect(open).toEqual(['guest-b']);
  });

  it("keeps a late read of the ended stream's events out of the next broadcast's feed", async () => {
    await session.goLive('Show');
    let release = () => {};
    h.eventGate = new Promise<void>((resolve) => (release = resolve));
    h.eventList = [{ id: 42, event_type: 'stream_ended', stream_id: 's', created_at: '2026-12-05T10:00:00Z' }];
    const ending = session.end();
    await vi.waitFor(() => expect(useStore.getState().phase).toBe('ended'));
    h.eventList = [];
    await session.goLive('Next show');
    release();
    await ending;
    expect(useStore.getState().phase).toBe('live');
    expect(useStore.getState().events).toEqual([]);
  });

  it("keeps a late read of an ended stream's events out of the feed of the next one, ended too", async () => {
    await session.goLive('Show');
    let release = () => {};
    h.eventGate = new Promise<void>((resolve) => (release = resolve));
    h.eventList = [{ id: 42, event_type: 'stream_ended', stream_id: h.streamId, created_at: '2026-12-05T10:00:00Z' }];
    const ending = session.end();
    await vi.waitFor(() => expect(useStore.getState().phase).toBe('ended'));
    // The next broadcast, on a stream of its own, goes live and ends before the first read comes back.
    h.streamId = '22222222-2222-4222-8222-222222222222';
    h.eventList = [{ id: 43, event_type: 'stream_ended', stream_id: h.streamId, created_at: '2026-12-05T11:00:00Z' }];
    await session.goLive('Next show');
    await session.end();
    release();
    await ending;
    expect(useStore.getState().phase).toBe('ended');
    expect(useStore.getState().stream?.id).toBe(h.streamId);
    expect(useStore.getState().events.map((e) => e.id)).toEqual([43]);
  });

  it('leaves End live to press again when the server does not end the stream, and ends it the second time', async () => {
    await session.goLive('Show');
    h.failures['endLive'] = new Error('Could not end the stream: 502');
    await expect(session.end()).rejects.toThrow(/502/);
    expect(useStore.getState()).toMatchObject({ phase: 'error', stream: { status: 'live' } });
    expect(useStore.getState().error).toMatch(/stopped, but .*502.*End live again/);
    delete h.failures['endLive'];
    await session.end();
    expect(useStore.getState()).toMatchObject({ phase: 'ended', error: null, stream: { status: 'ended' } });
  });

  it('ends with a note when the encoder did not stop cleanly', async () => {
    await session.goLive('Show');
    h.failures['encoder:stop'] = new Error('ffmpeg did not exit');
    await session.end();
    expect(useStore.getState().phase).toBe('ended');
    expect(useStore.getState().error).toMatch(/encoder did not stop cleanly: ffmpeg did not exit/);
  });
});

describe('reading the rows again after live updates come back', () => {
  it('closes a seat that was left unseen, not one that came in while the read ran', async () => {
    await session.goLive('Show');
    const seat = (userId: string, index: number) =>
      ({ id: `seat-${userId}`, stream_id: h.streamId, user_id: userId, seat_index: index, left_at: null, version: 1 }) as never;
    session.applySeat(seat('guest-a', 0));
    let release = () => {};
    h.eventGate = new Promise<void>((resolve) => (release = resolve));
    h.seatList = [];
    h.rejoins.at(-1)!();
    // guest-b takes a seat while the read is under way: the list read before it does not have them.
    await settle();
    session.applySeat(seat('guest-b', 1));
    release();
    await vi.waitFor(() => expect(useStore.getState().seats.find((x) => x.user_id === 'guest-a')?.left_at).toEqual(expect.any(String)));
    expect(useStore.getState().seats.find((x) => x.user_id === 'guest-b')?.left_at).toBeNull();
  });
});

describe('channels that come back one by one after a drop', () => {
  it('reads once more after a read that a later channel came back during: a change made before that channel was back is read', async () => {
    await session.goLive('Show');
    const seat = (userId: string, version: number, patch: Record<string, unknown> = {}) =>
      ({ id: `seat-${userId}`, stream_id: h.streamId, user_id: userId, seat_index: 0, left_at: null, version, ...patch }) as never;
    session.applySeat(seat('guest-a', 1));
    h.seatList = [seat('guest-a', 1)];
    let release = () => {};
    h.eventGate = new Promise<void>((resolve) => (release = resolve));
    const reads = h.invitationReads;
    // The seats' channel is back: a read starts, and its list is taken before the mute below.
    h.rejoins[0]!();
    await settle();
    // The mute lands while the events' channel is not back yet (not delivered), then that channel is back.
    h.seatList = [seat('guest-a', 2, { muted_by_host: true })];
    h.rejoins[2]!();
    release();
    await vi.waitFor(() => expect(useStore.getState().seats.find((x) => x.user_id === 'guest-a')).toMatchObject({ muted_by_host: true, version: 2 }));
    expect(h.invitationReads - reads).toBe(2);
    // Each read takes as many events as the studio keeps: no gap after a long drop in a busy show.
    expect(h.eventLimits.at(-1)).toBe(EVENTS_KEPT);
  });
});

describe('a stream ended elsewhere', () => {
  it('takes the broadcast here down without ending it again, and says why', async () => {
    await session.goLive('Show');
    h.calls.length = 0;
    h.streamRow!(streamRow('ended'));
    await vi.waitFor(() => expect(useStore.getState().phase).toBe('ended'));
    await vi.waitFor(() => expect(useStore.getState().error).toMatch(/ended elsewhere/));
    expect(h.calls).toContain('encoder:stop');
    expect(h.calls).not.toContain('endLive');
  });
});

describe('a stream ended elsewhere while going live', () => {
  it('fails the start and undoes it instead of showing LIVE', async () => {
    h.streamStatus = 'ended';
    await expect(session.goLive('Show')).rejects.toThrow(/ended elsewhere .* while going live/);
    expect(useStore.getState().phase).toBe('error');
    expect(h.calls).toContain('encoder:stop');
  });
});

describe("each guest's signaling channel", () => {
  const seat = (userId: string, leftAt: string | null = null) =>
    ({ id: `seat-${userId}`, stream_id: streamRow('live').id, user_id: userId, seat_index: 1, left_at: leftAt, mic_enabled: true, camera_enabled: true, volume: 1 }) as never;

  it('on a stream this studio resumed, carries the host’s call to each guest seated before, without waiting for a hello', async () => {
    h.resumed = true;
    h.seatList = [seat('guest-a')];
    await session.goLive('Show');
    await vi.waitFor(() => expect(h.links.has('guest-a')).toBe(true));
    expect(h.calls).toContain('signaling:join guest-a');
    // The guest was still calling (its hello was on its way): the host's call is taken as theirs, not made twice.
    const link = h.links.get('guest-a');
    h.handlers.get('guest-a')!({ kind: 'hello', from: 'guest-a', to: 'host', call: 'call-1' });
    await new Promise((r) => setTimeout(r, 20));
    expect(h.links.get('guest-a')).toBe(link);
    expect(h.calls).not.toContain('link:close guest-a');
    // A guest seated later says hello first, as on any stream.
    useStore.getState().upsertSeat(seat('guest-b'));
    await vi.waitFor(() => expect(h.handlers.has('guest-b')).toBe(true));
    await new Promise((r) => setTimeout(r, 20));
    expect(h.links.has('guest-b')).toBe(false);
  });

  it('on a stream this studio resumed, answers a later new call of a guest whose first hello never came, once the host’s own call connected', async () => {
    h.resumed = true;
    h.seatList = [seat('guest-a')];
    await session.goLive('Show');
    await vi.waitFor(() => expect(h.links.has('guest-a')).toBe(true));
    const first = h.links.get('guest-a');
    // The guest had stopped calling: the host's call connects with no hello at all.
    first!.onStateChange('connected');
    // Much later the guest's side of the link fails and it calls anew: answered now, on a fresh link.
    h.handlers.get('guest-a')!({ kind: 'hello', from: 'guest-a', to: 'host', call: 'call-9' });
    await vi.waitFor(() => expect(h.links.get('guest-a')).not.toBe(first));
  });

  it('on a stream it started, waits for each guest’s hello', async () => {
    h.seatList = [seat('guest-a')];
    await session.goLive('Show');
    await vi.waitFor(() => expect(h.handlers.has('guest-a')).toBe(true));
    await new Promise((r) => setTimeout(r, 20));
    expect(h.links.has('guest-a')).toBe(false);
  });

  it('is joined when the guest takes a seat and closed when they leave or the broadcast ends', async () => {
    await session.goLive('Show');
    h.calls.length = 0;
    useStore.getState().upsertSeat(seat('guest-a'));
    useStore.getState().upsertSeat(seat('guest-b'));
    await vi.waitFor(() => expect(h.calls).toEqual(['signaling:join guest-a', 'signaling:join guest-b']));
    useStore.getState().upsertSeat(seat('guest-a', new Date().toISOString()));
    await vi.waitFor(() => expect(h.calls).toContain('signaling:close guest-a'));
    await session.end();
    expect(h.calls.filter((c) => c.startsWith('signaling:close'))).toEqual(['signaling:close guest-a', 'signaling:close guest-b']);
  });

  it('tells a guest taken off the stage (bye) before their channel closes; a guest who said bye is not told', async () => {
    await session.goLive('Show');
    for (const guestId of ['guest-a', 'guest-b']) {
      useStore.getState().upsertSeat(seat(guestId));
      await vi.waitFor(() => expect(h.handlers.has(guestId)).toBe(true));
      h.handlers.get(guestId)!({ kind: 'hello', from: guestId, to: 'host', call: 'call-1' });
      await vi.waitFor(() => expect(h.links.has(guestId)).toBe(true));
    }
    h.calls.length = 0;
    // The host removes guest-a: the row comes back closed.
    session.applySeat({ ...(seat('guest-a', new Date().toISOString()) as object), removed_by: 'host', version: 2 } as never);
    await vi.waitFor(() => expect(h.calls).toContain('signaling:close guest-a'));
    expect(h.calls.filter((c) => c.endsWith('guest-a') || c.endsWith('guest-a with bye'))).toEqual(['link:close guest-a with bye', 'signaling:close guest-a']);
    // guest-b's page goes away (it says bye): the host lets the call go without answering.
    h.handlers.get('guest-b')!({ kind: 'bye', from: 'guest-b', to: 'host' });
    expect(h.calls).toContain('link:close guest-b');
    expect(h.calls).not.toContain('link:close guest-b with bye');
  });

  it('a link goes on signaling through the channel joined anew after the server closed the one it started on', async () => {
    await session.goLive('Show');
    useStore.getState().upsertSeat(seat('guest-a'));
    await vi.waitFor(() => expect(h.handlers.has('guest-a')).toBe(true));
    h.handlers.get('guest-a')!({ kind: 'hello', from: 'guest-a', to: 'host', call: 'call-1' });
    await vi.waitFor(() => expect(h.links.has('guest-a')).toBe(true));
    h.dead.get('guest-a')!();
    await vi.waitFor(() => expect(h.joined.get('guest-a')).toBe(2));
    h.calls.length = 0;
    // The link's next message (an answer, an ICE restart's offer) reaches the guest on the new channel.
    await h.links.get('guest-a')!.signaling.send({ kind: 'description' });
    expect(h.calls).toEqual(['send description to guest-a on channel 2']);
  });

  it("ends a guest's TURN access when they leave the stage, where the call has TURN credentials", async () => {
    h.iceServers = [{ urls: 'turn:turn.example:3478', username: 'u1', credential: 'c1' }];
    try {
      await session.goLive('Show');
      useStore.getState().upsertSeat(seat('guest-a'));
      await vi.waitFor(() => expect(h.handlers.has('guest-a')).toBe(true));
      h.calls.length = 0;
      session.applySeat({ ...(seat('guest-a', new Date().toISOString()) as object), removed_by: 'host', version: 2 } as never);
      await vi.waitFor(() => expect(h.calls).toContain('endCallAccess call-1 guest-a'));
    } finally {
      h.iceServers = [];
    }
  });

  it('on a stream this studio resumed, ends the TURN access of guests who left while no studio was there; a new show asks nothing', async () => {
    h.iceServers = [{ urls: 'turn:turn.example:3478', username: 'u1', credential: 'c1' }];
    try {
      await session.goLive('Show');
      expect(h.calls.some((c) => c.startsWith('endFormerGuestsAccess'))).toBe(false);
      await session.end();
      h.resumed = true;
      h.calls.length = 0;
      await session.goLive('Show');
      await vi.waitFor(() => expect(h.calls).toContain('endFormerGuestsAccess call-1'));
    } finally {
      h.iceServers = [];
    }
  });

  it('asks nothing of the backend when a guest leaves a call without TURN credentials (peers on one network)', async () => {
    await session.goLive('Show');
    useStore.getState().upsertSeat(seat('guest-a'));
    await vi.waitFor(() => expect(h.handlers.has('guest-a')).toBe(true));
    session.applySeat({ ...(seat('guest-a', new Date().toISOString()) as object), removed_by: 'host', version: 2 } as never);
    await vi.waitFor(() => expect(h.calls).toContain('signaling:close guest-a'));
    expect(h.calls.some((c) => c.startsWith('endCallAccess'))).toBe(false);
  });

  it('is joined again after a refusal, while the guest is seated', async () => {
    vi.useFakeTimers();
    try {
      await session.goLive('Show');
      h.failures['signaling:join guest-a'] = new Error('cannot join: CHANNEL_ERROR');
      useStore.getState().upsertSeat(seat('guest-a'));
      await vi.advanceTimersByTimeAsync(0);
      expect(h.calls.filter((c) => c === 'signaling:join guest-a')).toHaveLength(1);
      delete h.failures['signaling:join guest-a'];
      await vi.advanceTimersByTimeAsync(2000);
      expect(h.calls.filter((c) => c === 'signaling:join guest-a')).toHaveLength(2);
      await session.end();
      expect(h.calls).toContain('signaling:close guest-a');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('a compositor that gives way while live (a lost GPU context)', () => {
  it('gives every guest the program return of the new compositor and stops the old track', async () => {
    await session.goLive('Show');
    for (const guestId of ['guest-a', 'guest-b']) {
      useStore.getState().upsertSeat({ id: `seat-${guestId}`, stream_id: streamRow('live').id, user_id: guestId, seat_index: 1, left_at: null, mic_enabled: true, camera_enabled: true, volume: 1 } as never);
      await vi.waitFor(() => expect(h.handlers.has(guestId)).toBe(true));
      h.handlers.get(guestId)!({ kind: 'hello', from: guestId, to: 'host', call: `call-${guestId}` });
      await vi.waitFor(() => expect(h.links.has(guestId)).toBe(true));
    }
    (h.broadcaster as unknown as { onCompositorChanged: (c: unknown) => void }).onCompositorChanged({ mode: 'cpu', renderer: 'x' });
    await vi.waitFor(() => expect(h.videoSets).toHaveLength(2));
    expect(h.videoSets.sort((x, y) => x.guestId.localeCompare(y.guestId))).toEqual([
      { guestId: 'guest-a', track: 2 },
      { guestId: 'guest-b', track: 2 },
    ]);
    await vi.waitFor(() => expect(h.calls).toContain('return track stopped'));
    await session.end();
    expect(h.calls).toContain('return track 2 stopped');
  });
});

describe('a guest whose page says goodbye and keeps the seat', () => {
  it('is shown away, not connecting, until they call again', async () => {
    await session.goLive('Show');
    useStore.getState().upsertSeat({ id: 'seat-guest-a', stream_id: streamRow('live').id, user_id: 'guest-a', seat_index: 1, left_at: null, mic_enabled: true, camera_enabled: true, volume: 1 } as never);
    await vi.waitFor(() => expect(h.handlers.has('guest-a')).toBe(true));
    h.handlers.get('guest-a')!({ kind: 'hello', from: 'guest-a', to: 'host', call: 'call-1' });
    await vi.waitFor(() => expect(h.links.has('guest-a')).toBe(true));
    h.links.get('guest-a')!.onStateChange('connected');
    h.handlers.get('guest-a')!({ kind: 'bye', from: 'guest-a', to: 'host' });
    expect(useStore.getState().links['guest-a']).toBe('away');
    // They come back: a new call (a new link), and the tile follows it again.
    const away = h.links.get('guest-a');
    h.handlers.get('guest-a')!({ kind: 'hello', from: 'guest-a', to: 'host', call: 'call-2' });
    await vi.waitFor(() => expect(h.links.get('guest-a')).not.toBe(away));
    h.links.get('guest-a')!.onStateChange('connecting');
    await vi.waitFor(() => expect(useStore.getState().links['guest-a']).toBe('connecting'));
    await session.end();
  });
});

describe("a guest's channel the server closes", () => {
  const seat = (userId: string) =>
    ({ id: `seat-${userId}`, stream_id: streamRow('live').id, user_id: userId, seat_index: 1, left_at: null, mic_enabled: true, camera_enabled: true, volume: 1 }) as never;

  it('is left and joined anew while the guest is seated, and their hello is heard on the new one', async () => {
    await session.goLive('Show');
    useStore.getState().upsertSeat(seat('guest-a'));
    await vi.waitFor(() => expect(h.dead.has('guest-a')).toBe(true));
    const firstHandler = h.handlers.get('guest-a');
    h.dead.get('guest-a')!();
    await vi.waitFor(() => expect(h.calls.filter((c) => c === 'signaling:join guest-a')).toHaveLength(2));
    expect(h.calls).toContain('signaling:close guest-a');
    await vi.waitFor(() => expect(h.handlers.get('guest-a')).not.toBe(firstHandler));
    h.handlers.get('guest-a')!({ kind: 'hello', from: 'guest-a', to: 'host', call: 'call-1' });
    await vi.waitFor(() => expect(h.links.has('guest-a')).toBe(true));
    await session.end();
  });
});

describe("a guest's failed link", () => {
  const seat = (userId: string) =>
    ({ id: `seat-${userId}`, stream_id: streamRow('live').id, user_id: userId, seat_index: 1, left_at: null, mic_enabled: true, camera_enabled: true, volume: 1 }) as never;

  async function liveWithGuest(guestId: string): Promise<void> {
    await session.goLive('Show');
    useStore.getState().upsertSeat(seat(guestId));
    await vi.waitFor(() => expect(h.handlers.has(guestId)).toBe(true));
    h.handlers.get(guestId)!({ kind: 'hello', from: guestId, to: 'host', call: 'call-1' });
    await vi.waitFor(() => expect(h.links.has(guestId)).toBe(true));
  }

  it('shows the guest’s avatar in the program while it recovers, not their last picture frozen', async () => {
    await liveWithGuest('guest-a');
    const tile = () => h.lastParticipants.find((p) => p.id === 'guest-a');
    // The host hears each guest through a media element.
    vi.stubGlobal('Audio', class {
      srcObject: unknown = null;
      muted = false;
      volume = 1;
      play = async () => {};
    });
    h.links.get('guest-a')!.onRemoteStream(new FakeStream([fakeTrack('video', 'cam-g')]) as unknown as MediaStream);
    h.links.get('guest-a')!.onStateChange('connected');
    expect(tile()?.cameraOn).toBe(true);
    h.links.get('guest-a')!.onStateChange('failed');
    expect(tile()?.cameraOn).toBe(false);
    h.links.get('guest-a')!.onStateChange('connecting');
    expect(tile()?.cameraOn).toBe(false);
    h.links.get('guest-a')!.onStateChange('connected');
    expect(tile()?.cameraOn).toBe(true);
    await session.end();
    vi.unstubAllGlobals();
  });

  it('is restarted in the second broadcast of the studio too, and after a failed start', async () => {
    await liveWithGuest('guest-a');
    h.links.get('guest-a')!.onStateChange('failed');
    expect(h.iceRestarts).toEqual(['guest-a']);
    await session.end();

    h.links.clear();
    useStore.setState({ seats: [] });
    await liveWithGuest('guest-a');
    h.links.get('guest-a')!.onStateChange('failed');
    expect(h.iceRestarts).toEqual(['guest-a', 'guest-a']);
    await session.end();

    h.failures['subscribe'] = new Error('Could not subscribe to seats: TIMED_OUT');
    await expect(session.goLive('Show')).rejects.toThrow(/TIMED_OUT/);
    delete h.failures['subscribe'];
    h.links.clear();
    useStore.setState({ seats: [] });
    await liveWithGuest('guest-a');
    h.links.get('guest-a')!.onStateChange('failed');
    expect(h.iceRestarts).toEqual(['guest-a', 'guest-a', 'guest-a']);
    await session.end();
  });
});

describe('an invitation that ran out in the studio', () => {
  const invitation = (status: string) =>
    ({ id: 'inv-1', stream_id: h.streamId, host_id: 'host', invitee_id: 'guest-a', invited_by: 'host', seat_index: null, status, created_at: '2026-01-01T00:00:00Z', expires_at: '2026-01-01T00:00:20Z', responded_at: null }) as never;

  afterEach(() => vi.useRealTimers());

  it('asks the database, which marks it expired: the studio shows its row as the database has it', async () => {
    await session.goLive('Show');
    vi.useFakeTimers();
    const reads = h.invitationReads;
    h.invitationLists.push([invitation('expired')]);
    const done = session.invitationRanOut('inv-1');
    // A second report of the same countdown while the first is under way asks nothing more.
    void session.invitationRanOut('inv-1');
    await vi.advanceTimersByTimeAsync(EXPIRY_CHECK_MS);
    await done;
    expect(h.invitationReads - reads).toBe(1);
    expect(useStore.getState().invitations.find((i) => i.id === 'inv-1')).toMatchObject({ status: 'expired' });
  });

  it('asks again while the database still has it pending (its clock a moment behind), a bounded number of times', async () => {
    const log: string[] = [];
    await session.dispose();
    session = newSession((m) => log.push(m));
    await session.goLive('Show');
    vi.useFakeTimers();
    const reads = h.invitationReads;
    for (let i = 0; i < EXPIRY_CHECKS + 2; i++) h.invitationLists.push([invitation('pending')]);
    const done = session.invitationRanOut('inv-1');
    await vi.advanceTimersByTimeAsync(EXPIRY_CHECK_MS * (EXPIRY_CHECKS + 2));
    await done;
    expect(h.invitationReads - reads).toBe(EXPIRY_CHECKS);
    expect(log.some((m) => /still open in the database after 3 checks/.test(m))).toBe(true);
  });

  it('asks nothing once the stream has ended', async () => {
    await session.goLive('Show');
    await session.end();
    const reads = h.invitationReads;
    await session.invitationRanOut('inv-1');
    expect(h.invitationReads).toBe(reads);
  });
});

describe('seat rows from two sources', () => {
  const seat = (userId: string, version: number, patch: Record<string, unknown> = {}) =>
    ({ id: `seat-${userId}`, stream_id: streamRow('live').id, user_id: userId, seat_index: 1, left_at: null, muted_by_host: false, version, ...patch }) as never;

  it('keeps the newer copy whichever arrives last', async () => {
    await session.goLive('Show');
    useStore.getState().upsertSeat(seat('guest-a', 3, { muted_by_host: true }));
    // A list read before the mute lands after it: the mute stays.
    useStore.getState().upsertSeat(seat('guest-a', 2));
    expect(useStore.getState().seats).toMatchObject([{ version: 3, muted_by_host: true }]);
    useStore.getState().upsertSeat(seat('guest-a', 4));
    expect(useStore.getState().seats).toMatchObject([{ version: 4, muted_by_host: false }]);
  });

  it("reads the rows again when live updates come back after a drop, and takes a seat gone from the list as left", async () => {
    await session.goLive('Show');
    useStore.getState().upsertSeat(seat('guest-a', 1));
    useStore.getState().upsertSeat({ ...(seat('guest-b', 1) as object), id: 'seat-guest-b', seat_index: 2 } as never);
    await vi.waitFor(() => expect(h.calls.filter((c) => c.startsWith('signaling:join'))).toHaveLength(2));
    // While the socket was down: guest-a was muted, guest-b left.
    h.seatList = [seat('guest-a', 2, { muted_by_host: true })];
    for (const rejoin of h.rejoins) rejoin();
    await vi.waitFor(() => expect(useStore.getState().seats.find((x) => x.user_id === 'guest-b')).toMatchObject({ left_at: expect.any(String) }));
    expect(useStore.getState().seats.find((x) => x.user_id === 'guest-a')).toMatchObject({ muted_by_host: true, version: 2 });
    await vi.waitFor(() => expect(h.calls).toContain('signaling:close guest-b'));
  });

  it("shows the result of the host's own action at once", async () => {
    await session.goLive('Show');
    useStore.getState().upsertSeat(seat('guest-a', 1));
    session.applySeat(seat('guest-a', 2, { muted_by_host: true }));
    expect(useStore.getState().seats).toMatchObject([{ muted_by_host: true }]);
  });
});

describe('sharing the screen', () => {
  let pickers: Array<(stream: MediaStream) => void>;
  const screenStream = () => {
    const track = { kind: 'video', readyState: 'live', stop: () => (track.readyState = 'ended'), addEventListener: () => {} };
    return { track, stream: { getTracks: () => [track], getVideoTracks: () => [track], getAudioTracks: () => [] } as unknown as MediaStream };
  };

  beforeEach(() => {
    pickers = [];
    vi.stubGlobal('navigator', { mediaDevices: { getDisplayMedia: () => new Promise<MediaStream>((resolve) => pickers.push(resolve)) } });
  });
  afterEach(() => vi.unstubAllGlobals());

  it('opens one picker however often it is pressed while the picker is open', async () => {
    const first = session.startScreenShare();
    const second = session.startScreenShare();
    expect(pickers).toHaveLength(1);
    const { track, stream } = screenStream();
    pickers[0]!(stream);
    await Promise.all([first, second]);
    expect(useStore.getState().sharingScreen).toBe(true);
    session.stopScreenShare();
    expect(track.readyState).toBe('ended');
  });

  it('a layout with a focus chosen after the grid shows the shared screen large again; not once the sharing stopped', async () => {
    const sharing = session.startScreenShare();
    pickers[0]!(screenStream().stream);
    await sharing;
    expect(useStore.getState()).toMatchObject({ layout: 'spotlight', focusId: SCREEN_ID });
    session.setLayout('grid');
    expect(useStore.getState()).toMatchObject({ layout: 'grid', focusId: null });
    session.setLayout('pip');
    expect(useStore.getState()).toMatchObject({ layout: 'pip', focusId: SCREEN_ID });
    session.setLayout('grid');
    session.stopScreenShare();
    session.setLayout('spotlight');
    expect(useStore.getState()).toMatchObject({ layout: 'spotlight', focusId: null });
  });

  it('stops a screen chosen after the studio closed', async () => {
    const sharing = session.startScreenShare();
    void session.dispose();
    const { track, stream } = screenStream();
    pickers[0]!(stream);
    await sharing;
    expect(track.readyState).toBe('ended');
  });
});

describe('the program return to a guest whose page falls behind', () => {
  const seat = (userId: string) =>
    ({ id: `seat-${userId}`, stream_id: streamRow('live').id, user_id: userId, seat_index: 1, left_at: null, mic_enabled: true, camera_enabled: true, volume: 1 }) as never;

  const full = { maxWidth: 640, maxHeight: 360, maxBitrateKbps: 600, maxFramerate: 30 };

  /** Live, with the guest seated and called: what they say on their channel. */
  /** Runs `body` with a session made on fake timers (the grading tick, performance.now); real timers come back after. */
  async function onTheClock(body: () => Promise<void>, log?: (message: string) => void): Promise<void> {
    await session.dispose();
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    try {
      session = newSession(log);
      await body();
    } finally {
      vi.useRealTimers();
    }
  }

  async function liveWithGuest(guestId: string, call: string): Promise<(msg: unknown) => void> {
    await session.goLive('Show');
    useStore.getState().upsertSeat(seat(guestId));
    await vi.waitFor(() => expect(h.handlers.has(guestId)).toBe(true));
    const say = h.handlers.get(guestId)!;
    say({ kind: 'hello', from: guestId, to: 'host', call });
    await vi.waitFor(() => expect(h.linkCaps.get(guestId)).toEqual([full]));
    return say;
  }

  it('gets a third of the frames while the guest says it is behind, and all of them once it caught up and the cut stood its hold', async () => {
    const say = await liveWithGuest('guest-a', 'call-1');

    const clock = vi.spyOn(performance, 'now').mockReturnValue(1_000);
    try {
      say({ kind: 'view', from: 'guest-a', to: 'host', behindMs: 3200 });
      say({ kind: 'view', from: 'guest-a', to: 'host', behindMs: 5200 }); // still behind: nothing more to change
      const cut = { ...full, maxFramerate: 10, maxBitrateKbps: 200 };
      expect(h.linkCaps.get('guest-a')).toEqual([full, cut]);
      // Caught up 2 s later: the cut stands its hold (10 s) so the page does not swing between the two.
      clock.mockReturnValue(3_000);
      say({ kind: 'view', from: 'guest-a', to: 'host', behindMs: 0 });
      expect(h.linkCaps.get('guest-a')).toEqual([full, cut]);
      // Behind and caught up again once the hold is over: everything goes back at once.
      say({ kind: 'view', from: 'guest-a', to: 'host', behindMs: 2000 });
      clock.mockReturnValue(12_000);
      say({ kind: 'view', from: 'guest-a', to: 'host', behindMs: 0 });
      expect(h.linkCaps.get('guest-a')).toEqual([full, cut, full]);
    } finally {
      clock.mockRestore();
    }
    await session.end();
  });

  it('gives everything back on the grading tick once the hold is over, when the guest caught up during it', async () => {
    await onTheClock(async () => {
      const say = await liveWithGuest('guest-c', 'call-3');
      const cut = { ...full, maxFramerate: 10, maxBitrateKbps: 200 };
      say({ kind: 'view', from: 'guest-c', to: 'host', behindMs: 3000 });
      vi.advanceTimersByTime(2_000);
      say({ kind: 'view', from: 'guest-c', to: 'host', behindMs: 0 }); // caught up during the hold: nothing yet
      vi.advanceTimersByTime(4_000);
      expect(h.linkCaps.get('guest-c')).toEqual([full, cut]);
      vi.advanceTimersByTime(8_000); // the hold (10 s) is over at the next grading tick
      expect(h.linkCaps.get('guest-c')).toEqual([full, cut, full]);
      await session.end();
    });
  });

  it('sends a guest still behind a keyframe on each grading tick, and stops once their page caught up', async () => {
    await onTheClock(async () => {
      const say = await liveWithGuest('guest-e', 'call-7');
      vi.advanceTimersByTime(4_000);
      expect(h.refreshes).toEqual([]);
      say({ kind: 'view', from: 'guest-e', to: 'host', behindMs: 30_000 });
      vi.advanceTimersByTime(8_000);
      expect(h.refreshes).toEqual(['guest-e', 'guest-e']);
      say({ kind: 'view', from: 'guest-e', to: 'host', behindMs: 0 });
      vi.advanceTimersByTime(8_000);
      expect(h.refreshes).toEqual(['guest-e', 'guest-e']);
      await session.end();
    });
  });

  it('counts a new call during the hold as caught up, and says so when everything goes back', async () => {
    const logs: string[] = [];
    await onTheClock(async () => {
      const say = await liveWithGuest('guest-d', 'call-5');
      const cut = { ...full, maxFramerate: 10, maxBitrateKbps: 200 };
      say({ kind: 'view', from: 'guest-d', to: 'host', behindMs: 3000 });
      vi.advanceTimersByTime(2_000);
      say({ kind: 'hello', from: 'guest-d', to: 'host', call: 'call-6' }); // a reloaded page: nothing said yet
      await vi.waitFor(() => expect(h.linkCaps.get('guest-d')?.at(-1)).toEqual(cut));
      vi.advanceTimersByTime(12_000);
      expect(h.linkCaps.get('guest-d')?.at(-1)).toEqual(full);
      expect(logs.filter((m) => m.includes('back to'))).toEqual(['program return to guest-d: back to 30 fps, 600 kbps (they called anew: a fresh page)']);
      await session.end();
    }, (m) => logs.push(m));
  });

  it('yields frames while the broadcast misses its slots, and gets them back once it keeps up', async () => {
    const logs: string[] = [];
    await onTheClock(async () => {
      await liveWithGuest('guest-f', 'call-8');
      /** One grading tick (4 s at 30 fps: 120 slots) in which the broadcast lagged and skipped these many. */
      const tick = async (lagged: number, skipped = 0) => {
        const b = h.broadcaster!;
        b.outputSlots += 120;
        b.framesLagged += lagged;
        b.framesSkipped += skipped;
        vi.advanceTimersByTime(4_000);
      };
      await tick(60); // the first tick only takes note
      expect(h.linkCaps.get('guest-f')).toEqual([full]);
      await tick(48, 12);
      await tick(40);
      expect(h.linkCaps.get('guest-f')).toEqual([full, { ...full, maxFramerate: 20 }, { ...full, maxFramerate: 15 }]);
      vi.advanceTimersByTime(4_000); // a stall (no slot served): nothing changes
      for (let i = 0; i < 3; i++) await tick(3);
      expect(h.linkCaps.get('guest-f')?.at(-1)).toEqual({ ...full, maxFramerate: 20 });
      for (let i = 0; i < 3; i++) await tick(0);
      expect(h.linkCaps.get('guest-f')?.at(-1)).toEqual(full);
      expect(logs.filter((m) => m.startsWith('program returns:'))).toEqual([
        'program returns: 20 fps at most while the broadcast missed 50 % of its 30 pictures a second (the broadcast comes first)',
        'program returns: 15 fps at most while the broadcast missed 33 % of its 30 pictures a second (the broadcast comes first)',
        'program returns: up to 20 fps (the broadcast keeps up: missed 3 % of its 30 pictures a second)',
        'program returns: every frame again (the broadcast keeps up: missed 0 % of its 30 pictures a second)',
      ]);
      await session.end();
    }, (m) => logs.push(m));
  });

  it('leaves the returns alone when the cameras give few new pictures but no slot is missed', async () => {
    await onTheClock(async () => {
      await liveWithGuest('guest-h', 'call-10');
      for (let i = 0; i < 4; i++) {
        // A 15 fps webcam: half the slots repeat the picture before, none is lagged or skipped.
        h.broadcaster!.outputSlots += 120;
        vi.advanceTimersByTime(4_000);
      }
      expect(h.linkCaps.get('guest-h')).toEqual([full]);
      await session.end();
    });
  });

  it('paces a guest whose return is cut no higher than the cut', async () => {
    await onTheClock(async () => {
      const say = await liveWithGuest('guest-g', 'call-9');
      say({ kind: 'view', from: 'guest-g', to: 'host', behindMs: 3000 });
      const cut = { ...full, maxFramerate: 10, maxBitrateKbps: 200 };
      expect(h.linkCaps.get('guest-g')).toEqual([full, cut]);
      for (let i = 0; i < 3; i++) {
        h.broadcaster!.outputSlots += 120;
        h.broadcaster!.framesLagged += 60;
        vi.advanceTimersByTime(4_000);
      }
      // The pace (20, then 15) is above the cut's 10 fps: the cut stands as it was.
      expect(h.linkCaps.get('guest-g')?.at(-1)).toEqual(cut);
      await session.end();
    });
  });

  it('is made with the cut cap when the guest calls anew while behind', async () => {
    await session.goLive('Show');
    useStore.getState().upsertSeat(seat('guest-b'));
    await vi.waitFor(() => expect(h.handlers.has('guest-b')).toBe(true));
    const say = h.handlers.get('guest-b')!;
    say({ kind: 'view', from: 'guest-b', to: 'host', behindMs: 2000 });
    say({ kind: 'hello', from: 'guest-b', to: 'host', call: 'call-2' });
    await vi.waitFor(() => expect(h.linkCaps.get('guest-b')).toEqual([{ maxWidth: 640, maxHeight: 360, maxBitrateKbps: 200, maxFramerate: 10 }]));
    await session.end();
  });
});

describe('what the guests hear', () => {
  const seat = (userId: string, seatIndex: number, micEnabled = true, volume = 1) =>
    ({ id: `seat-${userId}`, stream_id: streamRow('live').id, user_id: userId, seat_index: seatIndex, left_at: null, mic_enabled: micEnabled, camera_enabled: true, volume }) as never;

  /** The media elements the host plays guests through, in the order made. */
  const elements: Array<{ srcObject: unknown; muted: boolean; volume: number }> = [];

  beforeEach(() => {
    elements.length = 0;
    // The host plays each guest through a media element.
    vi.stubGlobal(
      'Audio',
      class {
        autoplay = false;
        srcObject: unknown = null;
        muted = false;
        volume = 1;
        play = async () => {};
        constructor() {
          elements.push(this);
        }
      },
    );
  });
  afterEach(() => vi.unstubAllGlobals());

  async function seatAndCall(guestId: string, seatIndex: number): Promise<void> {
    useStore.getState().upsertSeat(seat(guestId, seatIndex));
    await vi.waitFor(() => expect(h.handlers.has(guestId)).toBe(true));
    h.handlers.get(guestId)!({ kind: 'hello', from: guestId, to: 'host', call: `call-${guestId}` });
    await vi.waitFor(() => expect(h.links.has(guestId)).toBe(true));
    h.links.get(guestId)!.onRemoteStream(new FakeStream([fakeTrack('audio', `${guestId}-mic`)]) as unknown as MediaStream);
  }

  it("is everyone on stage but themselves, at the program's gains: a muted voice is silent for all, and it ends with the broadcast", async () => {
    await session.goLive('Show');
    await seatAndCall('guest-a', 1);
    await seatAndCall('guest-b', 2);
    // One mix for the session; each guest's link sends that guest's own track of it.
    expect(h.mixes).toHaveLength(1);
    const mix = h.mixes[0]!;
    expect(h.links.get('guest-a')!.audio).toEqual({ id: 'mix-for-guest-a' });
    expect(h.links.get('guest-b')!.audio).toEqual({ id: 'mix-for-guest-b' });
    expect([...mix.listeners].sort()).toEqual(['guest-a', 'guest-b']);
    expect(mix.voices).toEqual([
      { id: 'host', gain: 1 },
      { id: 'guest-a', gain: 1 },
      { id: 'guest-b', gain: 1 },
    ]);

    // The host mutes guest-a and turns guest-b down, then mutes their own microphone.
    useStore.getState().upsertSeat(seat('guest-a', 1, false));
    useStore.getState().upsertSeat(seat('guest-b', 2, true, 0.5));
    useStore.getState().setProgram({ hostMicOn: false });
    await vi.waitFor(() =>
      expect(mix.voices).toEqual([
        { id: 'host', gain: 0 },
        { id: 'guest-a', gain: 0 },
        { id: 'guest-b', gain: 0.5 },
      ]),
    );

    // guest-b leaves: nothing is mixed for them, and their voice is out of guest-a's mix.
    h.handlers.get('guest-b')!({ kind: 'bye', from: 'guest-b', to: 'host' });
    await vi.waitFor(() => expect([...mix.listeners]).toEqual(['guest-a']));
    expect(mix.voices.map((v) => v.id)).toEqual(['host', 'guest-a']);

    await session.end();
    expect(mix.disposed).toBe(true);
  });

  it('the host hears a guest as the program does: silent while muted, at the volume set for them', async () => {
    await session.goLive('Show');
    await seatAndCall('guest-a', 1);
    expect(elements).toHaveLength(1);
    expect(elements[0]).toMatchObject({ muted: false, volume: 1 });
    useStore.getState().upsertSeat({ ...(seat('guest-a', 1, false) as object), version: 2 } as never);
    await vi.waitFor(() => expect(elements[0]).toMatchObject({ muted: true }));
    useStore.getState().upsertSeat({ ...(seat('guest-a', 1, true, 0.4) as object), version: 3 } as never);
    await vi.waitFor(() => expect(elements[0]).toMatchObject({ muted: false, volume: 0.4 }));
    // A volume above full (the program's gain can boost) is as loud as the element goes.
    useStore.getState().upsertSeat({ ...(seat('guest-a', 1, true, 1.5) as object), version: 4 } as never);
    await vi.waitFor(() => expect(elements[0]).toMatchObject({ volume: 1 }));
    await session.end();
  });

  it('where the page cannot mix, guests hear the host\'s microphone, a new one too, and the mix is tried once', async () => {
    const logs: string[] = [];
    await session.dispose();
    session = newSession((m) => logs.push(m));
    h.mixFailure = new Error('no AudioContext');
    await session.goLive('Show');
    await seatAndCall('guest-a', 1);
    await seatAndCall('guest-b', 2);
    const mic = (h.links.get('guest-a')!.audio as ReturnType<typeof fakeTrack>).getSettings().deviceId;
    expect((h.links.get('guest-b')!.audio as ReturnType<typeof fakeTrack>).getSettings().deviceId).toBe(mic);

    await session.switchDevice('audio', 'mic-b');
    expect(h.audioSets.sort((x, y) => x.guestId.localeCompare(y.guestId))).toEqual([
      { guestId: 'guest-a', track: 'mic-b' },
      { guestId: 'guest-b', track: 'mic-b' },
    ]);

    // A guest calling anew gets the new microphone, and the failed mix is not tried again.
    h.handlers.get('guest-a')!({ kind: 'hello', from: 'guest-a', to: 'host', call: 'call-again' });
    await vi.waitFor(() => expect((h.links.get('guest-a')!.audio as ReturnType<typeof fakeTrack>).getSettings().deviceId).toBe('mic-b'));
    expect(h.mixes).toHaveLength(0);
    expect(logs.filter((m) => m.includes('could not start'))).toEqual(["the guests' audio mix could not start (they hear the host only): no AudioContext"]);
    await session.end();
  });

  it('with a mix, a new microphone reaches the guests through it: no link changes its track', async () => {
    await session.goLive('Show');
    await seatAndCall('guest-a', 1);
    await session.switchDevice('audio', 'mic-b');
    expect(h.audioSets).toEqual([]);
    expect(h.links.get('guest-a')!.audio).toEqual({ id: 'mix-for-guest-a' });
    await session.end();
  });

  it('a guest called anew is sent the same track of the mix', async () => {
    await session.goLive('Show');
    await seatAndCall('guest-a', 1);
    const firstLink = h.links.get('guest-a');
    const first = firstLink!.audio;
    h.handlers.get('guest-a')!({ kind: 'hello', from: 'guest-a', to: 'host', call: 'call-again' });
    await vi.waitFor(() => expect(h.links.get('guest-a')).not.toBe(firstLink));
    expect(h.links.get('guest-a')!.audio).not.toBeUndefined();
    await vi.waitFor(() => expect(h.linkCaps.get('guest-a')).toBeDefined());
    expect(h.links.get('guest-a')!.audio).toEqual(first);
    expect(h.mixes).toHaveLength(1);
    await session.end();
  });
});
