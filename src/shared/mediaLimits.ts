/**
 * Bandwidth plan of the star topology: every guest sends one capped uplink to
 * the host (nine must fit the host's downlink), and the host encodes the
 * program once per guest, so the return feed is kept small.
 */
export interface SendCap {
  maxWidth: number;
  maxHeight: number;
  maxBitrateKbps: number;
  maxFramerate: number;
}

/** A guest's camera to the host: nine of these ≈ 4.5 Mbps into the host. */
export const GUEST_UPLINK: SendCap = { maxWidth: 640, maxHeight: 360, maxBitrateKbps: 500, maxFramerate: 30 };

/**
 * The guest uplink for a stage of `people` (host included): no bigger than the
 * guest's tile in the 720p grid, so the host decodes no pixels it throws away.
 * Up to four people a tile is 640x360; five or six share a 2x3 grid; seven to
 * ten share 3x3 / 3x4, where 320x180 at 15 fps is enough and keeps nine
 * decoders within a laptop's (and a 2-core machine's) means.
 */
export function guestUplinkFor(people: number): SendCap {
  if (people <= 4) return GUEST_UPLINK;
  if (people <= 6) return { maxWidth: 480, maxHeight: 270, maxBitrateKbps: 350, maxFramerate: 24 };
  return { maxWidth: 320, maxHeight: 180, maxBitrateKbps: 250, maxFramerate: 15 };
}

/** The program back to each guest. */
export const PROGRAM_RETURN: SendCap = { maxWidth: 640, maxHeight: 360, maxBitrateKbps: 600, maxFramerate: 30 };

/** How much a sender must scale a picture of `width`x`height` down to fit the cap (≥ 1). */
export function scaleDownBy(width: number, height: number, cap: SendCap): number {
  if (width <= 0 || height <= 0) return 1;
  return Math.max(1, width / cap.maxWidth, height / cap.maxHeight);
}

/**
 * The program back to each guest for a stage of `people`: the host encodes it
 * once per guest, so a fuller stage gets fewer frames a second, and beyond six
 * people a smaller picture (480x270: each of up to twelve tiles is still as
 * big as the guests' own 320x180 uplinks shown in the program; nine 640x360
 * encodes were more than a two-core host could add to its own work). Each
 * sender scales the picture down itself (scaleResolutionDownBy).
 */
export function programReturnFor(people: number): SendCap {
  if (people <= 4) return PROGRAM_RETURN;
  if (people <= 6) return { ...PROGRAM_RETURN, maxBitrateKbps: 500, maxFramerate: 24 };
  return { maxWidth: 480, maxHeight: 270, maxBitrateKbps: 350, maxFramerate: 15 };
}

/** A guest's page that shows the program this late (ms) or more is behind (see ViewWatch). */
export const RETURN_BEHIND_MS = 1000;

/**
 * The program return to one guest whose page shows it late: a device that
 * cannot decode what it is sent (a phone, a starved computer) lets frames
 * pile up in its jitter buffer and falls seconds behind. It then gets a third
 * of the frames (at least 5 a second) at the same picture size, with the
 * bitrate cut alike (when to cut and give back: rtc/returnCut.ts).
 */
export function cutReturnCap(cap: SendCap): SendCap {
  const maxFramerate = Math.max(5, Math.round(cap.maxFramerate / 3));
  if (maxFramerate >= cap.maxFramerate) return cap;
  const maxBitrateKbps = Math.max(150, Math.round((cap.maxBitrateKbps * maxFramerate) / cap.maxFramerate));
  return { ...cap, maxFramerate, maxBitrateKbps: Math.min(cap.maxBitrateKbps, maxBitrateKbps) };
}
