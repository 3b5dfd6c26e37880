/**
 * The NativeBridge: the one typed contract between the renderer and the native
 * side. Electron binds it with ipcMain/contextBridge (src/main/ipc.ts,
 * src/preload); the browser studio binds it over a WebSocket
 * (src/main/studioServer.ts, src/renderer/src/native/wsBridge.ts).
 */
import { z } from 'zod';

export const encoderStartSchema = z
  .object({
    url: z
      .string()
      .min(1)
      .refine((u) => /^rtmps?:\/\/[^\s]+$/.test(u), 'url must be an rtmp:// or rtmps:// address'),
    width: z.number().int().min(160).max(3840).multipleOf(2),
    height: z.number().int().min(90).max(2160).multipleOf(2),
    fps: z.number().int().min(1).max(60),
    videoBitrateKbps: z.number().int().min(300).max(20000).default(3000),
    audioBitrateKbps: z.number().int().min(32).max(320).default(128),
    sampleRate: z.literal(48000).default(48000),
    channels: z.literal(2).default(2),
    /**
     * A copy of the program on this computer alongside the stream, in this
     * container. The native side names the file in the recordings folder
     * (a page never chooses where ffmpeg writes).
     */
    record: z.enum(['mkv', 'mp4']).optional(),
    /**
     * What the renderer sends: raw I420 frames (`encoder:video`) that ffmpeg
     * encodes, or H.264 it encoded itself (`encoder:h264`) that ffmpeg only muxes.
     */
    video: z.enum(['i420', 'h264']).default('i420'),
  })
  .strict();
export type EncoderStartOptions = z.infer<typeof encoderStartSchema> & {
  /** The recording's file: set by the native side (BridgeHost, from `record`), never taken from the renderer. */
  recordPath?: string;
};
export type EncoderStartInput = z.input<typeof encoderStartSchema>;

export type EncoderState = 'idle' | 'starting' | 'live' | 'reconnecting' | 'stopping' | 'stopped' | 'error';

/**
 * Encoder health. The frame counters follow OBS's three: the output runs at a
 * constant `fps` that ffmpeg makes from the new frames it is given.
 */
export interface EncoderStats {
  state: EncoderState;
  /** Encoder in use, e.g. "libx264" or "h264_nvenc". */
  encoder: string | null;
  /** Frames received from the renderer. */
  framesIn: number;
  /** New frames written to ffmpeg (each once, with its capture time). */
  framesWritten: number;
  /**
   * Frames lagged by rendering: output frames that repeat the previous picture
   * because no new frame came in time (ffmpeg's dup_frames, plus the repeats
   * the session writes when no frame comes at all).
   */
  framesRepeated: number;
  /**
   * Frames skipped by encoding lag: new frames that never became output
   * frames because ffmpeg was not keeping up (replaced while its input was
   * back-pressured), or because two fell into one output frame (ffmpeg's
   * drop_frames). A network too slow for the bitrate also ends up here: over
   * RTMP (TCP) it holds ffmpeg back like a slow encoder does.
   */
  framesDropped: number;
  /**
   * Of framesDropped, the frames ffmpeg itself dropped (two in one output
   * slot): they were written to it, so framesWritten counts them too. Absent
   * where the native side does not report it.
   */
  framesDroppedInFfmpeg?: number;
  /**
   * Frames dropped by the network: frames that could not go out because the
   * stream was down (reconnecting, a restarted ffmpeg still connecting to the
   * ingest). Frames before the stream first went up are not counted.
   */
  framesDroppedNetwork: number;
  /**
   * Audio (ms) dropped because ffmpeg left it unread for over 2 s (its
   * output blocked), since the start. Absent where the native side does not
   * report it.
   */
  audioDroppedMs?: number;
  /**
   * Audio (ms) the encoder filled with silence because the program's audio
   * came late or not at all, once it had started (before the first chunk the
   * silence is no gap), since the start. Absent where not reported.
   */
  audioFilledMs?: number;
  /** Audio (ms) trimmed because it came after its place in the stream was written, since the start. */
  audioTrimmedMs?: number;
  /**
   * Output frames a second over the last two seconds, from ffmpeg's frame
   * counter; null while a new ffmpeg's reports span less than a second (its
   * first readings are an average since its start: 0, or a burst).
   */
  fps: number | null;
  /** Output bitrate reported by ffmpeg; null when it reports none (N/A, e.g. while also recording). */
  bitrateKbps: number | null;
  speed: number;
  outTimeMs: number;
  restarts: number;
  /** ffmpeg's CPU, in % of one core (over 100 when it uses several); null when unknown. */
  encoderCpuPercent: number | null;
  /** How the encoder was chosen and why the candidates before it were skipped, e.g. "libx264 (h264_nvenc: trial failed: …)". */
  encoderNote: string | null;
  /** The last unexpected end of ffmpeg in this session (kept after the restart), e.g. "ffmpeg exited unexpectedly (killed by SIGKILL)". */
  lastExit: string | null;
  error: string | null;
  /**
   * Why the local recording stopped while the stream goes on (ffmpeg gave up
   * the recording file: a full disk, a folder that went away…), e.g. "the
   * recording stopped (/home/me/Videos/show.mkv): No space left on device;
   * the stream goes on". Set once the recording of this broadcast failed and
   * kept until the next start, since the file has a gap or ends early; null
   * while it records, or when no recording was asked for. Absent where the
   * native side does not report it. The stream itself is not affected.
   */
  recordingError?: string | null;
  /**
   * The files the recording was written to so far, in order: a reconnect or
   * a restart of ffmpeg goes on in a new part (name-2.mkv…). Absent without a
   * recording, or where the native side does not report it.
   */
  recordingFiles?: string[];
  /**
   * Media messages from the renderer the native side could not use (a frame
   * of the wrong size, a broken header…): each dropped, the stream went on.
   * Counted where they arrive (the bridge), which adds them to the stats it
   * passes on; absent where no bridge is in between.
   */
  mediaRejected?: number;
  /** Why the latest of those was refused. */
  mediaRejectedLast?: string | null;
}

export interface EncoderStartResult {
  /** The H.264 encoder: an ffmpeg encoder (e.g. "libx264"), or "webcodecs" when the renderer encodes. */
  encoder: string;
  ffmpegPath: string;
  ffmpegSource: 'FFMPEG_PATH' | 'ffmpeg-static' | 'PATH';
  /** The recording's file when one was asked for (a reconnect continues in numbered parts next to it: name-2.mkv…). */
  recordingPath?: string | null;
}

/** Runtime configuration the renderer needs; no secrets. */
export interface AppConfig {
  supabaseUrl: string;
  supabaseAnonKey: string;
  /** "electron" or "browser": which binding of the bridge is in use. */
  shell: 'electron' | 'browser';
  /**
   * Where guests and viewers open the app in their browsers (ends with `/`):
   * the studio's guest and watch links start here. Absent where nobody said
   * (a cloud backend without `ROAST_WEB_APP_URL`); the links are then relative.
   */
  webAppUrl?: string;
}

/**
 * Where the program's H.264 is made, chosen by the native side before the
 * start: by ffmpeg from raw frames (a hardware encoder, or libx264), or by the
 * renderer's own encoder (WebCodecs) when ffmpeg has no hardware encoder and
 * the renderer said it can encode (`rendererH264`).
 */
export interface EncoderChoice {
  video: 'i420' | 'h264';
  encoder: string;
  /** Why: how the encoder was chosen and why the others were not. */
  note: string;
}

export const encoderChooseSchema = z
  .object({
    /** The renderer can encode the program as H.264 itself (VideoEncoder accepts the stream's settings). */
    rendererH264: z.boolean(),
  })
  .strict();
export type EncoderChooseInput = z.infer<typeof encoderChooseSchema>;

/** Invoke channels: request → response. */
export interface BridgeInvokeMap {
  'app:config': () => AppConfig;
  'encoder:choose': (opts: EncoderChooseInput) => EncoderChoice;
  'encoder:start': (opts: EncoderStartInput) => EncoderStartResult;
  'encoder:stop': () => void;
  /**
   * The encoder this bridge started and that still runs (its start's result), or null: a page whose
   * bridge connection dropped mid-show and came back goes on with it instead of starting a new one.
   */
  'encoder:resume': () => EncoderStartResult | null;
}

/** Fire-and-forget channels from renderer to native. */
export interface BridgeSendMap {
  /** One I420 frame (width*height*3/2 bytes) and its capture time in ms. */
  'encoder:video': [frame: ArrayBuffer, timestampMs: number];
  /** Interleaved stereo f32 PCM at 48 kHz and the capture time of its first sample. */
  'encoder:audio': [pcm: ArrayBuffer, timestampMs: number];
  /** One H.264 access unit the renderer encoded (see encodeH264Unit) and its capture time in ms. */
  'encoder:h264': [unit: ArrayBuffer, timestampMs: number];
}

/** Events from native to renderer. */
export interface BridgeEventMap {
  'encoder:stats': [stats: EncoderStats];
  /** The encoder needs a keyframe now (a new ffmpeg run starts, or delta frames were lost): the renderer's encoder makes one. */
  'encoder:keyframe': [];
}

export type InvokeChannel = keyof BridgeInvokeMap;
export type SendChannel = keyof BridgeSendMap;
export type EventChannel = keyof BridgeEventMap;

export interface NativeBridge {
  invoke<C extends InvokeChannel>(
    channel: C,
    ...args: Parameters<BridgeInvokeMap[C]>
  ): Promise<ReturnType<BridgeInvokeMap[C]>>;
  send<C extends SendChannel>(channel: C, ...args: BridgeSendMap[C]): void;
  on<C extends EventChannel>(channel: C, listener: (...args: BridgeEventMap[C]) => void): () => void;
}

export const INVOKE_CHANNELS: readonly InvokeChannel[] = ['app:config', 'encoder:choose', 'encoder:start', 'encoder:stop', 'encoder:resume'];
export const SEND_CHANNELS: readonly SendChannel[] = ['encoder:video', 'encoder:audio', 'encoder:h264'];
export const EVENT_CHANNELS: readonly EventChannel[] = ['encoder:stats', 'encoder:keyframe'];

/** Validates the arguments of an invoke channel; throws a ZodError with a clear message. */
export const invokeArgSchemas: { [C in InvokeChannel]: z.ZodType<Parameters<BridgeInvokeMap[C]>> } = {
  'app:config': z.tuple([]) as unknown as z.ZodType<[]>,
  'encoder:choose': z.tuple([encoderChooseSchema]) as unknown as z.ZodType<[EncoderChooseInput]>,
  'encoder:start': z.tuple([encoderStartSchema]) as unknown as z.ZodType<[EncoderStartInput]>,
  'encoder:stop': z.tuple([]) as unknown as z.ZodType<[]>,
  'encoder:resume': z.tuple([]) as unknown as z.ZodType<[]>,
};

/**
 * Binary framing of send channels over a WebSocket (and a sanity check for IPC):
 * u8 kind (1 = video, 2 = audio, 3 = h264) | 7 bytes zero | f64 LE timestamp ms | payload.
 */
export const MEDIA_HEADER_BYTES = 16;
export const MEDIA_KIND = { video: 1, audio: 2, h264: 3 } as const;
export type MediaKind = keyof typeof MEDIA_KIND;
const KIND_NAMES: Record<number, MediaKind> = { 1: 'video', 2: 'audio', 3: 'h264' };
/** The send channel of each media kind. */
export const MEDIA_CHANNEL: Record<MediaKind, SendChannel> = { video: 'encoder:video', audio: 'encoder:audio', h264: 'encoder:h264' };

export function encodeMediaMessage(kind: 1 | 2 | 3, timestampMs: number, payload: ArrayBuffer | ArrayBufferView): Uint8Array {
  const bytes = payload instanceof ArrayBuffer ? new Uint8Array(payload) : new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = new Uint8Array(MEDIA_HEADER_BYTES + bytes.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, kind);
  view.setFloat64(8, timestampMs, true);
  out.set(bytes, MEDIA_HEADER_BYTES);
  return out;
}

export interface DecodedMediaMessage {
  kind: MediaKind;
  timestampMs: number;
  payload: Uint8Array;
}

/** Parses a binary media message; throws a clear Error for anything malformed. */
export function decodeMediaMessage(data: Uint8Array): DecodedMediaMessage {
  if (data.byteLength < MEDIA_HEADER_BYTES) throw new Error(`media message too short: ${data.byteLength} bytes`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const kind = view.getUint8(0);
  const timestampMs = view.getFloat64(8, true);
  const name = KIND_NAMES[kind];
  if (!name) throw new Error(`unknown media kind ${kind}`);
  if (!Number.isFinite(timestampMs) || timestampMs < 0) throw new Error('media timestamp must be a finite, non-negative number');
  return { kind: name, timestampMs, payload: data.subarray(MEDIA_HEADER_BYTES) };
}

/**
 * One H.264 access unit from the renderer's encoder, as `encoder:h264` carries it:
 * u8 flags (1 = keyframe) | u16 BE length of the decoder configuration | the
 * configuration (an AVCDecoderConfigurationRecord, "avcC"; keyframes carry it,
 * delta frames have length 0) | the frame in AVC format (length-prefixed NAL units).
 */
export interface H264Unit {
  key: boolean;
  /** The avcC record (keyframes only). */
  config: Uint8Array | null;
  data: Uint8Array;
}

export const H264_UNIT_HEADER_BYTES = 3;

export function encodeH264Unit(unit: H264Unit): Uint8Array {
  const config = unit.config ?? new Uint8Array(0);
  if (config.byteLength > 0xffff) throw new RangeError('decoder configuration too long');
  const out = new Uint8Array(H264_UNIT_HEADER_BYTES + config.byteLength + unit.data.byteLength);
  out[0] = unit.key ? 1 : 0;
  out[1] = config.byteLength >> 8;
  out[2] = config.byteLength & 0xff;
  out.set(config, H264_UNIT_HEADER_BYTES);
  out.set(unit.data, H264_UNIT_HEADER_BYTES + config.byteLength);
  return out;
}

/** Parses an `encoder:h264` payload; throws a clear Error for anything malformed. */
export function decodeH264Unit(bytes: Uint8Array): H264Unit {
  if (bytes.byteLength < H264_UNIT_HEADER_BYTES) throw new Error(`h264 unit too short: ${bytes.byteLength} bytes`);
  const flags = bytes[0]!;
  if ((flags & ~1) !== 0) throw new Error(`h264 unit has unknown flags 0x${flags.toString(16)}`);
  const key = (flags & 1) === 1;
  const configLength = (bytes[1]! << 8) | bytes[2]!;
  const dataStart = H264_UNIT_HEADER_BYTES + configLength;
  if (dataStart >= bytes.byteLength) throw new Error(`h264 unit of ${bytes.byteLength} bytes has no frame after its ${configLength}-byte configuration`);
  if (key && configLength === 0) throw new Error('h264 keyframe without its decoder configuration (avcC)');
  if (!key && configLength > 0) throw new Error('h264 delta frame with a decoder configuration');
  const config = key ? bytes.subarray(H264_UNIT_HEADER_BYTES, dataStart) : null;
  if (config) {
    const problem = avcCProblem(config);
    if (problem) throw new Error(`h264 decoder configuration is not a usable avcC record: ${problem}`);
  }
  return { key, config, data: bytes.subarray(dataStart) };
}

/**
 * What is wrong with an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), or null: version
 * 1, at least one SPS (NAL type 7) and one PPS (type 8), every length inside the record. A damaged
 * one would otherwise pass for a new encoder configuration and restart ffmpeg (its header is read once).
 */
export function avcCProblem(config: Uint8Array): string | null {
  if (config.byteLength < 7) return `${config.byteLength} bytes is too short`;
  if (config[0] !== 1) return `version ${config[0]}, not 1`;
  let at = 5;
  const sets = (count: number, nalType: number, name: string): string | null => {
    for (let i = 0; i < count; i++) {
      if (at + 2 > config.byteLength) return `${name} ${i + 1} of ${count} has no length`;
      const length = (config[at]! << 8) | config[at + 1]!;
      at += 2;
      if (length === 0 || at + length > config.byteLength) return `${name} ${i + 1} of ${count} (${length} bytes) does not fit`;
      if ((config[at]! & 0x1f) !== nalType) return `${name} ${i + 1} is a NAL unit of type ${config[at]! & 0x1f}, not ${nalType}`;
      at += length;
    }
    return null;
  };
  const spsCount = config[5]! & 0x1f;
  if (spsCount === 0) return 'no SPS';
  at = 6;
  const spsProblem = sets(spsCount, 7, 'SPS');
  if (spsProblem) return spsProblem;
  if (at >= config.byteLength) return 'no PPS count';
  const ppsCount = config[at]!;
  at += 1;
  if (ppsCount === 0) return 'no PPS';
  return sets(ppsCount, 8, 'PPS');
}

/** JSON messages of the WebSocket binding. */
export type BridgeWireRequest = { id: number; channel: InvokeChannel; args: unknown[] };
export type BridgeWireReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: { reason: string; message: string } };
export type BridgeWireEvent = { event: EventChannel; args: unknown[] };

/** How an encoder's error begins when the renderer's H.264 stopped coming (the ingest is not the cause then). */
export const NO_VIDEO_FROM_RENDERER = "no video from the renderer's encoder";
