/**
 * REST broadcast, as realtime-js calls it:
 *   POST /realtime/v1/api/broadcast {"messages":[{topic, event, payload, private}]}     → 202
 *   POST /realtime/v1/api/broadcast/<topic>/events/<event>[?private=true]  body = payload → 202
 * `apikey` (header or query) must be a valid JWT; the caller is the Bearer token,
 * else the apikey. A private message is sent only if the caller may write to
 * its topic; a batch is all or nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type pg from 'pg';
import { topicAllowed, unauthorizedTopic, type JwtClaims } from './auth.js';
import type { Broadcast, ChannelRegistry } from './channels.js';
import { RealtimeError } from './errors.js';
import { BAD_REQUEST_TARGET, requestUrl, withoutTrailingSlashes } from '../http.js';

export const BROADCAST_PATH = '/realtime/v1/api/broadcast';
const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpContext {
  pool: pg.Pool;
  registry: ChannelRegistry;
  verify(token: string): Promise<JwtClaims>;
  log(msg: string): void;
}

interface Outgoing {
  subTopic: string;
  isPrivate: boolean;
  msg: Broadcast;
}

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'apikey, authorization, content-type, x-client-info',
  'access-control-allow-methods': 'POST, OPTIONS',
};

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (res.headersSent) return;
  // CORS headers only where the host server has set none of its own.
  const cors = Object.fromEntries(Object.entries(CORS_HEADERS).filter(([name]) => !res.hasHeader(name)));
  if (body === undefined) {
    res.writeHead(status, cors).end();
    return;
  }
  res.writeHead(status, { ...cors, 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function statusOf(err: RealtimeError): number {
  switch (err.reason) {
    case 'invalid_token':
    case 'token_expired':
      return 401;
    case 'unauthorized':
      return 403;
    case 'frame_too_large':
      return 413;
    case 'database_error':
    case 'private_channels_unavailable':
      return 503;
    default:
      return 400;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new RealtimeError('frame_too_large', `body larger than ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new RealtimeError('frame_too_large', `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonBody(body: Buffer): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    throw new RealtimeError('invalid_request', 'body is not UTF-8 text');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RealtimeError('invalid_request', `body is not valid JSON: ${(err as Error).message}`);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function batchMessages(body: unknown): Outgoing[] {
  const messages = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new RealtimeError('invalid_request', 'body must be {"messages": [{topic, event, payload, private?}, …]}');
  }
  return messages.map((m: unknown, i): Outgoing => {
    const { topic, event, payload, private: isPrivate } = (m ?? {}) as Record<string, unknown>;
    if (typeof topic !== 'string' || topic === '') throw new RealtimeError('invalid_request', `messages[${i}].topic must be a non-empty string`);
    if (typeof event !== 'string' || event === '') throw new RealtimeError('invalid_request', `messages[${i}].event must be a non-empty string`);
    return { subTopic: topic, isPrivate: isPrivate === true, msg: { event, body: { encoding: 'json', value: payload ?? {} } } };
  });
}

/** Handles the REST broadcast routes; false for any other path. */
export async function handleBroadcastHttp(req: IncomingMessage, res: ServerResponse, ctx: HttpContext): Promise<boolean> {
  const url = requestUrl(req.url);
  if (!url) {
    send(res, 400, { error: BAD_REQUEST_TARGET, reason: 'invalid_request' });
    return true;
  }
  const path = withoutTrailingSlashes(url.pathname);
  const single = path.startsWith(`${BROADCAST_PATH}/`) ? /^\/([^/]+)\/events\/([^/]+)$/.exec(path.slice(BROADCAST_PATH.length)) : null;
  if (path !== BROADCAST_PATH && !single) return false;

  if (req.method === 'OPTIONS') {
    send(res, 204);
    return true;
  }
  if (req.method !== 'POST') {
    send(res, 405, { error: 'use POST', reason: 'invalid_request' });
    return true;
  }
  try {
    const apikey = header(req, 'apikey') ?? url.searchParams.get('apikey') ?? undefined;
    if (!apikey) throw new RealtimeError('invalid_token', 'apikey is required');
    const apiClaims = await ctx.verify(apikey);
    const auth = header(req, 'authorization');
    const bearer = auth && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
    const claims = bearer ? await ctx.verify(bearer) : apiClaims;

    const body = await readBody(req);
    let outgoing: Outgoing[];
    if (single) {
      let subTopic: string, event: string;
      try {
        subTopic = decodeURIComponent(single[1]!);
        event = decodeURIComponent(single[2]!);
      } catch {
        throw new RealtimeError('invalid_request', 'bad percent-encoding in the path');
      }
      const binary = (header(req, 'content-type') ?? '').toLowerCase().startsWith('application/octet-stream');
      const msg: Broadcast = binary
        ? { event, body: { encoding: 'binary', bytes: new Uint8Array(body) } }
        : { event, body: { encoding: 'json', value: body.length === 0 ? {} : parseJsonBody(body) } };
      const isPrivate = url.searchParams.get('private') === 'true';
      outgoing = [{ subTopic, isPrivate, msg }];
    } else {
      outgoing = batchMessages(parseJsonBody(body));
    }

    // A payload nested deep enough parses, then overflows the stack when it is turned back into JSON for the
    // subscribers: refused here, before anything is delivered, not thrown half-way through the deliveries.
    outgoing.forEach((o, i) => {
      if (o.msg.body.encoding !== 'json') return;
      try {
        JSON.stringify(o.msg.body.value);
      } catch {
        throw new RealtimeError('invalid_request', `messages[${i}].payload cannot be sent on as JSON (nested too deep)`);
      }
    });
    const checked = new Map<string, boolean>();
    for (const o of outgoing) {
      if (!o.isPrivate) continue;
      if (!checked.has(o.subTopic)) checked.set(o.subTopic, await topicAllowed(ctx.pool, claims, o.subTopic));
      if (!checked.get(o.subTopic)) throw unauthorizedTopic(o.subTopic, 'write to');
    }
    for (const o of outgoing) ctx.registry.broadcast(`realtime:${o.subTopic}`, o.isPrivate, o.msg, null);
    send(res, 202);
  } catch (err) {
    req.resume();
    if (err instanceof RealtimeError) {
      send(res, statusOf(err), { error: err.message, reason: err.reason });
    } else {
      ctx.log(`realtime: REST broadcast failed: ${(err as Error).message}`);
      send(res, 500, { error: 'internal error', reason: 'internal' });
    }
  }
  return true;
}
