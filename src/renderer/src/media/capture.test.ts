/**
 * The host's camera and microphone: whichever of the two opens is enough to
 * start the studio (the other is named with what to do), both failing is one
 * clear error; devices are asked for as `ideal` at the host's size.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeviceError, hostDeviceMessage, HOST_CAMERA, listDevices, mirrorsSelfView, openHostMedia, pickableKinds } from './capture';

interface FakeTrack {
  kind: 'audio' | 'video';
}

class FakeStream {
  readonly tracks: FakeTrack[];
  constructor(tracks: FakeTrack[] = []) {
    this.tracks = [...tracks];
  }
  getTracks = () => [...this.tracks];
  addTrack = (t: FakeTrack) => void this.tracks.push(t);
}

const original = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
const originalStream = Object.getOwnPropertyDescriptor(globalThis, 'MediaStream');

/** A browser whose getUserMedia fails for the kinds given, with the DOMException name given. */
function browser(fail: Partial<Record<'audio' | 'video', string>>) {
  const asked: MediaStreamConstraints[] = [];
  const getUserMedia = async (constraints: MediaStreamConstraints) => {
    asked.push(constraints);
    for (const kind of ['video', 'audio'] as const) {
      if (constraints[kind] && fail[kind]) throw Object.assign(new Error(`${kind} failed`), { name: fail[kind] });
    }
    return new FakeStream((['video', 'audio'] as const).filter((k) => constraints[k]).map((kind) => ({ kind })));
  };
  Object.defineProperty(globalThis, 'navigator', { value: { mediaDevices: { getUserMedia } }, configurable: true });
  Object.defineProperty(globalThis, 'MediaStream', { value: FakeStream, configurable: true });
  return asked;
}

afterEach(() => {
  if (original) Object.defineProperty(globalThis, 'navigator', original);
  else delete (globalThis as { navigator?: unknown }).navigator;
  if (originalStream) Object.defineProperty(globalThis, 'MediaStream', originalStream);
  else delete (globalThis as { MediaStream?: unknown }).MediaStream;
});

const kinds = (stream: MediaStream) => stream.getTracks().map((t) => t.kind);

describe('openHostMedia', () => {
  it('opens both together, the chosen devices as ideal, at the host camera size', async () => {
    const asked = browser({});
    const { stream, errors } = await openHostMedia({ cameraId: 'cam-1', microphoneId: 'mic-1' });
    expect(kinds(stream)).toEqual(['video', 'audio']);
    expect(errors).toEqual({});
    expect(asked).toHaveLength(1);
    const video = asked[0]!.video as MediaTrackConstraints;
    expect(video.deviceId).toEqual({ ideal: 'cam-1' });
    expect(video.width).toEqual({ ideal: HOST_CAMERA.width });
    expect((asked[0]!.audio as MediaTrackConstraints).deviceId).toEqual({ ideal: 'mic-1' });
    expect((asked[0]!.audio as MediaTrackConstraints).echoCancellation).toBe(true);
  });

  it('without a camera, gives the microphone and says why the camera is missing', async () => {
    browser({ video: 'NotFoundError' });
    const { stream, errors } = await openHostMedia();
    expect(kinds(stream)).toEqual(['audio']);
    expect(errors.video).toBeInstanceOf(DeviceError);
    expect(errors.video!.reason).toBe('device_not_found');
    expect(errors.audio).toBeUndefined();
  });

  it('with the microphone refused, gives the camera', async () => {
    browser({ audio: 'NotAllowedError' });
    const { stream, errors } = await openHostMedia();
    expect(kinds(stream)).toEqual(['video']);
    expect(errors.audio!.reason).toBe('permission_denied');
  });

  it('throws one clear error when neither opens', async () => {
    browser({ video: 'NotAllowedError', audio: 'NotAllowedError' });
    await expect(openHostMedia()).rejects.toThrow('Camera and microphone access was denied. Allow both for this site in the browser or system settings, then try again.');
  });

  it('throws the camera first when both fail differently', async () => {
    browser({ video: 'NotReadableError', audio: 'NotFoundError' });
    await expect(openHostMedia()).rejects.toMatchObject({ reason: 'device_in_use', message: expect.stringMatching(/^The camera is in use/) });
  });

  it('says where the browser cannot capture at all', async () => {
    browser({});
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true });
    await expect(openHostMedia()).rejects.toThrow(/secure context/);
  });
});

describe('hostDeviceMessage', () => {
  it('says what happened, what the show does without the device, and what to do', () => {
    expect(hostDeviceMessage('video', new DeviceError('device_not_found', 'x'))).toBe('No camera was found: your tile shows your name instead. Connect one, then try again or pick it below.');
    expect(hostDeviceMessage('audio', new DeviceError('permission_denied', 'x'))).toBe(
      'Microphone access was denied: nobody hears you. Allow the microphone in the browser or system settings, then try again.',
    );
    expect(hostDeviceMessage('audio', new DeviceError('device_in_use', 'x'))).toBe(
      'The microphone is in use by another application: nobody hears you. Close it, then try again.',
    );
    expect(hostDeviceMessage('video', new DeviceError('device_error', 'Could not start the camera: boom.'))).toBe(
      'Could not start the camera: boom: your tile shows your name instead. Try again, or pick another camera below.',
    );
    expect(hostDeviceMessage('audio', 'ended')).toBe('The microphone stopped (unplugged, or taken by another application): nobody hears you. Try again when it is back, or pick another microphone below.');
  });
});

describe('pickableKinds', () => {
  it('offers every device with no problem, or with problems other than a refusal', () => {
    expect(pickableKinds([])).toEqual(['video', 'audio']);
    expect(pickableKinds([{ kinds: ['video'], reason: 'device_not_found' }, { kinds: ['audio'], reason: 'device_in_use' }])).toEqual(['video', 'audio']);
  });

  it('leaves out only the kind the browser refuses', () => {
    expect(pickableKinds([{ kinds: ['video'], reason: 'permission_denied' }])).toEqual(['audio']);
    expect(pickableKinds([{ kinds: ['audio'], reason: 'permission_denied' }, { kinds: ['video'], reason: 'device_not_found' }])).toEqual(['video']);
    expect(pickableKinds([{ kinds: ['video', 'audio'], reason: 'permission_denied' }])).toEqual([]);
  });
});

describe('mirrorsSelfView', () => {
  const track = (facingMode?: string) => ({ getSettings: () => (facingMode ? { facingMode } : {}) }) as unknown as MediaStreamTrack;

  it('mirrors a front or unknown camera, as a mirror would, and not a phone’s back camera', () => {
    expect(mirrorsSelfView(track('user'))).toBe(true);
    expect(mirrorsSelfView(track())).toBe(true);
    expect(mirrorsSelfView(null)).toBe(true);
    expect(mirrorsSelfView(track('environment'))).toBe(false);
  });
});

describe('listDevices', () => {
  afterEach(() => vi.unstubAllGlobals());
  const devicesAre = (list: Array<{ kind: MediaDeviceKind; deviceId: string; label?: string }>) =>
    vi.stubGlobal('navigator', { mediaDevices: { enumerateDevices: async () => list.map((d) => ({ label: '', ...d })) } });

  it('says which kinds exist but are hidden from a page refused access, so the picker does not say "none found"', async () => {
    devicesAre([
      { kind: 'videoinput', deviceId: 'cam-1', label: 'Front' },
      { kind: 'audioinput', deviceId: '' },
    ]);
    expect(await listDevices()).toEqual({ cameras: [{ deviceId: 'cam-1', label: 'Front' }], microphones: [], blocked: ['audio'] });
    devicesAre([{ kind: 'videoinput', deviceId: 'cam-1' }]);
    expect(await listDevices()).toEqual({ cameras: [{ deviceId: 'cam-1', label: 'Camera 1' }], microphones: [] });
  });
});
