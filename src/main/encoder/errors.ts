/** Errors of the ffmpeg pipeline; each carries a machine-readable `reason`. */
import { AppError } from '../../shared/errors';

/** No usable ffmpeg (or ffprobe) binary, or FFMPEG_PATH points at nothing runnable. */
export class FfmpegNotFoundError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ffmpeg_not_found', message, options);
  }
}

/** A video frame or audio chunk of the wrong shape; the session keeps running. */
export class EncoderInputError extends AppError {
  constructor(reason: 'invalid_video_frame' | 'invalid_audio_chunk', message: string) {
    super(reason, message);
  }
}

/** A call that does not fit the session's current state (start twice, use after dispose). */
export class EncoderStateError extends AppError {
  constructor(reason: 'already_started' | 'disposed', message: string) {
    super(reason, message);
  }
}

/** ffmpeg could not start the stream (it exited, failed to spawn, or never reported progress). */
export class EncoderStartError extends AppError {
  constructor(reason: 'ffmpeg_exited' | 'ffmpeg_spawn_failed' | 'start_timeout' | 'stopped', message: string, options?: { cause?: unknown }) {
    super(reason, message, options);
  }
}

/** No H.264 encoder passed a trial encode. */
export class EncoderUnavailableError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('encoder_unavailable', message, options);
  }
}

/** ROAST_ENCODER names an encoder this app does not know. */
export class EncoderOverrideError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_encoder_override', message, options);
  }
}
