/**
 * `npm run backend`: the whole local backend in the foreground: PostgreSQL, the
 * Supabase-compatible gateway (Auth, REST, Realtime, Functions in Deno) and the
 * RTMP ingest standing in for Cloudflare Stream.
 * Prints the connection settings like `supabase status -o env`, stops cleanly
 * on SIGINT/SIGTERM.
 *
 * Environment: API_PORT (54321), API_HOST (127.0.0.1), DB_PORT (54322),
 * DATA_DIR (.data/postgres), DATABASE_URL (use that server instead), API_DATABASE_URL (how
 * the API logs in as `authenticator` there, when that role has a password of its own),
 * JWT_SECRET, STATIC_DIR (web app served at /app/), RTMP_PORT (1935),
 * INGEST_HTTP_PORT (8000), LOCAL_RTMP_URL (publish to that RTMP(S) server
 * instead of the embedded ingest) with LOCAL_PLAYBACK_URL_TEMPLATE (its
 * playback, `{id}` for the stream's playback id), LOG=1 (request log lines).
 */
import { portFromEnv } from './env.js';
import { startLocalStack } from './stack.js';

async function main(): Promise<void> {
  const verbose = process.env.LOG === '1';
  const backend = await startLocalStack({
    port: portFromEnv('API_PORT'),
    rtmpPort: portFromEnv('RTMP_PORT'),
    ingestHttpPort: portFromEnv('INGEST_HTTP_PORT'),
    host: process.env.API_HOST || undefined,
    dbPort: portFromEnv('DB_PORT'),
    dataDir: process.env.DATA_DIR || undefined,
    databaseUrl: process.env.DATABASE_URL || undefined,
    apiDatabaseUrl: process.env.API_DATABASE_URL || undefined,
    jwtSecret: process.env.JWT_SECRET || undefined,
    staticDir: process.env.STATIC_DIR || undefined,
    ingestUrl: process.env.LOCAL_RTMP_URL || undefined,
    playbackUrlTemplate: process.env.LOCAL_PLAYBACK_URL_TEMPLATE || undefined,
    log: verbose ? (m) => process.stderr.write(`${m}\n`) : undefined,
  });
  process.stdout.write(
    [
      `API_URL=${backend.apiUrl}`,
      `REST_URL=${backend.apiUrl}/rest/v1`,
      `ANON_KEY=${backend.anonKey}`,
      `SERVICE_ROLE_KEY=${backend.serviceRoleKey}`,
      `DB_URL=${backend.dbUrl}`,
      `JWT_SECRET=${backend.jwtSecret}`,
      `RTMP_URL=${backend.rtmpBaseUrl}`,
      `PLAYBACK_URL_TEMPLATE=${backend.playbackUrl('{id}') ?? ''}`,
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: stopping the local backend\n`);
    backend.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stop failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`local backend failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
