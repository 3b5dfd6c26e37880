/**
 * The program's output formats a streamer can choose before going live:
 * size, frame rate and the video bitrate sent to the ingest. The bitrates
 * stay inside Cloudflare Stream's ingest range (2–14 Mbps with audio, under
 * 10 recommended) and follow the usual live-streaming ladders.
 */
import { AppError } from './errors';

export interface OutputFormat {
  id: OutputFormatId;
  label: string;
  width: number;
  height: number;
  fps: 30 | 60;
  videoBitrateKbps: number;
}

export const OUTPUT_FORMAT_IDS = ['720p30', '720p60', '1080p30', '1080p60'] as const;
export type OutputFormatId = (typeof OUTPUT_FORMAT_IDS)[number];

export const OUTPUT_FORMATS: Record<OutputFormatId, OutputFormat> = {
  '720p30': { id: '720p30', label: '720p · 30 fps', width: 1280, height: 720, fps: 30, videoBitrateKbps: 3000 },
  '720p60': { id: '720p60', label: '720p · 60 fps', width: 1280, height: 720, fps: 60, videoBitrateKbps: 4500 },
  '1080p30': { id: '1080p30', label: '1080p · 30 fps', width: 1920, height: 1080, fps: 30, videoBitrateKbps: 4500 },
  '1080p60': { id: '1080p60', label: '1080p · 60 fps', width: 1920, height: 1080, fps: 60, videoBitrateKbps: 6000 },
};

export const DEFAULT_OUTPUT_FORMAT: OutputFormatId = '720p30';

export function isOutputFormatId(value: unknown): value is OutputFormatId {
  return typeof value === 'string' && (OUTPUT_FORMAT_IDS as readonly string[]).includes(value);
}

/** The format named `value`; anything else is refused, saying which ones exist. */
export function outputFormat(value: string): OutputFormat {
  if (!isOutputFormatId(value)) {
    throw new AppError('invalid_output_format', `unknown output format "${value}": choose one of ${OUTPUT_FORMAT_IDS.join(', ')}`);
  }
  return OUTPUT_FORMATS[value];
}
