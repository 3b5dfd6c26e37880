import { describe, expect, it } from 'vitest';
import type { EncoderStartOptions } from '../../shared/bridge';
import { H264_ENCODERS, buildFfmpegArgs, buildTrialEncodeArgs, escapeTeeTarget, recordPathForPart, recordingFormat } from './args';

const opts: EncoderStartOptions = {
  url: 'rtmps://live.cloudflare.com:443/live/abc123',
  width: 1280,
  height: 720,
  fps: 30,
  videoBitrateKbps: 4500,
  audioBitrateKbps: 160,
  sampleRate: 48000,
  channels: 2,
};

/** The value after `flag` (first occurrence). */
function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

describe('buildFfmpegArgs', () => {
  it('reads timestamped frames (Matroska) from stdin and f32le stereo 48 kHz from fd 3, both with a tiny probe', () => {
    const args = buildFfmpegArgs(opts, { encoder: 'libx264' });
    const videoInput = args.indexOf('pipe:0');
    const audioInput = args.indexOf('pipe:3');
    expect(videoInput).toBeGreaterThan(0);
    expect(audioInput).toBeGreaterThan(videoInput);
    expect(args.slice(videoInput - 11, videoInput + 1)).toEqual([
      '-f', 'matroska', '-probesize', '32', '-analyzeduration', '0', '-fpsprobesize', '0', '-thread_queue_size', '8', '-i', 'pipe:0',
    ]);
    // No fixed input rate and no wall-clock stamps: the frames carry their own timestamps.
    expect(args).not.toContain('-framerate');
    expect(args).not.toContain('-use_wallclock_as_timestamps');
    const audio = args.slice(videoInput + 1, audioInput + 1);
    expect(valueOf(audio, '-f')).toBe('f32le');
    expect(valueOf(audio, '-ar')).toBe('48000');
    expect(valueOf(audio, '-ac')).toBe('2');
    expect(valueOf(audio, '-probesize')).toBe('32');
    expect(valueOf(audio, '-analyzeduration')).toBe('0');
    expect(args).toEqual(expect.arrayContaining(['-map', '0:v:0', '-map', '1:a:0']));
  });

  it('encodes libx264 for Cloudflare Stream: CBR, no B-frames, keyframe every 2 s by time, AAC 48 kHz', () => {
    const args = buildFfmpegArgs(opts, { encoder: 'libx264' });
    expect(valueOf(args, '-c:v')).toBe('libx264');
    expect(valueOf(args, '-fps_mode')).toBe('cfr');
    expect(valueOf(args, '-r')).toBe('30');
    expect(args.indexOf('-fps_mode')).toBeGreaterThan(args.indexOf('pipe:3'));
    expect(valueOf(args, '-preset')).toBe('veryfast');
    expect(valueOf(args, '-tune')).toBe('zerolatency');
    expect(valueOf(args, '-profile:v')).toBe('high');
    expect(valueOf(args, '-bf')).toBe('0');
    for (const flag of ['-b:v', '-minrate', '-maxrate', '-bufsize']) expect(valueOf(args, flag)).toBe('4500k');
    expect(valueOf(args, '-x264-params')).toBe('nal-hrd=cbr');
    expect(valueOf(args, '-g')).toBe('60');
    expect(valueOf(args, '-keyint_min')).toBe('60');
    expect(valueOf(args, '-sc_threshold')).toBe('0');
    expect(valueOf(args, '-force_key_frames')).toBe('expr:gte(t,n_forced*2)');
    expect(valueOf(args, '-pix_fmt', )).toBe('yuv420p');
    expect(valueOf(args, '-c:a')).toBe('aac');
    expect(valueOf(args, '-b:a')).toBe('160k');
    expect(args.slice(args.indexOf('-c:a'))).toEqual(expect.arrayContaining(['-ar', '48000', '-ac', '2']));
    expect(valueOf(args, '-progress')).toBe('pipe:1');
    expect(args).toContain('-nostats');
  });

  it('ends with an FLV output to the rtmps URL with a network timeout when not recording', () => {
    const args = buildFfmpegArgs(opts, { encoder: 'libx264' });
    expect(args.slice(-3)).toEqual(['-f', 'flv', 'rtmps://live.cloudflare.com:443/live/abc123']);
    expect(valueOf(args, '-rw_timeout')).toBe('10000000');
    expect(args).not.toContain('tee');
  });

  it('keeps the GOP at two seconds for other frame rates', () => {
    const args = buildFfmpegArgs({ ...opts, fps: 25 }, { encoder: 'libx264' });
    expect(valueOf(args, '-g')).toBe('50');
    expect(valueOf(args, '-r')).toBe('25');
  });

  it('tees into a Matroska recording that may fail without ending the stream, and the stream that may not', () => {
    const args = buildFfmpegArgs({ ...opts, recordPath: '/tmp/show.mkv' }, { encoder: 'libx264' });
    expect(args.slice(-3)).toEqual([
      '-f',
      'tee',
      '[f=flv:onfail=abort:flvflags=no_duration_filesize:rw_timeout=10000000]rtmps://live.cloudflare.com:443/live/abc123|[f=matroska:onfail=ignore]/tmp/show.mkv',
    ]);
    expect(args).toEqual(expect.arrayContaining(['-flags', '+global_header']));
  });

  it('records MP4 with the index moved to the front, and uses a part path when given', () => {
    const args = buildFfmpegArgs({ ...opts, recordPath: '/tmp/show.mp4' }, { encoder: 'libx264', recordPath: '/tmp/show-2.mp4' });
    expect(args.at(-1)).toMatch(/\|\[f=mp4:movflags=\+faststart:onfail=ignore\]\/tmp\/show-2\.mp4$/);
  });

  it('does not record when the override is null', () => {
    const args = buildFfmpegArgs({ ...opts, recordPath: '/tmp/show.mkv' }, { encoder: 'libx264', recordPath: null });
    expect(args.slice(-2)).toEqual(['flv', opts.url]);
  });

  it('escapes tee separators in paths', () => {
    const args = buildFfmpegArgs({ ...opts, recordPath: "C:\\shows\\it's|mine.mkv" }, { encoder: 'libx264' });
    expect(args.at(-1)).toContain("]C:\\\\shows\\\\it\\'s\\|mine.mkv");
  });

  it.each(H264_ENCODERS)('builds a complete CBR, B-frame-free command for %s', (encoder) => {
    const args = buildFfmpegArgs(opts, { encoder });
    expect(valueOf(args, '-c:v')).toBe(encoder);
    expect(valueOf(args, '-bf')).toBe('0');
    expect(valueOf(args, '-b:v')).toBe('4500k');
    expect(valueOf(args, '-maxrate')).toBe('4500k');
    expect(valueOf(args, '-force_key_frames')).toBe('expr:gte(t,n_forced*2)');
    expect(args.includes('-pix_fmt') || args.includes('-vf')).toBe(true);
    expect(args.at(-1)).toBe(opts.url);
  });

  it('uploads frames to the GPU for VAAPI and asks NVENC for IDR keyframes', () => {
    const vaapi = buildFfmpegArgs(opts, { encoder: 'h264_vaapi' });
    expect(valueOf(vaapi, '-vaapi_device')).toBe('/dev/dri/renderD128');
    expect(vaapi.indexOf('-vaapi_device')).toBeLessThan(vaapi.indexOf('-i'));
    expect(valueOf(vaapi, '-vf')).toBe('format=nv12,hwupload');
    expect(valueOf(vaapi, '-rc_mode')).toBe('CBR');
    const nvenc = buildFfmpegArgs(opts, { encoder: 'h264_nvenc' });
    expect(valueOf(nvenc, '-rc')).toBe('cbr');
    expect(valueOf(nvenc, '-forced-idr')).toBe('1');
  });
});

describe('recording helpers', () => {
  it('chooses the container by extension', () => {
    expect(recordingFormat('/x/a.MP4')).toBe('f=mp4:movflags=+faststart');
    expect(recordingFormat('/x/a.mov')).toBe('f=mp4:movflags=+faststart');
    expect(recordingFormat('/x/a.flv')).toBe('f=flv');
    expect(recordingFormat('/x/a.mkv')).toBe('f=matroska');
    expect(recordingFormat('/x.d/noext')).toBe('f=matroska');
  });

  it('numbers the parts after a reconnect', () => {
    expect(recordPathForPart('/r/show.mkv', 0)).toBe('/r/show.mkv');
    expect(recordPathForPart('/r/show.mkv', 1)).toBe('/r/show-2.mkv');
    expect(recordPathForPart('/r/show.v1/take', 2)).toBe('/r/show.v1/take-3');
  });

  it('escapes backslashes, quotes and pipes', () => {
    expect(escapeTeeTarget("a|b'c\\d")).toBe("a\\|b\\'c\\\\d");
  });
});

describe('buildTrialEncodeArgs', () => {
  it('encodes one frame to the null muxer', () => {
    const args = buildTrialEncodeArgs('libx264');
    expect(valueOf(args, '-frames:v')).toBe('1');
    expect(valueOf(args, '-c:v')).toBe('libx264');
    expect(args.slice(-3)).toEqual(['-f', 'null', '-']);
  });
});
