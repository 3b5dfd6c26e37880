/**
 * The host's program: participants → compositor (video) and mixer (audio) →
 * NativeBridge → encoder. Owns the 30 Hz frame clock.
 */
import type { EncoderStartResult, EncoderStats, NativeBridge } from '../../../shared/bridge';
import { programLayout, type ProgramLayoutKind } from '../../../shared/layout';
import { AudioMixer } from './AudioMixer';
import { drawAvatarTile } from './avatarTile';
import { Compositor } from './Compositor';

export interface Participant {
  id: string;
  label: string;
  stream: MediaStream;
  /** Camera off (by the guest or the host): the avatar tile is shown instead. */
  cameraOn?: boolean;
  /** Mic off: the participant is left out of the program audio. */
  micOn?: boolean;
  /** Gain in the program mix, 0..2. */
  volume?: number;
}

export interface BroadcastOptions {
  publishUrl: string;
  width: number;
  height: number;
  fps: number;
  videoBitrateKbps?: number;
}

export class Broadcaster {
  readonly compositor: Compositor;
  private mixer: AudioMixer | null = null;
  private readonly videos = new Map<string, HTMLVideoElement>();
  private readonly avatars = new Map<string, { canvas: HTMLCanvasElement; label: string }>();
  private readonly shown = new Map<string, 'video' | 'avatar'>();
  /** Audio track ids fed to the mixer per participant (a remote stream gains its audio track after its video). */
  private readonly mixed = new Map<string, string>();
  private participants: Participant[] = [];
  private order: string[] = [];
  private layoutKind: ProgramLayoutKind = 'grid';
  private focusId: string | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private unsubscribeStats: (() => void) | null = null;
  private live = false;
  framesSent = 0;
  framesSkipped = 0;
  lastRenderMs = 0;

  constructor(
    canvas: HTMLCanvasElement,
    private readonly bridge: NativeBridge,
    readonly width = 1280,
    readonly height = 720,
  ) {
    this.compositor = new Compositor(canvas, width, height);
  }

  /** Program audio level per participant (dBFS), empty until live. */
  audioLevels(): Record<string, number> {
    return this.mixer?.levels() ?? {};
  }

  /** The program picture as a track, sent back to guests. */
  captureProgram(fps = 30): MediaStreamTrack | null {
    return this.compositor.canvas.captureStream(fps).getVideoTracks()[0] ?? null;
  }

  /** Sets who is on the program, in order (host first), with their camera, mic and volume. */
  setParticipants(participants: Participant[]): void {
    const ids = new Set(participants.map((p) => p.id));
    for (const [id, video] of this.videos) {
      if (!ids.has(id)) {
        this.compositor.removeSource(id);
        this.mixer?.removeInput(id);
        video.srcObject = null;
        this.videos.delete(id);
        this.avatars.delete(id);
        this.shown.delete(id);
        this.mixed.delete(id);
      }
    }
    for (const p of participants) {
      let video = this.videos.get(p.id);
      const newStream = !video || video.srcObject !== p.stream;
      if (newStream) {
        video ??= document.createElement('video');
        video.muted = true; // program audio goes through the mixer; people hear media elements
        video.playsInline = true;
        video.autoplay = true;
        video.srcObject = p.stream;
        void video.play().catch(() => {});
        this.videos.set(p.id, video);
        this.shown.delete(p.id);
      }
      this.showCameraOrAvatar(p, video!);
      this.feedMixer(p);
    }
    this.participants = participants;
    this.order = participants.map((p) => p.id);
    this.relayout();
  }

  /** (Re)connects a participant's audio to the mix when its track changed, and applies mic and volume. */
  private feedMixer(p: Participant): void {
    if (!this.mixer) return;
    const trackIds = p.stream
      .getAudioTracks()
      .map((t) => t.id)
      .join(',');
    if (this.mixed.get(p.id) !== trackIds) {
      this.mixer.setInput(p.id, p.stream);
      this.mixed.set(p.id, trackIds);
    }
    this.mixer.setGain(p.id, p.micOn === false ? 0 : (p.volume ?? 1));
  }

  private showCameraOrAvatar(p: Participant, video: HTMLVideoElement): void {
    const want = p.cameraOn === false ? 'avatar' : 'video';
    let avatar = this.avatars.get(p.id);
    if (want === 'avatar' && (!avatar || avatar.label !== p.label)) {
      avatar = { canvas: drawAvatarTile(avatar?.canvas ?? document.createElement('canvas'), p.label), label: p.label };
      this.avatars.set(p.id, avatar);
      this.shown.delete(p.id);
    }
    if (this.shown.get(p.id) === want) return;
    this.compositor.setSource({ id: p.id, element: want === 'avatar' ? avatar!.canvas : video });
    this.shown.set(p.id, want);
  }

  /** Chooses the program layout live; `focusId` is the spotlighted participant. */
  setLayout(kind: ProgramLayoutKind, focusId: string | null = null): void {
    this.layoutKind = kind;
    this.focusId = focusId;
    this.relayout();
  }

  private relayout(): void {
    const sources = this.order.map((id) => ({ id, ...this.compositor.sourceSize(id) }));
    this.compositor.setScene(programLayout(this.layoutKind, sources, this.width, this.height, this.focusId));
  }

  /** Renders the preview without encoding (before going live). */
  startPreview(fps = 30): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), 1000 / fps);
  }

  async goLive(opts: BroadcastOptions, onStats: (stats: EncoderStats) => void): Promise<EncoderStartResult> {
    const result = await this.bridge.invoke('encoder:start', {
      url: opts.publishUrl,
      width: opts.width,
      height: opts.height,
      fps: opts.fps,
      videoBitrateKbps: opts.videoBitrateKbps ?? 3000,
      audioBitrateKbps: 128,
    });
    this.unsubscribeStats = this.bridge.on('encoder:stats', onStats);
    const mixer = new AudioMixer();
    this.mixer = mixer;
    this.mixed.clear();
    for (const p of this.participants) this.feedMixer(p);
    await mixer.start((chunk) => {
      if (this.live) this.bridge.send('encoder:audio', chunk.pcm, chunk.timestampMs);
    });
    this.live = true;
    this.startPreview(opts.fps);
    return result;
  }

  private tick(): void {
    const started = performance.now();
    // Sources change size when a camera starts or a guest's resolution ramps up.
    this.relayout();
    this.compositor.render();
    if (this.live) {
      for (const { frame, timestampMs } of this.compositor.collect((n) => new Uint8Array(n))) {
        this.bridge.send('encoder:video', frame.buffer as ArrayBuffer, timestampMs);
        this.framesSent += 1;
      }
      if (!this.compositor.beginReadback(started)) this.framesSkipped += 1;
    }
    this.lastRenderMs = performance.now() - started;
  }

  async stop(): Promise<void> {
    this.live = false;
    this.unsubscribeStats?.();
    this.unsubscribeStats = null;
    await this.mixer?.dispose();
    this.mixer = null;
    await this.bridge.invoke('encoder:stop');
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.live = false;
    void this.mixer?.dispose();
    this.mixer = null;
    for (const v of this.videos.values()) v.srcObject = null;
    this.videos.clear();
    this.compositor.dispose();
  }
}
