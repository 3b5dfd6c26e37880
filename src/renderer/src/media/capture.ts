/** Camera and microphone capture with device errors a person can act on. */

import { recall, remember } from '../remembered';
import { AppError } from '../../../shared/errors';

export type DeviceErrorReason = 'permission_denied' | 'device_not_found' | 'device_in_use' | 'device_error';

export class DeviceError extends AppError {
  declare readonly reason: DeviceErrorReason;
  constructor(reason: DeviceErrorReason, message: string) {
    super(reason, message);
  }
}

export function toDeviceError(err: unknown): DeviceError {
  const name = (err as DOMException)?.name;
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new DeviceError('permission_denied', 'Camera or microphone access was denied. Allow it in the browser or system settings and try again.');
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new DeviceError('device_not_found', 'No camera or microphone was found. Connect one and try again.');
    case 'NotReadableError':
    case 'AbortError':
      return new DeviceError('device_in_use', 'The camera or microphone is in use by another application.');
    default:
      return new DeviceError('device_error', `Could not start the camera or microphone: ${(err as Error)?.message ?? String(err)}`);
  }
}

/**
 * The host's camera and microphone: the devices given when they are there
 * (asked for as `ideal`, so a device unplugged since falls back to the
 * default one), else the defaults. A host with only one of the two still gets
 * it (the errors say what is missing); throws only when neither opens.
 */
export async function openHostMedia(opts: { cameraId?: string | null; microphoneId?: string | null } = {}): Promise<OpenedMedia> {
  const media = await openCameraAndMicrophone({ ...opts, size: HOST_CAMERA, match: 'ideal' });
  if (media.stream.getTracks().length > 0) return media;
  const [problem] = describeDeviceErrors(media.errors);
  throw new DeviceError(problem?.reason ?? 'device_error', problem?.message ?? 'Neither a camera nor a microphone could be started.');
}

// Device choice and switching ----------------------------------------------------------------

export type MediaKind = 'audio' | 'video';

/** A camera or microphone as a person picks it from a list. */
export interface DeviceOption {
  deviceId: string;
  label: string;
}

export interface DeviceLists {
  cameras: DeviceOption[];
  microphones: DeviceOption[];
  /** Kinds the browser lists without ids: there are such devices, but this page may not use them (access refused). */
  blocked?: MediaKind[];
}

/** Size of the camera a guest sends: small enough for two shared cores and a phone's uplink. */
export const GUEST_CAMERA = { width: 640, height: 360, frameRate: 30 } as const;
/** The host's camera: a tile of the program, which goes out at up to 1080p. */
export const HOST_CAMERA = { width: 1280, height: 720, frameRate: 30 } as const;

/** Where each role's last chosen devices are kept on this computer. */
const REMEMBERED_DEVICE: Record<'host' | 'guest', Record<MediaKind, string>> = {
  host: { video: 'roast.host.cameraId', audio: 'roast.host.microphoneId' },
  guest: { video: 'roast.guest.cameraId', audio: 'roast.guest.microphoneId' },
};

/** The camera or microphone chosen last in this role on this computer, if any. */
export function rememberedDevice(role: 'host' | 'guest', kind: MediaKind): string | null {
  return recall(REMEMBERED_DEVICE[role][kind]);
}

export function rememberDevice(role: 'host' | 'guest', kind: MediaKind, deviceId: string | null): void {
  remember(REMEMBERED_DEVICE[role][kind], deviceId);
}

const KIND_NAMES: Record<MediaKind, { name: string; Name: string }> = {
  audio: { name: 'microphone', Name: 'Microphone' },
  video: { name: 'camera', Name: 'Camera' },
};

/** A capture failure of one kind of device, with a message that names that device and what to do. */
export function toKindDeviceError(kind: MediaKind, err: unknown): DeviceError {
  if (err instanceof DeviceError) return err;
  const { reason } = toDeviceError(err);
  const { name, Name } = KIND_NAMES[kind];
  switch (reason) {
    case 'permission_denied':
      return new DeviceError(reason, `${Name} access was denied. Allow the ${name} for this site in the browser or system settings, then try again.`);
    case 'device_not_found':
      return new DeviceError(reason, `No ${name} was found. Connect one and try again, or join with the ${name} off.`);
    case 'device_in_use':
      return new DeviceError(reason, `The ${name} is in use by another application. Close it and try again.`);
    default:
      return new DeviceError(reason, `Could not start the ${name}: ${(err as Error)?.message ?? String(err)}`);
  }
}

const HOST_WITHOUT: Record<MediaKind, string> = {
  video: 'your tile shows your name instead',
  audio: 'nobody hears you',
};

/**
 * What the studio says when the host has no camera or no microphone: what
 * happened, what the show does without it, and what to do. `ended` is a
 * device that stopped mid-show (unplugged, or taken by another application).
 */
export function hostDeviceMessage(kind: MediaKind, problem: DeviceError | 'ended'): string {
  const { name, Name } = KIND_NAMES[kind];
  const without = HOST_WITHOUT[kind];
  if (problem === 'ended') return `The ${name} stopped (unplugged, or taken by another application): ${without}. Try again when it is back, or pick another ${name} below.`;
  switch (problem.reason) {
    case 'permission_denied':
      return `${Name} access was denied: ${without}. Allow the ${name} in the browser or system settings, then try again.`;
    case 'device_not_found':
      return `No ${name} was found: ${without}. Connect one, then try again or pick it below.`;
    case 'device_in_use':
      return `The ${name} is in use by another application: ${without}. Close it, then try again.`;
    default:
      return `${problem.message.replace(/\.$/, '')}: ${without}. Try again, or pick another ${name} below.`;
  }
}

function requireMediaDevices(): MediaDevices {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new DeviceError('device_error', 'This browser cannot use a camera or microphone here (a secure context, https or localhost, is required).');
  }
  return navigator.mediaDevices;
}

/** The size and rate a camera is asked for. */
export type CameraSize = { width: number; height: number; frameRate: number };

/**
 * How a chosen device is asked for: `exact` (that device or an error, when a
 * person picks it) or `ideal` (that device if it is there, else the default).
 */
export type DeviceMatch = 'exact' | 'ideal';

function deviceIdConstraint(deviceId: string | null | undefined, match: DeviceMatch): MediaTrackConstraints {
  return deviceId ? { deviceId: { [match]: deviceId } } : {};
}

/** Constraints for a camera (a given one, or the default) at the guest size. */
export function cameraConstraints(deviceId?: string | null, size: CameraSize = GUEST_CAMERA, match: DeviceMatch = 'exact'): MediaTrackConstraints {
  return {
    ...deviceIdConstraint(deviceId, match),
    width: { ideal: size.width },
    height: { ideal: size.height },
    frameRate: { ideal: size.frameRate },
  };
}

/** Constraints for a microphone (a given one, or the default) with the voice processing a call needs. */
export function microphoneConstraints(deviceId?: string | null, match: DeviceMatch = 'exact'): MediaTrackConstraints {
  return { ...deviceIdConstraint(deviceId, match), echoCancellation: true, noiseSuppression: true, autoGainControl: true };
}

/** Opens one camera or microphone; throws a DeviceError naming it. */
export async function openDevice(kind: MediaKind, deviceId?: string | null, size: CameraSize = GUEST_CAMERA, match: DeviceMatch = 'exact'): Promise<MediaStreamTrack> {
  const devices = requireMediaDevices();
  try {
    const stream = await devices.getUserMedia(kind === 'video' ? { video: cameraConstraints(deviceId, size, match) } : { audio: microphoneConstraints(deviceId, match) });
    const track = stream.getTracks()[0];
    if (!track) throw new DeviceError('device_not_found', `No ${KIND_NAMES[kind].name} was found.`);
    return track;
  } catch (err) {
    throw toKindDeviceError(kind, err);
  }
}

export interface OpenedMedia {
  /** Whatever could be opened: zero, one or two tracks. */
  stream: MediaStream;
  /** Why a wanted kind could not be opened. */
  errors: Partial<Record<MediaKind, DeviceError>>;
}

/**
 * Opens a camera and a microphone together (one permission prompt); when that
 * fails, each alone, so that a guest without a camera (or who refused only the
 * camera) still gets the other. Never throws: failures come back per kind.
 */
export async function openCameraAndMicrophone(
  want: { cameraId?: string | null; microphoneId?: string | null; video?: boolean; audio?: boolean; size?: CameraSize; match?: DeviceMatch } = {},
): Promise<OpenedMedia> {
  const video = want.video ?? true;
  const audio = want.audio ?? true;
  const size = want.size ?? GUEST_CAMERA;
  const match = want.match ?? 'exact';
  const errors: OpenedMedia['errors'] = {};
  let devices: MediaDevices;
  try {
    devices = requireMediaDevices();
  } catch (err) {
    if (video) errors.video = err as DeviceError;
    if (audio) errors.audio = err as DeviceError;
    return { stream: new MediaStream(), errors };
  }
  if (video && audio) {
    try {
      const stream = await devices.getUserMedia({ video: cameraConstraints(want.cameraId, size, match), audio: microphoneConstraints(want.microphoneId, match) });
      return { stream, errors };
    } catch {
      // Try each alone below: one of them may still work.
    }
  }
  const stream = new MediaStream();
  const kinds: Array<[MediaKind, boolean, string | null | undefined]> = [
    ['video', video, want.cameraId],
    ['audio', audio, want.microphoneId],
  ];
  for (const [kind, wanted, deviceId] of kinds) {
    if (!wanted) continue;
    try {
      stream.addTrack(await openDevice(kind, deviceId, size, match));
    } catch (err) {
      errors[kind] = err as DeviceError;
    }
  }
  return { stream, errors };
}

/**
 * The cameras and microphones of this device. Labels are empty until the page
 * was granted access once; those get a numbered name instead.
 */
export async function listDevices(): Promise<DeviceLists> {
  if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], microphones: [] };
  const all = await navigator.mediaDevices.enumerateDevices();
  const pick = (kind: MediaDeviceKind, fallback: string): DeviceOption[] =>
    all
      .filter((d) => d.kind === kind && d.deviceId !== '')
      .map((d, i) => ({ deviceId: d.deviceId, label: d.label || `${fallback} ${i + 1}` }));
  const cameras = pick('videoinput', 'Camera');
  const microphones = pick('audioinput', 'Microphone');
  // Without access a browser lists each kind's devices with an empty id (or one entry for all): there are some.
  const hidden = (kind: MediaDeviceKind) => all.some((d) => d.kind === kind && d.deviceId === '');
  const blocked: MediaKind[] = [];
  if (cameras.length === 0 && hidden('videoinput')) blocked.push('video');
  if (microphones.length === 0 && hidden('audioinput')) blocked.push('audio');
  return blocked.length > 0 ? { cameras, microphones, blocked } : { cameras, microphones };
}

/** Calls back when a device is plugged in or out. */
export function onDevicesChanged(listener: () => void): () => void {
  const devices = navigator.mediaDevices;
  if (!devices?.addEventListener) return () => {};
  devices.addEventListener('devicechange', listener);
  return () => devices.removeEventListener('devicechange', listener);
}

/** The device a track captures from, when the browser says. */
/** Whether a self view of this camera is shown mirrored, as a mirror would: a camera facing away (a phone's back one) is not. */
export function mirrorsSelfView(track: MediaStreamTrack | null | undefined): boolean {
  return track?.getSettings?.().facingMode !== 'environment';
}

export function trackDeviceId(track: MediaStreamTrack | null | undefined): string | null {
  return track?.getSettings().deviceId ?? null;
}

/** Stops every track of the streams given (null ones are skipped). */
export function stopStream(...streams: Array<MediaStream | null | undefined>): void {
  for (const stream of streams) stream?.getTracks().forEach((t) => t.stop());
}

export interface DeviceProblem {
  /** The devices this problem is about (both when they failed the same way). */
  kinds: MediaKind[];
  reason: DeviceError['reason'];
  message: string;
}

const BOTH_MESSAGES: Partial<Record<DeviceError['reason'], string>> = {
  permission_denied: 'Camera and microphone access was denied. Allow both for this site in the browser or system settings, then try again.',
  device_not_found: 'No camera or microphone was found. Connect one and try again.',
  device_in_use: 'The camera and microphone are in use by another application. Close it and try again.',
};

/** Per-kind capture failures as a person reads them: one message when both failed for the same reason. */
export function describeDeviceErrors(errors: Partial<Record<MediaKind, DeviceError>>): DeviceProblem[] {
  const { video, audio } = errors;
  if (video && audio && video.reason === audio.reason && BOTH_MESSAGES[video.reason]) {
    return [{ kinds: ['video', 'audio'], reason: video.reason, message: BOTH_MESSAGES[video.reason]! }];
  }
  const problems: DeviceProblem[] = [];
  if (video) problems.push({ kinds: ['video'], reason: video.reason, message: video.message });
  if (audio) problems.push({ kinds: ['audio'], reason: audio.reason, message: audio.message });
  return problems;
}

/** The kinds of device worth offering a choice of: those the browser does not refuse (another device of a refused kind is refused too). */
export function pickableKinds(problems: ReadonlyArray<Pick<DeviceProblem, 'kinds' | 'reason'>>): MediaKind[] {
  const refused = new Set(problems.filter((p) => p.reason === 'permission_denied').flatMap((p) => p.kinds));
  return (['video', 'audio'] as const).filter((kind) => !refused.has(kind));
}
