/**
 * Pure ffmpeg command lines for the program encoder.
 *
 * Inputs: I420 video frames on stdin (pipe:0), each with its timestamp on the
 * session's media clock (a Matroska stream, see matroska.ts: only new frames
 * are written), and interleaved stereo f32le PCM at 48 kHz on fd 3 (pipe:3),
 * timed by its sample count on the same clock. Both start at media time 0.
 * Output: H.264 + AAC in FLV to the RTMP(S) ingest with Cloudflare Stream's
 * settings (constant frame rate made by ffmpeg, CBR, no B-frames, closed GOP,
 * a keyframe every 2 s by time), optionally teed into a local recording, and
 * machine-readable progress on stdout (pipe:1). A "file" run writes only the
 * recording (the renderer's H.264 recorded by a process of its own).
 */
import type { EncoderStartOptions } from '../../shared/bridge';

export const H264_ENCODERS = ['libx264', 'h264_nvenc', 'h264_qsv', 'h264_vaapi', 'h264_videotoolbox', 'h264_amf', 'h264_mf'] as const;
export type H264Encoder = (typeof H264_ENCODERS)[number];

export function isH264Encoder(name: string): name is H264Encoder {
  return (H264_ENCODERS as readonly string[]).includes(name);
}

/** Seconds between keyframes (Cloudflare Stream: 2 s for low latency). */
export const KEYFRAME_INTERVAL_S = 2;

/** Frames ffmpeg may hold between reading and encoding (its input thread's queue). */
export const VIDEO_QUEUE_FRAMES = 8;

/** Microseconds ffmpeg waits on a stalled network write before giving up (the session then reconnects). */
export const NETWORK_TIMEOUT_US = 10_000_000;

interface EncoderProfile {
  /** Options placed before the inputs (device setup). */
  global: readonly string[];
  /** Pixel format the encoder takes from the yuv420p input, or a filter chain that uploads it. */
  pixelFormat: { pixFmt: string } | { filter: string };
  /**
   * Encoder-specific rate control, preset, profile and latency options. Every
   * name here exists in ffmpeg 5.1, 6 and 7 (`ffmpeg -h encoder=<name>`):
   * options added later (e.g. h264_videotoolbox's constant_bit_rate, h264_amf's
   * forced_idr) would make an older ffmpeg refuse the whole command line.
   */
  codec: readonly string[];
}

/** The VAAPI render node (the first GPU). */
export const VAAPI_DEVICE = '/dev/dri/renderD128';

/**
 * Per encoder. The common part (buildFfmpegArgs) sets the bitrate with
 * -b:v = -minrate = -maxrate = -bufsize, -bf 0, a 2 s GOP and keyframes forced
 * every 2 s of output time; these add what each encoder needs on top:
 * - libx264: CBR through nal-hrd=cbr; no scene-cut keyframes (sc_threshold is its own option).
 * - h264_nvenc: -rc cbr, low-latency tuning, forced keyframes as IDR.
 * - h264_qsv: CBR follows from -b:v = -maxrate with look-ahead off; forced keyframes as IDR.
 * - h264_vaapi: -rc_mode CBR on frames uploaded to the render node (every I frame is an IDR by default).
 * - h264_videotoolbox: hardware only, real-time; the bitrate is capped by -maxrate/-bufsize
 *   (ffmpeg before 6.1 has no constant_bit_rate option).
 * - h264_amf: -rc cbr with filler data and HRD enforced; the IDR period is the GOP.
 * - h264_mf: -rate_control cbr in the live-streaming scenario on the hardware MFT; Media Foundation
 *   falls back to Baseline unless the generic profile is High (100).
 */
const PROFILES: Record<H264Encoder, EncoderProfile> = {
  libx264: {
    global: [],
    pixelFormat: { pixFmt: 'yuv420p' },
    codec: ['-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-x264-params', 'nal-hrd=cbr', '-sc_threshold', '0'],
  },
  h264_nvenc: {
    global: [],
    pixelFormat: { pixFmt: 'yuv420p' },
    codec: ['-preset', 'p4', '-tune', 'll', '-rc', 'cbr', '-profile:v', 'high', '-forced-idr', '1', '-zerolatency', '1'],
  },
  h264_qsv: {
    global: [],
    pixelFormat: { pixFmt: 'nv12' },
    codec: ['-preset', 'veryfast', '-profile:v', 'high', '-look_ahead', '0', '-forced_idr', '1'],
  },
  h264_vaapi: {
    global: ['-vaapi_device', VAAPI_DEVICE],
    pixelFormat: { filter: 'format=nv12,hwupload' },
    codec: ['-rc_mode', 'CBR', '-profile:v', 'high'],
  },
  h264_videotoolbox: {
    global: [],
    pixelFormat: { pixFmt: 'yuv420p' },
    codec: ['-realtime', '1', '-profile:v', 'high', '-allow_sw', '0'],
  },
  h264_amf: {
    global: [],
    pixelFormat: { pixFmt: 'yuv420p' },
    codec: ['-usage', 'lowlatency', '-quality', 'speed', '-rc', 'cbr', '-enforce_hrd', '1', '-filler_data', '1', '-profile:v', 'high'],
  },
  h264_mf: {
    global: [],
    pixelFormat: { pixFmt: 'nv12' },
    codec: ['-rate_control', 'cbr', '-scenario', 'live_streaming', '-hw_encoding', '1', '-profile:v', '100'],
  },
};

/** The options buildFfmpegArgs adds for `encoder` alone (rate control mode, preset, profile, latency). */
export function encoderSpecificArgs(encoder: H264Encoder): readonly string[] {
  return PROFILES[encoder].codec;
}

export interface BuildArgsOptions {
  /** The ffmpeg encoder for raw frames; ignored when the renderer sends H.264 (`opts.video` "h264"), which is copied. */
  encoder: H264Encoder | null;
  /** Overrides opts.recordPath (e.g. the numbered part after a reconnect); null disables recording. */
  recordPath?: string | null;
  /**
   * Where the run writes: "stream" (the default) to opts.url, teed into the
   * recording when there is one; "file" only to the recording (a process of
   * its own, so that the network's trouble never holds the file back).
   */
  target?: 'stream' | 'file';
}

/** The full ffmpeg argument list (without the binary) for one encoder run. */
/**
 * The program's pictures are BT.601 with limited range (the renderer converts to I420 so, and tags its own
 * H.264 so). Said in the stream too: untagged, players take 720p and larger for BT.709 and shift the colours.
 */
export const PROGRAM_COLOUR_ARGS = ['-colorspace', 'smpte170m', '-color_primaries', 'smpte170m', '-color_trc', 'smpte170m', '-color_range', 'tv'];

export function buildFfmpegArgs(opts: EncoderStartOptions, { encoder, recordPath = opts.recordPath ?? null, target = 'stream' }: BuildArgsOptions): string[] {
  if (target === 'file' && recordPath === null) throw new RangeError('a recording run needs a file to write');
  const copy = opts.video === 'h264';
  if (!copy && encoder === null) throw new RangeError('raw frames need an ffmpeg encoder');
  const profile = copy ? null : PROFILES[encoder!];
  const kbps = `${opts.videoBitrateKbps}k`;
  const gop = String(opts.fps * KEYFRAME_INTERVAL_S);
  const args = ['-hide_banner', '-loglevel', 'warning', '-nostats', '-nostdin', ...(profile?.global ?? [])];

  // Input 0: timestamped I420 frames on stdin. Probing stops at the first frame (the header says everything), so
  // ffmpeg opens the audio input at once; a short queue keeps video from piling up inside ffmpeg when it falls behind
  // (the session then sees back-pressure and keeps only the latest frame).
  args.push(
    '-f', 'matroska', '-probesize', '32', '-analyzeduration', '0', '-fpsprobesize', '0',
    '-thread_queue_size', String(VIDEO_QUEUE_FRAMES), '-i', 'pipe:0',
  );
  // Input 1: PCM on fd 3. A tiny probe keeps ffmpeg from blocking on audio while video waits (two-pipe deadlock).
  args.push(
    '-f', 'f32le', '-ar', String(opts.sampleRate), '-ac', String(opts.channels),
    '-probesize', '32', '-analyzeduration', '0', '-thread_queue_size', '64', '-i', 'pipe:3',
  );
  args.push('-map', '0:v:0', '-map', '1:a:0');

  if (profile) {
    // Constant output rate from the frames' timestamps: ffmpeg repeats a frame when no new one came in time
    // (dup_frames) and drops one when two fall into the same output slot (drop_frames).
    args.push('-fps_mode', 'cfr', '-r', String(opts.fps));
    args.push('-c:v', encoder!, ...profile.codec);
    args.push(...rateControlArgs(kbps, gop));
    args.push('-force_key_frames', `expr:gte(t,n_forced*${KEYFRAME_INTERVAL_S})`);
    args.push(...pixelFormatArgs(profile));
    args.push(...PROGRAM_COLOUR_ARGS);
  } else {
    // The renderer's H.264 as it came (Baseline: no B-frames; CBR; a keyframe every 2 s by time), on its own timestamps.
    args.push('-c:v', 'copy');
  }

  args.push('-c:a', 'aac', '-b:a', `${opts.audioBitrateKbps}k`, '-ar', String(opts.sampleRate), '-ac', String(opts.channels));
  args.push('-progress', 'pipe:1');

  if (target === 'file') {
    args.push(...recordingOutputArgs(recordPath!), recordPath!);
  } else if (recordPath === null) {
    args.push('-rw_timeout', String(NETWORK_TIMEOUT_US), '-flvflags', 'no_duration_filesize', '-f', 'flv', opts.url);
  } else {
    // The stream's failure must end ffmpeg (so the session reconnects); a failing recording must not end the stream.
    const stream = `[f=flv:onfail=abort:flvflags=no_duration_filesize:rw_timeout=${NETWORK_TIMEOUT_US}]${escapeTeeTarget(opts.url)}`;
    const record = `[${recordingFormat(recordPath)}:onfail=ignore]${escapeTeeTarget(recordPath)}`;
    args.push('-flags', '+global_header', '-f', 'tee', `${stream}|${record}`);
  }
  return args;
}

/**
 * Why the recording failed, when `line` (of ffmpeg's stderr) says the tee
 * muxer gave up one of its outputs and carries on with the others, as it
 * does with the recording (onfail=ignore): "Slave muxer #1 failed: No space
 * left on device, continuing with 1/2 slaves." (ffmpeg 5.1 to 7; the output
 * may also be named in quotes). Null for any other line.
 */
export function teeOutputFailure(line: string): string | null {
  const m = /\bSlave(?: muxer)?(?: #\d+)?(?: (?:'[^']*'|"[^"]*"))? failed: (.*?),? continuing with \d+\/\d+ slaves/i.exec(line);
  return m ? m[1]!.trim() : null;
}

/**
 * Muxer options of the recording, chosen by the file's extension: MP4, FLV,
 * or Matroska (survives a crash).
 *
 * MP4 is fragmented (an empty index up front, then a fragment per keyframe,
 * each written out to the file at once): an ordinary MP4 keeps its index
 * (moov) to the end, so an ffmpeg killed while stopping (a stalled network
 * holds the whole tee, and stop kills it after stopTimeoutMs) or crashing
 * left a file no player opens. A killed recording now loses at most the
 * fragment under way (one GOP, 2 s).
 *
 * Matroska needs no index to play; each packet is written out at once too, so
 * a killed recording keeps up to its last cluster (measured: 3.99 s of 5 s,
 * 3.42 s when the muxer's buffer was left to fill).
 */
const MP4_OPTIONS: ReadonlyArray<readonly [string, string]> = [
  ['movflags', '+frag_keyframe+empty_moov+default_base_moof'],
  ['flush_packets', '1'],
];
const MATROSKA_OPTIONS: ReadonlyArray<readonly [string, string]> = [['flush_packets', '1']];

function recordingMuxer(file: string): { format: string; options: ReadonlyArray<readonly [string, string]> } {
  const ext = extensionOf(file);
  if (ext === '.mp4' || ext === '.m4v' || ext === '.mov') return { format: 'mp4', options: MP4_OPTIONS };
  if (ext === '.flv') return { format: 'flv', options: [] };
  return { format: 'matroska', options: MATROSKA_OPTIONS };
}

/** The recording's muxer and options as a tee target's prefix, e.g. "f=matroska:flush_packets=1". */
export function recordingFormat(file: string): string {
  const { format, options } = recordingMuxer(file);
  return [`f=${format}`, ...options.map(([name, value]) => `${name}=${value}`)].join(':');
}

/** The same as output options of ffmpeg's own (before the file name), for a run that writes only the recording. */
export function recordingOutputArgs(file: string): string[] {
  const { format, options } = recordingMuxer(file);
  return [...options.flatMap(([name, value]) => [`-${name}`, value]), '-f', format];
}

/**
 * The recording file of the n-th ffmpeg run of one session: part 0 is the
 * path as given, later parts (after a reconnect) get "-2", "-3"… before the extension.
 */
export function recordPathForPart(file: string, part: number): string {
  if (part <= 0) return file;
  const ext = extensionOf(file);
  return `${file.slice(0, file.length - ext.length)}-${part + 1}${ext}`;
}

function extensionOf(file: string): string {
  const slash = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'));
  const dot = file.lastIndexOf('.');
  return dot > slash + 1 ? file.slice(dot).toLowerCase() : '';
}

/** The tee muxer splits targets on "|" and unescapes backslashes and quotes; escape those in URLs and paths. */
export function escapeTeeTarget(target: string): string {
  return target.replace(/[\\'|]/g, (c) => `\\${c}`);
}

/** CBR at `kbps` (e.g. "3000k"), no B-frames, a GOP of `gop` frames: the same for every encoder. */
function rateControlArgs(kbps: string, gop: string): string[] {
  return ['-b:v', kbps, '-minrate', kbps, '-maxrate', kbps, '-bufsize', kbps, '-bf', '0', '-g', gop, '-keyint_min', gop];
}

function pixelFormatArgs(profile: EncoderProfile): string[] {
  return 'pixFmt' in profile.pixelFormat ? ['-pix_fmt', profile.pixelFormat.pixFmt] : ['-vf', profile.pixelFormat.filter];
}

/**
 * Arguments of a one-frame trial encode that shows whether `encoder` works on
 * this machine: a generated black 320x180 frame through the same device setup,
 * pixel format (or upload filter), encoder options and CBR settings as the
 * stream, into the null muxer.
 */
export function buildTrialEncodeArgs(encoder: H264Encoder): string[] {
  const profile = PROFILES[encoder];
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin', ...profile.global,
    '-f', 'lavfi', '-i', 'color=c=black:s=320x180:r=30',
    '-frames:v', '1', '-c:v', encoder, ...profile.codec, ...rateControlArgs('1000k', '60'), ...pixelFormatArgs(profile),
    '-f', 'null', '-',
  ];
}
