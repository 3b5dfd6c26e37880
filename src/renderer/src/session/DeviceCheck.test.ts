import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeviceCheck } from './GuestSession';
import { FakeMediaStream, FakeTrack } from '../rtc/fakePeerConnection';

let opened = 0;

beforeEach(() => {
  opened = 0;
  vi.stubGlobal('MediaStream', FakeMediaStream);
  vi.stubGlobal('window', { localStorage: { getItem: () => null, setItem: () => {} } });
  vi.stubGlobal('navigator', {
    mediaDevices: {
      getUserMedia: async (c: MediaStreamConstraints) => {
        opened += 1;
        const tracks: FakeTrack[] = [];
        if (c.video) tracks.push(new FakeTrack('video'));
        if (c.audio) tracks.push(new FakeTrack('audio'));
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
});
