/**
 * Phoenix frames as realtime-js speaks them.
 *
 * vsn 1.0.0: every frame is a JSON object `{join_ref, ref, topic, event, payload}`.
 * vsn 2.0.0: text frames are JSON arrays `[join_ref, ref, topic, event, payload]`;
 * binary frames carry user broadcasts: kind 3 (client → server push) and
 * kind 4 (server → client), see `encodeUserBroadcast` and `decodeFrame`.
 */
import { RealtimeError } from './errors.js';

export type Vsn = '1.0.0' | '2.0.0';
export const SUPPORTED_VSNS: readonly Vsn[] = ['1.0.0', '2.0.0'];

export interface PhoenixMessage {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: unknown;
}

/** A broadcast's user payload: JSON, or raw bytes (binary encoding, vsn 2.0.0 only). */
export type BroadcastBody = { encoding: 'json'; value: unknown } | { encoding: 'binary'; bytes: Uint8Array };

export interface UserBroadcast {
  topic: string;
  event: string;
  body: BroadcastBody;
  /** Frame metadata (a JSON object), empty when there is none. */
  meta?: Record<string, unknown>;
}

const KIND_USER_BROADCAST_PUSH = 3;
const KIND_USER_BROADCAST = 4;
const ENCODING_BINARY = 0;
const ENCODING_JSON = 1;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Where a malformed frame was going, when that much of it could be read: its sender can be answered there. */
export interface FrameAddress {
  joinRef: string | null;
  ref: string;
  topic: string;
}

function frameError(message: string, address?: FrameAddress): RealtimeError & { address?: FrameAddress } {
  const err: RealtimeError & { address?: FrameAddress } = new RealtimeError('malformed_frame', message);
  if (address) err.address = address;
  return err;
}

/** The address of a frame whose ref and topic were read, else undefined (nothing to answer). */
function addressOf(joinRef: string | null, ref: string | null, topic: unknown): FrameAddress | undefined {
  return ref !== null && typeof topic === 'string' && topic !== '' ? { joinRef, ref, topic } : undefined;
}

function refValue(value: unknown, name: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw frameError(`${name} must be a string or null`);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw frameError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function decodeText(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw frameError(`${what} is not valid UTF-8`);
  }
}

function decodeJsonFrame(text: string, vsn: Vsn): PhoenixMessage {
  const parsed = parseJson(text, 'frame');
  let joinRef: unknown, ref: unknown, topic: unknown, event: unknown, payload: unknown;
  if (vsn === '2.0.0') {
    if (!Array.isArray(parsed) || parsed.length !== 5) throw frameError('a vsn 2.0.0 text frame is an array of 5 elements');
    [joinRef, ref, topic, event, payload] = parsed as unknown[];
  } else {
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw frameError('a vsn 1.0.0 frame is a JSON object');
    }
    ({ join_ref: joinRef, ref, topic, event, payload } = parsed as Record<string, unknown>);
  }
  if (typeof topic !== 'string' || topic === '') throw frameError('topic must be a non-empty string');
  const refs = { joinRef: refValue(joinRef, 'join_ref'), ref: refValue(ref, 'ref') };
  if (typeof event !== 'string' || event === '') throw frameError('event must be a non-empty string', addressOf(refs.joinRef, refs.ref, topic));
  return { ...refs, topic, event, payload: payload ?? {} };
}

/**
 * Kind 3: u8 kind | u8 len(join_ref) | u8 len(ref) | u8 len(topic) | u8 len(event)
 * | u8 len(meta) | u8 encoding | join_ref | ref | topic | event | meta | payload.
 * Decoded as a `broadcast` push whose payload is `{type, event, payload, meta?}`;
 * a binary user payload arrives as a Uint8Array.
 */
function decodeUserBroadcastPush(buf: Uint8Array): PhoenixMessage {
  const headerLength = 7;
  if (buf.length < headerLength) throw frameError('binary frame shorter than its header');
  const lengths = [buf[1]!, buf[2]!, buf[3]!, buf[4]!, buf[5]!];
  const encoding = buf[6]!;
  if (encoding !== ENCODING_BINARY && encoding !== ENCODING_JSON) throw frameError(`unknown payload encoding ${encoding}`);
  const total = headerLength + lengths.reduce((a, b) => a + b, 0);
  if (buf.length < total) throw frameError('binary frame shorter than its declared fields');
  let offset = headerLength;
  const fields = lengths.map((len, i) => {
    const slice = buf.subarray(offset, offset + len);
    offset += len;
    return decodeText(slice, ['join_ref', 'ref', 'topic', 'event', 'meta'][i]!);
  });
  const [joinRef, ref, topic, userEvent, metaText] = fields as [string, string, string, string, string];
  if (topic === '') throw frameError('topic must be a non-empty string');
  // From here the frame's sender can be answered: a refusal goes back to it as the push's reply.
  const address = addressOf(joinRef === '' ? null : joinRef, ref === '' ? null : ref, topic);
  const addressed = <T>(read: () => T): T => {
    try {
      return read();
    } catch (err) {
      throw frameError((err as Error).message, address);
    }
  };
  if (userEvent === '') throw frameError('broadcast event must be a non-empty string', address);
  const rest = buf.subarray(total);
  const payload: Record<string, unknown> = { type: 'broadcast', event: userEvent };
  if (encoding === ENCODING_JSON) {
    payload.payload = rest.length === 0 ? {} : addressed(() => parseJson(decodeText(rest, 'payload'), 'payload'));
  } else {
    payload.payload = new Uint8Array(rest);
  }
  if (metaText !== '') {
    const meta = addressed(() => parseJson(metaText, 'meta'));
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw frameError('meta must be a JSON object', address);
    payload.meta = meta;
  }
  return { joinRef: joinRef === '' ? null : joinRef, ref: ref === '' ? null : ref, topic, event: 'broadcast', payload };
}

/** Decodes one client frame; throws a RealtimeError (reason `malformed_frame`) on anything else. */
export function decodeFrame(data: Uint8Array | string, isBinary: boolean, vsn: Vsn): PhoenixMessage {
  if (!isBinary) {
    const text = typeof data === 'string' ? data : decodeText(data, 'text frame');
    return decodeJsonFrame(text, vsn);
  }
  const buf = typeof data === 'string' ? utf8Encoder.encode(data) : data;
  if (vsn !== '2.0.0') throw frameError('binary frames need vsn 2.0.0');
  if (buf.length === 0) throw frameError('empty binary frame');
  const kind = buf[0]!;
  if (kind !== KIND_USER_BROADCAST_PUSH) throw frameError(`unsupported binary frame kind ${kind}`);
  return decodeUserBroadcastPush(buf);
}

/** A text frame for the given protocol version. */
export function encodeMessage(msg: PhoenixMessage, vsn: Vsn): string {
  if (vsn === '2.0.0') return JSON.stringify([msg.joinRef, msg.ref, msg.topic, msg.event, msg.payload]);
  return JSON.stringify({ join_ref: msg.joinRef, ref: msg.ref, topic: msg.topic, event: msg.event, payload: msg.payload });
}

function checkedBytes(text: string, what: string): Uint8Array {
  const bytes = utf8Encoder.encode(text);
  if (bytes.length > 255) throw new RealtimeError('frame_too_large', `${what} is ${bytes.length} bytes; at most 255 fit a binary frame`);
  return bytes;
}

/**
 * Kind 4: u8 kind | u8 len(topic) | u8 len(event) | u8 len(meta) | u8 encoding
 * | topic | event | meta | payload — what realtime-js decodes into
 * `{type: "broadcast", event, payload, meta?}`.
 */
export function encodeUserBroadcast(msg: UserBroadcast): Uint8Array {
  const topic = checkedBytes(msg.topic, 'topic');
  const event = checkedBytes(msg.event, 'event');
  const meta = checkedBytes(msg.meta && Object.keys(msg.meta).length > 0 ? JSON.stringify(msg.meta) : '', 'meta');
  const payload =
    msg.body.encoding === 'binary' ? msg.body.bytes : utf8Encoder.encode(JSON.stringify(msg.body.value ?? null));
  const out = new Uint8Array(5 + topic.length + event.length + meta.length + payload.length);
  out[0] = KIND_USER_BROADCAST;
  out[1] = topic.length;
  out[2] = event.length;
  out[3] = meta.length;
  out[4] = msg.body.encoding === 'binary' ? ENCODING_BINARY : ENCODING_JSON;
  let offset = 5;
  for (const part of [topic, event, meta, payload]) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Whether a user broadcast fits the binary frame's one-byte length fields. */
export function fitsBinaryFrame(topic: string, event: string): boolean {
  return utf8Encoder.encode(topic).length <= 255 && utf8Encoder.encode(event).length <= 255;
}
