/** Starts the app as a newcomer would (`npm start`, browser studio) and reads the URLs it prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureRendererBuilt } from './rendererBuild';

export interface RunningApp {
  studioUrl: string;
  guestUrl: string;
  apiUrl: string;
  rtmpUrl: string;
  output: () => string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** `env`: extra environment for the app (e.g. LOCAL_RTMP_URL to publish to the test's own ingest). */
export async function startApp(timeoutMs = 120_000, env: Record<string, string> = {}): Promise<RunningApp> {
  ensureRendererBuilt();
  const [api, studio, rtmp, ingestHttp, pg] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const dataDir = mkdtempSync(join(tmpdir(), 'roast-e2e-'));
  // The embedded PostgreSQL runs as its own user when we are root: let it in.
  chmodSync(dataDir, 0o755);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main/start.ts', '--browser', '--no-build'], {
    env: {
      ...process.env,
      API_PORT: String(api),
      STUDIO_PORT: String(studio),
      RTMP_PORT: String(rtmp),
      INGEST_HTTP_PORT: String(ingestHttp),
      DB_PORT: String(pg),
      DATA_DIR: dataDir,
      // Recordings stay with the test's data, never in the machine's Videos folder.
      ROAST_RECORDINGS_DIR: join(dataDir, 'recordings'),
      SUPABASE_URL: '',
      SUPABASE_ANON_KEY: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // With ROAST_LOG_ALL=1 the backend's log is printed too, tagged [app].
  const echo = process.env.ROAST_LOG_ALL === '1';
  const take = (d: Buffer) => {
    const text = d.toString();
    output += text;
    if (echo) for (const line of text.split('\n')) if (line.trim() !== '') console.log(`${new Date().toISOString().slice(11, 23)} [app] ${line}`);
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  // Only whole lines count: the output comes in chunks, and a chunk can end in the middle of a URL.
  const read = (key: string) => new RegExp(`^${key}=(.+)\\r?\\n`, 'm').exec(output)?.[1]?.trim();
  // start.ts prints STUDIO_URL, GUEST_URL, API_URL, RTMP_URL, then this line: ready once it is there.
  const ready = () => /^Open the studio URL.*\r?\n/m.test(output) && read('STUDIO_URL') && read('GUEST_URL') && read('API_URL');
  const started = Date.now();
  while (!ready()) {
    if (child.exitCode !== null) throw new Error(`the app exited (${child.exitCode}) before it was ready:\n${output}`);
    if (Date.now() - started > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`the app was not ready within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    studioUrl: read('STUDIO_URL')!,
    guestUrl: read('GUEST_URL')!,
    apiUrl: read('API_URL')!,
    rtmpUrl: read('RTMP_URL') ?? '',
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
