import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { H264_ENCODERS, type H264Encoder } from './args';
import {
  describeSelection,
  detectEncoder,
  detectEncoderOnce,
  encoderCandidates,
  hardwareEncoderFailure,
  markEncoderFailed,
  parseEncoderList,
  parseOverride,
  tellingLine,
  trialEncode,
  type SpawnTrial,
  type TrialProcess,
} from './detectEncoder';
import { EncoderOverrideError, EncoderUnavailableError } from './errors';
import { resolveFfmpeg } from './ffmpegPath';

/** The shape of `ffmpeg -hide_banner -encoders` (ffmpeg 5.1), listing `names` as video encoders. */
function encoderListing(names: readonly string[]): string {
  return [
    'Encoders:',
    ' V..... = Video',
    ' A..... = Audio',
    ' S..... = Subtitle',
    ' .F.... = Frame-level multithreading',
    ' ..S... = Slice-level multithreading',
    ' ...X.. = Codec is experimental',
    ' ....B. = Supports draw_horiz_band',
    ' .....D = Supports direct rendering method 1',
    ' ------',
    ' V....D a64multi             Multicolor charset for Commodore 64 (codec a64_multi)',
    ...names.map((n) => ` V....D ${n.padEnd(20)} ${n} H.264 encoder (codec h264)`),
    ' A....D aac                  AAC (Advanced Audio Coding)',
    ' S..... ass                  ASS (Advanced SubStation Alpha) subtitle',
    '',
  ].join('\n');
}

interface FakeResult {
  code: number | null;
  stderr?: string;
  stdout?: string;
}

/**
 * A spawn that answers `-encoders` with `listing` (a failing run when it is a FakeResult)
 * and each trial encode by its encoder from `trials` (unknown ones fail like ffmpeg does).
 */
function fakeSpawn(trials: Partial<Record<string, FakeResult>>, calls: string[][], listing: readonly string[] | FakeResult = [...H264_ENCODERS]): SpawnTrial {
  return (_command, args) => {
    calls.push([...args]);
    let result: FakeResult;
    if (args.includes('-encoders')) {
      result = Array.isArray(listing) ? { code: 0, stdout: encoderListing(listing) } : (listing as FakeResult);
    } else {
      const encoder = args[args.indexOf('-c:v') + 1] ?? '';
      result = trials[encoder] ?? { code: 1, stderr: `Unknown encoder '${encoder}'` };
    }
    const child = Object.assign(new EventEmitter(), {
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      kill: (_signal?: NodeJS.Signals) => {
        setImmediate(() => {
          child.emit('exit', null, 'SIGKILL');
          child.emit('close', null, 'SIGKILL');
        });
        return true;
      },
    });
    // As Node may order them: the process exits before the last of its output is read, then the streams close.
    setImmediate(() => {
      if (result.code !== null) child.emit('exit', result.code, null);
      setImmediate(() => {
        if (result.stdout) child.stdout.write(result.stdout);
        if (result.stderr) child.stderr.write(result.stderr);
        if (result.code !== null) setImmediate(() => child.emit('close', result.code, null));
      });
    });
    return child as unknown as TrialProcess;
  };
}

/** The encoders trial-encoded by these calls, in order (the listing call is left out). */
function trialed(calls: string[][]): string[] {
  return calls.filter((a) => !a.includes('-encoders')).map((a) => a[a.indexOf('-c:v') + 1] ?? '');
}

const NVENC_FAILS = { code: 1, stderr: '[h264_nvenc @ 0x55d0] Cannot load libcuda.so.1\nError initializing output stream 0:0 -- Error while opening encoder\n' };

describe('encoderCandidates', () => {
  it('tries each platform’s hardware encoders in order, libx264 always last', () => {
    expect(encoderCandidates('darwin')).toEqual(['h264_videotoolbox', 'libx264']);
    expect(encoderCandidates('win32')).toEqual(['h264_nvenc', 'h264_qsv', 'h264_amf', 'h264_mf', 'libx264']);
    expect(encoderCandidates('linux')).toEqual(['h264_nvenc', 'h264_vaapi', 'h264_qsv', 'libx264']);
    expect(encoderCandidates('freebsd')).toEqual(['libx264']);
  });

  it('detectEncoder follows that order on each platform', async () => {
    for (const [platform, order] of [
      ['darwin', ['h264_videotoolbox', 'libx264']],
      ['win32', ['h264_nvenc', 'h264_qsv', 'h264_amf', 'h264_mf', 'libx264']],
      ['linux', ['h264_nvenc', 'h264_vaapi', 'h264_qsv', 'libx264']],
    ] as const) {
      const calls: string[][] = [];
      const selection = await detectEncoder({ ffmpegPath: '/x/ffmpeg', platform, env: {}, spawn: fakeSpawn({ libx264: { code: 0 } }, calls) });
      expect(selection.encoder).toBe('libx264');
      expect(trialed(calls)).toEqual(order);
      expect(selection.skipped.map((s) => s.encoder)).toEqual(order.slice(0, -1));
    }
  });
});

describe('parseEncoderList', () => {
  it('reads the encoder names after the legend', () => {
    const names = parseEncoderList(encoderListing(['libx264', 'h264_nvenc']));
    expect([...names]).toEqual(['a64multi', 'libx264', 'h264_nvenc', 'aac', 'ass']);
  });

  it('reads the real list of this machine’s ffmpeg', async () => {
    const { path } = resolveFfmpeg();
    const { execFileSync } = await import('node:child_process');
    const names = parseEncoderList(execFileSync(path, ['-hide_banner', '-encoders'], { encoding: 'utf8' }));
    expect(names.has('libx264')).toBe(true);
    expect(names.has('aac')).toBe(true);
    expect(names.has('=')).toBe(false);
  });
});

describe('detectEncoder', () => {
  it('returns the first candidate whose trial encode succeeds, with why the others were skipped', async () => {
    const calls: string[][] = [];
    const spawn = fakeSpawn({ h264_nvenc: NVENC_FAILS, libx264: { code: 0 } }, calls);
    const selection = await detectEncoder({ ffmpegPath: '/x/ffmpeg', candidates: ['h264_nvenc', 'libx264'], env: {}, spawn });
    expect(selection).toEqual({
      encoder: 'libx264',
      chosenBy: 'trial',
      skipped: [{ encoder: 'h264_nvenc', reason: 'trial failed: Cannot load libcuda.so.1' }],
      listingError: null,
    });
    expect(calls[0]).toEqual(['-hide_banner', '-encoders']);
    expect(trialed(calls)).toEqual(['h264_nvenc', 'libx264']);
    expect(calls[1]).toEqual(expect.arrayContaining(['-frames:v', '1', '-f', 'null']));
    expect(describeSelection(selection)).toBe('first candidate whose trial encode passed; skipped h264_nvenc: trial failed: Cannot load libcuda.so.1');
  });

  it('takes a hardware encoder whose trial works', async () => {
    const calls: string[][] = [];
    const spawn = fakeSpawn({ h264_nvenc: NVENC_FAILS, h264_vaapi: { code: 0 }, libx264: { code: 0 } }, calls);
    const selection = await detectEncoder({ ffmpegPath: '/x/ffmpeg', platform: 'linux', env: {}, spawn });
    expect(selection.encoder).toBe('h264_vaapi');
    expect(trialed(calls)).toEqual(['h264_nvenc', 'h264_vaapi']);
  });

  it('skips candidates the build does not list without running a trial', async () => {
    const calls: string[][] = [];
    const spawn = fakeSpawn({ h264_qsv: { code: 1, stderr: 'Error initializing an internal MFX session: unsupported (-3)' }, libx264: { code: 0 } }, calls, [
      'libx264',
      'h264_qsv',
    ]);
    const selection = await detectEncoder({ ffmpegPath: '/x/ffmpeg', platform: 'linux', env: {}, spawn });
    expect(selection.encoder).toBe('libx264');
    expect(trialed(calls)).toEqual(['h264_qsv', 'libx264']);
    expect(selection.skipped).toEqual([
      { encoder: 'h264_nvenc', reason: 'not in this ffmpeg build' },
      { encoder: 'h264_vaapi', reason: 'not in this ffmpeg build' },
      { encoder: 'h264_qsv', reason: 'trial failed: Error initializing an internal MFX session: unsupported (-3)' },
    ]);
    expect(describeSelection(selection)).toBe(
      'first candidate whose trial encode passed; skipped h264_nvenc: not in this ffmpeg build; h264_vaapi: not in this ffmpeg build; ' +
        'h264_qsv: trial failed: Error initializing an internal MFX session: unsupported (-3)',
    );
  });

  it('tries every candidate when the encoder list cannot be read, and says so', async () => {
    const calls: string[][] = [];
    const spawn = fakeSpawn({ h264_nvenc: NVENC_FAILS, libx264: { code: 0 } }, calls, { code: 1, stderr: 'Unrecognized option' });
    const selection = await detectEncoder({ ffmpegPath: '/x/ffmpeg', candidates: ['h264_nvenc', 'libx264'], env: {}, spawn });
    expect(selection).toMatchObject({ encoder: 'libx264', listingError: 'Unrecognized option' });
    expect(trialed(calls)).toEqual(['h264_nvenc', 'libx264']);
    expect(describeSelection(selection)).toMatch(/could not list the build's encoders \(Unrecognized option\), so every candidate was tried/);
  });

  it('explains why every candidate failed', async () => {
    const spawn = fakeSpawn({ h264_nvenc: { code: 1, stderr: 'Error\nCannot load libcuda.so.1\n' } }, [], ['h264_nvenc']);
    const error = await detectEncoder({ ffmpegPath: '/x/ffmpeg', platform: 'linux', env: {}, spawn }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EncoderUnavailableError);
    expect((error as Error).message).toMatch(
      /No H\.264 encoder works with \/x\/ffmpeg \(h264_nvenc: trial failed: Cannot load libcuda\.so\.1; h264_vaapi: not in this ffmpeg build; h264_qsv: not in this ffmpeg build; libx264: not in this ffmpeg build\)/,
    );
  });

  it('counts a trial that hangs as failed', async () => {
    const result = await trialEncode('/x/ffmpeg', 'libx264', fakeSpawn({ libx264: { code: null } }, []), 50);
    expect(result).toEqual({ encoder: 'libx264', ok: false, detail: 'trial encode took longer than 50 ms' });
  });

  it('reports a binary that cannot run', async () => {
    const result = await trialEncode('/nonexistent/ffmpeg', 'libx264');
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/ENOENT/);
  });

  it('finds libx264 in the real ffmpeg of this machine (no GPU here)', async () => {
    const { path } = resolveFfmpeg();
    const selection = await detectEncoder({ ffmpegPath: path, platform: 'linux', env: {} });
    expect(selection).toMatchObject({ encoder: 'libx264', chosenBy: 'trial', listingError: null });
    expect(selection.skipped.map((s) => s.encoder)).toEqual(['h264_nvenc', 'h264_vaapi', 'h264_qsv']);
    for (const s of selection.skipped) expect(s.reason).toMatch(/^(not in this ffmpeg build|trial failed: .+)$/);
  });
});

describe('ROAST_ENCODER', () => {
  it('uses the named encoder after its own trial, without trying the others', async () => {
    const calls: string[][] = [];
    const spawn = fakeSpawn({ h264_nvenc: { code: 0 }, libx264: { code: 0 } }, calls);
    const selection = await detectEncoder({ ffmpegPath: '/x/ffmpeg', platform: 'linux', env: { ROAST_ENCODER: ' h264_nvenc ' }, spawn });
    expect(selection).toEqual({ encoder: 'h264_nvenc', chosenBy: 'override', skipped: [], listingError: null });
    expect(trialed(calls)).toEqual(['h264_nvenc']);
    expect(describeSelection(selection)).toBe('set by ROAST_ENCODER, trial encode passed');
  });

  it('can force libx264 on a machine with a working GPU encoder', async () => {
    const calls: string[][] = [];
    const selection = await detectEncoder({
      ffmpegPath: '/x/ffmpeg',
      platform: 'win32',
      env: { ROAST_ENCODER: 'libx264' },
      spawn: fakeSpawn({ h264_nvenc: { code: 0 }, libx264: { code: 0 } }, calls),
    });
    expect(selection.encoder).toBe('libx264');
    expect(trialed(calls)).toEqual(['libx264']);
  });

  it('refuses a name this app does not know, listing the ones it does', async () => {
    const calls: string[][] = [];
    const error = await detectEncoder({ ffmpegPath: '/x/ffmpeg', env: { ROAST_ENCODER: 'x264' }, spawn: fakeSpawn({}, calls) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EncoderOverrideError);
    expect((error as EncoderOverrideError).reason).toBe('invalid_encoder_override');
    expect((error as Error).message).toBe(
      'ROAST_ENCODER is set to "x264", which is not an H.264 encoder this app knows. ' +
        'Use one of libx264, h264_nvenc, h264_qsv, h264_vaapi, h264_videotoolbox, h264_amf, h264_mf, or unset it to choose automatically.',
    );
    expect(calls).toEqual([]); // refused before running anything
  });

  it('fails clearly, without falling back, when the build lacks it or its trial fails', async () => {
    const missing = await detectEncoder({
      ffmpegPath: '/x/ffmpeg',
      env: { ROAST_ENCODER: 'h264_amf' },
      spawn: fakeSpawn({ libx264: { code: 0 } }, [], ['libx264']),
    }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(EncoderUnavailableError);
    expect((missing as Error).message).toMatch(/^ROAST_ENCODER=h264_amf, but \/x\/ffmpeg has no h264_amf encoder/);

    const failing = await detectEncoder({
      ffmpegPath: '/x/ffmpeg',
      env: { ROAST_ENCODER: 'h264_nvenc' },
      spawn: fakeSpawn({ h264_nvenc: NVENC_FAILS, libx264: { code: 0 } }, []),
    }).catch((e: unknown) => e);
    expect(failing).toBeInstanceOf(EncoderUnavailableError);
    expect((failing as Error).message).toBe(
      'ROAST_ENCODER=h264_nvenc, but a trial encode with it failed: Cannot load libcuda.so.1. Unset ROAST_ENCODER to choose automatically.',
    );
  });

  it('treats an empty value as unset', () => {
    expect(parseOverride(undefined)).toBeNull();
    expect(parseOverride('  ')).toBeNull();
    expect(parseOverride('h264_qsv')).toBe('h264_qsv');
  });
});

describe('detectEncoderOnce', () => {
  it('runs the detection once per binary, and again after a failure', async () => {
    const calls: string[][] = [];
    let works = false;
    const spawn: SpawnTrial = (command, args) => fakeSpawn({ libx264: { code: works ? 0 : 1, stderr: 'broken' } }, calls, ['libx264'])(command, args);
    const options = { ffmpegPath: `/x/ffmpeg-${Math.random()}`, platform: 'linux' as const, env: {}, spawn };
    await expect(detectEncoderOnce(options)).rejects.toBeInstanceOf(EncoderUnavailableError);
    works = true;
    const first = await detectEncoderOnce(options);
    const runs = calls.length;
    const second = await detectEncoderOnce(options);
    expect(second).toBe(first);
    expect(calls.length).toBe(runs);
  });
});

describe('an encoder that fails while streaming', () => {
  it('is left out of the next detection for that ffmpeg, which falls back down the list and says why', async () => {
    const calls: string[][] = [];
    const ffmpegPath = `/x/ffmpeg-${Math.random()}`;
    const spawn = fakeSpawn({ h264_nvenc: { code: 0 }, libx264: { code: 0 } }, calls);
    const options = { ffmpegPath, candidates: ['h264_nvenc', 'libx264'] as const, env: {}, spawn };
    expect((await detectEncoderOnce(options)).encoder).toBe('h264_nvenc');
    markEncoderFailed(ffmpegPath, 'h264_nvenc', 'OpenEncodeSessionEx failed: out of memory (10)');
    calls.length = 0;
    const again = await detectEncoderOnce(options);
    expect(again).toMatchObject({ encoder: 'libx264', skipped: [{ encoder: 'h264_nvenc', reason: 'failed while streaming: OpenEncodeSessionEx failed: out of memory (10)' }] });
    expect(trialed(calls)).toEqual(['libx264']); // no new trial of the encoder that failed
    expect(describeSelection(again)).toContain('skipped h264_nvenc: failed while streaming: OpenEncodeSessionEx failed: out of memory (10)');
    // Another ffmpeg binary is not affected.
    expect((await detectEncoderOnce({ ...options, ffmpegPath: `${ffmpegPath}-other` })).encoder).toBe('h264_nvenc');
  });

  it('still gets its trial when ROAST_ENCODER names it (no silent fallback)', async () => {
    const calls: string[][] = [];
    const ffmpegPath = `/x/ffmpeg-${Math.random()}`;
    const spawn = fakeSpawn({ h264_nvenc: { code: 0 }, libx264: { code: 0 } }, calls);
    const options = { ffmpegPath, env: { ROAST_ENCODER: 'h264_nvenc' }, spawn };
    await detectEncoderOnce(options);
    markEncoderFailed(ffmpegPath, 'h264_nvenc', 'Cannot load libcuda.so.1');
    calls.length = 0;
    expect((await detectEncoderOnce(options)).encoder).toBe('h264_nvenc');
    expect(trialed(calls)).toEqual(['h264_nvenc']);
  });
});

describe('hardwareEncoderFailure', () => {
  // ffmpeg's error lines of a run that ended before going live, and what they say about the encoder.
  const cases: Array<[string, H264Encoder, string[], string | null]> = [
    [
      'NVENC session limit, ffmpeg 5.1: the encoder’s own last line',
      'h264_nvenc',
      [
        '[h264_nvenc @ 0x55d0] OpenEncodeSessionEx failed: out of memory (10): (no details)',
        '[h264_nvenc @ 0x55d0] No capable devices found',
        'Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters such as bit_rate, rate, width or height',
      ],
      'No capable devices found',
    ],
    [
      'ffmpeg 7: the encoder’s line over its output stream’s',
      'h264_nvenc',
      ['[h264_nvenc @ 0x5] Cannot load libnvidia-encode.so.1', '[vost#0:0/h264_nvenc @ 0x6] Error while opening encoder - maybe incorrect parameters'],
      'Cannot load libnvidia-encode.so.1',
    ],
    ['ffmpeg 7, output stream only', 'h264_qsv', ['[vost#0:0/h264_qsv @ 0x6] Error while opening encoder'], 'Error while opening encoder'],
    ['no prefix', 'h264_nvenc', ['Cannot load libcuda.so.1'], 'Cannot load libcuda.so.1'],
    ['an ingest that refused the stream', 'h264_nvenc', ['[tcp @ 0x1] Connection to tcp://127.0.0.1:1935 failed: Connection refused'], null],
    ['another encoder’s line', 'h264_nvenc', ['[h264_vaapi @ 0x1] No usable encoding profile found'], null],
    [
      'the VAAPI device would not open (ffmpeg ends before any encoder opens)',
      'h264_vaapi',
      [
        '[AVHWDeviceContext @ 0x55be] No VA display found for device /dev/dri/renderD128.',
        'Device creation failed: -22.',
        "Failed to set value '/dev/dri/renderD128' for option 'vaapi_device': Invalid argument",
        'Error parsing global options: Invalid argument',
      ],
      'No VA display found for device /dev/dri/renderD128',
    ],
    ['Quick Sync’s session would not open', 'h264_qsv', ['Error creating a MFX session: -9.'], 'Error creating a MFX session: -9'],
    ['a VAAPI device failure does not blame NVENC', 'h264_nvenc', ['[AVHWDeviceContext @ 0x1] No VA display found for device /dev/dri/renderD128.', 'Device creation failed: -22.'], null],
    ['libx264, which has nothing to fall back to', 'libx264', ['[libx264 @ 0x1] Error while opening encoder'], null],
  ];
  it.each(cases)('%s', (_what, encoder, lines, why) => {
    expect(hardwareEncoderFailure(encoder, lines)).toBe(why);
  });
});

describe('tellingLine', () => {
  it('takes the last message a component logged, without its prefix, over ffmpeg’s generic closing lines', () => {
    const vaapi = [
      '[AVHWDeviceContext @ 0x55be] No VA display found for device /dev/dri/renderD128.',
      'Device creation failed: -22.',
      "Failed to set value '/dev/dri/renderD128' for option 'vaapi_device': Invalid argument",
    ].join('\n');
    expect(tellingLine(vaapi)).toBe('No VA display found for device /dev/dri/renderD128');
    expect(tellingLine('one\ntwo\n')).toBe('two');
    expect(tellingLine('')).toBe('failed');
  });
});
