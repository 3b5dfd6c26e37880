/**
 * Runs the studio in a plain browser: the local backend (unless SUPABASE_URL is
 * set), the renderer over HTTP and the NativeBridge over WebSocket, backed by
 * the same encoder as the Electron app.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createProgramOutputs } from './encoder/ProgramOutputs.js';
import { ffmpegForIngest } from './encoder/ffmpegPath.js';
import { defaultRecordingsDir } from './encoder/recordings.js';
import { startStudioServer, type StudioServer } from './studioServer.js';
import { startLocalStack, type LocalStack } from '../local/stack.js';
import { webAppUrlFromEnv } from '../shared/appLinks.js';

export interface BrowserStudioOptions {
  rendererDir?: string;
  studioPort?: number;
  backendPort?: number;
  rtmpPort?: number;
  ingestHttpPort?: number;
  /** Publish to this RTMP(S) server instead of the embedded ingest (see LocalStackOptions). */
  ingestUrl?: string;
  playbackUrlTemplate?: string;
  dataDir?: string;
  dbPort?: number;
  log?: (message: string) => void;
}

export interface BrowserStudio {
  studioUrl: string;
  guestUrl: string;
  apiUrl: string;
  anonKey: string;
  stack: LocalStack | null;
  studio: StudioServer;
  stop(): Promise<void>;
}

export async function startBrowserStudio(opts: BrowserStudioOptions = {}): Promise<BrowserStudio> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const rendererDir = resolve(opts.rendererDir ?? 'out/renderer');
  if (!existsSync(resolve(rendererDir, 'index.html'))) {
    throw new Error(`the renderer is not built (${rendererDir}/index.html is missing): run npm run build:renderer`);
  }
  // Checked before anything starts: a mistyped address is said at once.
  const configuredWebApp = webAppUrlFromEnv(process.env).webAppUrl;
  let stack: LocalStack | null = null;
  let supabaseUrl = process.env.SUPABASE_URL;
  let supabaseAnonKey = process.env.SUPABASE_ANON_KEY;
  if (!supabaseUrl || !supabaseAnonKey) {
    stack = await startLocalStack({
      port: opts.backendPort,
      rtmpPort: opts.rtmpPort,
      ingestHttpPort: opts.ingestHttpPort,
      ingestUrl: opts.ingestUrl,
      playbackUrlTemplate: opts.playbackUrlTemplate,
      dataDir: opts.dataDir,
      dbPort: opts.dbPort,
      databaseUrl: process.env.DATABASE_URL,
      apiDatabaseUrl: process.env.API_DATABASE_URL || undefined,
      staticDir: rendererDir,
      // The viewers' HLS comes from the same ffmpeg the encoder uses (FFMPEG_PATH, ffmpeg-static, PATH).
      ffmpegPath: ffmpegForIngest(log),
      log,
    });
    supabaseUrl = stack.apiUrl;
    supabaseAnonKey = stack.anonKey;
  }
  try {
    const webAppUrl = configuredWebApp ?? (stack ? `${stack.apiUrl}/app/` : undefined);
    const studio = await startStudioServer({
      rendererDir,
      config: { supabaseUrl, supabaseAnonKey, ...(webAppUrl ? { webAppUrl } : {}) },
      createEncoder: () => createProgramOutputs(log),
      recordingsDir: defaultRecordingsDir(),
      port: opts.studioPort,
      log,
    });
    const guestBase = webAppUrl ?? `${studio.url}/`;
    return {
      studioUrl: `${studio.url}/#/studio`,
      guestUrl: `${guestBase}#/guest`,
      apiUrl: supabaseUrl,
      anonKey: supabaseAnonKey,
      stack,
      studio,
      async stop() {
        await studio.close();
        await stack?.stop();
      },
    };
  } catch (err) {
    await stack?.stop();
    throw err;
  }
}
