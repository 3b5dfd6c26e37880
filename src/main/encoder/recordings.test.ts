import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newRecordingPath, recordingFileName } from './recordings';

const AT = new Date(2026, 11, 7, 20, 5, 9);

describe('recording files', () => {
  it('names a recording by when it started, and never an existing file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roast-rec-'));
    expect(recordingFileName(AT, 'mkv')).toBe('Roast Live 2026-12-07 20-05-09.mkv');
    writeFileSync(join(dir, 'Roast Live 2026-12-07 20-05-09.mkv'), '');
    expect(await newRecordingPath(dir, 'mkv', AT)).toBe(join(dir, 'Roast Live 2026-12-07 20-05-09 (2).mkv'));
  });

  it('gives two recordings started in the same second at once (two studios) two files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roast-rec-'));
    const paths = await Promise.all([newRecordingPath(dir, 'mp4', AT), newRecordingPath(dir, 'mp4', AT), newRecordingPath(dir, 'mp4', AT)]);
    expect(new Set(paths).size).toBe(3);
    // Later ones too, though none of those files was made yet.
    expect(paths).not.toContain(await newRecordingPath(dir, 'mp4', AT));
  });

  it('takes a link to nothing for taken (ffmpeg would write where it points)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roast-rec-'));
    symlinkSync(join(tmpdir(), 'roast-nowhere', 'elsewhere.mkv'), join(dir, 'Roast Live 2026-12-07 20-05-09.mkv'));
    expect(await newRecordingPath(dir, 'mkv', AT)).toBe(join(dir, 'Roast Live 2026-12-07 20-05-09 (2).mkv'));
  });
});
