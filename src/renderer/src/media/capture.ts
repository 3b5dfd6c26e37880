/** Camera and microphone capture with device errors a person can act on. */

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

export async function openCamera(opts: { width?: number; height?: number; frameRate?: number } = {}): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new DeviceError('device_error', 'This browser cannot capture a camera here (a secure context, https or localhost, is required).');
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: opts.width ?? 1280 }, height: { ideal: opts.height ?? 720 }, frameRate: { ideal: opts.frameRate ?? 30 } },
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (err) {
    throw toDeviceError(err);
  }
}
