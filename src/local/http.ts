/** Small node:http helpers shared by the local gateway's services. */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError } from '../shared/errors.js';

export const MAX_BODY_BYTES = 10 * 1024 * 1024;

export class BodyError extends AppError {
  declare readonly reason: 'body_too_large' | 'bad_json' | 'aborted';
  constructor(reason: 'body_too_large' | 'bad_json' | 'aborted', message: string) {
    super(reason, message);
  }
}

/** Headers a browser page on another origin may send to the gateway. */
export const CORS_ALLOW_HEADERS = [
  'apikey',
  'authorization',
  'content-type',
  'prefer',
  'accept',
  'accept-profile',
  'content-profile',
  'x-client-info',
  'range',
  'range-unit',
  'x-supabase-api-version',
  'x-retry-count',
  'x-region',
].join(', ');

/** Response headers a browser page may read. */
export const CORS_EXPOSE_HEADERS = ['content-range', 'content-location', 'location', 'x-supabase-api-version', 'preference-applied', 'range-unit'].join(
  ', ',
);

export function applyCors(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('access-control-allow-origin', '*');
  res.setHeader('access-control-allow-methods', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  const requested = req.headers['access-control-request-headers'];
  res.setHeader('access-control-allow-headers', typeof requested === 'string' && requested ? `${CORS_ALLOW_HEADERS}, ${requested}` : CORS_ALLOW_HEADERS);
  res.setHeader('access-control-expose-headers', CORS_EXPOSE_HEADERS);
  res.setHeader('access-control-max-age', '86400');
}

/** A path without its trailing slashes (a loop: /\/+$/ takes time quadratic in a long run of slashes not at the end). */
export function withoutTrailingSlashes(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}

/**
 * The request target as a URL, or null when it is not one (`//`, `//[`, `*`):
 * the caller answers 400. A target that starts with `/` is a path, even
 * `//host/x`, as HTTP reads it (resolving it against a base would make `host`
 * the host, and `//` alone throws).
 */
export function requestUrl(target: string | undefined): URL | null {
  const t = target ?? '/';
  try {
    return t.startsWith('/') ? new URL(`http://localhost${t}`) : new URL(t);
  } catch {
    return null;
  }
}

/** What a request whose target is not a URL is told. */
export const BAD_REQUEST_TARGET = 'the request target is not a valid URL';

/** Answers an upgrade request on its raw socket (no response object exists for it) and closes it. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, message: string): void {
  // A client that resets the connection first makes the write fail: that must not go unhandled.
  if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: message, reason });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/**
 * The whole request body, at most `limit` bytes: a BodyError (body_too_large) as soon as
 * Content-Length or the bytes read say more, without reading further. The connection is left
 * open so that the caller's 413 reaches the client; send it with `connection: close` to drop
 * the rest of the body with the connection.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.pause();
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error): void => {
      done();
      reject(new BodyError('aborted', `the request body could not be read: ${err.message}`));
    };
    const onClose = (): void => onError(new Error('the client went away'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function tooLarge(limit: number): BodyError {
  return new BodyError('body_too_large', `request body exceeds ${limit} bytes`);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A body's text; bytes that are not UTF-8 are refused (`bad_json`), never stored as U+FFFD in their place. */
export function utf8Text(body: Uint8Array): string {
  try {
    return strictUtf8.decode(body);
  } catch {
    throw new BodyError('bad_json', 'the request body is not UTF-8 text');
  }
}

/**
 * How deep a request's JSON may nest. Deeper JSON parses, but cannot be
 * written out again (JSON.stringify runs out of stack) to the database: it is
 * refused as invalid input, not failed later as a server error.
 */
export const MAX_JSON_DEPTH = 512;

/** Whether JSON text opens more than `max` arrays or objects inside one another (one pass, strings skipped). */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** The parsed JSON body; `undefined` when the body is empty. */
export async function readJson(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const raw = utf8Text(await readBody(req, limit));
  if (raw.trim() === '') return undefined;
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) throw new BodyError('bad_json', `invalid JSON body: arrays and objects nested deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new BodyError('bad_json', `invalid JSON body: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Sends an already-serialised JSON text (no body for HEAD). */
export function sendJsonText(req: IncomingMessage, res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(req.method === 'HEAD' ? undefined : text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, headers);
  res.end();
}

/** The token of `Authorization: Bearer <token>`, if any. */
export function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/** A single header's value (the first when repeated). */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** All values of a comma-separated, possibly repeated header, trimmed. */
export function headerList(req: IncomingMessage, name: string): string[] {
  const value = req.headers[name.toLowerCase()];
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return joined
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}
