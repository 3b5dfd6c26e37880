/** WebRTC signaling messages exchanged over a stream's private Realtime channel. */
import { z } from 'zod';

export const SIGNAL_EVENT = 'signal';
/** At most this many candidates in one `candidates` message. */
export const MAX_CANDIDATES_PER_MESSAGE = 32;

const sdp = z.object({ type: z.enum(['offer', 'answer']), sdp: z.string().min(1).max(200_000) });
const candidate = z.object({
  candidate: z.string().max(2_000),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
});
/**
 * The peer connection a description or candidate belongs to. The host makes
 * a new one for every call (every hello); both sides then renegotiate on it
 * in either direction. Absent only from peers that predate renegotiation:
 * their every offer starts a new call.
 */
const link = z.string().uuid().optional();

export const signalMessageSchema = z.discriminatedUnion('kind', [
  /**
   * A seated guest announces itself; the host answers with an offer on a new link.
   * The guest repeats it until an offer comes; `call` is the same on every
   * repeat of one attempt (a new one when the guest calls again), so the host
   * answers an attempt once however many of its hellos arrive. Absent from
   * older guests: then every hello is a new call.
   */
  z.object({ kind: z.literal('hello'), from: z.string().uuid(), to: z.string().uuid(), call: z.string().uuid().optional() }),
  /** An offer or an answer; either side may offer ("perfect negotiation": the guest is the polite peer). */
  z.object({ kind: z.literal('description'), from: z.string().uuid(), to: z.string().uuid(), link, description: sdp }),
  z.object({ kind: z.literal('candidate'), from: z.string().uuid(), to: z.string().uuid(), link, candidate }),
  /**
   * The candidates gathered within a few tens of milliseconds, in one message:
   * every message on the channel reaches every member (the host and all
   * seated guests), so one a candidate was several times the traffic.
   */
  z.object({ kind: z.literal('candidates'), from: z.string().uuid(), to: z.string().uuid(), link, candidates: z.array(candidate).min(1).max(MAX_CANDIDATES_PER_MESSAGE) }),
  z.object({ kind: z.literal('bye'), from: z.string().uuid(), to: z.string().uuid() }),
  /** The host tells a guest how big a picture to send, as the stage fills or empties (see guestUplinkFor). */
  z.object({
    kind: z.literal('uplink'),
    from: z.string().uuid(),
    to: z.string().uuid(),
    cap: z
      .object({
        maxWidth: z.number().int().min(160).max(1920),
        maxHeight: z.number().int().min(90).max(1080),
        maxBitrateKbps: z.number().int().min(100).max(4000),
        maxFramerate: z.number().int().min(5).max(60),
      })
      .strict(),
  }),
  /**
   * A guest tells the host how far behind its page shows the program (ms; 0:
   * keeping up again), when that changes: frames waiting for a busy page's
   * decoder, which only the guest's page can see.
   */
  z.object({ kind: z.literal('view'), from: z.string().uuid(), to: z.string().uuid(), behindMs: z.number().int().min(0).max(3_600_000) }),
]);

export type SignalMessage = z.infer<typeof signalMessageSchema>;

/** Parses an incoming signaling payload; returns null (never throws) for anything malformed. */
export function parseSignal(payload: unknown): SignalMessage | null {
  const result = signalMessageSchema.safeParse(payload);
  return result.success ? result.data : null;
}
