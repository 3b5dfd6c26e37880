/**
 * Clients for the Cloudflare APIs the functions call (see CLOUDFLARE.md in the project notes):
 * Stream live inputs, Calls sessions and TURN credentials. Each answer is validated; a refusal
 * or an answer of the wrong shape is an UpstreamError (502) that names the service.
 */
import { z } from 'zod';
import type { CloudflareCallsConfig, CloudflareStreamConfig, CloudflareTurnConfig } from './config.ts';
import { UpstreamError } from './errors.ts';
import type { IceServer } from './types.ts';

type Fetch = typeof fetch;

/**
 * How long any Cloudflare call may take before it fails as unanswered. Well inside a live
 * input's reservation (30 s), so a stalled Stream API cannot outlive it, and inside the client's
 * 60 s wait for a function; callers that answer sooner (revocations, deletions) set a shorter one.
 */
export const CLOUDFLARE_TIMEOUT_MS = 10_000;

async function call(
  fetchFn: Fetch,
  service: string,
  url: string,
  token: string,
  body: unknown,
  method: 'POST' | 'DELETE' = 'POST',
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  let text: string;
  try {
    res = await fetchFn(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(CLOUDFLARE_TIMEOUT_MS),
    });
    text = await res.text();
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new UpstreamError(`${service} did not answer in time`);
    throw new UpstreamError(`${service} is unreachable: ${(err as Error).message}`);
  }
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    if (res.ok) throw new UpstreamError(`${service} answered ${res.status} with a body that is not JSON`);
  }
  if (!res.ok) throw new UpstreamError(`${service} refused the request (${res.status}): ${describeFailure(json, text)}`, res.status);
  return { status: res.status, json };
}

function describeFailure(json: unknown, text: string): string {
  if (json && typeof json === 'object') {
    const o = json as Record<string, unknown>;
    if (Array.isArray(o.errors) && o.errors.length > 0) {
      return o.errors.map((e) => (e && typeof e === 'object' && 'message' in e ? String(e.message) : JSON.stringify(e))).join('; ');
    }
    for (const k of ['errorDescription', 'error', 'message']) if (typeof o[k] === 'string') return o[k] as string;
  }
  return text.slice(0, 200) || 'empty answer';
}

function parse<T>(schema: z.ZodType<T>, service: string, json: unknown): T {
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UpstreamError(`${service} answered an unexpected shape (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`);
  }
  return r.data;
}

// ---------------------------------------------------------------- Stream

export interface LiveInput {
  uid: string;
  rtmpsUrl: string;
  streamKey: string;
  playbackUrl: string;
}

const liveInputAnswer = z.object({
  success: z.literal(true),
  result: z.object({
    uid: z.string().min(1),
    rtmps: z.object({ url: z.string().min(1), streamKey: z.string().min(1) }),
  }),
});

export function cloudflarePlaybackUrl(customerCode: string, uid: string): string {
  return `https://customer-${customerCode}.cloudflarestream.com/${uid}/manifest/video.m3u8`;
}

/** `POST /accounts/{account}/stream/live_inputs` with automatic recording. */
export async function createLiveInput(fetchFn: Fetch, cfg: CloudflareStreamConfig, name: string): Promise<LiveInput> {
  const service = 'Cloudflare Stream';
  const url = `${cfg.apiBase}/accounts/${encodeURIComponent(cfg.accountId)}/stream/live_inputs`;
  const { json } = await call(fetchFn, service, url, cfg.apiToken, { meta: { name }, recording: { mode: 'automatic' } });
  const { result } = parse(liveInputAnswer, service, json);
  return {
    uid: result.uid,
    rtmpsUrl: result.rtmps.url,
    streamKey: result.rtmps.streamKey,
    playbackUrl: cloudflarePlaybackUrl(cfg.customerCode, result.uid),
  };
}

/**
 * `DELETE /accounts/{account}/stream/live_inputs/{uid}`: for an input made in vain, which nobody
 * publishes to (another call's input was stored first, or the stream ended meanwhile).
 */
export async function deleteLiveInput(fetchFn: Fetch, cfg: CloudflareStreamConfig, uid: string): Promise<void> {
  const url = `${cfg.apiBase}/accounts/${encodeURIComponent(cfg.accountId)}/stream/live_inputs/${encodeURIComponent(uid)}`;
  await call(fetchFn, 'Cloudflare Stream', url, cfg.apiToken, undefined, 'DELETE');
}

// ----------------------------------------------------------------- Calls

const sessionAnswer = z.object({ sessionId: z.string().min(1) });

/** `POST /apps/{appId}/sessions/new`: an SFU session for one PeerConnection. */
export async function createCallsSession(fetchFn: Fetch, cfg: CloudflareCallsConfig): Promise<string> {
  const service = 'Cloudflare Calls';
  const url = `${cfg.apiBase}/apps/${encodeURIComponent(cfg.appId)}/sessions/new`;
  const { json } = await call(fetchFn, service, url, cfg.appSecret, undefined);
  return parse(sessionAnswer, service, json).sessionId;
}

// ------------------------------------------------------------------ TURN

const iceServer = z.object({
  urls: z.union([z.string(), z.array(z.string()).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
/** Cloudflare documents a list; an older answer carried one object. */
const iceAnswer = z.object({ iceServers: z.union([z.array(iceServer), iceServer]) });

/** `POST /turn/keys/{keyId}/credentials/generate-ice-servers`. */
export async function generateIceServers(fetchFn: Fetch, cfg: CloudflareTurnConfig, ttlSeconds: number): Promise<IceServer[]> {
  const service = 'Cloudflare TURN';
  const url = `${cfg.apiBase}/turn/keys/${encodeURIComponent(cfg.keyId)}/credentials/generate-ice-servers`;
  const { json } = await call(fetchFn, service, url, cfg.apiToken, { ttl: ttlSeconds });
  const { iceServers } = parse(iceAnswer, service, json);
  return (Array.isArray(iceServers) ? iceServers : [iceServers]).map((s) => {
    const out: IceServer = { urls: s.urls };
    if (s.username !== undefined) out.username = s.username;
    if (s.credential !== undefined) out.credential = s.credential;
    return out;
  });
}

/**
 * `POST /turn/keys/{keyId}/credentials/{username}/revoke`: the credential stops working before its
 * TTL runs out. A credential the service no longer knows (expired, revoked already) is done too.
 */
export async function revokeTurnCredential(fetchFn: Fetch, cfg: CloudflareTurnConfig, username: string): Promise<void> {
  const url = `${cfg.apiBase}/turn/keys/${encodeURIComponent(cfg.keyId)}/credentials/${encodeURIComponent(username)}/revoke`;
  try {
    await call(fetchFn, 'Cloudflare TURN', url, cfg.apiToken, undefined);
  } catch (error) {
    if (error instanceof UpstreamError && error.upstreamStatus === 404) return;
    throw error;
  }
}
