/**
 * The guest's side of a stream, in two steps.
 *
 * `DeviceCheck`: before an invitation is accepted, a camera and microphone
 * preview with device choice, so the guest arrives on stage looking and
 * sounding as they expect (or with either switched off).
 *
 * `GuestSession`: once seated, send the camera and microphone to the host and
 * receive the program; follow the guest's own seat row so the host's actions
 * (mute, camera off, removal, end of stream) take effect at once.
 *
 * Both hold their state in one immutable snapshot, replaced on every change
 * and announced to subscribers (React reads it with useSyncExternalStore).
 */
import { GUEST_UPLINK, type SendCap } from '../../../shared/mediaLimits';
import { isSeatUpdate, type GuestSeatRow } from '../../../shared/domain';
import {
  DeviceError,
  listDevices,
  onDevicesChanged,
  openCameraAndMicrophone,
  openDevice,
  rememberDevice,
  rememberedDevice,
  stopStream,
  trackDeviceId,
  type DeviceLists,
  type MediaKind,
} from '../media/capture';
import { newLinkId, PeerLink } from '../rtc/PeerLink';
import { ViewWatch, readViewCounters } from '../rtc/linkQuality';
import { SignalingChannel } from '../rtc/signaling';
import type { SignalMessage } from '../../../shared/signaling';
import { generateCallToken, getActiveCallSession } from '../services/cloudflareCallsService';
import { BackendError } from '../services/errors';
import { getStream, subscribeStream } from '../services/liveService';
import {
  disableGuestCamera,
  enableGuestCamera,
  leaveSeat,
  listActiveSeats,
  muteGuest,
  removeGuest,
  setMyCamera,
  setMyMic,
  subscribeSeats,
  unmuteGuest,
} from '../services/streamGuestService';

export type GuestLinkState = 'connecting' | RTCPeerConnectionState;

/** Why a guest is no longer on stage. */
export type StageExit = 'left' | 'removed' | 'stream_ended';

export const EXIT_MESSAGES: Record<StageExit, string> = {
  left: 'You left the stage.',
  removed: 'You were removed from the stage',
  stream_ended: 'The stream has ended',
};

/** Holds one immutable snapshot and tells subscribers when it is replaced. */
class Snapshot<T extends object> {
  private listeners = new Set<() => void>();
  constructor(private value: T) {}
  get = (): T => this.value;
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
  set(patch: Partial<T>): void {
    this.value = { ...this.value, ...patch };
    for (const l of [...this.listeners]) l();
  }
}

const storedDevice = (kind: MediaKind) => rememberedDevice('guest', kind);
const storeDevice = (kind: MediaKind, deviceId: string | null) => rememberDevice('guest', kind, deviceId);

// Device check before joining ---------------------------------------------------------------

export interface DeviceCheckState {
  status: 'idle' | 'opening' | 'ready';
  /** The preview; its tracks change when a device is switched. */
  stream: MediaStream | null;
  errors: Partial<Record<MediaKind, DeviceError>>;
  devices: DeviceLists;
  cameraId: string | null;
  microphoneId: string | null;
  cameraOn: boolean;
  micOn: boolean;
}

/** What the device check hands to the stage when the guest joins. */
export interface JoiningMedia {
  stream: MediaStream;
  cameraOn: boolean;
  micOn: boolean;
}

const IDLE_CHECK: DeviceCheckState = {
  status: 'idle',
  stream: null,
  errors: {},
  devices: { cameras: [], microphones: [] },
  cameraId: null,
  microphoneId: null,
  cameraOn: true,
  micOn: true,
};

export class DeviceCheck {
  private readonly snapshot = new Snapshot<DeviceCheckState>(IDLE_CHECK);
  private opening: Promise<void> | null = null;
  private generation = 0;
  private stopWatchingDevices: (() => void) | null = null;

  readonly get = this.snapshot.get;
  readonly subscribe = this.snapshot.subscribe;

  /** Opens the preview (once; later calls wait for the same opening). */
  open(): Promise<void> {
    if (this.snapshot.get().status !== 'idle' && this.opening) return this.opening;
    const generation = ++this.generation;
    this.snapshot.set({ status: 'opening', errors: {} });
    this.stopWatchingDevices ??= onDevicesChanged(() => void this.refreshDevices());
    this.opening = (async () => {
      // The guest's last choice, wherever it was made (here or on a stage since): never the device an
      // earlier preview happened to open, which may be gone or replaced by a choice made on stage.
      const want = { video: storedDevice('video'), audio: storedDevice('audio') };
      let media = await openCameraAndMicrophone({ cameraId: want.video, microphoneId: want.audio });
      // A remembered device that is gone: take the default one instead.
      const gone = (['video', 'audio'] as const).filter((k) => media.errors[k]?.reason === 'device_not_found' && want[k]);
      if (gone.length > 0) {
        stopStream(media.stream);
        media = await openCameraAndMicrophone({
          cameraId: gone.includes('video') ? null : want.video,
          microphoneId: gone.includes('audio') ? null : want.audio,
        });
      }
      if (generation !== this.generation) {
        stopStream(media.stream);
        return;
      }
      this.applyEnabled(media.stream);
      media.stream.getTracks().forEach((t) => this.watchEnded(t));
      this.snapshot.set({
        status: 'ready',
        stream: media.stream,
        errors: media.errors,
        cameraId: trackDeviceId(media.stream.getVideoTracks()[0]),
        microphoneId: trackDeviceId(media.stream.getAudioTracks()[0]),
      });
      await this.refreshDevices();
    })();
    return this.opening;
  }

  /**
   * A device that stops while the preview shows it (unplugged, taken by another application)
   * leaves the preview with the reason, as one that could not open: never a black preview
   * that looks fine, nor a stage that starts with a dead microphone.
   */
  private watchEnded(track: MediaStreamTrack): void {
    track.addEventListener('ended', () => {
      const state = this.snapshot.get();
      if (state.status !== 'ready' || !state.stream?.getTracks().includes(track)) return;
      const kind = track.kind as MediaKind;
      const name = kind === 'audio' ? 'microphone' : 'camera';
      console.info(`[guest] ${name} stopped in the preview: ${track.label}`);
      this.snapshot.set({
        stream: new MediaStream(state.stream.getTracks().filter((t) => t !== track)),
        errors: { ...state.errors, [kind]: new DeviceError('device_error', `Your ${name} stopped (unplugged, or taken by another application). Plug it in again and try again, or choose another ${name}.`) },
      });
    });
  }

  /** Tries again after the guest fixed a permission or plugged a device in. */
  async retry(): Promise<void> {
    this.stop();
    await this.open();
  }

  private async refreshDevices(): Promise<void> {
    const devices = await listDevices().catch(() => this.snapshot.get().devices);
    this.snapshot.set({ devices });
  }

  private applyEnabled(stream: MediaStream): void {
    const { cameraOn, micOn } = this.snapshot.get();
    stream.getVideoTracks().forEach((t) => (t.enabled = cameraOn));
    stream.getAudioTracks().forEach((t) => (t.enabled = micOn));
  }

  /**
   * Switches to another camera or microphone: that device is opened anew.
   * Switches run one after another; joining (release) waits for the one under
   * way, and a switch that ends after the check was handed over or closed
   * lets its device go.
   */
  choose(kind: MediaKind, deviceId: string): Promise<void> {
    const run = this.switching.then(() => this.switchDevice(kind, deviceId));
    this.switching = run.catch(() => {});
    return run;
  }

  private switching: Promise<void> = Promise.resolve();

  private async switchDevice(kind: MediaKind, deviceId: string): Promise<void> {
    await this.opening;
    const generation = this.generation;
    const state = this.snapshot.get();
    if (state.status !== 'ready') return;
    const current = state.stream ?? new MediaStream();
    const old = kind === 'video' ? current.getVideoTracks()[0] : current.getAudioTracks()[0];
    // Phones cannot open two cameras at once: let go of the old one first.
    if (kind === 'video') old?.stop();
    try {
      const track = await openDevice(kind, deviceId);
      if (generation !== this.generation) {
        // Handed over or closed meanwhile: this device is nobody's.
        track.stop();
        return;
      }
      if (kind === 'audio') old?.stop();
      // Read again: the other device may have stopped while this one opened (its error stays, its track goes).
      const now = this.snapshot.get();
      const tracks = (now.stream ?? current).getTracks().filter((t) => t !== old && t.kind !== kind);
      const stream = new MediaStream([...tracks, track]);
      this.applyEnabled(stream);
      this.watchEnded(track);
      storeDevice(kind, trackDeviceId(track) ?? deviceId);
      const { [kind]: _fixed, ...errors } = now.errors;
      this.snapshot.set({ stream, errors, ...(kind === 'video' ? { cameraId: deviceId } : { microphoneId: deviceId }) });
      await this.refreshDevices();
    } catch (err) {
      if (generation !== this.generation) return;
      const now = this.snapshot.get();
      const left = (now.stream ?? current).getTracks();
      const stream = kind === 'video' ? new MediaStream(left.filter((t) => t !== old)) : new MediaStream(left);
      this.snapshot.set({ stream, errors: { ...now.errors, [kind]: err as DeviceError } });
    }
  }

  setCameraOn(on: boolean): void {
    this.snapshot.set({ cameraOn: on });
    this.snapshot.get().stream?.getVideoTracks().forEach((t) => (t.enabled = on));
  }

  setMicOn(on: boolean): void {
    this.snapshot.set({ micOn: on });
    this.snapshot.get().stream?.getAudioTracks().forEach((t) => (t.enabled = on));
  }

  /**
   * Hands the preview over to the stage (it then owns the tracks) and starts
   * over. An invitation accepted while nothing is open (the preview was closed
   * when an earlier invitation ran out, and not yet reopened) opens the devices
   * first: the guest joins with them, never with nothing.
   */
  async release(): Promise<JoiningMedia> {
    // A device switch under way ends first: the stage gets the new device, not the one it stopped.
    await this.switching;
    await this.open();
    const { stream, cameraOn, micOn } = this.snapshot.get();
    const joining: JoiningMedia = { stream: stream ?? new MediaStream(), cameraOn, micOn };
    this.generation += 1;
    this.opening = null;
    this.snapshot.set({ status: 'idle', stream: null, errors: {} });
    return joining;
  }

  /** Closes the preview (no invitation to answer any more). */
  stop(): void {
    this.generation += 1;
    this.opening = null;
    stopStream(this.snapshot.get().stream);
    this.snapshot.set({ status: 'idle', stream: null, errors: {} });
  }

  dispose(): void {
    this.stop();
    this.stopWatchingDevices?.();
    this.stopWatchingDevices = null;
  }
}

// On stage ------------------------------------------------------------------------------------

export interface GuestStageState {
  link: GuestLinkState;
  seat: GuestSeatRow;
  /** What the guest sends; a new stream object whenever a track is switched. */
  local: MediaStream;
  /** The host's program (video and the host's voice). */
  program: MediaStream | null;
  /** The guest's own switches. */
  micOn: boolean;
  cameraOn: boolean;
  cameraId: string | null;
  microphoneId: string | null;
  devices: DeviceLists;
  /** Set once the guest is off stage, with why. */
  exit: StageExit | null;
  /** A problem worth telling the guest about (a refused switch, a failed device). */
  notice: string | null;
  /** Set with exit 'left' when the seat could not be given up (the request failed or timed out): it is still held. */
  leaveError: string | null;
  /** How far behind this page shows the program (ms; 0: keeping up), from its frames' wait for the decoder. */
  viewBehindMs: number;
  /** The other guests on stage (their active seats, in seat order): a moderator's page moderates them. */
  others: GuestSeatRow[];
}

/** What a moderator does to another guest (the host's seat-menu actions a moderator may take). */
export type ModeratorAction = 'mute' | 'unmute' | 'camera-off' | 'camera-release' | 'remove';

export interface GuestSessionOptions {
  streamId: string;
  hostId: string;
  userId: string;
  /** The seat the accepted invitation gave. */
  seat: GuestSeatRow;
  /** Camera and microphone from the device check: the session owns them from now on and stops them when done. */
  media: JoiningMedia;
  log?: (message: string) => void;
}

const HELLO_INTERVAL_MS = 2000;
/** How long a leave waits for the database to free the seat before it says the seat is still held. */
export const LEAVE_TIMEOUT_MS = 10_000;
/** How long an answered call may take to connect before the guest calls again, and how often it does so alone. */
const CONNECT_TIMEOUT_MS = 20_000;
/** How long a link still connecting (ICE checks under way) is given before the guest calls again. */
const CONNECT_PATIENCE_MS = 60_000;
const AUTO_RETRIES = 3;

/** Whether a link that has not connected yet, `elapsedMs` after it took the offer, is worth waiting for. */
export function keepWaiting(state: RTCPeerConnectionState, elapsedMs: number): boolean {
  return state === 'connecting' && elapsedMs < CONNECT_PATIENCE_MS;
}
const HELLO_ATTEMPTS = 15;

/**
 * What an offer from the host is to the guest: on a new link, a new call (the
 * host answered a hello); on the guest's link, a renegotiation; on a link the
 * guest already gave up (after it failed or timed out, the guest calls anew),
 * stale — such as the host's ICE restart of that link crossing the guest's
 * new call, which a fresh connection must not answer: the host answers the
 * new call instead.
 */
export function offerKind(link: string | undefined, current: string | undefined, ended: ReadonlySet<string>): 'new-call' | 'renegotiation' | 'stale' {
  if (link !== undefined && ended.has(link)) return 'stale';
  if (link === undefined || link !== current) return 'new-call';
  return 'renegotiation';
}
/** Links the guest gave up, kept so their late offers are known as stale (the last few are enough). */
const ENDED_LINKS_KEPT = 16;
/** After the host says bye (a reload, or the end of the stream), wait this long before saying hello again. */
const REJOIN_DELAY_MS = 3000;
/** How often the guest's page looks at how long the program's frames wait for its decoder (see watchView). */
const VIEW_WATCH_MS = 4000;
/** Pauses between joins of the signaling channel under a call that is up: 1, 2, 4 … 30 s. */
const CHANNEL_RETRY_FIRST_MS = 1000;
const CHANNEL_RETRY_MAX_MS = 30_000;

/**
 * Why a guest's seat closed when the guest did not leave: the host removed
 * them (the row names a remover), else the stream ended (its row is updated
 * in the same change) or the host took them off.
 */
export async function whySeatClosed(row: Pick<GuestSeatRow, 'removed_by'> | undefined, streamId: string): Promise<'removed' | 'stream_ended'> {
  if (row?.removed_by) return 'removed';
  const stream = await getStream(streamId).catch(() => null);
  return stream?.status === 'ended' ? 'stream_ended' : 'removed';
}

export class GuestSession {
  private readonly snapshot: Snapshot<GuestStageState>;
  private signaling: SignalingChannel | null = null;
  private link: PeerLink | null = null;
  private iceServers: RTCIceServer[] = [];
  private helloTimer: ReturnType<typeof setInterval> | null = null;
  /** The call the hellos are about (see sayHello), and whether an offer came on it. */
  private call: string | null = null;
  private callAnswered = false;
  private rejoinTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly cleanups: Array<() => void> = [];
  /** Links this guest gave up (see offerKind). */
  private readonly endedLinks = new Set<string>();
  /** The seat and stream subscriptions are in place. */
  private following = false;
  private leaving = false;
  private closed = false;

  readonly get: () => GuestStageState;
  readonly subscribe: (listener: () => void) => () => void;

  /** The stream this guest is on, and its host. */
  get streamId(): string {
    return this.opts.streamId;
  }
  get hostId(): string {
    return this.opts.hostId;
  }

  constructor(private readonly opts: GuestSessionOptions) {
    const { stream, cameraOn, micOn } = opts.media;
    this.snapshot = new Snapshot<GuestStageState>({
      link: 'connecting',
      seat: opts.seat,
      local: stream,
      program: null,
      // A device that stopped before the stage took it over (unplugged while the invitation showed) is off.
      micOn: micOn && stream.getAudioTracks().some((t) => t.readyState === 'live'),
      cameraOn: cameraOn && stream.getVideoTracks().some((t) => t.readyState === 'live'),
      cameraId: trackDeviceId(stream.getVideoTracks()[0]),
      microphoneId: trackDeviceId(stream.getAudioTracks()[0]),
      devices: { cameras: [], microphones: [] },
      exit: null,
      notice: null,
      leaveError: null,
      viewBehindMs: 0,
      others: [],
    });
    this.get = this.snapshot.get;
    this.subscribe = this.snapshot.subscribe;
    this.applyTracks();
    for (const track of stream.getTracks()) this.watchDevice(track);
  }

  /**
   * A camera or microphone that stops by itself on stage (unplugged, taken by
   * another application): its switch goes off, the host is told as for a
   * switch turned off (the tile shows the avatar), and the guest is told why
   * and what to do.
   */
  private watchDevice(track: MediaStreamTrack): void {
    track.addEventListener('ended', () => {
      if (this.closed || !this.get().local.getTracks().includes(track)) return;
      const kind = track.kind as MediaKind;
      const name = kind === 'audio' ? 'microphone' : 'camera';
      this.log(`${name} stopped: ${track.label}`);
      this.snapshot.set({
        [kind === 'audio' ? 'micOn' : 'cameraOn']: false,
        notice: `Your ${name} stopped (unplugged, or taken by another application) and is off now. Turn it on again when it is back, or choose another ${name} and turn it on.`,
      });
      this.applyTracks();
      void (kind === 'audio' ? setMyMic : setMyCamera)(this.opts.streamId, false).catch((err: Error) => this.notice(err.message));
    });
  }

  private log(message: string): void {
    (this.opts.log ?? console.info)(`[guest] ${message}`);
  }

  /** Keeps an undo for close(), or runs it at once when the session closed meanwhile. */
  private keep(undo: () => void): void {
    if (this.closed) undo();
    else this.cleanups.push(undo);
  }

  /**
   * Follows the seat and the stream, tells the database what is switched off,
   * and calls the host. On failure the link reads `failed`; `reconnect()`
   * takes it up again.
   */
  start(): Promise<void> {
    // One start at a time: a second (Try again while an automatic call starts) shares it.
    this.starting ??= this.startNow().finally(() => (this.starting = null));
    return this.starting;
  }

  private starting: Promise<void> | null = null;

  private async startNow(): Promise<void> {
    try {
      if (!this.following) await this.follow();
      if (!this.signaling) await this.connect();
    } catch (err) {
      if (!this.closed) {
        this.log(`could not call the host: ${(err as Error).message}`);
        this.snapshot.set({ link: 'failed', notice: (err as Error).message });
        // A join that timed out on a busy server is worth trying again, a few times, before leaving it to "Try again".
        this.retrySoon(2000);
      }
      throw err;
    }
  }

  /** Which of follow()'s subscriptions are in place: a follow() tried again after a failure makes only the missing ones. */
  private readonly followed = new Set<'seats' | 'stream' | 'online'>();

  private async follow(): Promise<void> {
    const { streamId, userId } = this.opts;
    // Changes while live updates were away (a phone between networks) are not delivered: the seat and stream are read again.
    // A link that gave up meanwhile (its automatic calls spent while the network was away) is called again too.
    const rejoined = () => void this.reread('live updates came back after a drop').then(() => this.callAgainIfGaveUp('live updates came back'));
    if (!this.followed.has('seats')) {
      this.keep(
        await subscribeSeats(
          streamId,
          (row) => {
            if (row.user_id === userId && row.id === this.get().seat.id) void this.onSeat(row);
            else this.onOtherSeat(row);
          },
          rejoined,
        ),
      );
      this.followed.add('seats');
    }
    if (!this.followed.has('stream')) {
      this.keep(
        await subscribeStream(
          streamId,
          (row) => {
            if (row.status === 'ended') this.exit('stream_ended');
          },
          rejoined,
        ),
      );
      this.followed.add('stream');
    }
    if (this.closed) return;
    // Anything that changed between accepting and subscribing.
    await this.readSeat();
    if (this.closed) return;

    const { micOn, cameraOn, seat } = this.get();
    if (!micOn && seat.mic_enabled) await setMyMic(streamId, false).catch((err: Error) => this.notice(err.message));
    if (!cameraOn && seat.camera_enabled) await setMyCamera(streamId, false).catch((err: Error) => this.notice(err.message));

    this.keep(onDevicesChanged(() => void this.refreshDevices()));
    void this.refreshDevices();
    if (typeof window !== 'undefined' && typeof window.addEventListener === 'function' && !this.followed.has('online')) {
      const online = () => this.callAgainIfGaveUp('the network came back');
      window.addEventListener('online', online);
      this.keep(() => window.removeEventListener('online', online));
      this.followed.add('online');
    }
    this.following = true;
  }

  /** After a long drop the automatic calls are spent and the link reads failed: the network is back, so call again. */
  private callAgainIfGaveUp(why: string): void {
    if (this.closed || this.leaving || this.get().link !== 'failed' || this.watchdog) return;
    this.log(`calling the host again: ${why}`);
    this.reconnect();
  }

  /** The seat as the database has it now; gone from the active seats means closed (removed, or the stream ended). */
  private async readSeat(): Promise<void> {
    const seats = await listActiveSeats(this.opts.streamId);
    if (this.closed) return;
    const mine = seats.find((s) => s.id === this.get().seat.id);
    // The list may have been read before a change delivered meanwhile: the newer copy of each seat stays.
    const held = new Map(this.get().others.map((s) => [s.id, s]));
    const others = seats.filter((s) => s.id !== this.get().seat.id).map((s) => (isSeatUpdate(held.get(s.id), s) ? s : held.get(s.id)!));
    this.snapshot.set({ others: others.sort((a, b) => a.seat_index - b.seat_index) });
    if (mine) await this.onSeat(mine);
    else await this.onSeat({ ...this.get().seat, left_at: new Date().toISOString() });
  }

  /**
   * A re-read of the seat after a drop. Several subscriptions rejoin, one by one: one read serves
   * those back before it starts; one back while it runs gets one more read after it (the first may
   * have been made before that subscription was back, and a change in between was not delivered).
   */
  private rereading: Promise<void> | null = null;
  private rereadAgain = false;

  private reread(why: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.rereading) {
      this.rereadAgain = true;
      return this.rereading;
    }
    this.log(`reading the seat again: ${why}`);
    const read = this.readSeat()
      .catch((err: Error) => this.log(`could not read the seat again: ${err.message}`))
      .finally(() => {
        this.rereading = null;
        if (!this.rereadAgain) return;
        this.rereadAgain = false;
        return this.reread('a subscription came back while the last read ran');
      });
    this.rereading = read;
    return read;
  }

  private async connect(): Promise<void> {
    await this.fetchIceServers();
    if (this.closed) return;
    // A channel joined again meanwhile (the server closed the last one while the call was up) is the one.
    if (!this.signaling && !(await this.joinOnce())) return;
    // Leave was pressed while the channel was being joined: no call to a host being told goodbye.
    if (this.leaving) return;
    this.sayHello();
  }

  /** The join of the signaling channel under way, shared: two joins at once would leave one channel open unseen. */
  private channelJoin: Promise<boolean> | null = null;

  private joinOnce(): Promise<boolean> {
    this.channelJoin ??= this.joinChannel().finally(() => (this.channelJoin = null));
    return this.channelJoin;
  }

  /**
   * Joins the signaling channel again under a call that is up. A join that fails (a busy server, a
   * token being refreshed) is tried again with growing pauses while the media still flows: the
   * call is ended and made anew only once the link itself is no longer connected.
   */
  private rejoinChannel(attempt: number): void {
    void this.joinOnce().catch((err: Error) => {
      if (this.closed || this.leaving || this.signaling) return;
      if (this.link?.pc.connectionState !== 'connected') {
        this.log(`could not join the signaling channel again (${err.message}); calling the host anew`);
        this.callAgain();
        return;
      }
      const delay = Math.min(CHANNEL_RETRY_MAX_MS, CHANNEL_RETRY_FIRST_MS * 2 ** attempt);
      this.log(`could not join the signaling channel again (${err.message}); the call goes on, trying again in ${delay / 1000} s`);
      this.channelRetryTimer = setTimeout(() => {
        this.channelRetryTimer = null;
        if (this.closed || this.leaving || this.signaling) return;
        if (this.link?.pc.connectionState === 'connected') this.rejoinChannel(attempt + 1);
        else this.callAgain();
      }, delay);
    });
  }
  private channelRetryTimer: ReturnType<typeof setTimeout> | null = null;

  /** Joins the signaling channel with the host and listens on it; false when the session closed meanwhile. */
  private async joinChannel(): Promise<boolean> {
    const { streamId, userId, hostId } = this.opts;
    const signaling = await SignalingChannel.join({ streamId, guestId: userId, selfId: userId, peerId: hostId }, (m) => this.log(m));
    this.signaling = signaling;
    if (this.closed) {
      void signaling.close();
      return false;
    }
    // Closed by the server (a token that expired while the page was hidden): a new channel. A call that is up goes on
    // over it (the link sends through whichever channel is current); one that is not is made again.
    this.keep(
      signaling.onDead(() => {
        if (this.signaling !== signaling || this.closed || this.leaving) return;
        this.signaling = null;
        void signaling.close();
        if (this.link?.pc.connectionState === 'connected') {
          this.log('the server closed the signaling channel; joining it again, the call goes on');
          this.rejoinChannel(0);
          return;
        }
        this.log('the server closed the signaling channel; joining it again');
        this.callAgain();
      }),
    );
    this.keep(
      signaling.onMessage((msg) => {
        // Only the channel of the moment speaks for the host.
        if (msg.from !== hostId || this.signaling !== signaling) return;
        if (msg.kind === 'bye') this.onBye();
        else if (msg.kind === 'uplink') {
          this.uplinkCap = msg.cap;
          void this.link?.setVideoCap(msg.cap).catch((err: Error) => this.log(`uplink cap: ${err.message}`));
        }
        else {
          // An offer on a new link is a new call (the host answered a hello); one on ours is a renegotiation.
          const kind = msg.kind === 'description' && msg.description.type === 'offer' ? offerKind(msg.link, this.link?.id, this.endedLinks) : 'renegotiation';
          if (kind === 'stale') this.log('ignoring an offer on a link we gave up (our new call replaces it)');
          else if (kind === 'new-call' && msg.kind === 'description') void this.answerCall(msg);
          else void this.link?.handle(msg).catch((err: Error) => this.log(`signaling: ${err.message}`));
        }
      }),
    );
    // One watch, however many times the channel was joined.
    if (!this.viewTimer) {
      const viewTimer = setInterval(() => void this.watchView(), VIEW_WATCH_MS);
      this.viewTimer = viewTimer;
      this.keep(() => clearInterval(viewTimer));
    }
    return true;
  }

  private viewTimer: ReturnType<typeof setInterval> | null = null;
  private readonly viewWatch = new ViewWatch();
  private watchedLink: PeerLink | null = null;

  /**
   * Every VIEW_WATCH_MS while connected: does this page decode the program as
   * fast as it comes? When frames queue for its decoder (a busy phone, a
   * starved machine) the guest is told their view runs behind, and so is the
   * host (their tile's grade); and again when it has caught up.
   */
  private async watchView(): Promise<void> {
    const link = this.link;
    if (!link || this.closed || link.pc.connectionState !== 'connected') return;
    const fresh = link !== this.watchedLink;
    if (fresh) {
      this.watchedLink = link;
      this.viewWatch.reset();
    }
    const counters = await readViewCounters(link.pc).catch(() => null);
    if (!counters || this.link !== link || this.closed) return;
    const changed = this.viewWatch.sample(counters);
    // A new call may reach a host that does not know (a reloaded studio): a lag still standing is said again.
    const behindMs = changed ?? (fresh && this.viewWatch.behindMs ? this.viewWatch.behindMs : null);
    if (behindMs === null) return;
    if (changed !== null) {
      this.snapshot.set({ viewBehindMs: changed });
      this.log(changed ? `this page shows the program about ${Math.round(changed / 1000)} s behind (frames wait for its decoder)` : 'this page keeps up with the program again');
    }
    void this.signaling
      ?.send({ kind: 'view', from: this.opts.userId, to: this.opts.hostId, behindMs: Math.min(3_600_000, Math.round(behindMs)) })
      .catch((err: Error) => this.log(`view report: ${err.message}`));
  }

  /**
   * Takes a call the host offered: a new link on which the guest is the polite
   * peer, sending the camera and microphone it has. Later changes (a device
   * turned on that the guest joined without) renegotiate on the same link.
   */
  private async answerCall(offer: Extract<SignalMessage, { kind: 'description' }>): Promise<void> {
    // Leaving: the tracks are stopped and the seat is being given up; no call is taken.
    if (this.closed || this.leaving) return;
    this.stopHello();
    this.callAnswered = true;
    this.endLink();
    const local = this.get().local;
    // Through the channel of the moment: one the server closed is joined anew while the call goes on.
    const joined = this.signaling!;
    const link = new PeerLink({
      signaling: { send: (msg) => (this.signaling ?? joined).send(msg) },
      selfId: this.opts.userId,
      peerId: this.opts.hostId,
      linkId: offer.link,
      polite: true,
      iceServers: this.iceServers,
      tracks: { video: local.getVideoTracks()[0] ?? null, audio: local.getAudioTracks()[0] ?? null },
      videoCap: this.uplinkCap,
      onRemoteStream: (stream) => this.snapshot.set({ program: stream }),
      onStateChange: (state) => {
        if (this.link !== link || this.closed) return;
        this.snapshot.set({ link: state });
        if (state === 'connected') {
          this.clearWatchdog();
          this.autoRetries = 0;
        } else if (state === 'failed') this.retrySoon(1000);
      },
      log: (m) => this.log(m),
    });
    this.link = link;
    this.snapshot.set({ link: 'connecting' });
    await link.handle(offer);
    if (this.link !== link || this.closed || this.get().link === 'connected') return;
    this.watchLink(link, Date.now());
  }

  /**
   * A link that does not connect (a lost offer or candidate, a host too busy
   * to finish) is called again after CONNECT_TIMEOUT_MS — unless it is still
   * connecting (ICE checks or DTLS under way), which a starved host can take a
   * minute to finish: a new call would start that minute over. Checks that
   * fail turn the link 'failed' by themselves, which calls again at once.
   */
  private watchLink(link: PeerLink, since: number): void {
    this.clearWatchdog();
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      if (this.link !== link || this.closed || this.get().link === 'connected') return;
      const state = link.pc.connectionState;
      if (keepWaiting(state, Date.now() - since)) {
        this.log(`the connection to the host is still being made (ICE ${link.pc.iceConnectionState}); waiting for it`);
        this.watchLink(link, since);
        return;
      }
      this.retrySoon(0);
    }, CONNECT_TIMEOUT_MS);
  }

  /** What the host asked us to send at most (it changes as the stage fills). */
  private uplinkCap: SendCap = GUEST_UPLINK;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private autoRetries = 0;

  private clearWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  /** Calls the host again by itself, a few times, before leaving it to the guest's "Try again". */
  private retrySoon(delayMs: number): void {
    this.clearWatchdog();
    if (this.closed || this.leaving) return;
    if (this.autoRetries >= AUTO_RETRIES) {
      // Out of automatic calls: the page says so and shows "Try again" (it must not stay "Connecting…").
      this.log(`connection to the host not established after ${AUTO_RETRIES} calls again; leaving it to the guest`);
      this.stopHello();
      this.snapshot.set({ link: 'failed', notice: this.get().notice ?? 'The connection to the host could not be made.' });
      return;
    }
    this.autoRetries += 1;
    this.log(`connection to the host not established; calling again (${this.autoRetries}/${AUTO_RETRIES})`);
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      if (!this.closed && !this.leaving && this.get().link !== 'connected') this.callAgain();
    }, delayMs);
  }

  /**
   * Says hello until the host answers with an offer (the host may join the
   * channel after us). Every hello carries the call's id, the same until an
   * offer comes: a busy host that gets many hellos answers the call once,
   * instead of starting it over for each (behind a backlog that also tore down
   * calls that had connected meanwhile). A call that was answered and then
   * failed or timed out is called anew, with a new id.
   */
  private sayHello(): void {
    // Leaving: no call to a host being told goodbye (a call under way when Leave was pressed ends here).
    if (this.leaving) return;
    this.stopHello();
    // Until an offer comes, calling again (after unanswered hellos) keeps the call: a slow host answers it once.
    if (!this.call || this.callAnswered) {
      this.call = newLinkId();
      this.callAnswered = false;
    }
    const call = this.call;
    let attempts = 0;
    let failures = 0;
    let lastFailure = '';
    const hello = () => {
      attempts += 1;
      if (attempts > HELLO_ATTEMPTS) {
        this.stopHello();
        const why = failures > 0 ? `; ${failures} did not get through (${lastFailure})` : '';
        this.log(`the host did not answer call ${call} (${HELLO_ATTEMPTS} hellos in ${(HELLO_ATTEMPTS * HELLO_INTERVAL_MS) / 1000} s${why})`);
        if (this.closed) return;
        // Go on calling by itself a while (a busy host answers late); then say so.
        if (this.autoRetries < AUTO_RETRIES) {
          this.autoRetries += 1;
          this.log(`still calling the host on call ${call} (${this.autoRetries}/${AUTO_RETRIES})`);
          this.sayHello();
          return;
        }
        this.snapshot.set({
          link: 'failed',
          notice:
            failures > 0
              ? `The host did not answer your call: ${failures} of ${HELLO_ATTEMPTS} attempts did not get through (${lastFailure}).`
              : 'The host did not answer your call.',
        });
        return;
      }
      const attempt = attempts;
      if (attempt === 1) this.log(`calling the host (call ${call})`);
      void this.signaling?.send({ kind: 'hello', from: this.opts.userId, to: this.opts.hostId, call }).catch((err: Error) => {
        failures += 1;
        lastFailure = err.message;
        this.log(`hello ${attempt}/${HELLO_ATTEMPTS}: ${err.message}`);
      });
    };
    hello();
    this.helloTimer = setInterval(hello, HELLO_INTERVAL_MS);
  }

  /** Closes the link (if any) for good: offers that still come on it are stale (offerKind). */
  private endLink(): void {
    if (!this.link) return;
    this.endedLinks.add(this.link.id);
    if (this.endedLinks.size > ENDED_LINKS_KEPT) this.endedLinks.delete(this.endedLinks.values().next().value!);
    this.link.close(false);
  }

  private stopHello(): void {
    if (this.helloTimer) clearInterval(this.helloTimer);
    this.helloTimer = null;
  }

  private onBye(): void {
    this.endLink();
    this.link = null;
    this.snapshot.set({ link: 'closed', program: null });
    // The host says bye when it removes the guest or ends the stream, and when its page goes: the seat says which,
    // at once, whether or not its own change has arrived yet.
    // A read of its own: one already on its way (live updates that came back) may have listed the seat before the removal.
    this.log('reading the seat again: the host said bye');
    void this.readSeat().catch((err: Error) => this.log(`could not read the seat again: ${err.message}`));
    if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
    this.rejoinTimer = setTimeout(() => {
      this.rejoinTimer = null;
      void getStream(this.opts.streamId)
        .then((stream) => {
          if (this.closed) return;
          if (stream?.status === 'ended') this.exit('stream_ended');
          else if (!this.leaving) this.sayHello();
        })
        .catch(() => !this.closed && !this.leaving && this.sayHello());
    }, REJOIN_DELAY_MS);
  }

  /** The guest's "Try again": calls the host anew, with its few automatic calls again behind it. */
  reconnect(): void {
    this.autoRetries = 0;
    this.callAgain();
  }

  /**
   * The ICE servers of the stream's open call, with this guest's TURN
   * credentials: none when no call is open. Asked again when the open call is
   * another one, since the host may have opened a new call meanwhile and the old
   * credentials may have been revoked with theirs; the same call's are kept (they
   * last a day, and each token mints credentials the account pays for: a guest
   * on a weak network who calls again and again would otherwise use up their
   * tokens and could not come back).
   */
  private async fetchIceServers(): Promise<void> {
    const { streamId } = this.opts;
    const call = await getActiveCallSession(streamId);
    if (call && call.sessionId === this.iceServersCall) return;
    this.iceServers = call ? (await generateCallToken(streamId, call.sessionId)).iceServers : [];
    this.iceServersCall = call?.sessionId ?? null;
  }
  /** The call whose ICE servers `iceServers` are. */
  private iceServersCall: string | null = null;

  /** Calls the host again after the connection failed (or could not start). */
  private callAgain(): void {
    // Leaving: no new call, nor a hello to a host that is being told goodbye.
    if (this.closed || this.leaving) return;
    // An automatic call already scheduled is this one.
    this.clearWatchdog();
    this.endLink();
    this.link = null;
    // A new call: the host answers it even if it took up (and lost) the last one.
    this.call = null;
    this.snapshot.set({ link: 'connecting', notice: null });
    if (this.following && this.signaling) {
      const signaling = this.signaling;
      void this.fetchIceServers()
        .catch((err: Error) => this.log(`could not renew the call's ICE servers (the last ones are used): ${err.message}`))
        .then(() => {
          if (!this.closed && this.signaling === signaling && !this.link) this.sayHello();
        });
    } else void this.start().catch((err: Error) => this.log(`reconnect: ${err.message}`));
  }

  /** Another guest's seat changed (taken, switched, left): the list a moderator works from follows. */
  private onOtherSeat(row: GuestSeatRow): void {
    if (this.closed || row.id === this.get().seat.id) return;
    const others = this.get().others;
    const held = others.find((s) => s.id === row.id);
    if (held && !isSeatUpdate(held, row)) return;
    const rest = others.filter((s) => s.id !== row.id);
    this.snapshot.set({ others: row.left_at === null ? [...rest, row].sort((a, b) => a.seat_index - b.seat_index) : rest });
  }

  /**
   * A moderator's action on another guest on stage; the changed seat shows at
   * once. The database decides who may: only a moderator, and not on another
   * moderator. Throws its refusal, said plainly.
   */
  async moderate(action: ModeratorAction, userId: string): Promise<void> {
    const { streamId } = this.opts;
    const act = { mute: muteGuest, unmute: unmuteGuest, 'camera-off': disableGuestCamera, 'camera-release': enableGuestCamera, remove: removeGuest }[action];
    this.onOtherSeat(await act(streamId, userId));
  }

  private async onSeat(row: GuestSeatRow): Promise<void> {
    if (this.closed) return;
    // A list fetched before a change can arrive after it: an older copy of the seat changes nothing.
    if (row.id === this.get().seat.id && !isSeatUpdate(this.get().seat, row)) return;
    if (row.left_at !== null) {
      if (this.leaving) return;
      this.exit(await whySeatClosed(row, this.opts.streamId));
      return;
    }
    const patch: Partial<GuestStageState> = { seat: row };
    // What the host turns off is off here at once; what they release stays off until the guest turns it on.
    if (row.muted_by_host) patch.micOn = false;
    if (row.camera_disabled_by_host) patch.cameraOn = false;
    // The seat says what the host's page sends: a switch that reads on while the seat says off (a page
    // reloaded after muting, a change missed while the updates were down) would have the guest talk to
    // nobody. Unless the guest's own change is on its way, the switch follows the seat.
    if (!row.mic_enabled && this.saving.audio === 0) patch.micOn = false;
    if (!row.camera_enabled && this.saving.video === 0) patch.cameraOn = false;
    // The host released what it had turned off: its refusal, still on screen, is no longer true.
    const refusal = this.hostRefusal;
    if (refusal && !(refusal.kind === 'audio' ? row.muted_by_host : row.camera_disabled_by_host)) {
      this.hostRefusal = null;
      if (this.get().notice === refusal.text) patch.notice = null;
    }
    this.snapshot.set(patch);
    this.applyTracks();
  }

  /** Track switches follow the state: on only while the guest wants it and the host allows it. */
  private applyTracks(): void {
    const { local, micOn, cameraOn, seat } = this.get();
    local.getAudioTracks().forEach((t) => (t.enabled = micOn && !seat.muted_by_host));
    local.getVideoTracks().forEach((t) => (t.enabled = cameraOn && !seat.camera_disabled_by_host));
  }

  private notice(message: string | null): void {
    if (!this.closed) this.snapshot.set({ notice: message });
  }

  clearNotice(): void {
    this.notice(null);
  }

  /**
   * The guest's microphone switch. Turning it on asks the database first (it
   * refuses while the host has the guest muted); turning it off is immediate.
   */
  async setMic(on: boolean): Promise<void> {
    await this.setMedia('audio', on);
  }

  /** The guest's camera switch; like the microphone, the database refuses to turn on what the host turned off. */
  async setCamera(on: boolean): Promise<void> {
    await this.setMedia('video', on);
  }

  /** The guest's own switch changes on their way to the database, per kind (onSeat leaves the switch alone meanwhile). */
  private readonly saving: Record<MediaKind, number> = { audio: 0, video: 0 };

  /** Each kind's switch changes, one after another: a second tap waits for the first (its device may be opening). */
  private readonly mediaOps: Record<MediaKind, Promise<void>> = { audio: Promise.resolve(), video: Promise.resolve() };

  private async setMedia(kind: MediaKind, on: boolean): Promise<void> {
    if (this.closed || this.leaving) return;
    this.saving[kind] += 1;
    const run = this.mediaOps[kind].then(() => (this.closed || this.leaving ? undefined : this.setMediaNow(kind, on)));
    this.mediaOps[kind] = run.catch(() => {});
    try {
      await run;
    } finally {
      this.saving[kind] -= 1;
    }
  }

  /** The host's refusal on screen (the switch the host turned off), cleared when the host releases it. */
  private hostRefusal: { kind: MediaKind; text: string } | null = null;

  private async setMediaNow(kind: MediaKind, on: boolean): Promise<void> {
    const { streamId } = this.opts;
    const save = kind === 'audio' ? setMyMic : setMyCamera;
    const key = kind === 'audio' ? 'micOn' : 'cameraOn';
    this.notice(null);
    if (!on) {
      this.snapshot.set({ [key]: false });
      this.applyTracks();
      const saved = await save(streamId, false).catch((err: Error) => this.notice(err.message));
      if (saved) this.keepSavedSeat(saved);
      return;
    }
    try {
      const saved = await save(streamId, true);
      // The seat as saved: a copy from before it (an earlier switch's) arriving late is then older and changes nothing.
      if (saved) this.keepSavedSeat(saved);
      // Left meanwhile: every track was stopped, and no device opens again.
      if (this.closed || this.leaving) return;
      if (!this.hasTrack(kind)) await this.openMissing(kind);
      if (this.closed || this.leaving) return;
      // The host may have turned it off while the device opened (a permission prompt can take a while):
      // a newer seat that says off wins, or the guest would look live while the host's page mutes them.
      const held = this.get().seat;
      const seat = saved && (saved.version ?? 0) >= (held.version ?? 0) ? saved : held;
      const off = kind === 'audio' ? seat.muted_by_host || !seat.mic_enabled : seat.camera_disabled_by_host || !seat.camera_enabled;
      if (off) {
        this.applyTracks();
        return;
      }
      this.snapshot.set({ [key]: true });
      this.applyTracks();
    } catch (err) {
      const text = err instanceof BackendError ? this.refusalText(err) : err instanceof DeviceError ? err.message : String(err);
      this.notice(text);
      if (err instanceof BackendError && (err.reason === 'muted_by_host' || err.reason === 'camera_disabled_by_host')) this.hostRefusal = { kind, text };
      // The database may have said yes before the device failed: keep it in step with what is sent.
      if (err instanceof DeviceError) await save(streamId, false).catch(() => {});
      throw err;
    }
  }

  /**
   * The database's refusal, naming who turned the switch off: its text says "the host" for any
   * host switch, while the seat records whether a moderator did.
   */
  private refusalText(err: BackendError): string {
    const seat = this.get().seat;
    const by = err.reason === 'muted_by_host' ? seat.mic_muted_by : err.reason === 'camera_disabled_by_host' ? seat.camera_disabled_by : null;
    if (!by || by === this.opts.hostId) return err.message;
    return err.message.replace(/The host muted your microphone/, 'A moderator muted your microphone').replace(/The host turned your camera off/, 'A moderator turned your camera off');
  }

  private keepSavedSeat(saved: GuestSeatRow): void {
    if (this.closed || saved.id !== this.get().seat.id || !isSeatUpdate(this.get().seat, saved)) return;
    this.snapshot.set({ seat: saved });
  }

  private hasTrack(kind: MediaKind): boolean {
    const local = this.get().local;
    return (kind === 'video' ? local.getVideoTracks() : local.getAudioTracks()).some((t) => t.readyState === 'live');
  }

  /** A device the guest joined without (refused or missing): open it and offer it to the host on the same call. */
  private async openMissing(kind: MediaKind): Promise<void> {
    const stored = storedDevice(kind);
    const track = stored ? await openDevice(kind, stored).catch(() => openDevice(kind)) : await openDevice(kind);
    await this.putTrack(kind, track);
  }

  /** Device changes run one after another: two quick switches each see the track the one before left. */
  private deviceOps: Promise<unknown> = Promise.resolve();

  /** Sends another camera or microphone, without renegotiating when the connection already carries that kind. */
  switchDevice(kind: MediaKind, deviceId: string): Promise<void> {
    const op = this.deviceOps.then(() => this.switchDeviceNow(kind, deviceId));
    this.deviceOps = op.catch(() => undefined);
    return op;
  }

  private async switchDeviceNow(kind: MediaKind, deviceId: string): Promise<void> {
    if (this.closed || this.leaving) return;
    this.notice(null);
    const local = this.get().local;
    const old = (kind === 'video' ? local.getVideoTracks() : local.getAudioTracks())[0] ?? null;
    if (old && trackDeviceId(old) === deviceId && old.readyState === 'live') return;
    // Phones cannot open two cameras at once: let go of the old one first.
    if (kind === 'video') old?.stop();
    let track: MediaStreamTrack;
    try {
      track = await openDevice(kind, deviceId);
    } catch (err) {
      if (kind === 'video' && old) {
        const back = await openDevice('video', trackDeviceId(old)).catch(() => null);
        if (back) await this.putTrack('video', back);
        else {
          await this.putTrack('video', null);
          // No camera at all now: the switch and the seat say off, so the host shows the avatar, not a frozen picture.
          if (this.get().cameraOn && !this.closed) {
            this.snapshot.set({ cameraOn: false });
            this.applyTracks();
            void setMyCamera(this.opts.streamId, false).catch((e: Error) => this.notice(e.message));
          }
        }
      }
      this.notice((err as Error).message);
      throw err;
    }
    storeDevice(kind, trackDeviceId(track) ?? deviceId);
    await this.putTrack(kind, track);
    if (kind === 'audio') old?.stop();
  }

  /** Replaces (or removes) the local track of a kind, on the wire and in the state. */
  private async putTrack(kind: MediaKind, track: MediaStreamTrack | null): Promise<void> {
    // Leaving is off the air at once: a device that opens meanwhile is not sent.
    if (this.closed || this.leaving) {
      track?.stop();
      return;
    }
    const local = this.get().local;
    const others = local.getTracks().filter((t) => t.kind !== kind);
    // Whatever of this kind the stream held is let go (a camera left open would stay on, its light too).
    const replaced = local.getTracks().filter((t) => t.kind === kind && t !== track);
    const next = new MediaStream(track ? [...others, track] : others);
    if (track && !local.getTracks().includes(track)) this.watchDevice(track);
    this.snapshot.set({
      local: next,
      ...(kind === 'video' ? { cameraId: trackDeviceId(track) } : { microphoneId: trackDeviceId(track) }),
    });
    this.applyTracks();
    // On the call: the same transceiver when the kind is already sent, otherwise the guest offers it (no new call).
    // Between calls, the next call's answer takes the track from the state.
    try {
      await this.link?.setTrack(kind, track);
    } finally {
      // The state holds the new track either way: what it replaced is let go even when the link refused it.
      for (const t of replaced) t.stop();
      void this.refreshDevices();
    }
  }

  private async refreshDevices(): Promise<void> {
    const devices = await listDevices().catch(() => this.get().devices);
    if (!this.closed) this.snapshot.set({ devices });
  }

  /**
   * The guest leaves their seat. Off the air at once: the camera and the
   * microphone stop before the seat is given up, which a slow network can
   * take seconds to confirm (given up after LEAVE_TIMEOUT_MS). A seat that
   * could not be given up is said in `leaveError`.
   */
  async leave(): Promise<void> {
    if (this.closed || this.leaving) return;
    this.leaving = true;
    // No more calls to a host being told goodbye.
    this.stopHello();
    this.clearWatchdog();
    stopStream(this.get().local);
    let failure: string | null = null;
    let gone = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      leaveSeat(this.opts.streamId),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the server did not answer in ${LEAVE_TIMEOUT_MS / 1000} s`)), LEAVE_TIMEOUT_MS))),
    ])
      .catch((err: Error) => {
        // The seat was closed already (the host removed them, or ended the stream, as they tapped Leave): nothing is held.
        if (err instanceof BackendError && err.reason === 'not_seated') gone = true;
        else failure = err.message;
      })
      .finally(() => clearTimeout(timer));
    if (gone && (await whySeatClosed(undefined, this.opts.streamId)) === 'stream_ended') {
      this.exit('stream_ended');
      return;
    }
    if (failure) this.snapshot.set({ leaveError: failure });
    this.exit('left');
  }

  private exit(why: StageExit): void {
    if (this.closed) return;
    this.snapshot.set({ exit: why });
    void this.close();
  }

  /** Ends the call, stops every track and every subscription. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopHello();
    this.clearWatchdog();
    if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
    if (this.channelRetryTimer) clearTimeout(this.channelRetryTimer);
    for (const c of this.cleanups.splice(0)) c();
    // The link says bye as it closes; between calls (saying hello, or given up) the host is told here, so that it
    // shows the guest away instead of calling a page that is gone for the rest of the show.
    if (this.link) this.link.close();
    else void this.signaling?.send({ kind: 'bye', from: this.opts.userId, to: this.opts.hostId }).catch(() => {});
    this.link = null;
    stopStream(this.get().local, this.get().program);
    if (this.get().link !== 'closed') this.snapshot.set({ link: 'closed' });
    await this.signaling?.close();
  }
}
