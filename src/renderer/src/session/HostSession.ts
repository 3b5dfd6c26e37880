/**
 * Everything the host does once live: the program (Broadcaster), the call with
 * guests (one PeerLink per seated guest, signaling over Realtime), and live
 * seat and invitation updates from the database.
 */
import type { NativeBridge } from '../../../shared/bridge';
import { isSeatUpdate, type GuestSeatRow, type StreamRow } from '../../../shared/domain';
import { Broadcaster, parseCompositorMode, type Participant } from '../media/Broadcaster';
import { MixMinus, type Voice } from '../media/MixMinus';
import type { CompositorMode } from '../media/programWorker';
import { AppError } from '../../../shared/errors';
import { OUTPUT_FORMATS, outputFormat, type OutputFormat } from '../../../shared/outputFormats';
import { LinkRecovery } from '../rtc/linkRecovery';
import { QualityMonitor } from '../rtc/linkQuality';
import { PeerLink, type SignalSender } from '../rtc/PeerLink';
import { SignalingChannel } from '../rtc/signaling';
import type { SignalMessage } from '../../../shared/signaling';
import { createCallSession, endCallAccess, endCallSession, endFormerGuestsAccess, generateCallToken } from '../services/cloudflareCallsService';
import { endLive, getStream, prepareEndOnUnload, startLive, subscribeStream, type UnloadEnder } from '../services/liveService';
import {
  getProfiles,
  listActiveSeats,
  listEvents,
  listStreamInvitations,
  subscribeEvents,
  subscribeSeats,
  subscribeStreamInvitations,
} from '../services/streamGuestService';
import type { ProgramLayoutKind } from '../../../shared/layout';
import { PROGRAM_RETURN, cutReturnCap, guestUplinkFor, programReturnFor, type SendCap } from '../../../shared/mediaLimits';
import { ReturnCut } from '../rtc/returnCut';
import { ReturnPace } from '../rtc/returnPace';
import { activeSeats, EVENTS_KEPT, useStore } from '../store';
import { isSeated } from './seatCheck';
import { HOST_CAMERA, hostDeviceMessage, openDevice, rememberDevice, rememberedDevice, stopStream, trackDeviceId, type MediaKind } from '../media/capture';

/** Source id of the host's shared screen in the program. */
export const SCREEN_ID = 'screen';

/**
 * A hello on a call already answered, this long after the offer went out,
 * means the offer was lost: it is sent again (guests say hello every 2 s, and
 * a busy signaling server can take a few seconds to deliver).
 */
const OFFER_RESEND_MS = 6000;
/** How long a hello waits to learn that its guest is seated before it goes unanswered (the guest's next hello checks again). */
const SEAT_CHECK_MS = 10_000;
/** ICE restarts the host makes on a failed link before it calls the guest anew on a fresh link (see onLinkFailed). */
const HOST_ICE_RESTARTS = 2;
/** Pauses between the host's new calls to a guest whose links keep failing: 5 s, doubling up to a minute. */
const REDIAL_BASE_MS = 5000;
const REDIAL_MAX_MS = 60_000;
/** A restarted or fresh link not connected after this long is called anew (starved pages took up to 40 s to connect). */
const RECOVERY_CONNECT_MS = 45_000;
/** How often each guest's connection is graded for their tile (one getStats per link). */
const QUALITY_INTERVAL_MS = 4000;
/** A guest's signaling channel that cannot be joined is tried again after 2, 4, 8… s, up to 30 s, while they are seated. */
/** After a pending invitation's countdown ran out here: how long before the database is asked, and how many times at most. */
export const EXPIRY_CHECK_MS = 1500;
export const EXPIRY_CHECKS = 3;
const CHANNEL_RETRY_BASE_MS = 2000;
const CHANNEL_RETRY_MAX_MS = 30_000;

export class HostSession {
  private broadcaster: Broadcaster;
  /** The files this broadcast's recording went to so far, in order (a reconnect goes on in a new part). */
  private recordingFiles: string[] = [];
  /** Where the program is composited (`?compositor=`), kept for a program rebuilt in another output format. */
  private readonly compositorMode: CompositorMode;
  private readonly auditFrames: boolean;
  private format: OutputFormat;
  /** The stream the call is open for, while it is. */
  private callStreamId: string | null = null;
  /** Invitations whose countdown ran out, being confirmed with the database (invitationRanOut). */
  private readonly expiring = new Set<string>();
  /** One signaling channel per seated guest (only the host and that guest can speak on it). */
  private readonly channels = new Map<string, SignalingChannel>();
  /** Guests whose channel is being joined. */
  private readonly joining = new Set<string>();
  private readonly links = new Map<string, PeerLink>();
  private readonly guestStreams = new Map<string, MediaStream>();
  private readonly cleanups: Array<() => void> = [];
  /** What one broadcast's call set up (signaling listener, subscriptions): undone when it ends or fails to start. */
  private callCleanups: Array<() => void> = [];
  private iceServers: RTCIceServer[] = [];
  private callSessionId: string | null = null;
  private programTrack: MediaStreamTrack | null = null;
  private readonly seatedNow = (guestId: string) => activeSeats(useStore.getState().seats).some((s) => s.user_id === guestId);
  /** Each guest's connection graded for their tile (good, fair, poor). */
  private readonly quality = new QualityMonitor({
    links: () => this.links.entries(),
    publish: (guestId, quality) => useStore.getState().setQuality(guestId, quality),
    log: (message) => this.log(message),
  });
  private readonly recovery = new LinkRecovery({
    iceRestarts: HOST_ICE_RESTARTS,
    baseDelayMs: REDIAL_BASE_MS,
    maxDelayMs: REDIAL_MAX_MS,
    connectTimeoutMs: RECOVERY_CONNECT_MS,
    current: (guestId) => this.links.get(guestId),
    seated: this.seatedNow,
    redial: (guestId) => this.connectGuest(guestId),
    log: (m) => this.log(m),
  });

  constructor(
    private readonly programContainer: HTMLElement,
    private readonly bridge: NativeBridge,
    private readonly userId: string,
    private readonly displayName: string,
    private camera: MediaStream,
    private readonly log: (message: string) => void = console.info,
  ) {
    // `?compositor=gpu|cpu|auto` picks where the program is composited (auto: the CPU where WebGL is software).
    const params = new URLSearchParams(globalThis.location?.search ?? '');
    let mode: CompositorMode = 'auto';
    try {
      mode = parseCompositorMode(params.get('compositor'));
    } catch (err) {
      this.log(`${(err as Error).message}; using auto`);
      useStore.getState().setBroadcast({ error: (err as Error).message });
    }
    this.compositorMode = mode;
    // `?auditFrames=1` (tests, diagnostics): the program worker counts the camera frames it received and closed.
    this.auditFrames = params.get('auditFrames') === '1';
    // `?returnPace=off` (benchmarks, diagnostics): the returns keep every frame however short of pictures the broadcast is.
    this.pacing = params.get('returnPace') !== 'off';
    this.format = OUTPUT_FORMATS[useStore.getState().outputFormat];
    this.broadcaster = this.makeBroadcaster();
    this.updateProgram();
    for (const track of camera.getTracks()) this.watchDevice(track);
    const meters = setInterval(() => {
      useStore.getState().setMeters({
        levels: this.broadcaster.audioLevels(),
        renderMs: this.broadcaster.lastRenderMs,
        pipeline: {
          framesSent: this.broadcaster.framesSent,
          framesSkipped: this.broadcaster.framesSkipped,
          readbacksSkipped: this.broadcaster.readbacksSkipped,
          bridgeDropped: this.bridgeDropped(),
          bridgeDroppedThisShow: this.bridgeDropped() - this.bridgeDroppedAtLive,
          compositor: this.broadcaster.compositor?.mode ?? null,
          glRenderer: this.broadcaster.compositor?.renderer ?? null,
          workerBusyMs: this.broadcaster.busyMs as Record<string, number> | null,
          outputSlots: this.broadcaster.outputSlots,
          framesLagged: this.broadcaster.framesLagged,
          frameAudit: this.broadcaster.frameAudit,
        },
      });
    }, 150);
    this.cleanups.push(() => clearInterval(meters));
    const grading = setInterval(() => {
      this.pacePrograms();
      void this.quality.tick();
      for (const guestId of this.returnCut.due()) this.returnRestored(guestId);
      // A page still behind gets a keyframe each tick: it can drop the frames queued before it.
      for (const guestId of this.returnCut.behind()) void this.links.get(guestId)?.refreshVideo();
    }, QUALITY_INTERVAL_MS);
    this.cleanups.push(() => clearInterval(grading));
    // The program follows the store: seats (mic, camera, volume), names, layout, the host's own switches.
    this.cleanups.push(
      useStore.subscribe((state, prev) => {
        // The host's own switches first: the program reads the camera (a copy of its track keeps its enabled flag).
        if (state.hostMicOn !== prev.hostMicOn) for (const t of this.camera.getAudioTracks()) t.enabled = state.hostMicOn;
        if (state.hostCameraOn !== prev.hostCameraOn) for (const t of this.camera.getVideoTracks()) t.enabled = state.hostCameraOn;
        if (state.seats !== prev.seats || state.names !== prev.names || state.hostMicOn !== prev.hostMicOn || state.hostCameraOn !== prev.hostCameraOn) {
          this.updateProgram();
        }
        if (state.seats !== prev.seats) this.syncChannels();
        if (state.layout !== prev.layout || state.focusId !== prev.focusId) this.broadcaster.setLayout(state.layout, state.focusId);
      }),
    );
  }

  /** The host's own microphone and camera. Muting the mic also mutes the voice guests hear. */
  setOwnMic(on: boolean): void {
    useStore.getState().setProgram({ hostMicOn: on });
  }

  setOwnCamera(on: boolean): void {
    useStore.getState().setProgram({ hostCameraOn: on });
  }

  /**
   * A camera or microphone that stops by itself (unplugged, taken by another
   * application) is said so in the studio, and the host's tile shows the
   * avatar instead of the camera's last picture.
   */
  private watchDevice(track: MediaStreamTrack): void {
    track.addEventListener('ended', () => {
      const kind = track.kind as MediaKind;
      const current = kind === 'video' ? this.camera.getVideoTracks() : this.camera.getAudioTracks();
      if (this.disposed || !current.includes(track)) return;
      this.log(`host ${kind === 'video' ? 'camera' : 'microphone'} stopped: ${track.label}`);
      this.setDeviceProblem(kind, hostDeviceMessage(kind, 'ended'));
      this.updateProgram();
    });
  }

  private setDeviceProblem(kind: MediaKind, message: string | null): void {
    const { hostDeviceProblems } = useStore.getState();
    if ((hostDeviceProblems[kind] ?? null) === message) return;
    const next = { ...hostDeviceProblems };
    if (message) next[kind] = message;
    else delete next[kind];
    useStore.getState().setProgram({ hostDeviceProblems: next });
  }

  /** The camera and microphone the host's own tile and voice come from now (device ids, when the browser says). */
  devices(): { cameraId: string | null; microphoneId: string | null } {
    // A device that stopped is not the one in use: the picker offers it again.
    const live = (tracks: MediaStreamTrack[]) => tracks.find((t) => t.readyState === 'live');
    return { cameraId: trackDeviceId(live(this.camera.getVideoTracks())), microphoneId: trackDeviceId(live(this.camera.getAudioTracks())) };
  }

  /**
   * Opens a camera or microphone again after it was missing or stopped (the
   * studio's "Try again"): the one chosen last on this computer if it opens,
   * else the default one. Says why when neither does.
   */
  reopenDevice(kind: MediaKind): Promise<void> {
    return this.queued(async () => {
      if (this.disposed) return;
      const remembered = rememberedDevice('host', kind);
      const track = remembered
        ? await openDevice(kind, remembered, HOST_CAMERA).catch(() => openDevice(kind, null, HOST_CAMERA))
        : await openDevice(kind, null, HOST_CAMERA);
      this.takeDevice(kind, track, remembered);
    });
  }

  /** Switches run one after another: two quick choices must not leave a device open. */
  private deviceOps: Promise<void> = Promise.resolve();

  /**
   * Switches the host's camera or microphone, live or not: the program's
   * tile and mix follow, and the guests hear the new microphone. The new
   * device opens before the old one closes, so a device that cannot open
   * changes nothing (and says why). Remembered for the next studio.
   */
  switchDevice(kind: MediaKind, deviceId: string): Promise<void> {
    return this.queued(() => this.switchDeviceNow(kind, deviceId));
  }

  /** Runs a device change after the ones before it. */
  private queued(work: () => Promise<void>): Promise<void> {
    const op = this.deviceOps.then(work);
    this.deviceOps = op.catch(() => undefined);
    return op;
  }

  private async switchDeviceNow(kind: MediaKind, deviceId: string): Promise<void> {
    if (this.disposed) return;
    const old = (kind === 'video' ? this.camera.getVideoTracks() : this.camera.getAudioTracks())[0] ?? null;
    if (old && old.readyState === 'live' && trackDeviceId(old) === deviceId) return;
    const track = await openDevice(kind, deviceId, HOST_CAMERA);
    this.takeDevice(kind, track, deviceId);
  }

  /** The host's tile, voice and the guests' mix take a newly opened device; the one before is let go. */
  private takeDevice(kind: MediaKind, track: MediaStreamTrack, deviceId: string | null): void {
    if (this.disposed) {
      track.stop();
      return;
    }
    const old = (kind === 'video' ? this.camera.getVideoTracks() : this.camera.getAudioTracks())[0] ?? null;
    const { hostMicOn, hostCameraOn } = useStore.getState();
    track.enabled = kind === 'video' ? hostCameraOn : hostMicOn;
    this.camera = new MediaStream([...this.camera.getTracks().filter((t) => t.kind !== track.kind), track]);
    rememberDevice('host', kind, trackDeviceId(track) ?? deviceId);
    this.watchDevice(track);
    this.setDeviceProblem(kind, null);
    // The program and the guests' mix (their tracks stay the same) both take the new device.
    this.updateProgram();
    if (kind === 'audio' && !this.voices) {
      // Without a mix the guests hear the microphone itself, so each link sends the new one.
      for (const [guestId, link] of this.links) {
        void link.setTrack('audio', track).catch((e: Error) => this.log(`microphone to ${guestId}: ${e.message}`));
      }
    }
    old?.stop();
    this.log(`host ${kind === 'video' ? 'camera' : 'microphone'}: ${track.label || deviceId}`);
  }

  /** The screen being shared, shown as a source of the program (spotlighted when it starts). */
  private screen: MediaStream | null = null;

  /** The screen picker is open: a second press waits for it instead of opening another. */
  private screenPicking: Promise<void> | null = null;
  private disposed = false;

  startScreenShare(): Promise<void> {
    if (this.screen) return Promise.resolve();
    this.screenPicking ??= this.pickScreen().finally(() => (this.screenPicking = null));
    return this.screenPicking;
  }

  private async pickScreen(): Promise<void> {
    let screen: MediaStream;
    try {
      screen = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 30 }, audio: false });
    } catch (err) {
      const name = (err as DOMException).name;
      throw new Error(name === 'NotAllowedError' ? 'Screen sharing was cancelled or not allowed.' : `Screen sharing failed: ${(err as Error).message}`);
    }
    if (this.disposed) {
      // The studio closed while the picker was open: nothing may keep capturing the screen.
      for (const t of screen.getTracks()) t.stop();
      return;
    }
    this.screen = screen;
    screen.getVideoTracks()[0]?.addEventListener('ended', () => this.stopScreenShare());
    useStore.getState().setProgram({ sharingScreen: true, layout: 'spotlight', focusId: SCREEN_ID });
    this.updateProgram();
  }

  stopScreenShare(): void {
    if (!this.screen) return;
    for (const t of this.screen.getTracks()) t.stop();
    this.screen = null;
    const { layout, focusId } = useStore.getState();
    useStore.getState().setProgram({ sharingScreen: false, ...(focusId === SCREEN_ID ? { layout: layout === 'spotlight' ? 'grid' : layout, focusId: null } : {}) });
    this.updateProgram();
  }

  /**
   * Chooses the program layout. The grid has no focus; the one it had (the
   * shared screen, a spotlighted guest) comes back when a layout with a focus
   * is chosen again without one, while it is still there to show.
   */
  setLayout(layout: ProgramLayoutKind, focusId: string | null = null): void {
    const current = useStore.getState().focusId;
    if (layout === 'grid') {
      if (current !== null) this.focusBeforeGrid = current;
      useStore.getState().setProgram({ layout, focusId: null });
      return;
    }
    const earlier = this.focusBeforeGrid;
    const focus = focusId ?? current ?? (earlier !== null && this.onProgram(earlier) ? earlier : null);
    useStore.getState().setProgram({ layout, focusId: focus });
  }

  /** The focus the program had before the grid was chosen. */
  private focusBeforeGrid: string | null = null;

  /** Whether a source can be shown: the shared screen while it is shared, a guest while seated. */
  private onProgram(id: string): boolean {
    if (id === SCREEN_ID) return this.screen !== null;
    return useStore.getState().seats.some((s) => s.user_id === id && s.left_at === null);
  }

  get stats() {
    return { framesSent: this.broadcaster.framesSent, framesSkipped: this.broadcaster.framesSkipped, renderMs: this.broadcaster.lastRenderMs };
  }

  /**
   * Goes live; `record` keeps a copy of the program on this computer too (MKV
   * or MP4). A start that fails part way is undone: the call closes, the
   * encoder stops and the stream is ended, so nothing keeps publishing or
   * stays live, and Go live can be pressed again.
   */
  goLive(title: string, record: 'mkv' | 'mp4' | null = null): Promise<void> {
    return this.underWay(this.goLiveNow(title, record));
  }

  /** Go live and End live under way (closing the studio waits for them). */
  private readonly operations = new Set<Promise<unknown>>();

  private underWay<T>(op: Promise<T>): Promise<T> {
    this.operations.add(op);
    const done = () => this.operations.delete(op);
    op.then(done, done);
    return op;
  }

  /** Video frames the bridge dropped, backed up, since it opened (the browser studio's bridge counts them). */
  private bridgeDropped(): number {
    return (this.bridge as { dropped?: { video: number } }).dropped?.video ?? 0;
  }

  private bridgeDroppedAtLive = 0;

  private async goLiveNow(title: string, record: 'mkv' | 'mp4' | null): Promise<void> {
    const store = useStore.getState();
    if (store.phase === 'starting' || store.phase === 'live' || store.phase === 'ending') {
      throw new Error(`cannot go live while the broadcast is ${store.phase}`);
    }
    // Nothing of the last broadcast is shown as this one's: its health, encoder and links.
    this.recordingFiles = [];
    store.setBroadcast({ phase: 'starting', error: null, recordingPath: null, programProblem: null, stats: null, encoder: null, playbackUrl: null, publishTarget: null });
    // The seats, invitations and links shown are this broadcast's.
    useStore.setState({ seats: [], invitations: [], events: [], links: {}, quality: {} });
    this.bridgeDroppedAtLive = this.bridgeDropped();
    let streamId: string | null = null;
    let resumed = false;
    try {
      const live = await startLive(title);
      streamId = live.stream.id;
      resumed = live.resumed === true;
      this.prepareUnloadEnd(streamId);
      store.setBroadcast({ stream: live.stream, publishTarget: live.ingest.publishUrl, playbackUrl: live.playbackUrl });
      const started = await this.broadcaster.goLive(
        {
          publishUrl: live.ingest.publishUrl,
          width: this.format.width,
          height: this.format.height,
          fps: this.format.fps,
          videoBitrateKbps: this.format.videoBitrateKbps,
          record,
        },
        // Where the renderer encodes, the pictures it sent again are the output's repeats (frames lagged by rendering are counted where the program's clock runs).
        // Where the renderer encodes, the note says why it was chosen (the session only knows that it muxes).
        (stats) => {
          const choice = this.broadcaster.encoderChoice;
          const encoderNote = choice?.video === 'h264' ? `${choice.note} (ffmpeg's CPU is the muxing alone)` : stats.encoderNote;
          // The renderer's repeats reach the session as units like any other, counted in framesWritten: moved to the
          // repeats, not counted twice (the output is the new pictures and the repeats).
          const repeats = this.broadcaster.framesRepeatedThisEncoder;
          if (stats.recordingFiles) this.showRecordingFiles(stats.recordingFiles);
          useStore.getState().setBroadcast({
            stats: { ...stats, encoderNote, framesWritten: Math.max(0, stats.framesWritten - repeats), framesRepeated: stats.framesRepeated + repeats },
          });
        },
      );
      store.setBroadcast({ encoder: started.encoder });
      if (started.recordingPath) this.showRecordingFiles([started.recordingPath]);
      await this.openCall(live.stream.id, resumed);
      // Ended elsewhere (another studio's End live) while this start was under way: nothing here may show LIVE.
      if (useStore.getState().stream?.status === 'ended') {
        throw new Error('The stream was ended elsewhere (another studio, or its End it) while going live.');
      }
      store.setBroadcast({ phase: 'live' });
    } catch (err) {
      const message = (err as Error).message;
      this.log(`go live failed: ${message}; undoing the start`);
      const left = await this.takeDown(streamId);
      // A stream that was live before this Go live may be another studio's show: it is not this failure's to end.
      const kept = resumed ? ['the stream was already live before (in another studio, or one that closed without ending it), so it stays live: press End live to end it'] : [];
      const ended = !streamId || resumed
        ? null
        : await endLive(streamId).then(
            (row) => {
              store.setBroadcast({ stream: row });
              return null;
            },
            (e: Error) => e.message,
          );
      // Not ended: the page going away still ends it, and so does closing the studio.
      if (ended && streamId) this.unended = streamId;
      else this.ended();
      const notes = [...left, ...kept, ...(ended ? [`the stream could not be ended (${ended}); press End live`] : [])];
      // The first line is the headline (details follow on the next lines): what was undone goes with it.
      const [headline, ...details] = message.split('\n');
      const shown = notes.length > 0 ? `${headline} (and ${notes.join('; ')})` : headline;
      store.setBroadcast({ phase: 'error', error: [shown, ...details].join('\n') });
      throw err;
    }
  }

  /**
   * Stops everything one broadcast started, in the reverse order: no new call,
   * the links and the signaling channel closed, the subscriptions dropped, the
   * program's return track stopped, the encoder stopped and the call session
   * ended. Returns what did not go cleanly (already logged); never throws.
   */
  private async takeDown(streamId: string | null): Promise<string[]> {
    const problems: string[] = [];
    this.stopped = true;
    // Ready for the next broadcast in this studio (dispose() would end recovery for good).
    this.recovery.reset();
    // Guests hear the call end (bye) before the channels close.
    for (const link of this.links.values()) link.close();
    for (const guestId of [...this.links.keys()]) this.dropGuest(guestId);
    void this.voices?.dispose();
    this.voices = null;
    // The next broadcast starts with every frame for the returns.
    this.pace.reset();
    this.paceMark = null;
    for (const c of this.callCleanups.splice(0).reverse()) c();
    this.callStreamId = null;
    this.callOnJoin.clear();
    this.calledFirst.clear();
    this.takeDowns += 1;
    const channels = [...this.channels.values()];
    this.channels.clear();
    await Promise.all(channels.map((c) => c.close().catch((e: Error) => this.log(`signaling close: ${e.message}`))));
    this.programTrack?.stop();
    this.programTrack = null;
    await this.broadcaster.stop().catch((e: Error) => {
      this.log(`encoder stop: ${e.message}`);
      problems.push(`the encoder did not stop cleanly: ${e.message}`);
    });
    const callSessionId = this.callSessionId;
    this.callSessionId = null;
    if (callSessionId) await endCallSession(callSessionId).catch((e: Error) => this.log(`end call session: ${e.message}`));
    if (streamId) this.log(`broadcast of stream ${streamId} taken down`);
    return problems;
  }

  private async openCall(streamId: string, resumed = false): Promise<void> {
    // Live again after an end in the same studio: calls start again.
    this.stopped = false;
    const call = await createCallSession(streamId);
    this.callSessionId = call.sessionId;
    const token = await generateCallToken(streamId, call.sessionId);
    this.iceServers = token.iceServers;
    // A show resumed: guests removed (by a moderator) or gone while no studio was here still hold the
    // TURN credentials they were given, which last a day. Nobody asked to end them: this studio does.
    if (resumed && this.iceServers.some((server) => server.username)) {
      void endFormerGuestsAccess(call.sessionId).catch((e: Error) => this.log(`end former guests' call access: ${e.message}`));
    }
    this.programTrack = await this.broadcaster.captureProgram();
    this.callStreamId = streamId;
    const rejoined = () => void this.relist(streamId, 'live updates came back after a drop');
    this.callCleanups.push(await subscribeSeats(streamId, (seat) => this.onSeat(seat), rejoined));
    this.callCleanups.push(
      await subscribeStreamInvitations(
        streamId,
        (inv) => {
          const store = useStore.getState();
          store.upsertInvitation(inv);
          // The invitation's line names the guest invited, not an id.
          if (!(inv.invitee_id in store.names)) void this.loadNames([inv.invitee_id]);
        },
        rejoined,
      ),
    );
    this.callCleanups.push(await subscribeEvents(streamId, (event) => useStore.getState().addEvents([event]), rejoined));
    this.callCleanups.push(await subscribeStream(streamId, (stream) => this.onStreamRow(streamId, stream), rejoined));
    await this.relist(streamId);
    // A stream resumed (this studio reloaded or crashed mid-show): its seated guests called a host that was gone, and
    // may have stopped calling. The host calls each of them as soon as their channel is open.
    if (resumed && this.callStreamId === streamId) {
      for (const seat of useStore.getState().seats) if (seat.left_at === null) this.callOnJoin.add(seat.user_id);
      for (const guestId of [...this.callOnJoin]) if (this.channels.has(guestId)) this.callSeatedGuest(guestId);
    }
  }

  /** Seated guests of a resumed stream the host calls once their channel is open (openCall). */
  private readonly callOnJoin = new Set<string>();
  /** Guests the host called by itself whose hello has not come yet: their first hello is taken as that call. */
  private readonly calledFirst = new Set<string>();

  private callSeatedGuest(guestId: string): void {
    if (!this.callOnJoin.delete(guestId) || this.links.has(guestId)) return;
    this.log(`calling ${guestId}: seated before this studio resumed the stream`);
    this.calledFirst.add(guestId);
    void this.connectGuest(guestId).catch((err: Error) => this.log(`calling ${guestId}: ${err.message}`));
  }

  /**
   * The stream's row changed. Ended while this studio is live (End live in another studio, or "End it" in a
   * studio opened again): the broadcast here is taken down too, and the studio says why, instead of
   * publishing to a stream that is over while showing LIVE.
   */
  private onStreamRow(streamId: string, stream: StreamRow): void {
    const store = useStore.getState();
    store.setBroadcast({ stream });
    if (stream.status !== 'ended' || this.callStreamId !== streamId || store.phase !== 'live') return;
    this.log(`stream ${streamId} was ended elsewhere; taking the broadcast down`);
    void this.end()
      .then(() => {
        const now = useStore.getState();
        if (now.phase === 'ended' && now.stream?.id === streamId) {
          now.setBroadcast({ error: ['This stream was ended elsewhere (another studio, or its End it), so the broadcast here stopped.', now.error].filter(Boolean).join(' ') });
        }
      })
      .catch((err: Error) => this.log(`taking down a stream ended elsewhere: ${err.message}`));
  }

  /** The read under way, and whether a channel came back while it ran (that read may predate it: one more follows). */
  private relisting: { streamId: string; read: Promise<void>; again: boolean } | null = null;

  /**
   * A pending invitation's countdown ran out in the studio. The database
   * marks an invitation expired, and logs it for the activity feed, when it
   * is next asked about the stream's invitations: they are read, which does
   * that, EXPIRY_CHECK_MS later (the database's clock may be a moment behind
   * this one), and again while the row is still pending, at most
   * EXPIRY_CHECKS times. Otherwise "didn't answer in time" would wait for the
   * next invite, accept or end, stamped with that later time.
   */
  async invitationRanOut(invitationId: string): Promise<void> {
    const streamId = this.callStreamId;
    if (!streamId || this.expiring.has(invitationId)) return;
    this.expiring.add(invitationId);
    try {
      for (let check = 0; check < EXPIRY_CHECKS; check++) {
        await new Promise((resolve) => setTimeout(resolve, EXPIRY_CHECK_MS));
        if (this.callStreamId !== streamId) return;
        const rows = await listStreamInvitations(streamId);
        if (this.callStreamId !== streamId) return;
        for (const inv of [...rows].reverse()) useStore.getState().upsertInvitation(inv);
        if (rows.find((r) => r.id === invitationId)?.status !== 'pending') return;
      }
      this.log(`invitation ${invitationId} ran out here but is still open in the database after ${EXPIRY_CHECKS} checks`);
    } catch (err) {
      this.log(`invitation ${invitationId} ran out; reading the invitations failed: ${(err as Error).message}`);
    } finally {
      this.expiring.delete(invitationId);
    }
  }

  /**
   * Reads the seats, invitations, events and stream row again: after the
   * subscriptions started (anything changed before is picked up) and whenever
   * one came back after a drop (changes meanwhile were not delivered). A seat
   * held as taken that the list no longer has was left meanwhile.
   */
  private async relist(streamId: string, why?: string): Promise<void> {
    // A read under way serves only its own stream: one for the last broadcast's stream (hung, after End live and Go live) does not.
    if (this.relisting?.streamId === streamId) {
      // A channel back while a read runs (after a drop they come back one by one): that read may have been made
      // before this channel was back, and a change in between would be neither delivered nor read. One more read follows.
      if (why) this.relisting.again = true;
      return this.relisting.read;
    }
    if (why) this.log(`reading the stream's seats and invitations again: ${why}`);
    const heldBefore = new Set(activeSeats(useStore.getState().seats).map((seat) => seat.id));
    const read = (async () => {
      const [seats, invitations, events, stream] = await Promise.all([
        listActiveSeats(streamId),
        listStreamInvitations(streamId),
        // As many as the studio keeps: after a long drop in a busy show, no gap is left between the events shown.
        listEvents(streamId, { limit: EVENTS_KEPT }),
        getStream(streamId),
      ]);
      if (this.callStreamId !== streamId) return;
      const store = useStore.getState();
      const taken = new Set(seats.map((s) => s.id));
      // Only a seat held before the read began can have been left unseen: one that came in while it ran is newer than the list.
      for (const held of activeSeats(store.seats)) {
        if (heldBefore.has(held.id) && !taken.has(held.id)) this.onSeat({ ...held, left_at: new Date().toISOString(), version: (held.version ?? 0) + 1 });
      }
      for (const seat of seats) store.upsertSeat(seat);
      this.syncChannels();
      for (const inv of invitations.reverse()) store.upsertInvitation(inv);
      store.addEvents(events);
      if (stream) this.onStreamRow(streamId, stream);
      void this.loadNames([...seats.map((s) => s.user_id), ...invitations.map((i) => i.invitee_id)]);
    })();
    const relisting = { streamId, read, again: false };
    this.relisting = relisting;
    try {
      await read;
    } catch (err) {
      if (!why) throw err;
      this.log(`could not read the stream's rows again: ${(err as Error).message}`);
    } finally {
      if (this.relisting === relisting) this.relisting = null;
      if (relisting.again && this.callStreamId === streamId) void this.relist(streamId, 'a channel came back while the last read ran');
    }
  }

  /** The result of the host's own action on a seat (mute, remove…): shown now, not only when Realtime delivers it. */
  applySeat(seat: GuestSeatRow): void {
    if (seat.stream_id === this.callStreamId) this.onSeat(seat);
  }

  /** What a guest sent on their channel (its `from` is theirs: no one else can send there). */
  private onSignal(guestId: string, msg: SignalMessage): void {
    if (msg.kind === 'hello') this.onHello(guestId, msg.call);
    else if (msg.kind === 'bye') {
      this.dropGuest(guestId);
      // Their page closed (or left the call) and keeps the seat: the tile says so, rather than "connecting" for a call nobody makes.
      if (this.seatedNow(guestId)) useStore.getState().setLink(guestId, 'away');
    }
    else if (msg.kind === 'uplink') return;
    else if (msg.kind === 'view') this.onViewReport(guestId, msg.behindMs);
    else void this.links.get(guestId)?.handle(msg).catch((e: Error) => this.log(`signaling: ${e.message}`));
  }

  /** A channel for each seated guest while the call is open; a guest who left loses theirs. */
  private syncChannels(): void {
    if (this.stopped || !this.callStreamId) return;
    const seated = new Set(activeSeats(useStore.getState().seats).map((s) => s.user_id));
    for (const guestId of seated) if (!this.channels.has(guestId) && !this.joining.has(guestId)) void this.openChannel(this.callStreamId, guestId);
    for (const [guestId, channel] of this.channels) {
      if (seated.has(guestId)) continue;
      this.channels.delete(guestId);
      void channel.close().catch((e: Error) => this.log(`signaling close: ${e.message}`));
    }
  }

  /** Joins the channel with one guest, trying again with growing pauses while they are seated and the call is open. */
  private async openChannel(streamId: string, guestId: string): Promise<void> {
    this.joining.add(guestId);
    const wanted = () => !this.stopped && this.callStreamId === streamId && this.seatedNow(guestId);
    try {
      for (let attempt = 0; wanted(); attempt++) {
        try {
          const channel = await SignalingChannel.join({ streamId, guestId, selfId: this.userId, peerId: guestId }, this.log);
          if (!wanted()) {
            void channel.close();
            return;
          }
          channel.onMessage((msg) => this.onSignal(guestId, msg));
          // Closed by the server (a token that expired while the page was hidden): joined anew while the guest is seated.
          channel.onDead(() => {
            if (this.channels.get(guestId) !== channel) return;
            this.log(`signaling with ${guestId}: the server closed the channel; joining it again`);
            this.channels.delete(guestId);
            void channel.close();
            this.syncChannels();
          });
          this.channels.set(guestId, channel);
          this.callSeatedGuest(guestId);
          return;
        } catch (err) {
          const waitMs = Math.min(CHANNEL_RETRY_MAX_MS, CHANNEL_RETRY_BASE_MS * 2 ** attempt);
          this.log(`signaling with ${guestId}: ${(err as Error).message}; trying again in ${waitMs / 1000} s`);
          await new Promise((resolve) => setTimeout(resolve, waitMs));
        }
      }
    } finally {
      this.joining.delete(guestId);
      // Given up for an old call (End live, then Go live again while it waited to retry): the new call's channel
      // with this guest, held back meanwhile, is opened now.
      if (this.callStreamId !== null && this.callStreamId !== streamId) this.syncChannels();
    }
  }

  private onSeat(seat: GuestSeatRow): void {
    // A guest taken off (removed, or gone) is told first, while their signaling channel is still open: their page
    // leaves the call at once instead of waiting for the link to fail or for its own copy of the seat row.
    const closed = seat.left_at !== null && isSeatUpdate(useStore.getState().seats.find((s) => s.id === seat.id), seat);
    if (closed) {
      this.dropGuest(seat.user_id, { sayBye: true });
      this.endRelayAccess(seat.user_id);
    }
    useStore.getState().upsertSeat(seat);
    void this.loadNames([seat.user_id]);
  }

  /**
   * A guest off the stage (removed, or gone) no longer needs the TURN credentials their call
   * token came with, which last a day: the backend revokes them. Only where the call has TURN
   * servers with credentials (the host's own token says so); a failure is logged.
   */
  private endRelayAccess(guestId: string): void {
    const sessionId = this.callSessionId;
    if (!sessionId || !this.iceServers.some((server) => server.username)) return;
    void endCallAccess(sessionId, guestId).catch((e: Error) => this.log(`end call access of ${guestId}: ${e.message}`));
  }

  private async loadNames(ids: string[]): Promise<void> {
    const profiles = await getProfiles(ids).catch(() => []);
    useStore.getState().setNames(Object.fromEntries(profiles.map((p) => [p.id, p.display_name ?? p.username ?? 'Guest'])));
  }

  /** The call (the hello's id) each guest's link answers. */
  private readonly calls = new Map<string, string | undefined>();
  /** When each guest's link was started or its offer last sent again (ms). */
  private readonly offeredAt = new Map<string, number>();
  /** Per guest, the call whose repeated hellos found no offer to send yet (logged once a call; one entry a guest). */
  private readonly slowOffers = new Map<string, string>();

  /**
   * A guest says hello until an offer reaches it, so a busy host gets several
   * hellos of one call, some only after the call connected. Each used to start
   * the call over (a new link, closing the one in progress or connected): under
   * load the backlog of hellos kept tearing calls down and no call finished.
   * A call is answered once, and again only when its link failed. A guest whose
   * answered call does not connect calls anew (a new call id).
   */
  private onHello(guestId: string, call: string | undefined): void {
    if (this.calledFirst.delete(guestId) && !this.calls.has(guestId)) {
      const state = this.links.get(guestId)?.pc.connectionState;
      if (state !== undefined && state !== 'failed' && state !== 'closed') {
        // The guest was still calling a studio that was gone: our own call to them is on its way, and is theirs.
        this.calls.set(guestId, call);
        this.log(`hello from ${guestId}${call ? ` (call ${call})` : ''}: our call to them is on its way, taken as theirs`);
        return;
      }
    }
    if (call !== undefined && this.calls.get(guestId) === call) {
      const link = this.links.get(guestId);
      const state = link?.pc.connectionState;
      if (state !== 'failed' && state !== 'closed') {
        // A guest says hello only until an offer reaches it: still saying it well after ours went out, it did not get it.
        const sentAt = this.offeredAt.get(guestId) ?? 0;
        if (link && Date.now() - sentAt >= OFFER_RESEND_MS) {
          if (link.resendOffer()) {
            this.offeredAt.set(guestId, Date.now());
            this.log(`hello from ${guestId} again on call ${call}: our offer has not reached them; sending it again`);
          } else if (this.slowOffers.get(guestId) !== call) {
            // Said once per call: the offer is still being made (a starved page can take many seconds).
            this.slowOffers.set(guestId, call);
            this.log(`hello from ${guestId} again on call ${call}: no offer to send yet (link ${state ?? 'not made'}, signaling ${link.pc.signalingState})`);
          }
        } else if (!link && this.slowOffers.get(guestId) !== call) {
          this.slowOffers.set(guestId, call);
          this.log(`hello from ${guestId} again on call ${call}: still checking their seat`);
        }
        return;
      }
      this.log(`hello from ${guestId} again on call ${call} (link ${state}): answering it anew`);
    } else {
      this.log(`hello from ${guestId}${call ? ` (call ${call})` : ''}: answering`);
    }
    this.calls.set(guestId, call);
    // A reloaded page says nothing until it falls behind: a cut stands only until its hold is over, unless the page says it is still behind.
    if (this.returnCut.newCall(guestId)) this.returnRestored(guestId);
    this.connectGuest(guestId).then(
      (answered) => {
        if (!answered && this.calls.get(guestId) === call) this.calls.delete(guestId);
      },
      (e: Error) => {
        if (this.calls.get(guestId) === call) this.calls.delete(guestId);
        this.log(`cannot answer the hello of ${guestId}: ${e.message}; their next hello is answered anew`);
      },
    );
  }

  /**
   * A link to a guest on stage failed (ICE: no answer to consent checks for
   * 30 s, as when either machine is starved for that long). The guest's side
   * may not have noticed — its own checks can still be answered — and would
   * wait on a link that carries nothing, so the host restarts ICE on the same
   * link (a new offer with new credentials, media kept) up to
   * HOST_ICE_RESTARTS times, then calls the guest anew on fresh links with
   * growing pauses for as long as the guest is seated (LinkRecovery). A guest
   * whose side failed too calls anew, which replaces the link anyway.
   */
  /**
   * Guests whose link failed and has not connected again: the program shows
   * their avatar while the link recovers (it may take minutes), not the last
   * picture that came through, frozen.
   */
  private readonly unreachable = new Set<string>();

  private setUnreachable(guestId: string, lost: boolean): void {
    if (this.unreachable.has(guestId) === lost) return;
    if (lost) this.unreachable.add(guestId);
    else this.unreachable.delete(guestId);
    this.updateProgram();
  }

  private onLinkFailed(guestId: string, link: PeerLink): void {
    const step = this.recovery.failed(guestId, link);
    if (step.kind === 'ice-restart') this.log(`link to ${guestId} failed; restarting ICE (restart ${step.restart} on this link)`);
    else if (step.kind === 'redial') this.log(`link to ${guestId} failed again; calling them anew in ${Math.round(step.inMs / 1000)} s (new call ${step.attempt})`);
  }

  /** A seated guest said hello: (re)connect on a new link whose offer carries the program and the host's voice. False when not seated. */
  private async connectGuest(guestId: string): Promise<boolean> {
    const seatedNow = () => this.seatedNow(guestId);
    if (!seatedNow() && this.callStreamId) {
      // Seat rows can arrive after the hello: the row by Realtime or the database, whichever comes first.
      const seated = await isSeated({
        seatedNow,
        subscribe: (onChange) => useStore.subscribe(onChange),
        query: async () => {
          const streamId = useStore.getState().stream!.id;
          const seats = await listActiveSeats(streamId);
          // An answer that comes after the show ended (and maybe another began) is not this show's.
          if (useStore.getState().stream?.id !== streamId || this.callStreamId !== streamId) return false;
          for (const seat of seats) useStore.getState().upsertSeat(seat);
          return seats.some((s) => s.user_id === guestId);
        },
        timeoutMs: SEAT_CHECK_MS,
      });
      if (!seated) {
        this.log(`ignoring hello from ${guestId}: not seated`);
        return false;
      }
    }
    // The seat check can take seconds: the session may have ended, or the guest left, meanwhile.
    if (this.stopped || !this.callStreamId || !seatedNow()) {
      this.log(`not calling ${guestId}: ${this.stopped ? 'the session ended' : 'they left'} during the seat check`);
      return false;
    }
    const signaling = this.channels.get(guestId);
    if (!signaling) {
      // Hellos come over the guest's channel, so it is there unless it closed meanwhile: their next hello is answered.
      this.log(`not calling ${guestId}: no signaling channel with them`);
      return false;
    }
    this.links.get(guestId)?.close(false);
    // Through the guest's channel of the moment: one the server closed is joined anew (onDead) while the
    // call goes on, and the link's answers, ICE restarts and bye must go on the new one, not into the old.
    const sender: SignalSender = { send: (msg) => (this.channels.get(guestId) ?? signaling).send(msg) };
    const link = new PeerLink({
      signaling: sender,
      selfId: this.userId,
      peerId: guestId,
      // The host is the impolite peer: its offers win a collision, the guest's yield.
      polite: false,
      iceServers: this.iceServers,
      tracks: { video: this.programTrack, audio: this.guestHears(guestId) },
      videoCap: this.returnCapFor(guestId),
      // A guest page too busy to decode every frame of the program skips some and stays current.
      videoLayers: 'L1T3',
      videoSize: { width: this.broadcaster.width, height: this.broadcaster.height },
      onRemoteStream: (stream) => {
        this.guestStreams.set(guestId, stream);
        this.playForHost(guestId, stream);
        this.updateProgram();
      },
      onStateChange: (state) => {
        useStore.getState().setLink(guestId, state);
        if (state === 'failed') {
          this.onLinkFailed(guestId, link);
          this.setUnreachable(guestId, true);
        } else if (state === 'connected' && this.links.get(guestId) === link) {
          // A call the host made by itself has connected: the guest's hellos from now on are new calls of theirs.
          this.calledFirst.delete(guestId);
          this.recovery.connected(guestId);
          this.setUnreachable(guestId, false);
        }
      },
      log: this.log,
    });
    this.links.set(guestId, link);
    void this.loadNames([guestId]);
    this.sendUplink(guestId);
    // The transceivers make the first offer (negotiationneeded); either side may renegotiate from then on.
    link.start();
    this.offeredAt.set(guestId, Date.now());
    return true;
  }

  /**
   * What a guest hears: the host and the other guests (not themselves), made
   * on the host's page because each guest has one link, to the host. Null
   * where the page cannot mix (no WebAudio): then the guest hears the host's
   * microphone alone.
   */
  private voices: MixMinus | null = null;
  /** The mix could not start on this page: it is not tried again, and guests get the host's microphone. */
  private voicesFailed = false;
  private voiceList: Voice[] = [];
  private guestHears(guestId: string): MediaStreamTrack | null {
    if (!this.voices && !this.voicesFailed) {
      try {
        this.voices = new MixMinus();
        this.voices.setVoices(this.voiceList);
      } catch (err) {
        this.voicesFailed = true;
        this.log(`the guests' audio mix could not start (they hear the host only): ${(err as Error).message}`);
      }
    }
    return this.voices?.trackFor(guestId) ?? this.camera.getAudioTracks()[0] ?? null;
  }

  /** The host hears guests through media elements (echo cancellation stays on). */
  private readonly audioElements = new Map<string, HTMLAudioElement>();
  private playForHost(guestId: string, stream: MediaStream): void {
    let el = this.audioElements.get(guestId);
    if (!el) {
      el = new Audio();
      el.autoplay = true;
      this.audioElements.set(guestId, el);
    }
    el.srcObject = stream;
    void el.play().catch(() => {});
  }

  private dropGuest(guestId: string, { sayBye = false } = {}): void {
    this.recovery.forget(guestId);
    this.quality.forget(guestId);
    this.returnCut.forget(guestId);
    this.links.get(guestId)?.close(sayBye);
    this.links.delete(guestId);
    this.calls.delete(guestId);
    this.callOnJoin.delete(guestId);
    this.calledFirst.delete(guestId);
    this.offeredAt.delete(guestId);
    this.slowOffers.delete(guestId);
    this.guestStreams.delete(guestId);
    this.unreachable.delete(guestId);
    this.voices?.removeListener(guestId);
    const el = this.audioElements.get(guestId);
    if (el) el.srcObject = null;
    this.audioElements.delete(guestId);
    useStore.getState().setLink(guestId, null);
    this.updateProgram();
  }

  /** A new program track for the guests' return, on every link, in place of one that no longer gets pictures. */
  private async recaptureProgram(broadcaster: Broadcaster): Promise<void> {
    if (!this.programTrack || this.broadcaster !== broadcaster) return;
    try {
      const track = await broadcaster.captureProgram();
      if (!this.programTrack || this.broadcaster !== broadcaster || this.stopped) {
        track?.stop();
        return;
      }
      const old = this.programTrack;
      this.programTrack = track;
      await Promise.all([...this.links.values()].map((link) => link.setTrack('video', track).catch((e: Error) => this.log(`program return: ${e.message}`))));
      old.stop();
      this.log('the program return now comes from the new compositor');
    } catch (err) {
      this.log(`could not capture the program again for the guests: ${(err as Error).message}`);
    }
  }

  /** The program in the chosen output format, in the studio's program container. */
  private makeBroadcaster(): Broadcaster {
    const { width, height, fps } = this.format;
    const broadcaster = new Broadcaster(this.programContainer, this.bridge, width, height, fps, this.log, this.compositorMode, { auditFrames: this.auditFrames });
    // What goes wrong with the program while it runs is shown to the streamer, not only logged.
    broadcaster.onProblem = (message) => {
      this.log(`program problem: ${message}`);
      useStore.getState().setBroadcast({ programProblem: { message, atMs: Date.now() } });
    };
    // The guests' program return was captured from the compositor that gave way: they get the new one's.
    broadcaster.onCompositorChanged = () => void this.recaptureProgram(broadcaster);
    // Every file of the show is named where the studio says where it records.
    broadcaster.onRecordingFile = (file) => this.showRecordingFiles([file]);
    // The layout the studio shows (the store outlives a studio closed and opened again): the program starts in it.
    const { layout, focusId } = useStore.getState();
    broadcaster.setLayout(layout, focusId);
    return broadcaster;
  }

  /**
   * Chooses the output format (size, frame rate, bitrate) for the next
   * go-live: the program is rebuilt at that size with everyone on it. Not
   * while a broadcast is starting, live or ending.
   */
  async setOutputFormat(id: string): Promise<void> {
    const format = outputFormat(id);
    const { phase } = useStore.getState();
    if (phase === 'starting' || phase === 'live' || phase === 'ending') {
      throw new AppError('output_format_locked', `the output format cannot change while the broadcast is ${phase}; end it first`);
    }
    useStore.getState().setProgram({ outputFormat: format.id });
    if (format.id === this.format.id) return;
    const previous = this.broadcaster;
    this.format = format;
    this.broadcaster = this.makeBroadcaster();
    this.updateProgram();
    this.log(`output format: ${format.label} (${format.videoBitrateKbps} kbps)`);
    await previous.dispose();
  }

  private updateProgram(): void {
    const { names, hostMicOn, hostCameraOn } = useStore.getState();
    const participants: Participant[] = [
      // Without a camera (none, or it stopped) the host's tile is the avatar, not a blank or frozen picture.
      { id: this.userId, label: this.displayName, stream: this.camera, micOn: hostMicOn, cameraOn: hostCameraOn && this.camera.getVideoTracks().some((t) => t.readyState === 'live') },
    ];
    if (this.screen) participants.push({ id: SCREEN_ID, label: 'Screen', stream: this.screen, micOn: false });
    const seats = activeSeats(useStore.getState().seats);
    // Guests in seat order; only those with media, and only while seated.
    for (const seat of seats) {
      const stream = this.guestStreams.get(seat.user_id);
      if (!stream) continue;
      // The host hears a guest as the program carries them: not at all while muted, at the volume set for them.
      const heard = this.audioElements.get(seat.user_id);
      if (heard) {
        heard.muted = !seat.mic_enabled;
        heard.volume = Math.max(0, Math.min(1, seat.volume ?? 1));
      }
      participants.push({
        id: seat.user_id,
        label: names[seat.user_id] ?? 'Guest',
        stream,
        micOn: seat.mic_enabled,
        cameraOn: seat.camera_enabled && !this.unreachable.has(seat.user_id),
        volume: seat.volume,
      });
    }
    this.broadcaster.setParticipants(participants);
    // Guests hear everyone the program carries, at the program's gains (the screen has no sound).
    this.voiceList = participants
      .filter((p) => p.id !== SCREEN_ID)
      .map((p) => ({ id: p.id, stream: p.stream, gain: p.micOn === false ? 0 : (p.volume ?? 1) }));
    this.voices?.setVoices(this.voiceList);
    // Each guest sends no bigger a picture than their tile: less to decode as the stage fills.
    const cap = guestUplinkFor(participants.length);
    if (JSON.stringify(cap) !== JSON.stringify(this.uplinkCap)) {
      this.uplinkCap = cap;
      for (const guestId of this.links.keys()) this.sendUplink(guestId);
    }
    // The program goes back once per guest: fewer frames a second as the stage fills.
    const returnCap = programReturnFor(participants.length);
    if (JSON.stringify(returnCap) !== JSON.stringify(this.returnCap)) {
      this.returnCap = returnCap;
      for (const guestId of this.links.keys()) this.applyReturnCap(guestId);
    }
  }

  private returnCap: SendCap = PROGRAM_RETURN;

  /** When each guest's return is cut and given back (a cut stands a while, longer for a guest who keeps falling behind). */
  private readonly returnCut = new ReturnCut();

  /** The returns' frame rate while the broadcast is short of new pictures (the broadcast comes first). */
  private readonly pace = new ReturnPace();
  private readonly pacing: boolean;
  /** The broadcast's slot counters at the last grading tick, while live. */
  private paceMark: { slots: number; missed: number } | null = null;

  /** On each grading tick: the returns yield frames while the broadcast misses its slots, and get them back once it keeps up. */
  private pacePrograms(): void {
    if (!this.pacing) return;
    const mark = { slots: this.broadcaster.outputSlots, missed: this.broadcaster.framesLagged + this.broadcaster.framesSkipped };
    let changed = false;
    let missedShare: number | null = null;
    const before = this.pace.ceiling;
    if (useStore.getState().phase !== 'live') {
      this.paceMark = null;
      changed = this.pace.reset();
    } else {
      const last = this.paceMark;
      // A new program (another output format) counts from zero again: that tick only takes note.
      if (last && mark.slots > last.slots && mark.missed >= last.missed) {
        missedShare = (mark.missed - last.missed) / (mark.slots - last.slots);
        changed = this.pace.check(mark.missed - last.missed, mark.slots - last.slots);
      }
      this.paceMark = mark;
    }
    if (!changed) return;
    const ceiling = this.pace.ceiling;
    const missing = missedShare === null ? '' : `missed ${Math.round(missedShare * 100)} % of its ${this.format.fps} pictures a second`;
    this.log(
      ceiling === null
        ? `program returns: every frame again (${missedShare === null ? 'the broadcast ended' : `the broadcast keeps up: ${missing}`})`
        : before === null || ceiling < before
          ? `program returns: ${ceiling} fps at most while the broadcast ${missing} (the broadcast comes first)`
          : `program returns: up to ${ceiling} fps (the broadcast keeps up: ${missing})`,
    );
    for (const guestId of this.links.keys()) this.applyReturnCap(guestId);
  }

  /** The program return to one guest: the stage's cap, cut while their page is behind, paced while the broadcast is short of pictures. */
  private returnCapFor(guestId: string): SendCap {
    const cap = this.returnCut.isCut(guestId) ? cutReturnCap(this.returnCap) : this.returnCap;
    const ceiling = this.pace.ceiling;
    return ceiling !== null && ceiling < cap.maxFramerate ? { ...cap, maxFramerate: ceiling } : cap;
  }

  private applyReturnCap(guestId: string): void {
    void this.links
      .get(guestId)
      ?.setVideoCap(this.returnCapFor(guestId))
      .catch((e: Error) => this.log(`program return cap for ${guestId}: ${e.message}`));
  }

  /**
   * A guest's page says how late it shows the program. A page that cannot
   * decode what it is sent falls further behind for as long as it is sent as
   * much: it gets fewer frames until it says it caught up and the cut has
   * stood its hold time (see ReturnCut).
   */
  private onViewReport(guestId: string, behindMs: number): void {
    this.quality.viewReported(guestId, behindMs);
    if (!this.returnCut.report(guestId, behindMs)) {
      if (behindMs === 0 && this.returnCut.isCut(guestId)) {
        this.log(`program return to ${guestId}: their page caught up; all frames go back once the cut has stood ${Math.round(this.returnCut.holdFor(guestId) / 1000)} s`);
      }
      return;
    }
    if (!this.returnCut.isCut(guestId)) {
      this.returnRestored(guestId);
      return;
    }
    const cap = this.returnCapFor(guestId);
    this.log(
      `program return to ${guestId}: ${cap.maxFramerate} fps, ${cap.maxBitrateKbps} kbps while their page shows the program ${(behindMs / 1000).toFixed(1)} s late (for ${Math.round(this.returnCut.holdFor(guestId) / 1000)} s at least; a keyframe every ${QUALITY_INTERVAL_MS / 1000} s until it catches up)`,
    );
    this.applyReturnCap(guestId);
  }

  private returnRestored(guestId: string): void {
    const cap = this.returnCapFor(guestId);
    const why = this.returnCut.restoredBy(guestId) === 'new call' ? 'they called anew: a fresh page' : 'their page caught up';
    this.log(`program return to ${guestId}: back to ${cap.maxFramerate} fps, ${cap.maxBitrateKbps} kbps (${why})`);
    this.applyReturnCap(guestId);
  }

  private uplinkCap: SendCap = guestUplinkFor(1);

  private sendUplink(guestId: string): void {
    void this.channels
      .get(guestId)
      ?.send({ kind: 'uplink', from: this.userId, to: guestId, cap: this.uplinkCap })
      .catch((e: Error) => this.log(`uplink cap for ${guestId}: ${e.message}`));
  }

  /**
   * Ends the broadcast: the call and the encoder stop first (guests' links,
   * signaling, subscriptions, ffmpeg), then the stream is ended on the server.
   * When that last step fails the phase is 'error' with the reason and End
   * live can be pressed again (it only ends the stream then).
   */
  end(): Promise<void> {
    return this.underWay(this.endNow());
  }

  private async endNow(): Promise<void> {
    const store = useStore.getState();
    const stream = store.stream;
    store.setBroadcast({ phase: 'ending', error: null });
    const problems = await this.takeDown(stream?.id ?? null);
    if (stream && stream.status !== 'ended') {
      try {
        store.setBroadcast({ stream: await endLive(stream.id) });
      } catch (err) {
        // Still live on the server: the page going away ends it (the unload request stays ready), and so does closing the studio.
        this.unended = stream.id;
        const also = problems.length > 0 ? ` Also: ${problems.join('; ')}.` : '';
        const message = `The broadcast stopped, but the stream could not be ended on the server: ${(err as Error).message}. Press End live again.${also}`;
        store.setBroadcast({ phase: 'error', error: message });
        throw new Error(message);
      }
    }
    this.ended();
    store.setBroadcast({ phase: 'ended', error: problems.length > 0 ? `Ended, but ${problems.join('; ')}` : null });
    // The subscriptions closed with the call: the events of the ending itself (the stream ended, guests left) are read once,
    // and so are the seats (ending the stream closes them), so the grid does not show guests on seats that are closed,
    // and the invitations (it cancels those still open).
    // A read that comes back after the next Go live was pressed belongs to the old stream: the new studio state does not take it.
    if (stream) {
      const current = () => {
        const now = useStore.getState();
        return now.phase === 'ended' && now.stream?.id === stream.id ? now : null;
      };
      await Promise.all([
        listEvents(stream.id)
          .then((rows) => current()?.addEvents(rows))
          .catch((err: Error) => this.log(`events after the end: ${err.message}`)),
        listActiveSeats(stream.id)
          .then((rows) => {
            const now = current();
            if (!now) return;
            const open = new Set(rows.map((s) => s.id));
            const at = new Date().toISOString();
            for (const held of activeSeats(now.seats)) {
              if (!open.has(held.id)) now.upsertSeat({ ...held, left_at: at, version: (held.version ?? 0) + 1 });
            }
          })
          .catch((err: Error) => this.log(`seats after the end: ${err.message}`)),
        // Ending the stream cancels the invitations still open: they no longer count down or offer Cancel.
        listStreamInvitations(stream.id)
          .then((rows) => {
            const now = current();
            for (const inv of [...rows].reverse()) now?.upsertInvitation(inv);
          })
          .catch((err: Error) => this.log(`invitations after the end: ${err.message}`)),
      ]);
    }
  }

  /** The stream ended or the studio closed: no new call starts. */
  private stopped = false;

  /** Ends the stream of the broadcast under way if the page goes away (see pageHidden). */
  private unloadEnder: UnloadEnder | null = null;
  /** Counts take-downs: an ender prepared for a broadcast taken down meanwhile is not kept. */
  private takeDowns = 0;

  /**
   * A stream this studio took down but could not end (End live, or the undoing of a failed Go live, had its
   * request fail): still live for viewers and guests. Closing the studio tries again; the page going away
   * fires the unload request, kept ready until the stream is ended.
   */
  private unended: string | null = null;

  /** The studio's stream is ended (or was never this studio's to end): nothing is left to end with the page. */
  private ended(): void {
    this.unended = null;
    this.unloadEnder?.dispose();
    this.unloadEnder = null;
  }

  private prepareUnloadEnd(streamId: string): void {
    const broadcast = this.takeDowns;
    void prepareEndOnUnload(streamId).then(
      (ender) => {
        // The broadcast may have been taken down meanwhile (a failed start, End live).
        if (broadcast === this.takeDowns && !this.disposed) {
          this.unloadEnder?.dispose();
          this.unloadEnder = ender;
        } else ender.dispose();
      },
      (err: Error) => this.log(`the stream could not be prepared to end with the page: ${err.message}`),
    );
  }

  /**
   * The page is going away (a closed tab or window, a reload) while this
   * studio may be live: nothing async finishes now, so the stream is ended by
   * a request the browser completes on its own, and the rest is taken down as
   * far as it gets. The encoder stops with the page's connection to it.
   */
  pageHidden(): void {
    if (this.unloadEnder) {
      this.log('the page is going away while live: ending the stream');
      this.unloadEnder.fire();
    }
    void this.dispose();
  }

  private closed: Promise<void> | null = null;

  /**
   * The studio closed. A broadcast it started is not left running without
   * its program (the encoder publishing nothing, the stream still live for
   * viewers, guests calling a host who is gone): a Go live or End live under
   * way finishes first, then a broadcast still on air is taken down and its
   * stream ended, as End live does. Resolves once everything is let go.
   */
  dispose(): Promise<void> {
    if (this.closed) return this.closed;
    this.disposed = true;
    this.stopScreenShare();
    this.closed = (async () => {
      await Promise.allSettled([...this.operations]);
      // This session's own broadcast (the store may already show the next studio's).
      const streamId = this.callStreamId ?? this.unended;
      if (streamId) {
        if (this.callStreamId) {
          this.log(`the studio closed while live: ending the broadcast of stream ${streamId}`);
          await this.takeDown(streamId);
        } else this.log(`the studio closed with stream ${streamId} taken down but not ended: ending it`);
        await endLive(streamId).then(
          (row) => {
            this.ended();
            const store = useStore.getState();
            if (store.stream?.id === streamId) store.setBroadcast({ stream: row, phase: 'ended', error: null });
          },
          (e: Error) => {
            this.log(`the stream could not be ended as the studio closed: ${e.message}`);
            const store = useStore.getState();
            if (store.stream?.id === streamId) {
              store.setBroadcast({ phase: 'error', error: `The studio closed while live and the stream could not be ended: ${e.message}. Press End live.` });
            }
          },
        );
      }
      this.release();
    })();
    return this.closed;
  }

  /** Every file of the show is named where the studio says where it records: the parts it went on in are added. */
  private showRecordingFiles(files: readonly string[]): void {
    const fresh = files.filter((f) => !this.recordingFiles.includes(f));
    if (fresh.length === 0) return;
    this.recordingFiles.push(...fresh);
    useStore.getState().setBroadcast({ recordingPath: this.recordingFiles.join(', then ') });
  }

  private release(): void {
    this.stopped = true;
    this.unloadEnder?.dispose();
    this.unloadEnder = null;
    for (const c of [...this.cleanups.splice(0), ...this.callCleanups.splice(0)]) c();
    this.recovery.dispose();
    for (const link of this.links.values()) link.close();
    this.links.clear();
    for (const channel of this.channels.values()) void channel.close();
    this.channels.clear();
    this.callStreamId = null;
    this.programTrack?.stop();
    void this.voices?.dispose();
    this.voices = null;
    void this.broadcaster.dispose();
    // The session owns the host's camera and microphone from its start (switches replace them): their lights go off with it.
    stopStream(this.camera);
  }
}
