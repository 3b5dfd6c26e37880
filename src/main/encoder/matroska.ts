/**
 * The smallest Matroska stream ffmpeg reads as timestamped raw video: one
 * V_UNCOMPRESSED track of I420 frames ("I420" colour space), each frame in a
 * cluster of its own whose timestamp (in milliseconds) is the frame's time on
 * the session's media clock.
 *
 * Why a container at all: ffmpeg's rawvideo input numbers frames at a fixed
 * rate, so only a writer that repeats frames to fill that rate keeps time.
 * Carrying each frame's own timestamp lets the session write only new frames
 * and leaves the constant output rate to ffmpeg (`-fps_mode cfr`). The
 * segment has an unknown size (it is a live stream); clusters have exact
 * sizes, so the demuxer hands each frame on as soon as its last byte arrives.
 *
 * Per frame the session writes `frameHeader(...)` followed by the frame's
 * bytes: no copy of the picture is made.
 */

const ID = {
  ebml: 0x1a45dfa3,
  ebmlVersion: 0x4286,
  ebmlReadVersion: 0x42f7,
  ebmlMaxIdLength: 0x42f2,
  ebmlMaxSizeLength: 0x42f3,
  docType: 0x4282,
  docTypeVersion: 0x4287,
  docTypeReadVersion: 0x4285,
  segment: 0x18538067,
  info: 0x1549a966,
  timestampScale: 0x2ad7b1,
  muxingApp: 0x4d80,
  writingApp: 0x5741,
  tracks: 0x1654ae6b,
  trackEntry: 0xae,
  trackNumber: 0xd7,
  trackUid: 0x73c5,
  trackType: 0x83,
  flagLacing: 0x9c,
  codecId: 0x86,
  codecPrivate: 0x63a2,
  defaultDuration: 0x23e383,
  video: 0xe0,
  pixelWidth: 0xb0,
  pixelHeight: 0xba,
  colourSpace: 0x2eb524,
  cluster: 0x1f43b675,
  timestamp: 0xe7,
  simpleBlock: 0xa3,
} as const;

/** Nanoseconds per timestamp unit: timestamps are in milliseconds. */
export const MATROSKA_TIMESTAMP_SCALE_NS = 1_000_000;

const VIDEO_TRACK = 1;
const WRITER = 'Roast Live Studio';
/** EBML's "unknown size" in 8 bytes: the segment of a live stream. */
const UNKNOWN_SIZE = [0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/** The stream's header: EBML header, the start of the segment, its info and the one video track (raw I420). */
export function matroskaVideoHeader(width: number, height: number): Uint8Array {
  return header(width, height, null);
}

/**
 * The header of an H.264 stream: the track's codec is V_MPEG4/ISO/AVC with
 * the encoder's AVCDecoderConfigurationRecord (avcC) as its private data, so
 * frames go in as the encoder made them (length-prefixed NAL units).
 */
export function matroskaH264Header(width: number, height: number, avcC: Uint8Array, fps: number): Uint8Array {
  if (avcC.byteLength < 7 || avcC[0] !== 1) throw new RangeError('the decoder configuration is not an avcC record (version 1)');
  return header(width, height, avcC, fps);
}

function header(width: number, height: number, avcC: Uint8Array | null, fps = 0): Uint8Array {
  const ebml = element(ID.ebml, [
    ...uintElement(ID.ebmlVersion, 1),
    ...uintElement(ID.ebmlReadVersion, 1),
    ...uintElement(ID.ebmlMaxIdLength, 4),
    ...uintElement(ID.ebmlMaxSizeLength, 8),
    ...stringElement(ID.docType, 'matroska'),
    ...uintElement(ID.docTypeVersion, 4),
    ...uintElement(ID.docTypeReadVersion, 2),
  ]);
  const info = element(ID.info, [
    ...uintElement(ID.timestampScale, MATROSKA_TIMESTAMP_SCALE_NS),
    ...stringElement(ID.muxingApp, WRITER),
    ...stringElement(ID.writingApp, WRITER),
  ]);
  const video = element(ID.video, [
    ...uintElement(ID.pixelWidth, width),
    ...uintElement(ID.pixelHeight, height),
    ...(avcC ? [] : element(ID.colourSpace, ascii('I420'))),
  ]);
  const track = element(ID.trackEntry, [
    ...uintElement(ID.trackNumber, VIDEO_TRACK),
    ...uintElement(ID.trackUid, VIDEO_TRACK),
    ...uintElement(ID.trackType, 1), // video
    ...uintElement(ID.flagLacing, 0),
    ...stringElement(ID.codecId, avcC ? 'V_MPEG4/ISO/AVC' : 'V_UNCOMPRESSED'),
    ...(avcC ? element(ID.codecPrivate, Array.from(avcC)) : []),
    // The nominal frame duration: ffmpeg reads the stream's frame rate from it and passes it on to the ingest.
    ...(fps > 0 ? uintElement(ID.defaultDuration, Math.round(1e9 / fps)) : []),
    ...video,
  ]);
  return Uint8Array.from([...ebml, ...idBytes(ID.segment), ...UNKNOWN_SIZE, ...info, ...element(ID.tracks, track)]);
}

/**
 * The bytes that go before a frame of `frameBytes` bytes shown from `timestampMs`
 * on: a cluster with that timestamp holding one SimpleBlock (a keyframe unless
 * `key` is false: every raw frame is one, H.264 delta frames are not).
 */
export function matroskaFrameHeader(timestampMs: number, frameBytes: number, key = true): Uint8Array {
  if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new RangeError(`frame timestamp must be a non-negative whole number of ms, got ${timestampMs}`);
  const timestamp = uintElement(ID.timestamp, timestampMs);
  // Track number (vint), timestamp relative to the cluster (int16), flags (0x80 = key frame).
  const blockHead = [0x80 | VIDEO_TRACK, 0, 0, key ? 0x80 : 0];
  const simpleBlock = [...idBytes(ID.simpleBlock), ...sizeBytes(blockHead.length + frameBytes, 8), ...blockHead];
  const clusterBody = timestamp.length + simpleBlock.length + frameBytes;
  return Uint8Array.from([...idBytes(ID.cluster), ...sizeBytes(clusterBody, 8), ...timestamp, ...simpleBlock]);
}

function element(id: number, body: readonly number[]): number[] {
  return [...idBytes(id), ...sizeBytes(body.length), ...body];
}

function uintElement(id: number, value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  return element(id, bytes);
}

function stringElement(id: number, value: string): number[] {
  return element(id, ascii(value));
}

function ascii(value: string): number[] {
  return Array.from(value, (c) => c.charCodeAt(0) & 0x7f);
}

/** Element IDs are written as they are numbered (their length marker is part of the ID). */
function idBytes(id: number): number[] {
  const bytes: number[] = [];
  let v = id;
  while (v > 0) {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  }
  return bytes;
}

/** An EBML variable-length size: `length` bytes, or the fewest that hold it. */
function sizeBytes(size: number, length = 0): number[] {
  let len = length;
  if (len === 0) {
    len = 1;
    // All ones is reserved for "unknown": a size needs to stay below it.
    while (size >= 2 ** (7 * len) - 1) len += 1;
  }
  if (len > 8 || size >= 2 ** (7 * len) - 1) throw new RangeError(`size ${size} does not fit in ${len} bytes`);
  const bytes = new Array<number>(len);
  let v = size;
  for (let i = len - 1; i >= 0; i--) {
    bytes[i] = v % 256;
    v = Math.floor(v / 256);
  }
  bytes[0] = (bytes[0] ?? 0) | (0x80 >> (len - 1));
  return bytes;
}

export interface MatroskaFrame {
  timestampMs: number;
  /** The SimpleBlock's keyframe flag. */
  key: boolean;
  /** The frame's bytes (a view into the input). */
  data: Uint8Array;
}

/**
 * Reads back the frames of a stream made by matroskaVideoHeader() and
 * matroskaFrameHeader() (what crossed the pipe; used to check it). Stops at
 * the first incomplete element, so a stream cut anywhere reads as the frames
 * that arrived whole.
 */
export function readMatroskaFrames(bytes: Uint8Array): MatroskaFrame[] {
  const frames: MatroskaFrame[] = [];
  let clusterTimestamp = 0;
  let pos = 0;
  while (pos < bytes.length) {
    const id = readVint(bytes, pos, true);
    if (!id) break;
    const size = readVint(bytes, pos + id.length, false);
    if (!size) break;
    const body = pos + id.length + size.length;
    // Descend into the segment and clusters; everything else is read or skipped whole.
    if (id.value === ID.segment || id.value === ID.cluster) {
      pos = body;
      continue;
    }
    if (size.value === null || body + size.value > bytes.length) break;
    if (id.value === ID.timestamp) {
      clusterTimestamp = 0;
      for (let i = 0; i < size.value; i++) clusterTimestamp = clusterTimestamp * 256 + (bytes[body + i] ?? 0);
    } else if (id.value === ID.simpleBlock) {
      const relative = (((bytes[body + 1] ?? 0) << 8) | (bytes[body + 2] ?? 0)) << 16 >> 16;
      frames.push({ timestampMs: clusterTimestamp + relative, key: ((bytes[body + 3] ?? 0) & 0x80) !== 0, data: bytes.subarray(body + 4, body + size.value) });
    }
    pos = body + size.value;
  }
  return frames;
}

/** An EBML variable-length number at `pos`: as an ID (marker kept) or a size (marker removed; all ones = unknown). */
function readVint(bytes: Uint8Array, pos: number, asId: boolean): { value: number | null; length: number } | null {
  const first = bytes[pos];
  if (first === undefined || first === 0) return null;
  let length = 1;
  while ((first & (0x80 >> (length - 1))) === 0) length += 1;
  if (pos + length > bytes.length) return null;
  let value = asId ? first : first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const b = bytes[pos + i] ?? 0;
    value = value * 256 + b;
    allOnes &&= b === 0xff;
  }
  return { value: !asId && allOnes ? null : value, length };
}
