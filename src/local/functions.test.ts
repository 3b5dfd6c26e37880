import { createClient } from '@supabase/supabase-js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  bearerToken,
  buildImportMap,
  createFunctionsRuntime,
  denoArgs,
  denoPlatformPackage,
  forwardRequestHeaders,
  forwardResponseHeaders,
  FunctionsRuntimeError,
  type FunctionsRuntimeOptions,
  isFunctionName,
  resolveDenoBinary,
  upstreamPath,
  verifyJwtSettings,
} from './functions.js';
import { signJwt } from './jwt.js';

/**
 * A functions folder with the named functions, a runtime over it without Deno (a request that gets
 * past the proxy's own checks is answered 503) behind an HTTP server; `done()` removes it all.
 */
async function proxyWithoutDeno(names: string[], options: Partial<FunctionsRuntimeOptions> = {}, config?: string) {
  const dir = await mkdtemp(join(tmpdir(), 'roast-fn-'));
  for (const name of names) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'index.ts'), 'Deno.serve(() => new Response("ok"));\n');
  }
  const configPath = join(dir, 'config.toml');
  if (config !== undefined) await writeFile(configPath, config);
  const resolved = { ...options, ...(options.verifyJwt ? { verifyJwt: { ...options.verifyJwt, configPath } } : {}) };
  const runtime = createFunctionsRuntime({ functionsDir: dir, env: {}, denoPath: join(dir, 'no-deno'), log: () => undefined, ...resolved });
  const server = createServer((req, res) => void runtime.handle(req, res, (req.url ?? '').split('/')[3] ?? ''));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    runtime,
    port,
    dir,
    async done() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('functions runtime: routing and proxying', () => {
  it('accepts function folder names only', () => {
    expect(isFunctionName('start-live')).toBe(true);
    expect(isFunctionName('generate_call_token2')).toBe(true);
    expect(isFunctionName('_shared')).toBe(false);
    expect(isFunctionName('')).toBe(false);
    expect(isFunctionName('..')).toBe(false);
    expect(isFunctionName('a/b')).toBe(false);
    expect(isFunctionName('start live')).toBe(false);
  });

  it('keeps what follows the function name, and the query', () => {
    expect(upstreamPath('/functions/v1/start-live', 'start-live')).toBe('/start-live');
    expect(upstreamPath('/functions/v1/start-live?x=1&y=2', 'start-live')).toBe('/start-live?x=1&y=2');
    expect(upstreamPath('/functions/v1/start-live/sub/path?q', 'start-live')).toBe('/start-live/sub/path?q');
    expect(upstreamPath('/start-live', 'start-live')).toBe('/start-live');
    expect(upstreamPath('/?a=b', 'end-live')).toBe('/end-live?a=b');
    expect(upstreamPath(undefined, 'end-live')).toBe('/end-live');
  });

  it('forwards message headers, not connection headers nor accept-encoding', () => {
    const headers = forwardRequestHeaders({
      host: 'localhost:54321',
      connection: 'keep-alive',
      'content-length': '12',
      'transfer-encoding': 'chunked',
      'accept-encoding': 'gzip, br',
      authorization: 'Bearer t',
      apikey: 'anon',
      'content-type': 'application/json',
      'x-client-info': 'supabase-js-node/2.119.0',
      'x-multi': ['a', 'b'],
    });
    expect(Object.fromEntries(headers)).toEqual({
      authorization: 'Bearer t',
      apikey: 'anon',
      'content-type': 'application/json',
      'x-client-info': 'supabase-js-node/2.119.0',
      'x-multi': 'a, b',
    });
  });

  it('passes back response headers without encoding or framing, cookies as a list', () => {
    const upstream = new Headers([
      ['content-type', 'application/json'],
      ['content-encoding', 'gzip'],
      ['content-length', '99'],
      ['connection', 'keep-alive'],
      ['access-control-allow-origin', '*'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
    expect(forwardResponseHeaders(upstream)).toEqual({
      'content-type': 'application/json',
      'access-control-allow-origin': '*',
      'set-cookie': ['a=1', 'b=2'],
    });
  });

  it('builds one import map: a scope per function folder, their union for shared files', () => {
    const { map, conflicts } = buildImportMap([
      { name: 'a', dir: '/fns/a', imports: { zod: 'npm:zod@4.6.7', '@/': './lib/', util: '../_shared/util.ts' } },
      { name: 'b', dir: '/fns/b', imports: { zod: 'npm:zod@3.25.0', jose: 'npm:jose@6.2.18' } },
      { name: 'c', dir: '/fns/c', imports: {} },
    ]);
    expect(map.scopes).toEqual({
      'file:///fns/a/': { zod: 'npm:zod@4.6.7', '@/': 'file:///fns/a/lib/', util: 'file:///fns/_shared/util.ts' },
      'file:///fns/b/': { zod: 'npm:zod@3.25.0', jose: 'npm:jose@6.2.18' },
    });
    expect(map.imports).toEqual({
      zod: 'npm:zod@4.6.7',
      '@/': 'file:///fns/a/lib/',
      util: 'file:///fns/_shared/util.ts',
      jose: 'npm:jose@6.2.18',
    });
    expect(conflicts).toEqual(['"zod": a maps it to npm:zod@4.6.7, b to npm:zod@3.25.0']);
  });

  it('runs Deno without config discovery and with net, env and read-the-functions permissions only', () => {
    const args = denoArgs({ importMapPath: '/tmp/x/import_map.json', functionsDir: '/fns', hostScript: '/src/host.ts', hostConfig: { a: 1 } });
    expect(args.slice(0, 3)).toEqual(['run', '--no-config', '--no-lock']);
    expect(args).toContain('--import-map=/tmp/x/import_map.json');
    expect(args.filter((a) => a.startsWith('--allow'))).toEqual(['--allow-net', '--allow-env', '--allow-read=/fns']);
    expect(args.slice(-2)).toEqual(['/src/host.ts', '{"a":1}']);
  });

  it('finds the deno binary in the npm packages, or says where it looked', () => {
    expect(denoPlatformPackage('linux', 'x64')).toBe('@deno/linux-x64-glibc');
    expect(denoPlatformPackage('darwin', 'arm64')).toBe('@deno/darwin-arm64');
    expect(denoPlatformPackage('aix', 'ppc64')).toBeNull();
    expect(resolveDenoBinary()).toMatch(/[/\\]deno(\.exe)?$/);
    try {
      resolveDenoBinary((id) => `/nowhere/${id}`);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FunctionsRuntimeError);
      expect((err as FunctionsRuntimeError).reason).toBe('deno_not_found');
      expect((err as Error).message).toContain('/nowhere/deno/deno');
    }
  });

  it('reads verify_jwt per function from config.toml: on unless set false, and a typo is an error, not an open function', () => {
    const required = verifyJwtSettings('[functions.a]\nverify_jwt = false\n[functions.b]\nverify_jwt = true\n[functions.c]\n', 'cfg.toml');
    expect([required('a'), required('b'), required('c'), required('unlisted')]).toEqual([false, true, true, true]);
    expect(verifyJwtSettings(null)('any')).toBe(true);
    expect(() => verifyJwtSettings('[functions.a]\nverify_jwt = "false"\n', 'cfg.toml')).toThrow('cfg.toml: functions.a.verify_jwt must be true or false, not "false"');
    expect(() => verifyJwtSettings('[functions.a\n', 'cfg.toml')).toThrow(/cfg.toml is not valid TOML/);
    expect(() => verifyJwtSettings('functions = 3\n', 'cfg.toml')).toThrow('cfg.toml: [functions] must be a table');
  });

  it('takes the bearer token of an Authorization header only', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken(['Bearer x', 'Bearer y'])).toBe('x');
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a b']) expect(bearerToken(header)).toBeNull();
  });

  it('answers 401 as the hosted gateway does for a function with verify_jwt on, before Deno; lets a valid JWT and an open function through', async () => {
    const secret = 'a-jwt-secret-of-at-least-32-characters!!';
    const proxy = await proxyWithoutDeno(['closed', 'open'], { verifyJwt: { secret } }, '[functions.open]\nverify_jwt = false\n');
    const call = async (name: string, authorization?: string) => {
      const res = await fetch(`http://127.0.0.1:${proxy.port}/functions/v1/${name}`, { method: 'POST', body: '{}', headers: authorization ? { authorization } : {} });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    try {
      const anon = await signJwt({ role: 'anon' }, secret, 60);
      const user = await signJwt({ role: 'authenticated', sub: USER_ID }, secret, 60);
      const expired = await signJwt({ role: 'authenticated', sub: USER_ID, iat: Math.floor(Date.now() / 1000) - 120 }, secret, -60);
      const forged = await signJwt({ role: 'service_role' }, 'another-secret-of-at-least-32-characters!', 60);
      expect(await call('closed')).toEqual({ status: 401, body: { code: 401, message: 'Missing authorization header' } });
      expect(await call('closed', 'Basic abc')).toEqual({ status: 401, body: { code: 401, message: 'Missing authorization header' } });
      for (const token of [expired, forged, 'not-a-jwt']) {
        expect(await call('closed', `Bearer ${token}`)).toEqual({ status: 401, body: { code: 401, message: 'Invalid JWT' } });
      }
      for (const token of [anon, user]) expect((await call('closed', `Bearer ${token}`)).status).toBe(503);
      expect((await call('open')).status).toBe(503);
    } finally {
      await proxy.done();
    }
  });

  it('fails to start, and refuses every request, when config.toml cannot be read as settings', async () => {
    const proxy = await proxyWithoutDeno(['fn'], { verifyJwt: { secret: 'x'.repeat(32) } }, '[functions.fn]\nverify_jwt = 0\n');
    try {
      await expect(proxy.runtime.start()).rejects.toThrow('functions.fn.verify_jwt must be true or false, not 0');
      const res = await fetch(`http://127.0.0.1:${proxy.port}/functions/v1/fn`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(500);
      expect(((await res.json()) as { error: string }).error).toContain('verify_jwt must be true or false');
      // Fixed, it is read again: the check answers.
      await writeFile(join(proxy.dir, 'config.toml'), '[functions.fn]\nverify_jwt = true\n');
      const fixed = await fetch(`http://127.0.0.1:${proxy.port}/functions/v1/fn`, { method: 'POST', body: '{}' });
      expect(fixed.status).toBe(401);
    } finally {
      await proxy.done();
    }
  });

  it('refuses a body over the limit with 413 before Deno is asked for anything, by Content-Length or by the bytes read', async () => {
    const proxy = await proxyWithoutDeno(['echo'], { maxBodyBytes: 1024 });
    const port = proxy.port;
    const post = (headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/functions/v1/echo', method: 'POST', headers }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (text: string) => (body += text));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        for (const chunk of chunks) req.write(chunk);
        req.end();
      });
    try {
      // Declared too large: answered before a byte of the body is read.
      const declared = await post({ 'content-length': String(50 * 1024 * 1024) }, []);
      expect(declared.status).toBe(413);
      expect(JSON.parse(declared.body)).toEqual({ error: 'Request body too large: a function takes at most 1024 bytes' });
      // Chunked, no length: reading stops past the limit.
      const chunked = await post({ 'transfer-encoding': 'chunked' }, [Buffer.alloc(600, 97), Buffer.alloc(600, 97)]);
      expect(chunked.status).toBe(413);
      // Within the limit: on to the runtime (which cannot start here).
      const small = await post({ 'content-type': 'application/json' }, [Buffer.from('{}')]);
      expect(small.status).toBe(503);
    } finally {
      await proxy.done();
    }
  });
});

// ---------------------------------------------------------------------------
// The functions' own code, loaded from supabase/functions. Those files use Deno's `.ts`
// import specifiers, which this project's tsc settings refuse, so they are imported by
// computed path and typed here by what the tests use.

const FUNCTIONS_DIR = fileURLToPath(new URL('../../supabase/functions/', import.meta.url));

async function load<T>(path: string): Promise<T> {
  return (await import(/* @vite-ignore */ pathToFileURL(join(FUNCTIONS_DIR, path)).href)) as T;
}

type Handler = (req: Request) => Promise<Response>;
type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
interface Deps {
  env: Record<string, string | undefined>;
  createClient: typeof createClient;
  fetch: FetchLike;
  now: () => Date;
  log?: (message: string) => void;
}
interface CallTokenModule {
  CALL_TOKEN_AUDIENCE: string;
  signCallToken(
    subject: { userId: string; sessionId: string; streamId: string; role: 'host' | 'guest' },
    secret: string,
    now?: Date,
  ): Promise<{ token: string; expiresAt: Date }>;
  verifyCallToken(token: string, secret: string, options?: { now?: Date; sessionId?: string; streamId?: string }): Promise<Record<string, unknown>>;
}
interface SafeParser {
  safeParse(v: unknown): { success: boolean; data?: unknown };
}

const SECRET = 'a-call-token-secret-of-at-least-32-characters';
const USER_ID = '4b0c7a5e-2f9b-4a57-9a59-2c1f1d5c2c11';
const STREAM_ID = '9d8e2b1c-5a4f-4e3d-9c2b-1a0f9e8d7c6b';
const SESSION_ID = '0f6f7e9a-3b1e-4c1f-8e0e-8f4f9b2a7d01';
const ACCESS_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

/** supabase-js as the functions get it; Node 20 needs a WebSocket for its realtime client. */
const nodeCreateClient = ((url: string, key: string, options?: Record<string, unknown>) =>
  createClient(url, key, { ...options, realtime: { transport: WebSocket } } as Parameters<typeof createClient>[2])) as typeof createClient;

/** A fetch that answers Supabase Auth's `GET /auth/v1/user` for ACCESS_TOKEN and records the rest. */
function fakeFetch(extra: (url: URL, init: RequestInit | undefined) => Response | undefined = () => undefined) {
  const calls: { url: URL; init: RequestInit | undefined }[] = [];
  const fetchFn: FetchLike = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    calls.push({ url, init });
    if (url.pathname === '/auth/v1/user') {
      const auth = new Headers(init?.headers).get('authorization');
      return auth === `Bearer ${ACCESS_TOKEN}`
        ? Response.json({ id: USER_ID, aud: 'authenticated', role: 'authenticated', is_anonymous: false, app_metadata: {}, user_metadata: {} })
        : Response.json({ code: 403, error_code: 'bad_jwt', msg: 'invalid JWT' }, { status: 403 });
    }
    return extra(url, init) ?? Response.json({ message: 'unexpected request' }, { status: 500 });
  };
  return { fetch: fetchFn, calls };
}

function deps(fetchFn: FetchLike, env: Record<string, string> = {}): Deps {
  return {
    env: { SUPABASE_URL: 'http://supabase.test', SUPABASE_ANON_KEY: 'anon', SUPABASE_SERVICE_ROLE_KEY: 'service', ...env },
    createClient: nodeCreateClient,
    fetch: fetchFn,
    now: () => new Date('2030-01-01T00:00:00Z'),
    log: () => {},
  };
}

function post(body: string | undefined, headers: Record<string, string> = { authorization: `Bearer ${ACCESS_TOKEN}` }): Request {
  return new Request('http://functions.test/fn', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

describe('edge functions: call tokens', () => {
  it('signs an HS256 token that verifies with its claims and expires after 10 minutes', async () => {
    const { signCallToken, verifyCallToken, CALL_TOKEN_AUDIENCE } = await load<CallTokenModule>('_shared/callToken.ts');
    const now = new Date('2030-01-01T00:00:00Z');
    const { token, expiresAt } = await signCallToken({ userId: USER_ID, sessionId: SESSION_ID, streamId: STREAM_ID, role: 'host' }, SECRET, now);
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(expiresAt.toISOString()).toBe('2030-01-01T00:10:00.000Z');
    expect(await verifyCallToken(token, SECRET, { now, sessionId: SESSION_ID })).toEqual({
      sub: USER_ID,
      sid: SESSION_ID,
      stream_id: STREAM_ID,
      role: 'host',
      aud: CALL_TOKEN_AUDIENCE,
      iat: 1_893_456_000,
      exp: 1_893_456_600,
    });
    await expect(verifyCallToken(token, SECRET, { now: new Date('2030-01-01T00:10:01Z') })).rejects.toMatchObject({ reason: 'expired' });
    await expect(verifyCallToken(token, `${SECRET}!`, { now })).rejects.toMatchObject({ reason: 'invalid' });
    await expect(verifyCallToken(token, SECRET, { now, streamId: SESSION_ID })).rejects.toMatchObject({ reason: 'invalid' });
    await expect(signCallToken({ userId: USER_ID, sessionId: SESSION_ID, streamId: STREAM_ID, role: 'host' }, 'short')).rejects.toMatchObject({
      reason: 'weak_secret',
    });
  });
});

describe('edge functions: request handling', () => {
  it('answers the CORS preflight and refuses other methods than POST', async () => {
    const { createEndLiveHandler } = await load<{ createEndLiveHandler(d: Deps): Handler }>('end-live/handler.ts');
    const { fetch, calls } = fakeFetch();
    const handler = createEndLiveHandler(deps(fetch));
    const preflight = await handler(new Request('http://functions.test/end-live', { method: 'OPTIONS' }));
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    const get = await handler(new Request('http://functions.test/end-live'));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST, OPTIONS');
    expect(await get.json()).toEqual({ error: 'Method GET is not allowed: use POST' });
    expect(calls).toEqual([]);
  });

  it('answers 401 without a valid user JWT', async () => {
    const { createStartLiveHandler } = await load<{ createStartLiveHandler(d: Deps): Handler }>('start-live/handler.ts');
    const { fetch } = fakeFetch();
    const handler = createStartLiveHandler(deps(fetch, { LOCAL_RTMP_URL: 'rtmp://127.0.0.1:1935/live' }));
    const headerSets: Record<string, string>[] = [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer not-a-jwt' }, { authorization: 'Bearer a.b.c' }];
    for (const headers of headerSets) {
      const res = await handler(post('{}', headers));
      expect(res.status).toBe(401);
      expect(typeof ((await res.json()) as { error: unknown }).error).toBe('string');
    }
  });

  it('answers 400 naming what is wrong with the body, before touching the database', async () => {
    const { createGenerateCallTokenHandler } = await load<{ createGenerateCallTokenHandler(d: Deps): Handler }>('generate-call-token/handler.ts');
    const { fetch, calls } = fakeFetch();
    const handler = createGenerateCallTokenHandler(deps(fetch, { CALL_TOKEN_SECRET: SECRET }));
    const cases: [string | undefined, string][] = [
      ['{not json', 'Request body must be JSON'],
      ['[1]', 'Request body must be a JSON object'],
      [undefined, 'Invalid request body: streamId is required; sessionId is required'],
      [JSON.stringify({ streamId: 'abc', sessionId: SESSION_ID }), 'Invalid request body: streamId must be a UUID'],
      [JSON.stringify({ streamId: STREAM_ID, sessionId: SESSION_ID, extra: 1 }), 'Invalid request body: Unrecognized key: "extra"'],
    ];
    for (const [body, error] of cases) {
      const res = await handler(post(body));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error });
    }
    expect(calls.every((c) => c.url.pathname === '/auth/v1/user')).toBe(true);
  });

  it('validates start-live titles', async () => {
    const { startLiveBody } = await load<{ startLiveBody: SafeParser }>('start-live/handler.ts');
    expect(startLiveBody.safeParse({}).success).toBe(true);
    expect(startLiveBody.safeParse({ title: '  Friday roast  ' }).data).toEqual({ title: 'Friday roast' });
    expect(startLiveBody.safeParse({ title: 'x'.repeat(120) }).success).toBe(true);
    expect(startLiveBody.safeParse({ title: 'x'.repeat(121) }).success).toBe(false);
    expect(startLiveBody.safeParse({ title: '   ' }).success).toBe(false);
    expect(startLiveBody.safeParse({ title: 7 }).success).toBe(false);
  });

  it('makes url-safe stream keys and publish / playback URLs', async () => {
    const mod = await load<{
      randomToken(): string;
      publishUrl(rtmp: string, key: string): string;
      localPlaybackUrl(template: string | null, playbackId: string): string | null;
    }>('start-live/handler.ts');
    const keys = new Set(Array.from({ length: 50 }, () => mod.randomToken()));
    expect(keys.size).toBe(50);
    for (const key of keys) expect(key).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(mod.publishUrl('rtmp://127.0.0.1:1935/live', 'k')).toBe('rtmp://127.0.0.1:1935/live/k');
    expect(mod.publishUrl('rtmps://live.cloudflare.com:443/live/', 'k')).toBe('rtmps://live.cloudflare.com:443/live/k');
    expect(mod.localPlaybackUrl('http://127.0.0.1:8000/live/{id}.flv', 'p')).toBe('http://127.0.0.1:8000/live/p.flv');
    expect(mod.localPlaybackUrl(null, 'k')).toBeNull();
  });

  it('refuses a local playback template that would publish the stream key or has no playback id', async () => {
    const config = await load<{ localIngestConfig(env: Record<string, string>): { playbackUrlTemplate: string | null } }>('_shared/config.ts');
    const rtmp = { LOCAL_RTMP_URL: 'rtmp://127.0.0.1:1935/live' };
    expect(config.localIngestConfig({ ...rtmp, LOCAL_PLAYBACK_URL_TEMPLATE: 'http://h/live/{id}/index.m3u8' }).playbackUrlTemplate).toBe('http://h/live/{id}/index.m3u8');
    expect(config.localIngestConfig(rtmp).playbackUrlTemplate).toBeNull();
    for (const template of ['http://h/live/{key}/index.m3u8', 'http://h/live/{key}/{id}.m3u8', 'http://h/live/index.m3u8']) {
      expect(() => config.localIngestConfig({ ...rtmp, LOCAL_PLAYBACK_URL_TEMPLATE: template }), template).toThrow(/never the stream key/);
    }
  });
});

describe('edge functions: configuration and Cloudflare clients', () => {
  it('uses a Cloudflare service only with all of its secrets', async () => {
    const config = await load<{
      cloudflareStreamConfig(env: Record<string, string>): unknown;
      cloudflareCallsConfig(env: Record<string, string>): unknown;
      callTokenSecret(env: Record<string, string>): string;
    }>('_shared/config.ts');
    expect(config.cloudflareStreamConfig({})).toBeNull();
    expect(() => config.cloudflareStreamConfig({ CLOUDFLARE_ACCOUNT_ID: 'acc' })).toThrow(
      'Cloudflare Stream is partially configured: set CLOUDFLARE_STREAM_API_TOKEN, CLOUDFLARE_STREAM_CUSTOMER_CODE',
    );
    expect(config.cloudflareCallsConfig({ CLOUDFLARE_CALLS_APP_ID: 'app', CLOUDFLARE_CALLS_APP_SECRET: 's', CLOUDFLARE_CALLS_API_BASE: 'http://sfu.test/v1/' })).toEqual({
      appId: 'app',
      appSecret: 's',
      apiBase: 'http://sfu.test/v1',
    });
    expect(config.callTokenSecret({ SUPABASE_JWT_SECRET: 'jwt', CALL_TOKEN_SECRET: 'call' })).toBe('call');
    expect(config.callTokenSecret({ SUPABASE_JWT_SECRET: 'jwt' })).toBe('jwt');
    expect(() => config.callTokenSecret({})).toThrow('No call token secret');
  });

  it('creates a Stream live input, a Calls session and TURN credentials with the documented requests', async () => {
    const cf = await load<{
      createLiveInput(f: FetchLike, cfg: object, name: string): Promise<Record<string, string>>;
      createCallsSession(f: FetchLike, cfg: object): Promise<string>;
      generateIceServers(f: FetchLike, cfg: object, ttl: number): Promise<unknown[]>;
    }>('_shared/cloudflare.ts');
    const seen: { method?: string; url: string; auth: string | null; body: unknown }[] = [];
    const fetchFn: FetchLike = async (input, init) => {
      const url = String(input);
      seen.push({ method: init?.method, url, auth: new Headers(init?.headers).get('authorization'), body: init?.body ? JSON.parse(String(init.body)) : undefined });
      if (url.endsWith('/stream/live_inputs')) {
        return Response.json({ success: true, errors: [], messages: [], result: { uid: 'uid1', rtmps: { url: 'rtmps://live.cloudflare.com:443/live/', streamKey: 'sk1' } } }, { status: 201 });
      }
      if (url.endsWith('/sessions/new')) return Response.json({ sessionId: 'cf-session' }, { status: 201 });
      return Response.json({ iceServers: [{ urls: ['stun:stun.cloudflare.com:3478'] }, { urls: ['turn:turn.cloudflare.com:3478?transport=udp'], username: 'u', credential: 'c' }] }, { status: 201 });
    };
    expect(await cf.createLiveInput(fetchFn, { apiBase: 'http://cf.test/client/v4', accountId: 'acc', apiToken: 'tok', customerCode: 'cust' }, 'My show')).toEqual({
      uid: 'uid1',
      rtmpsUrl: 'rtmps://live.cloudflare.com:443/live/',
      streamKey: 'sk1',
      playbackUrl: 'https://customer-cust.cloudflarestream.com/uid1/manifest/video.m3u8',
    });
    expect(await cf.createCallsSession(fetchFn, { apiBase: 'http://sfu.test/v1', appId: 'app', appSecret: 'appsecret' })).toBe('cf-session');
    expect(await cf.generateIceServers(fetchFn, { apiBase: 'http://sfu.test/v1', keyId: 'key', apiToken: 'turntok' }, 86_400)).toHaveLength(2);
    expect(seen).toEqual([
      { method: 'POST', url: 'http://cf.test/client/v4/accounts/acc/stream/live_inputs', auth: 'Bearer tok', body: { meta: { name: 'My show' }, recording: { mode: 'automatic' } } },
      { method: 'POST', url: 'http://sfu.test/v1/apps/app/sessions/new', auth: 'Bearer appsecret', body: undefined },
      { method: 'POST', url: 'http://sfu.test/v1/turn/keys/key/credentials/generate-ice-servers', auth: 'Bearer turntok', body: { ttl: 86_400 } },
    ]);
  });

  it('reports a Cloudflare refusal as a 502 with its message', async () => {
    const cf = await load<{ createLiveInput(f: FetchLike, cfg: object, name: string): Promise<unknown> }>('_shared/cloudflare.ts');
    const refuse: FetchLike = async () => Response.json({ success: false, errors: [{ code: 10000, message: 'Authentication error' }], result: null }, { status: 403 });
    await expect(cf.createLiveInput(refuse, { apiBase: 'http://cf.test', accountId: 'a', apiToken: 't', customerCode: 'c' }, 'x')).rejects.toMatchObject({
      status: 502,
      message: 'Cloudflare Stream refused the request (403): Authentication error',
    });
  });
});
