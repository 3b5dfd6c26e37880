/**
 * `npm start`: the Electron app on the embedded local backend; where the
 * Electron binary is missing, says so and serves the browser studio instead.
 *
 *   --browser      serve the browser studio even if Electron is installed
 *   --no-build     do not rebuild the renderer first
 */
import { spawn } from 'node:child_process';
import { portFromEnv } from '../local/env.js';
import { startBrowserStudio } from './browserStudio.js';
import { findElectronBinary } from './electronBinary.js';
import { runPackageBin } from './packageBin.js';

const args = new Set(process.argv.slice(2));

async function main(): Promise<void> {
  const electron = findElectronBinary();
  if ('path' in electron && !args.has('--browser')) {
    if (!args.has('--no-build')) runPackageBin('electron-vite', ['build']);
    const child = spawn(electron.path, ['.'], { stdio: 'inherit' });
    child.on('exit', (code) => process.exit(code ?? 0));
    return;
  }
  if ('missing' in electron) {
    console.log(`Electron's binary is not available here (${electron.missing}).`);
    console.log('scripts/bootstrap skips its download unless WITH_ELECTRON=1 (it needs internet access).');
    console.log('Serving the browser studio instead: the same app, with the native side over a WebSocket.');
  }
  if (!args.has('--no-build')) runPackageBin('vite', ['build', '--config', 'vite.renderer.config.ts', '--logLevel', 'warn']);
  const studio = await startBrowserStudio({
    studioPort: portFromEnv('STUDIO_PORT') ?? 5190,
    backendPort: portFromEnv('API_PORT'),
    rtmpPort: portFromEnv('RTMP_PORT'),
    ingestHttpPort: portFromEnv('INGEST_HTTP_PORT'),
    ingestUrl: process.env.LOCAL_RTMP_URL || undefined,
    playbackUrlTemplate: process.env.LOCAL_PLAYBACK_URL_TEMPLATE || undefined,
    dataDir: process.env.DATA_DIR || undefined,
    dbPort: portFromEnv('DB_PORT'),
  });
  console.log(`STUDIO_URL=${studio.studioUrl}`);
  console.log(`GUEST_URL=${studio.guestUrl}`);
  console.log(`API_URL=${studio.apiUrl}`);
  if (studio.stack) console.log(`RTMP_URL=${studio.stack.rtmpBaseUrl}`);
  console.log('Open the studio URL in Chromium or Chrome; press Ctrl+C to stop.');
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    studio.stop().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(err.message);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: Error) => {
  console.error(`Roast Live Studio could not start: ${err.message}`);
  process.exit(1);
});
