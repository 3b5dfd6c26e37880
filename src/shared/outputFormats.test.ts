import { describe, expect, it } from 'vitest';
import { DEFAULT_OUTPUT_FORMAT, OUTPUT_FORMATS, OUTPUT_FORMAT_IDS, isOutputFormatId, outputFormat } from './outputFormats';

describe('output formats', () => {
  it('names 720p and 1080p at 30 and 60 fps, 720p30 by default', () => {
    expect(OUTPUT_FORMAT_IDS.map((id) => [OUTPUT_FORMATS[id].width, OUTPUT_FORMATS[id].height, OUTPUT_FORMATS[id].fps])).toEqual([
      [1280, 720, 30],
      [1280, 720, 60],
      [1920, 1080, 30],
      [1920, 1080, 60],
    ]);
    expect(DEFAULT_OUTPUT_FORMAT).toBe('720p30');
  });

  it("keeps video and 128 kbps audio inside the ingest's 2–10 Mbps", () => {
    for (const id of OUTPUT_FORMAT_IDS) {
      const total = OUTPUT_FORMATS[id].videoBitrateKbps + 128;
      expect(total, id).toBeGreaterThanOrEqual(2000);
      expect(total, id).toBeLessThan(10_000);
    }
  });

  it('refuses a name it does not know, saying which it does', () => {
    expect(outputFormat('1080p30').width).toBe(1920);
    expect(() => outputFormat('1440p30')).toThrow('unknown output format "1440p30": choose one of 720p30, 720p60, 1080p30, 1080p60');
    expect(isOutputFormatId(null)).toBe(false);
  });
});
