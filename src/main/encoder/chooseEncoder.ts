/**
 * Where the program's H.264 is made, decided before the stream starts:
 *
 * 1. `ROAST_ENCODER=webcodecs`: the renderer encodes (a clear error when it said
 *    it cannot); any other `ROAST_ENCODER`: that ffmpeg encoder (detectEncoder).
 * 2. Otherwise ffmpeg's hardware encoders first (detectEncoder's trial encodes).
 * 3. With none, the renderer's own encoder (WebCodecs) when it can encode: only
 *    ~12 KB a frame then crosses the bridge instead of a 1.4 MB raw picture,
 *    and only new pictures are encoded, not the repeats of a constant rate
 *    (bench/hostChain.ts measures both side by side).
 * 4. Else libx264 in ffmpeg.
 *
 * An ffmpeg with no working H.264 encoder at all can still carry the
 * renderer's H.264 (it only muxes it): without ROAST_ENCODER, the renderer
 * encodes then, and the note says why.
 */
import type { EncoderChoice, EncoderChooseInput } from '../../shared/bridge';
import { ENCODER_OVERRIDE_ENV, describeSelection, detectEncoderOnce, skippedSummary, type EncoderSelection } from './detectEncoder';
import { EncoderOverrideError, EncoderUnavailableError } from './errors';
import { resolveFfmpeg } from './ffmpegPath';

/** The name of the renderer's encoder in choices, stats and `ROAST_ENCODER`. */
export const RENDERER_ENCODER = 'webcodecs';

export interface ChooseEncoderDeps {
  env?: NodeJS.ProcessEnv;
  ffmpegPath?: () => string;
  detect?: (options: { ffmpegPath: string; env: NodeJS.ProcessEnv }) => Promise<EncoderSelection>;
}

export async function chooseProgramEncoder(input: EncoderChooseInput, deps: ChooseEncoderDeps = {}): Promise<EncoderChoice> {
  const env = deps.env ?? process.env;
  const override = env[ENCODER_OVERRIDE_ENV]?.trim() ?? '';
  if (override === RENDERER_ENCODER) {
    if (!input.rendererH264) {
      throw new EncoderOverrideError(
        `${ENCODER_OVERRIDE_ENV}=${RENDERER_ENCODER}, but this renderer cannot encode the program as H.264 (its VideoEncoder refused the stream's settings). Unset ${ENCODER_OVERRIDE_ENV} to choose automatically.`,
      );
    }
    return { video: 'h264', encoder: RENDERER_ENCODER, note: `set by ${ENCODER_OVERRIDE_ENV}` };
  }
  const ffmpegPath = (deps.ffmpegPath ?? (() => resolveFfmpeg().path))();
  const detect = deps.detect ?? detectEncoderOnce;
  let selection: EncoderSelection;
  try {
    selection = await detect({ ffmpegPath, env });
  } catch (error) {
    // A forced ffmpeg encoder that does not work stays an error: the streamer asked for that one.
    if (!(error instanceof EncoderUnavailableError) || override !== '' || !input.rendererH264) throw error;
    return {
      video: 'h264',
      encoder: RENDERER_ENCODER,
      note: `no H.264 encoder works in ffmpeg (${error.message}): the renderer encodes, ffmpeg muxes`,
    };
  }
  if (selection.encoder !== 'libx264' || override !== '' || !input.rendererH264) {
    const why = !input.rendererH264 && selection.encoder === 'libx264' && override === '' ? '; the renderer cannot encode H.264' : '';
    return { video: 'i420', encoder: selection.encoder, note: `${describeSelection(selection)}${why}` };
  }
  const skipped = skippedSummary(selection.skipped);
  return {
    video: 'h264',
    encoder: RENDERER_ENCODER,
    note: `no hardware encoder in ffmpeg${skipped ? ` (${skipped})` : ''}: the renderer encodes, ffmpeg muxes`,
  };
}
