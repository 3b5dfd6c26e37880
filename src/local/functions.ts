/**
 * The local edge-functions runtime: what `supabase functions serve` does, without Docker.
 * One Deno process (the binary from the npm `deno` package) runs functions-host.ts, which loads
 * every `<functionsDir>/<name>/index.ts` and serves them on 127.0.0.1; the gateway's
 * `/functions/v1/<name>` mount hands requests to `handle()`, which proxies them there.
 *
 * Each function's `deno.json` import map is honoured through one generated import map: its
 * `imports` become a scope for the function's folder, and their union maps the files outside
 * any function folder (`_shared/`). Deno runs with `--no-config` (the repository's package.json
 * is not consulted) and with net, env and read-the-functions permissions only. npm packages are
 * cached in DENO_DIR (`.data/deno` by default), so they are fetched once; the desktop app ships
 * its packages and their lock file (denoSeed.ts) and runs Deno from them alone, fetching nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { AppError } from '../shared/errors.js';
import { BodyError, MAX_BODY_BYTES, readBody, requestUrl } from './http.js';
import { verifyJwt } from './jwt.js';
import { SEED_LOCK, seedDenoCache, type SeedStamp } from './denoSeed.js';
import { FUNCTIONS_HOST_SCRIPT, REPO_ROOT, outsideArchive } from './paths.js';

export interface FunctionsRuntimeOptions {
  /** The folder holding one sub-folder per function (`supabase/functions`). */
  functionsDir: string;
  /** The functions' environment (SUPABASE_URL, keys, secrets). */
  env: Record<string, string>;
  /** Deno's cache; `.data/deno` in the repository by default. */
  denoDir?: string;
  /**
   * A cache built with the app (denoSeed.ts): copied into `denoDir` when that lacks it, and Deno
   * then runs from it alone, with its lock file (`--frozen --cached-only`) and its registry:
   * nothing is fetched or resolved anew, and a function whose package is missing answers 500
   * with the cache's error.
   */
  seedDenoDir?: string;
  /** A lock file Deno writes the versions it resolves to (building a seed); without one Deno runs `--no-lock`. */
  lockFile?: string;
  log?: (message: string) => void;
  /** The deno executable; resolved from the npm packages by default. */
  denoPath?: string;
  /** How long start() waits for Deno to load every function (a cold cache downloads npm packages). */
  startTimeoutMs?: number;
  /** How long one request may take before the proxy answers 504. */
  requestTimeoutMs?: number;
  /** Largest request body the proxy takes (413 beyond); the gateway's MAX_BODY_BYTES by default. */
  maxBodyBytes?: number;
  /**
   * The gateway's JWT check, as hosted Supabase makes it before a function runs: with the
   * project's JWT secret, a function whose `verify_jwt` is on (the default; `[functions.<name>]`
   * in `configPath`, the project's `supabase/config.toml`) is reached only with
   * `Authorization: Bearer <a JWT signed with it>` (any role: the anon key passes, as hosted).
   * Without it, every request reaches the functions, which check the caller themselves.
   */
  verifyJwt?: { secret: string; configPath?: string };
}

export interface FunctionsRuntime {
  /** Loads every function in Deno; requests also start it (again, after a crash) on demand. */
  start(): Promise<void>;
  /** Proxies one request for function `name`; answers `{ error }` itself when it cannot. */
  handle(req: IncomingMessage, res: ServerResponse, name: string): Promise<void>;
  /** Stops Deno; idempotent. */
  stop(): Promise<void>;
  /** The Deno process, when running (for logs and tests). */
  status(): { pid: number | null; port: number | null; functions: string[] };
}

export type FunctionsRuntimeErrorReason = 'deno_not_found' | 'start_failed' | 'start_timeout' | 'bad_function_config';

export class FunctionsRuntimeError extends AppError {
  declare readonly reason: FunctionsRuntimeErrorReason;
  constructor(reason: FunctionsRuntimeErrorReason, message: string, options?: { cause?: unknown }) {
    super(reason, message, options);
  }
}

const HOST_SCRIPT = FUNCTIONS_HOST_SCRIPT;
const READY_MARKER = 'roast-functions-host listening on port';
const DEFAULT_START_TIMEOUT_MS = 180_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 150_000;

// ------------------------------------------------------------------ pure parts

/** A function folder name: what may follow `/functions/v1/`. Folders starting with `_` are shared code. */
export function isFunctionName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name);
}

/**
 * The path to ask the host for: `/<name>` plus whatever followed the function's name in the
 * incoming URL (the gateway may pass `/functions/v1/<name>/sub?x=1` or just `/<name>?x=1`).
 */
export function upstreamPath(target: string | undefined, name: string): string {
  const url = requestUrl(target) ?? new URL('http://localhost/');
  const segments = url.pathname.split('/');
  const at = segments.findIndex((s) => {
    try {
      return decodeURIComponent(s) === name;
    } catch {
      return false;
    }
  });
  const rest = at >= 0 ? segments.slice(at + 1).join('/') : '';
  return `/${encodeURIComponent(name)}${rest ? `/${rest}` : ''}${url.search}`;
}

/** Headers that describe one connection, not the message. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

/**
 * The request headers to forward. `accept-encoding` is dropped so that Deno answers
 * uncompressed (fetch would decode a compressed body but keep its content-encoding).
 */
export function forwardRequestHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || lower === 'accept-encoding' || lower.startsWith(':')) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.append(lower, v);
  }
  return out;
}

/** The response headers to pass back; the body is re-sent whole, so its length is recomputed. */
export function forwardResponseHeaders(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  headers.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || name === 'content-encoding' || name === 'set-cookie') return;
    out[name] = value;
  });
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies;
  return out;
}

/**
 * Which functions the gateway opens only to a valid JWT, from the text of `supabase/config.toml`:
 * `[functions.<name>] verify_jwt = false` opens one to anyone; every other function (and every
 * function when there is no file) needs a JWT, as with the Supabase CLI and hosted projects.
 * Throws a FunctionsRuntimeError naming the problem when the file is not valid TOML or a
 * `verify_jwt` is not a boolean: a typo must not open a function.
 */
export function verifyJwtSettings(configText: string | null, configPath = 'config.toml'): (name: string) => boolean {
  if (configText === null) return () => true;
  let parsed: unknown;
  try {
    parsed = parseToml(configText);
  } catch (err) {
    throw new FunctionsRuntimeError('bad_function_config', `${configPath} is not valid TOML: ${(err as Error).message}`, { cause: err });
  }
  const open = new Set<string>();
  const functions = (parsed as { functions?: unknown }).functions;
  if (functions !== undefined && (typeof functions !== 'object' || functions === null || Array.isArray(functions))) {
    throw new FunctionsRuntimeError('bad_function_config', `${configPath}: [functions] must be a table`);
  }
  for (const [name, settings] of Object.entries((functions ?? {}) as Record<string, unknown>)) {
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
      throw new FunctionsRuntimeError('bad_function_config', `${configPath}: [functions.${name}] must be a table`);
    }
    const value = (settings as { verify_jwt?: unknown }).verify_jwt;
    if (value === undefined) continue;
    if (typeof value !== 'boolean') {
      throw new FunctionsRuntimeError('bad_function_config', `${configPath}: functions.${name}.verify_jwt must be true or false, not ${JSON.stringify(value)}`);
    }
    if (!value) open.add(name);
  }
  return (name) => !open.has(name);
}

/** The bearer token of an Authorization header, or null (no header, another scheme, nothing after it). */
export function bearerToken(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return match ? match[1]! : null;
}

export interface ImportMap {
  imports: Record<string, string>;
  scopes: Record<string, Record<string, string>>;
}

export interface FunctionImports {
  name: string;
  /** Absolute path of the function's folder. */
  dir: string;
  /** The `imports` of its deno.json, as written. */
  imports: Record<string, string>;
}

/** Relative targets (`./x.ts`, `../y/`) are made absolute against the function's folder. */
function absoluteTarget(target: string, dir: string): string {
  if (target.startsWith('./') || target.startsWith('../') || target.startsWith('/')) {
    return new URL(target, pathToFileURL(`${dir}/`)).href;
  }
  return target;
}

/**
 * One import map for all functions: each function's imports scoped to its folder, and their
 * union at the top level for shared files. `conflicts` names specifiers functions map differently
 * (shared files then use the first function's mapping).
 */
export function buildImportMap(functions: readonly FunctionImports[]): { map: ImportMap; conflicts: string[] } {
  const map: ImportMap = { imports: {}, scopes: {} };
  const owners = new Map<string, string>();
  const conflicts: string[] = [];
  for (const fn of functions) {
    const scope: Record<string, string> = {};
    for (const [specifier, target] of Object.entries(fn.imports)) {
      const absolute = absoluteTarget(target, fn.dir);
      scope[specifier] = absolute;
      const known = map.imports[specifier];
      if (known === undefined) {
        map.imports[specifier] = absolute;
        owners.set(specifier, fn.name);
      } else if (known !== absolute) {
        conflicts.push(`"${specifier}": ${owners.get(specifier)} maps it to ${known}, ${fn.name} to ${absolute}`);
      }
    }
    if (Object.keys(scope).length > 0) map.scopes[pathToFileURL(`${fn.dir}/`).href] = scope;
  }
  return { map, conflicts };
}

/** The npm package holding the deno binary for this platform (`@deno/linux-x64-glibc`, …). */
export function denoPlatformPackage(platform: NodeJS.Platform, arch: string): string | null {
  const known: Record<string, string> = {
    'linux-x64': 'linux-x64-glibc',
    'linux-arm64': 'linux-arm64-glibc',
    'darwin-x64': 'darwin-x64',
    'darwin-arm64': 'darwin-arm64',
    'win32-x64': 'win32-x64',
    'win32-arm64': 'win32-arm64',
  };
  const suffix = known[`${platform}-${arch}`];
  return suffix ? `@deno/${suffix}` : null;
}

/** The deno executable from the npm packages: `deno/deno` (placed by its install script), else the platform package's. */
export function resolveDenoBinary(resolvePackage: (id: string) => string = createRequire(import.meta.url).resolve): string {
  const exe = process.platform === 'win32' ? 'deno.exe' : 'deno';
  const candidates: string[] = [];
  for (const pkg of ['deno', denoPlatformPackage(process.platform, process.arch)]) {
    if (!pkg) continue;
    try {
      candidates.push(outsideArchive(join(dirname(resolvePackage(`${pkg}/package.json`)), exe)));
    } catch {
      // not installed: try the next one
    }
  }
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new FunctionsRuntimeError(
      'deno_not_found',
      `no deno executable found (looked in ${candidates.join(', ') || 'the npm packages deno and @deno/*'}); install the npm package "deno"`,
    );
  }
  return found;
}

export function denoArgs(opts: { importMapPath: string; functionsDir: string; hostScript: string; hostConfig: unknown; cachedOnly?: boolean; lockFile?: string }): string[] {
  return [
    'run',
    '--no-config',
    // From a seed: the versions its build resolved, never resolved again (a release newer than the seed is not in it).
    ...(opts.lockFile ? [`--lock=${opts.lockFile}`, ...(opts.cachedOnly ? ['--frozen'] : [])] : ['--no-lock']),
    ...(opts.cachedOnly ? ['--cached-only'] : []),
    `--import-map=${opts.importMapPath}`,
    '--allow-net',
    '--allow-env',
    `--allow-read=${opts.functionsDir}`,
    '--no-prompt',
    opts.hostScript,
    JSON.stringify(opts.hostConfig),
  ];
}

/** Variables of this process that Deno itself needs (registry, proxy, certificates); the functions' env is added to them. */
const PASSED_THROUGH = [
  'PATH',
  'HOME',
  'TMPDIR',
  'NPM_CONFIG_REGISTRY',
  'npm_config_registry',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'DENO_CERT',
  'DENO_TLS_CA_STORE',
  'DENO_AUTH_TOKENS',
];

// ----------------------------------------------------------------- the runtime

async function discoverFunctions(functionsDir: string): Promise<FunctionImports[]> {
  const entries = await readdir(functionsDir, { withFileTypes: true });
  const found: FunctionImports[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || !isFunctionName(entry.name)) continue;
    const dir = join(functionsDir, entry.name);
    if (!(await stat(join(dir, 'index.ts')).catch(() => null))) continue;
    let imports: Record<string, string> = {};
    const configPath = join(dir, 'deno.json');
    if (existsSync(configPath)) {
      try {
        const parsed = JSON.parse(await readFile(configPath, 'utf8')) as { imports?: Record<string, string> };
        imports = parsed.imports ?? {};
      } catch (err) {
        throw new FunctionsRuntimeError('bad_function_config', `${configPath} is not valid JSON: ${(err as Error).message}`, { cause: err });
      }
    }
    found.push({ name: entry.name, dir, imports });
  }
  return found;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'access-control-allow-origin': '*' });
  res.end(text);
}

/** The request body, read up to `limit` bytes (a BodyError past it); none for GET and HEAD. */
async function readRequestBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const body = await readBody(req, limit);
  return body.length > 0 ? body : undefined;
}

interface Running {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
}

export function createFunctionsRuntime(opts: FunctionsRuntimeOptions): FunctionsRuntime {
  const log = opts.log ?? ((message: string) => console.log(message));
  const functionsDir = resolve(opts.functionsDir);
  const denoDir = resolve(opts.denoDir ?? join(REPO_ROOT, '.data', 'deno'));
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const maxBodyBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;

  let names: Set<string> | null = null;
  let running: Running | null = null;
  let starting: Promise<Running> | null = null;
  let stopped = false;
  let crashed = false;
  let workDir: string | null = null;

  async function launch(): Promise<Running> {
    const functions = await discoverFunctions(functionsDir);
    names = new Set(functions.map((f) => f.name));
    const { map, conflicts } = buildImportMap(functions);
    for (const conflict of conflicts) log(`[functions] import maps disagree on ${conflict}; shared files use the first`);
    workDir ??= await mkdtemp(join(tmpdir(), 'roast-functions-'));
    const importMapPath = join(workDir, 'import_map.json');
    await writeFile(importMapPath, JSON.stringify(map, null, 2));

    const deno = opts.denoPath ?? resolveDenoBinary();
    let seed: SeedStamp | null = null;
    if (opts.seedDenoDir) {
      try {
        const { stamp, done } = await seedDenoCache(opts.seedDenoDir, denoDir);
        seed = stamp;
        if (done === 'seeded') log(`[functions] Deno's cache filled from the app's (${opts.seedDenoDir})`);
      } catch (err) {
        throw new FunctionsRuntimeError('start_failed', (err as Error).message, { cause: err });
      }
    }
    const env: Record<string, string> = {};
    for (const name of PASSED_THROUGH) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, opts.env, { DENO_DIR: denoDir, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' });
    if (seed) {
      // Deno files packages under their registry's host: it looks where the seed's build put them, whatever this
      // machine's npm settings (its variables, a ~/.npmrc) name.
      delete env.npm_config_registry;
      env.NPM_CONFIG_REGISTRY = seed.registry;
      env.HOME = workDir;
    }
    const args = denoArgs({
      importMapPath,
      functionsDir,
      hostScript: HOST_SCRIPT,
      cachedOnly: seed !== null,
      ...(seed ? { lockFile: join(denoDir, SEED_LOCK) } : opts.lockFile ? { lockFile: opts.lockFile } : {}),
      hostConfig: { functionsDir: pathToFileURL(`${functionsDir}/`).href, functions: [...names], readyMarker: READY_MARKER },
    });
    const child = spawn(deno, args, { cwd: functionsDir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<void>((done) => child.once('close', () => done()));
    const stderrTail: string[] = [];

    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new FunctionsRuntimeError('start_timeout', `Deno did not load the functions within ${startTimeoutMs} ms`));
      }, startTimeoutMs);
      const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
        if (stream === 'stdout' && line.startsWith(`${READY_MARKER} `)) {
          clearTimeout(timer);
          resolvePort(Number(line.slice(READY_MARKER.length + 1)));
          return;
        }
        if (stream === 'stderr') {
          stderrTail.push(line);
          if (stderrTail.length > 20) stderrTail.shift();
        }
        log(`[functions] ${line}`);
      };
      lines(child.stdout!, onLine('stdout'));
      lines(child.stderr!, onLine('stderr'));
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new FunctionsRuntimeError('start_failed', `could not run ${deno}: ${err.message}`, { cause: err }));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new FunctionsRuntimeError(
            'start_failed',
            `Deno exited while loading the functions (${signal ?? `code ${code}`}): ${stderrTail.slice(-5).join(' | ') || 'no output'}`,
          ),
        );
      });
    });

    child.stdin!.on('error', () => {});
    const run: Running = { child, port, exited };
    child.once('exit', (code, signal) => {
      if (running !== run) return;
      running = null;
      if (!stopped) {
        crashed = true;
        log(`[functions] Deno exited unexpectedly (${signal ?? `code ${code}`}); it will be restarted on the next request`);
      }
    });
    log(`[functions] serving ${[...names].join(', ') || 'no functions'} from ${functionsDir} (Deno on 127.0.0.1:${port})`);
    return run;
  }

  async function ensureRunning(): Promise<Running> {
    if (running) return running;
    if (!starting) {
      if (crashed) log('[functions] restarting Deno');
      starting = launch()
        .then(async (run) => {
          crashed = false;
          if (stopped) {
            run.child.kill('SIGTERM');
            await run.exited;
            throw new FunctionsRuntimeError('start_failed', 'the functions runtime was stopped while starting');
          }
          running = run;
          return run;
        })
        .finally(() => {
          starting = null;
        });
    }
    return starting;
  }

  async function knownFunctions(): Promise<Set<string>> {
    if (!names) names = new Set((await discoverFunctions(functionsDir)).map((f) => f.name));
    return names;
  }

  let needsJwt: Promise<(name: string) => boolean> | null = null;
  /** Read once; a config that cannot be read or parsed fails start() and every request, never opens a function. */
  function jwtRequired(): Promise<(name: string) => boolean> {
    if (!opts.verifyJwt) return Promise.resolve(() => false);
    const configPath = opts.verifyJwt.configPath;
    needsJwt ??= (configPath ? readFile(configPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw new FunctionsRuntimeError('bad_function_config', `could not read ${configPath}: ${err.message}`, { cause: err });
    }) : Promise.resolve(null))
      .then((text) => verifyJwtSettings(text, configPath))
      .catch((err: unknown) => {
        // Read again next time: the file may be fixed, or the read may have failed for a moment.
        needsJwt = null;
        throw err;
      });
    return needsJwt;
  }

  /** The gateway's answer to a request the function's verify_jwt refuses, or null to go on (hosted Supabase's bodies). */
  async function refusedJwt(req: IncomingMessage, name: string): Promise<{ status: number; body: object } | null> {
    if (!opts.verifyJwt || !(await jwtRequired())(name)) return null;
    const token = bearerToken(req.headers.authorization);
    if (token === null) return { status: 401, body: { code: 401, message: 'Missing authorization header' } };
    try {
      await verifyJwt(token, opts.verifyJwt.secret);
      return null;
    } catch {
      return { status: 401, body: { code: 401, message: 'Invalid JWT' } };
    }
  }

  return {
    async start() {
      stopped = false;
      await jwtRequired();
      await ensureRunning();
    },

    async handle(req, res, name) {
      if (!isFunctionName(name) || !(await knownFunctions()).has(name)) {
        sendJson(res, 404, { error: `Function "${name}" not found` });
        return;
      }
      if (stopped) {
        sendJson(res, 503, { error: 'The edge functions runtime is stopped' });
        return;
      }
      // The gateway's JWT check comes first, as hosted: a caller without one is not read further.
      let refused: { status: number; body: object } | null;
      try {
        refused = await refusedJwt(req, name);
      } catch (err) {
        res.setHeader('connection', 'close');
        sendJson(res, 500, { error: `The edge functions' settings are not usable: ${(err as Error).message}` });
        return;
      }
      if (refused) {
        // Its body is left unread: the connection closes rather than reading it.
        res.setHeader('connection', 'close');
        sendJson(res, refused.status, refused.body);
        return;
      }
      // The body is read (and bounded) before Deno is asked for anything: no function sees a request
      // whose body the proxy would have had to hold in memory whole.
      let body: Buffer | undefined;
      try {
        body = await readRequestBody(req, maxBodyBytes);
      } catch (err) {
        if (err instanceof BodyError && err.reason === 'body_too_large') {
          // Closing the connection stops reading the rest of the body.
          res.setHeader('connection', 'close');
          sendJson(res, 413, { error: `Request body too large: a function takes at most ${maxBodyBytes} bytes` });
        } else {
          sendJson(res, 400, { error: `Could not read the request body: ${(err as Error).message}` });
        }
        return;
      }
      let run: Running;
      try {
        run = await ensureRunning();
      } catch (err) {
        sendJson(res, 503, { error: `The edge functions runtime could not start: ${(err as Error).message}` });
        return;
      }
      try {
        const upstream = await fetch(`http://127.0.0.1:${run.port}${upstreamPath(req.url, name)}`, {
          method: req.method ?? 'GET',
          headers: forwardRequestHeaders(req.headers),
          body: body ? new Uint8Array(body) : undefined,
          redirect: 'manual',
          signal: AbortSignal.timeout(requestTimeoutMs),
        });
        const payload = Buffer.from(await upstream.arrayBuffer());
        const headers = forwardResponseHeaders(upstream.headers);
        headers['content-length'] = String(payload.length);
        res.writeHead(upstream.status, headers);
        res.end(req.method === 'HEAD' ? undefined : payload);
      } catch (err) {
        const e = err as Error;
        if (e.name === 'TimeoutError') {
          sendJson(res, 504, { error: `Function ${name} did not answer within ${requestTimeoutMs} ms` });
        } else {
          log(`[functions] ${name}: proxy failed: ${e.message}`);
          sendJson(res, 502, { error: `Function ${name} is unavailable: ${e.message}` });
        }
      }
    },

    status() {
      return { pid: running?.child.pid ?? null, port: running?.port ?? null, functions: [...(names ?? [])] };
    },

    async stop() {
      stopped = true;
      const pending = starting;
      if (pending) await pending.catch(() => {});
      const run = running;
      running = null;
      if (run) {
        run.child.stdin?.end();
        run.child.kill('SIGTERM');
        const killTimer = setTimeout(() => run.child.kill('SIGKILL'), 3_000);
        await run.exited;
        clearTimeout(killTimer);
      }
      if (workDir) {
        await rm(workDir, { recursive: true, force: true });
        workDir = null;
      }
    },
  };
}

/** Calls `onLine` for each line of a text stream. */
function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).replace(/\r$/, '');
      buffered = buffered.slice(nl + 1);
      if (line) onLine(line);
    }
  });
  stream.on('end', () => {
    if (buffered) onLine(buffered);
    buffered = '';
  });
}
