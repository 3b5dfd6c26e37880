import { describe, expect, it } from 'vitest';
import { GUEST_UPLINK, PROGRAM_RETURN, guestUplinkFor, programReturnFor, cutReturnCap, scaleDownBy } from './mediaLimits';
import { gridLayout } from './layout';

describe('send caps', () => {
  it('scales 720p and 1080p down to 640x360, never up', () => {
    expect(scaleDownBy(1280, 720, PROGRAM_RETURN)).toBe(2);
    expect(scaleDownBy(1920, 1080, GUEST_UPLINK)).toBe(3);
    expect(scaleDownBy(320, 180, GUEST_UPLINK)).toBe(1);
    expect(scaleDownBy(0, 0, GUEST_UPLINK)).toBe(1);
  });

  it('fits portrait phone cameras by height', () => {
    expect(scaleDownBy(720, 1280, GUEST_UPLINK)).toBeCloseTo(1280 / 360);
  });

  it('lets the host receive nine guests within 5 Mbps', () => {
    expect(GUEST_UPLINK.maxBitrateKbps * 9).toBeLessThanOrEqual(5000);
    expect(PROGRAM_RETURN.maxBitrateKbps).toBeLessThanOrEqual(600);
  });

  it('sizes the guest uplink to the guest’s tile as the stage fills', () => {
    expect(guestUplinkFor(2)).toEqual(GUEST_UPLINK);
    expect(guestUplinkFor(4)).toEqual(GUEST_UPLINK);
    expect(guestUplinkFor(6)).toMatchObject({ maxWidth: 480, maxHeight: 270 });
    expect(guestUplinkFor(10)).toEqual({ maxWidth: 320, maxHeight: 180, maxBitrateKbps: 250, maxFramerate: 15 });
    // Never more than a third smaller than the tile it fills (cover crop of a 16:9 source).
    for (let people = 1; people <= 10; people++) {
      const tile = gridLayout(Array.from({ length: people }, (_, i) => ({ id: String(i), width: 16, height: 9 })), 1280, 720)[people - 1]!.rect;
      const cap = guestUplinkFor(people);
      const shown = Math.max(tile.width / 16, tile.height / 9) * 9; // source height the tile shows at 1:1
      expect(cap.maxHeight).toBeGreaterThanOrEqual(Math.min(360, shown) * 0.66);
    }
  });

  it('sends the program back at fewer frames a second as the stage fills, and smaller beyond six people', () => {
    expect(programReturnFor(4)).toEqual(PROGRAM_RETURN);
    expect(programReturnFor(6)).toMatchObject({ maxWidth: 640, maxHeight: 360, maxFramerate: 24 });
    expect(programReturnFor(10)).toMatchObject({ maxWidth: 480, maxHeight: 270, maxFramerate: 15, maxBitrateKbps: 350 });
    // A full stage's tiles in the return are no smaller than the guests' own uplinks (320x180) shown at 1280x720 scaled down.
    expect((programReturnFor(10).maxWidth / 1280) * 1280).toBeGreaterThanOrEqual(guestUplinkFor(10).maxWidth * 1.5);
    // Nine returns stay within what a home uplink sends.
    expect(programReturnFor(10).maxBitrateKbps * 9).toBeLessThanOrEqual(4500);
  });
});

describe('cutReturnCap', () => {
  it('sends a guest whose page is behind a third of the frames, the bitrate cut alike, the size kept', () => {
    expect(cutReturnCap(PROGRAM_RETURN)).toEqual({ maxWidth: 640, maxHeight: 360, maxFramerate: 10, maxBitrateKbps: 200 });
    expect(cutReturnCap(programReturnFor(6))).toEqual({ maxWidth: 640, maxHeight: 360, maxFramerate: 8, maxBitrateKbps: 167 });
    // Never below 5 frames a second nor 150 kbps; a cap already at 5 stays as it is.
    expect(cutReturnCap(programReturnFor(10))).toEqual({ maxWidth: 480, maxHeight: 270, maxFramerate: 5, maxBitrateKbps: 150 });
    const slow = { maxWidth: 320, maxHeight: 180, maxFramerate: 5, maxBitrateKbps: 100 };
    expect(cutReturnCap(slow)).toBe(slow);
  });
});
