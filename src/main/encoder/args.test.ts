import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { EncoderStartOptions } from '../../shared/bridge';
import { H264_ENCODERS, buildFfmpegArgs, buildTrialEncodeArgs, encoderSpecificArgs, escapeTeeTarget, recordPathForPart, recordingFormat, teeOutputFailure } from './args';
import { parseEncoderList } from './detectEncoder';
import { resolveFfmpeg } from './ffmpegPath';

const opts: EncoderStartOptions = {
  url: 'rtmps://live.cloudflare.com:443/live/abc123',
  width: 1280,
  height: 720,
  fps: 30,
  videoBitrateKbps: 4500,
  audioBitrateKbps: 160,
  sampleRate: 48000,
  channels: 2,
  video: 'i420',
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

  it('copies H.264 from the renderer as it came: no encoder, no constant-rate filter, no forced keyframes; audio still AAC', () => {
    const args = buildFfmpegArgs({ ...opts, video: 'h264' }, { encoder: null });
    expect(valueOf(args, '-c:v')).toBe('copy');
    // The renderer's encoder tagged its colours itself.
    for (const flag of ['-fps_mode', '-r', '-force_key_frames', '-b:v', '-pix_fmt', '-preset', '-colorspace']) expect(args).not.toContain(flag);
    expect(args.slice(args.indexOf('-i') - 12, args.indexOf('-i') + 2)).toEqual(expect.arrayContaining(['-f', 'matroska', 'pipe:0']));
    expect(valueOf(args, '-c:a')).toBe('aac');
    expect(args.at(-1)).toBe(opts.url);
    expect(() => buildFfmpegArgs(opts, { encoder: null })).toThrow(/need an ffmpeg encoder/);
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
      '[f=flv:onfail=abort:flvflags=no_duration_filesize:rw_timeout=10000000]rtmps://live.cloudflare.com:443/live/abc123|[f=matroska:flush_packets=1:onfail=ignore]/tmp/show.mkv',
    ]);
    expect(args).toEqual(expect.arrayContaining(['-flags', '+global_header']));
  });

  it('records fragmented MP4 (playable when ffmpeg is killed), and uses a part path when given', () => {
    const args = buildFfmpegArgs({ ...opts, recordPath: '/tmp/show.mp4' }, { encoder: 'libx264', recordPath: '/tmp/show-2.mp4' });
    expect(args.at(-1)).toMatch(/\|\[f=mp4:movflags=\+frag_keyframe\+empty_moov\+default_base_moof:flush_packets=1:onfail=ignore\]\/tmp\/show-2\.mp4$/);
  });

  it('does not record when the override is null', () => {
    const args = buildFfmpegArgs({ ...opts, recordPath: '/tmp/show.mkv' }, { encoder: 'libx264', recordPath: null });
    expect(args.slice(-2)).toEqual(['flv', opts.url]);
  });

  it('writes only the recording for a file run: H.264 copied, no network options, the muxer by extension', () => {
    const mp4 = buildFfmpegArgs({ ...opts, video: 'h264', recordPath: '/tmp/show.mp4' }, { encoder: null, recordPath: '/tmp/show-3.mp4', target: 'file' });
    expect(mp4.slice(-7)).toEqual(['-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-flush_packets', '1', '-f', 'mp4', '/tmp/show-3.mp4']);
    expect(valueOf(mp4, '-c:v')).toBe('copy');
    expect(mp4).not.toContain(opts.url);
    expect(mp4.join(' ')).not.toMatch(/rw_timeout|tee|flvflags/);
    const mkv = buildFfmpegArgs({ ...opts, video: 'h264', recordPath: "/tmp/it's|mine.mkv" }, { encoder: null, target: 'file' });
    expect(mkv.slice(-5)).toEqual(['-flush_packets', '1', '-f', 'matroska', "/tmp/it's|mine.mkv"]);
    expect(valueOf(mkv, '-progress')).toBe('pipe:1');
  });

  it('refuses a file run without a file', () => {
    expect(() => buildFfmpegArgs({ ...opts, video: 'h264' }, { encoder: null, target: 'file' })).toThrow(/needs a file/);
  });

  it('escapes tee separators in paths', () => {
    const args = buildFfmpegArgs({ ...opts, recordPath: "C:\\shows\\it's|mine.mkv" }, { encoder: 'libx264' });
    expect(args.at(-1)).toContain("]C:\\\\shows\\\\it\\'s\\|mine.mkv");
  });

  it.each(H264_ENCODERS)('builds a complete CBR, B-frame-free command with 2 s keyframes for %s', (encoder) => {
    const args = buildFfmpegArgs(opts, { encoder });
    expect(valueOf(args, '-c:v')).toBe(encoder);
    expect(valueOf(args, '-bf')).toBe('0');
    for (const flag of ['-b:v', '-minrate', '-maxrate', '-bufsize']) expect(valueOf(args, flag)).toBe('4500k');
    expect(valueOf(args, '-g')).toBe('60');
    expect(valueOf(args, '-keyint_min')).toBe('60');
    expect(valueOf(args, '-force_key_frames')).toBe('expr:gte(t,n_forced*2)');
    expect(valueOf(args, '-fps_mode')).toBe('cfr');
    expect(args.includes('-pix_fmt') !== args.includes('-vf')).toBe(true);
    // The pictures' colours as the renderer made them (BT.601, limited range), tagged in the stream.
    expect(['-colorspace', '-color_primaries', '-color_trc', '-color_range'].map((f) => valueOf(args, f))).toEqual(['smpte170m', 'smpte170m', 'smpte170m', 'tv']);
    // Its own options sit right after -c:v, before the common ones.
    const own = encoderSpecificArgs(encoder);
    const at = args.indexOf('-c:v') + 2;
    expect(args.slice(at, at + own.length)).toEqual([...own]);
    expect(valueOf(args, '-c:a')).toBe('aac');
    expect(args.at(-1)).toBe(opts.url);
  });

  it.each([
    ['libx264', { '-preset': 'veryfast', '-tune': 'zerolatency', '-x264-params': 'nal-hrd=cbr', '-sc_threshold': '0', '-pix_fmt': 'yuv420p' }],
    ['h264_nvenc', { '-rc': 'cbr', '-preset': 'p4', '-tune': 'll', '-forced-idr': '1', '-zerolatency': '1', '-profile:v': 'high', '-pix_fmt': 'yuv420p' }],
    ['h264_qsv', { '-preset': 'veryfast', '-look_ahead': '0', '-forced_idr': '1', '-profile:v': 'high', '-pix_fmt': 'nv12' }],
    ['h264_vaapi', { '-vaapi_device': '/dev/dri/renderD128', '-rc_mode': 'CBR', '-profile:v': 'high', '-vf': 'format=nv12,hwupload' }],
    ['h264_videotoolbox', { '-realtime': '1', '-allow_sw': '0', '-profile:v': 'high', '-pix_fmt': 'yuv420p' }],
    ['h264_amf', { '-usage': 'lowlatency', '-quality': 'speed', '-rc': 'cbr', '-enforce_hrd': '1', '-filler_data': '1', '-profile:v': 'high', '-pix_fmt': 'yuv420p' }],
    ['h264_mf', { '-rate_control': 'cbr', '-scenario': 'live_streaming', '-hw_encoding': '1', '-profile:v': '100', '-pix_fmt': 'nv12' }],
  ] as const)('gives %s its own rate control and latency flags', (encoder, flags) => {
    const args = buildFfmpegArgs(opts, { encoder });
    for (const [flag, value] of Object.entries(flags)) expect([flag, valueOf(args, flag)]).toEqual([flag, value]);
    // Only libx264 has sc_threshold; elsewhere ffmpeg would warn that it went unused.
    expect(args.includes('-sc_threshold')).toBe(encoder === 'libx264');
  });

  it('sets the VAAPI device before the inputs and uploads frames through the filter, with no -pix_fmt', () => {
    const vaapi = buildFfmpegArgs(opts, { encoder: 'h264_vaapi' });
    expect(vaapi.indexOf('-vaapi_device')).toBeLessThan(vaapi.indexOf('-i'));
    expect(vaapi).not.toContain('-pix_fmt');
  });
});

/** The option names `ffmpeg -h encoder=<name>` documents, or null when this build does not have the encoder. */
function documentedOptions(ffmpeg: string, encoder: string): Set<string> | null {
  const help = execFileSync(ffmpeg, ['-hide_banner', '-h', `encoder=${encoder}`], { encoding: 'utf8' });
  if (!help.startsWith('Encoder ')) return null;
  return new Set([...help.matchAll(/^ {2}-(\S+)\s/gm)].map((m) => m[1] ?? ''));
}

describe('encoder flags against this machine’s ffmpeg', () => {
  const ffmpeg = resolveFfmpeg().path;
  const listed = parseEncoderList(execFileSync(ffmpeg, ['-hide_banner', '-encoders'], { encoding: 'utf8' }));

  // An encoder this build lacks (h264_videotoolbox, h264_amf, h264_mf on Linux) is reported as skipped, with why.
  it.skip.each(H264_ENCODERS.filter((e) => !listed.has(e)))('%s is not in this ffmpeg build: its options are checked where it is', () => {});
  it.each(H264_ENCODERS.filter((e) => listed.has(e)))('every %s option is one the encoder documents', (encoder) => {
    const documented = documentedOptions(ffmpeg, encoder);
    expect(documented).not.toBeNull();
    const own = encoderSpecificArgs(encoder);
    const names = own.filter((_, i) => i % 2 === 0).map((flag) => flag.replace(/^-/, '').replace(/:v$/, ''));
    for (const name of names) expect([encoder, name, documented?.has(name)]).toEqual([encoder, name, true]);
  });

  it('this machine’s ffmpeg lists libx264, the fallback every machine needs', () => {
    expect(listed.has('libx264')).toBe(true);
    // Which of the hardware encoders this build has (Debian 12: nvenc, vaapi and qsv), for the log.
    console.log(`ffmpeg ${ffmpeg} lists: ${H264_ENCODERS.filter((e) => listed.has(e)).join(', ')}`);
  });
});

describe('recording helpers', () => {
  it('chooses the container by extension', () => {
    expect(recordingFormat('/x/a.MP4')).toBe('f=mp4:movflags=+frag_keyframe+empty_moov+default_base_moof:flush_packets=1');
    expect(recordingFormat('/x/a.mov')).toBe('f=mp4:movflags=+frag_keyframe+empty_moov+default_base_moof:flush_packets=1');
    expect(recordingFormat('/x/a.flv')).toBe('f=flv');
    expect(recordingFormat('/x/a.mkv')).toBe('f=matroska:flush_packets=1');
    expect(recordingFormat('/x.d/noext')).toBe('f=matroska:flush_packets=1');
  });

  it('numbers the parts after a reconnect', () => {
    expect(recordPathForPart('/r/show.mkv', 0)).toBe('/r/show.mkv');
    expect(recordPathForPart('/r/show.mkv', 1)).toBe('/r/show-2.mkv');
    expect(recordPathForPart('/r/show.v1/take', 2)).toBe('/r/show.v1/take-3');
  });

  it('reads why the tee gave up the recording from ffmpeg’s line, named by number or in quotes', () => {
    expect(teeOutputFailure('[tee @ 0x55d1] Slave muxer #1 failed: No space left on device, continuing with 1/2 slaves.')).toBe('No space left on device');
    expect(teeOutputFailure("[tee @ 0x1] Slave muxer #1 '/rec/my show.mkv' failed: Permission denied, continuing with 1/2 slaves.")).toBe('Permission denied');
    expect(teeOutputFailure('[tee @ 0x1] Slave "/rec/show.mp4" failed: Input/output error, continuing with 1/2 slaves.')).toBe('Input/output error');
    expect(teeOutputFailure('[tee @ 0x1] Slave muxer #0 failed, aborting.')).toBeNull();
    expect(teeOutputFailure('[tee @ 0x1] All tee outputs failed.')).toBeNull();
    expect(teeOutputFailure('[flv @ 0x1] Failed to update header with correct duration.')).toBeNull();
  });

  it('escapes backslashes, quotes and pipes', () => {
    expect(escapeTeeTarget("a|b'c\\d")).toBe("a\\|b\\'c\\\\d");
  });
});

describe('buildTrialEncodeArgs', () => {
  it('encodes one generated frame to the null muxer', () => {
    const args = buildTrialEncodeArgs('libx264');
    expect(valueOf(args, '-frames:v')).toBe('1');
    expect(valueOf(args, '-c:v')).toBe('libx264');
    expect(valueOf(args, '-f')).toBe('lavfi');
    expect(args.slice(-3)).toEqual(['-f', 'null', '-']);
  });

  it.each(H264_ENCODERS)('tries %s with the stream’s own options, CBR and no B-frames', (encoder) => {
    const args = buildTrialEncodeArgs(encoder);
    const own = encoderSpecificArgs(encoder);
    const at = args.indexOf('-c:v') + 2;
    expect(args[at - 1]).toBe(encoder);
    expect(args.slice(at, at + own.length)).toEqual([...own]);
    for (const flag of ['-b:v', '-minrate', '-maxrate', '-bufsize']) expect(valueOf(args, flag)).toBe('1000k');
    expect(valueOf(args, '-bf')).toBe('0');
  });

  it('opens the VAAPI render node before the input and uploads the frame; others convert the pixel format', () => {
    const vaapi = buildTrialEncodeArgs('h264_vaapi');
    expect(vaapi.slice(vaapi.indexOf('-vaapi_device'), vaapi.indexOf('-vaapi_device') + 2)).toEqual(['-vaapi_device', '/dev/dri/renderD128']);
    expect(vaapi.indexOf('-vaapi_device')).toBeLessThan(vaapi.indexOf('-i'));
    expect(valueOf(vaapi, '-vf')).toBe('format=nv12,hwupload');
    expect(vaapi).not.toContain('-pix_fmt');
    expect(valueOf(buildTrialEncodeArgs('h264_qsv'), '-pix_fmt')).toBe('nv12');
    expect(valueOf(buildTrialEncodeArgs('h264_mf'), '-pix_fmt')).toBe('nv12');
    expect(valueOf(buildTrialEncodeArgs('h264_nvenc'), '-pix_fmt')).toBe('yuv420p');
    expect(valueOf(buildTrialEncodeArgs('h264_videotoolbox'), '-pix_fmt')).toBe('yuv420p');
    expect(valueOf(buildTrialEncodeArgs('h264_amf'), '-pix_fmt')).toBe('yuv420p');
    for (const encoder of H264_ENCODERS.filter((e) => e !== 'h264_vaapi')) expect(buildTrialEncodeArgs(encoder)).not.toContain('-vaapi_device');
  });
});
