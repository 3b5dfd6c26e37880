/**
 * The server that runs inside Deno for the local functions runtime (functions.ts spawns it).
 * Like `supabase functions serve`, one process serves every function: `Deno.serve` is patched
 * so that importing `<functionsDir>/<name>/index.ts` hands over its handler instead of
 * listening, then one real server on 127.0.0.1 routes `/<name>[/…]` to it.
 *
 *   deno run … functions-host.ts '{"functionsDir":"file:///…/","functions":["start-live"],"readyMarker":"…"}'
 *
 * Prints `<readyMarker> <port>` on stdout once every function is loaded and it listens.
 * Exits when its stdin closes, so it never outlives the Node process that started it.
 */

export {};

type ServeHandler = (req: Request, info: unknown) => Response | Promise<Response>;

interface ServeOptions {
  hostname?: string;
  port?: number;
  handler?: ServeHandler;
  onListen?: (addr: { hostname: string; port: number }) => void;
}

interface HttpServer {
  finished: Promise<void>;
  shutdown(): Promise<void>;
  ref(): void;
  unref(): void;
}

/** The part of the Deno namespace this script uses (declared here so that Node's tsc checks it too). */
declare const Deno: {
  args: string[];
  serve(options: ServeOptions, handler?: ServeHandler): HttpServer;
  stdin: { readable: ReadableStream<Uint8Array> };
  exit(code?: number): never;
};

interface HostConfig {
  /** file: URL of the functions folder, with a trailing slash. */
  functionsDir: string;
  functions: string[];
  readyMarker: string;
}

const config = JSON.parse(Deno.args[0] ?? '{}') as HostConfig;
const handlers = new Map<string, ServeHandler>();
const loadErrors = new Map<string, string>();

function json(body: unknown, status: number): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' },
  });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// What a function's `Deno.serve(...)` call gets instead of a server.
let loading: string | null = null;
let shutDown: () => void = () => {};
const finished = new Promise<void>((resolve) => (shutDown = resolve));
const realServe = Deno.serve.bind(Deno);
(Deno as { serve: unknown }).serve = (first: ServeHandler | ServeOptions, second?: ServeHandler): HttpServer => {
  const handler = typeof first === 'function' ? first : (second ?? first.handler);
  if (!loading) throw new Error('Deno.serve was called outside a function module');
  if (typeof handler !== 'function') throw new Error(`function ${loading} called Deno.serve without a handler`);
  handlers.set(loading, handler);
  return { finished, shutdown: async () => {}, ref: () => {}, unref: () => {} };
};

for (const name of config.functions) {
  loading = name;
  try {
    await import(new URL(`${name}/index.ts`, config.functionsDir).href);
    if (!handlers.has(name)) loadErrors.set(name, `function ${name} did not call Deno.serve`);
  } catch (err) {
    loadErrors.set(name, message(err));
  }
  loading = null;
  const failure = loadErrors.get(name);
  if (failure) console.error(`function ${name} failed to load: ${failure}`);
}

async function route(req: Request, info: unknown): Promise<Response> {
  let name: string;
  try {
    name = decodeURIComponent(new URL(req.url).pathname.split('/')[1] ?? '');
  } catch {
    return json({ error: 'Malformed function path' }, 400);
  }
  const handler = handlers.get(name);
  if (!handler) {
    const failure = loadErrors.get(name);
    return failure ? json({ error: `Function ${name} failed to load: ${failure}` }, 500) : json({ error: `Function "${name}" not found` }, 404);
  }
  try {
    return await handler(req, info);
  } catch (err) {
    console.error(`function ${name} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return json({ error: `Function ${name} failed: ${message(err)}` }, 500);
  }
}

realServe({
  hostname: '127.0.0.1',
  port: 0,
  handler: route,
  onListen: ({ port }) => console.log(`${config.readyMarker} ${port}`),
});

// Stop when the parent closes our stdin (or dies).
const reader = Deno.stdin.readable.getReader();
while (!(await reader.read()).done) {
  // Nothing is sent on stdin; it only signals the parent's presence.
}
shutDown();
Deno.exit(0);
