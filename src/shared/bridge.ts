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
    /** Optional local recording of the program alongside the stream. */
    recordPath: z.string().min(1).optional(),
  })
  .strict();
export type EncoderStartOptions = z.infer<typeof encoderStartSchema>;
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
  /** Frames dropped by the network: frames that came while the stream was down and reconnecting. */
  framesDroppedNetwork: number;
  /** Output frame rate reported by ffmpeg. */
  fps: number;
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
}

export interface EncoderStartResult {
  encoder: string;
  ffmpegPath: string;
  ffmpegSource: 'FFMPEG_PATH' | 'ffmpeg-static' | 'PATH';
}

/** Runtime configuration the renderer needs; no secrets. */
export interface AppConfig {
  supabaseUrl: string;
  supabaseAnonKey: string;
  /** "electron" or "browser": which binding of the bridge is in use. */
  shell: 'electron' | 'browser';
}

/** Invoke channels: request → response. */
export interface BridgeInvokeMap {
  'app:config': () => AppConfig;
  'encoder:start': (opts: EncoderStartInput) => EncoderStartResult;
  'encoder:stop': () => void;
}

/** Fire-and-forget channels from renderer to native. */
export interface BridgeSendMap {
  /** One I420 frame (width*height*3/2 bytes) and its capture time in ms. */
  'encoder:video': [frame: ArrayBuffer, timestampMs: number];
  /** Interleaved stereo f32 PCM at 48 kHz and the capture time of its first sample. */
  'encoder:audio': [pcm: ArrayBuffer, timestampMs: number];
}

/** Events from native to renderer. */
export interface BridgeEventMap {
  'encoder:stats': [stats: EncoderStats];
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

export const INVOKE_CHANNELS: readonly InvokeChannel[] = ['app:config', 'encoder:start', 'encoder:stop'];
export const SEND_CHANNELS: readonly SendChannel[] = ['encoder:video', 'encoder:audio'];
export const EVENT_CHANNELS: readonly EventChannel[] = ['encoder:stats'];

/** Validates the arguments of an invoke channel; throws a ZodError with a clear message. */
export const invokeArgSchemas: { [C in InvokeChannel]: z.ZodType<Parameters<BridgeInvokeMap[C]>> } = {
  'app:config': z.tuple([]) as unknown as z.ZodType<[]>,
  'encoder:start': z.tuple([encoderStartSchema]) as unknown as z.ZodType<[EncoderStartInput]>,
  'encoder:stop': z.tuple([]) as unknown as z.ZodType<[]>,
};

/**
 * Binary framing of send channels over a WebSocket (and a sanity check for IPC):
 * u8 kind (1 = video, 2 = audio) | 7 bytes zero | f64 LE timestamp ms | payload.
 */
export const MEDIA_HEADER_BYTES = 16;
export const MEDIA_KIND = { video: 1, audio: 2 } as const;

export function encodeMediaMessage(kind: 1 | 2, timestampMs: number, payload: ArrayBuffer | ArrayBufferView): Uint8Array {
  const bytes = payload instanceof ArrayBuffer ? new Uint8Array(payload) : new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = new Uint8Array(MEDIA_HEADER_BYTES + bytes.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, kind);
  view.setFloat64(8, timestampMs, true);
  out.set(bytes, MEDIA_HEADER_BYTES);
  return out;
}

export interface DecodedMediaMessage {
  kind: 'video' | 'audio';
  timestampMs: number;
  payload: Uint8Array;
}

/** Parses a binary media message; throws a clear Error for anything malformed. */
export function decodeMediaMessage(data: Uint8Array): DecodedMediaMessage {
  if (data.byteLength < MEDIA_HEADER_BYTES) throw new Error(`media message too short: ${data.byteLength} bytes`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const kind = view.getUint8(0);
  const timestampMs = view.getFloat64(8, true);
  if (kind !== MEDIA_KIND.video && kind !== MEDIA_KIND.audio) throw new Error(`unknown media kind ${kind}`);
  if (!Number.isFinite(timestampMs) || timestampMs < 0) throw new Error('media timestamp must be a finite, non-negative number');
  return { kind: kind === 1 ? 'video' : 'audio', timestampMs, payload: data.subarray(MEDIA_HEADER_BYTES) };
}

/** JSON messages of the WebSocket binding. */
export type BridgeWireRequest = { id: number; channel: InvokeChannel; args: unknown[] };
export type BridgeWireReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: { reason: string; message: string } };
export type BridgeWireEvent = { event: EventChannel; args: unknown[] };
