import { describe, expect, it } from 'vitest';
import { GUEST_UPLINK, PROGRAM_RETURN, scaleDownBy } from './mediaLimits';

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
});
