import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeviceCheck } from './GuestSession';
import { FakeMediaStream, FakeTrack } from '../rtc/fakePeerConnection';

let opened = 0;
/** When set, each getUserMedia waits for the test to call it (once). */
let gate: Promise<void> | null = null;
const tracksOpened: FakeTrack[] = [];

beforeEach(() => {
  opened = 0;
  gate = null;
  tracksOpened.length = 0;
  vi.stubGlobal('MediaStream', FakeMediaStream);
  vi.stubGlobal('window', { localStorage: { getItem: () => null, setItem: () => {} } });
  vi.stubGlobal('navigator', {
    mediaDevices: {
      getUserMedia: async (c: MediaStreamConstraints) => {
        opened += 1;
        const wait = gate;
        gate = null;
        if (wait) await wait;
        const tracks: FakeTrack[] = [];
        if (c.video) tracks.push(new FakeTrack('video'));
        if (c.audio) tracks.push(new FakeTrack('audio'));
        tracksOpened.push(...tracks);
        return new FakeMediaStream(tracks);
      },
      enumerateDevices: async () => [],
      addEventListener: () => {},
      removeEventListener: () => {},
    },
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('DeviceCheck', () => {
  it('hands the opened preview to the stage', async () => {
    const check = new DeviceCheck();
    await check.open();
    const joining = await check.release();
    expect(joining.stream.getVideoTracks()).toHaveLength(1);
    expect(joining.stream.getAudioTracks()).toHaveLength(1);
    expect(joining.cameraOn).toBe(true);
    expect(check.get().status).toBe('idle');
    check.dispose();
  });

  it('opens the devices when an invitation is accepted while the preview is closed (an earlier one ran out)', async () => {
    const check = new DeviceCheck();
    await check.open();
    check.stop(); // the first invitation expired: the preview closed
    const joining = await check.release(); // the next one accepted before the preview reopened
    expect(joining.stream.getVideoTracks()).toHaveLength(1);
    expect(joining.stream.getAudioTracks()).toHaveLength(1);
    expect(opened).toBe(2);
    check.dispose();
  });

  it('keeps the switches the guest set before joining', async () => {
    const check = new DeviceCheck();
    await check.open();
    check.setCameraOn(false);
    const joining = await check.release();
    expect(joining.cameraOn).toBe(false);
    expect(joining.stream.getVideoTracks()[0]!.enabled).toBe(false);
    check.dispose();
  });

  it('a guest who accepts during a camera switch joins with the new camera, not the stopped one', async () => {
    const check = new DeviceCheck();
    await check.open();
    const before = check.get().stream!.getVideoTracks()[0]!;
    let letOpen!: () => void;
    gate = new Promise((resolve) => (letOpen = resolve));
    const switching = check.choose('video', 'cam-2');
    const joining = check.release();
    await new Promise((resolve) => setTimeout(resolve, 0));
    letOpen();
    await switching;
    const media = await joining;
    const camera = media.stream.getVideoTracks()[0]!;
    expect(before.readyState).toBe('ended');
    expect(camera).not.toBe(before);
    expect(camera.readyState).toBe('live');
    check.dispose();
  });

  it('a switch that ends after the check closed lets its device go', async () => {
    const check = new DeviceCheck();
    await check.open();
    let letOpen!: () => void;
    gate = new Promise((resolve) => (letOpen = resolve));
    const switching = check.choose('video', 'cam-2');
    await new Promise((resolve) => setTimeout(resolve, 0));
    check.stop();
    letOpen();
    await switching;
    expect(check.get().stream).toBeNull();
    expect(tracksOpened.filter((t) => t.readyState === 'live')).toEqual([]);
    check.dispose();
  });

  it('a microphone unplugged while another camera opens stays gone, with its reason, once the camera is there', async () => {
    const check = new DeviceCheck();
    await check.open();
    const microphone = check.get().stream!.getAudioTracks()[0] as unknown as FakeTrack;
    let letOpen!: () => void;
    gate = new Promise((resolve) => (letOpen = resolve));
    const switching = check.choose('video', 'cam-2');
    await new Promise((resolve) => setTimeout(resolve, 0));
    microphone.unplug();
    letOpen();
    await switching;
    expect(check.get().stream!.getVideoTracks()).toHaveLength(1);
    expect(check.get().stream!.getAudioTracks()).toHaveLength(0);
    expect(check.get().errors.audio?.message).toMatch(/Your microphone stopped/);
    check.dispose();
  });

  it('a device that stops while the preview shows it leaves the preview with the reason, not a black picture', async () => {
    const check = new DeviceCheck();
    await check.open();
    expect(check.get().status).toBe('ready');
    const camera = check.get().stream!.getVideoTracks()[0] as unknown as FakeTrack;
    camera.unplug();
    expect(check.get().stream!.getVideoTracks()).toHaveLength(0);
    expect(check.get().stream!.getAudioTracks()).toHaveLength(1);
    expect(check.get().errors.video?.message).toMatch(/Your camera stopped \(unplugged, or taken by another application\)/);
    // Joining then starts with the camera off.
    const media = await check.release();
    expect(media.stream.getVideoTracks()).toHaveLength(0);
    check.dispose();
  });
});

describe('DeviceCheck asking for devices', () => {
  /** The cameras and microphones plugged in; the first of each is the default. */
  let plugged: Record<'video' | 'audio', string[]>;
  /** The device each getUserMedia call asked for, per kind (null: the default). */
  let asked: Array<Record<string, string | null>>;
  let storage: Map<string, string>;

  class DeviceTrack extends FakeTrack {
    constructor(
      kind: 'video' | 'audio',
      readonly deviceId: string,
    ) {
      super(kind);
    }
    override getSettings(): MediaTrackSettings {
      return { ...super.getSettings(), deviceId: this.deviceId };
    }
  }

  const wanted = (c: boolean | MediaTrackConstraints | undefined): string | null => {
    const id = typeof c === 'object' ? c.deviceId : undefined;
    return typeof id === 'object' && id !== null && 'exact' in id ? (id.exact as string) : typeof id === 'string' ? id : null;
  };

  beforeEach(() => {
    plugged = { video: ['cam-built-in'], audio: ['mic-built-in'] };
    asked = [];
    storage = new Map();
    vi.stubGlobal('localStorage', { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => storage.set(k, v) });
    vi.stubGlobal('navigator', {
      mediaDevices: {
        getUserMedia: async (c: MediaStreamConstraints) => {
          const request: Record<string, string | null> = {};
          const tracks: FakeTrack[] = [];
          for (const kind of ['video', 'audio'] as const) {
            if (!c[kind]) continue;
            const id = wanted(c[kind]);
            request[kind] = id;
            if (id !== null && !plugged[kind].includes(id)) {
              asked.push(request);
              throw Object.assign(new Error('Requested device not found'), { name: 'NotFoundError' });
            }
            tracks.push(new DeviceTrack(kind, id ?? plugged[kind][0]!));
          }
          asked.push(request);
          return new FakeMediaStream(tracks);
        },
        enumerateDevices: async () => [],
        addEventListener: () => {},
        removeEventListener: () => {},
      },
    });
  });

  const deviceOf = (check: DeviceCheck, kind: 'video' | 'audio'): string | undefined =>
    (kind === 'video' ? check.get().stream?.getVideoTracks()[0] : check.get().stream?.getAudioTracks()[0])?.getSettings().deviceId;

  it('a guest invited again opens the microphone they switched to on stage, not the one the earlier preview opened', async () => {
    plugged.audio.push('mic-headset');
    const check = new DeviceCheck();
    await check.open();
    expect(deviceOf(check, 'audio')).toBe('mic-built-in');
    await check.release(); // joined with the default microphone
    storage.set('roast.guest.microphoneId', 'mic-headset'); // the stage's Devices sheet remembers the switch
    await check.open(); // left, and invited again
    expect(deviceOf(check, 'audio')).toBe('mic-headset');
    expect(check.get().microphoneId).toBe('mic-headset');
    check.dispose();
  });

  it('"Try again" after the camera the preview showed was unplugged opens the camera that is there', async () => {
    plugged.video = ['cam-usb', 'cam-built-in'];
    const check = new DeviceCheck();
    await check.open();
    expect(deviceOf(check, 'video')).toBe('cam-usb');
    (check.get().stream!.getVideoTracks()[0] as unknown as FakeTrack).unplug();
    plugged.video = ['cam-built-in'];
    expect(check.get().errors.video?.message).toMatch(/Your camera stopped/);
    await check.retry();
    expect(check.get().errors).toEqual({});
    expect(deviceOf(check, 'video')).toBe('cam-built-in');
    expect(asked.at(-1)).toEqual({ video: null, audio: null });
    check.dispose();
  });

  it('a remembered camera that is gone: the default one opens instead', async () => {
    storage.set('roast.guest.cameraId', 'cam-usb');
    const check = new DeviceCheck();
    await check.open();
    expect(deviceOf(check, 'video')).toBe('cam-built-in');
    expect(check.get().errors).toEqual({});
    check.dispose();
  });
});
