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
