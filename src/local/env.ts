/**
 * Settings read from the environment by the ways the local backend starts
 * (`npm run backend`, `npm start`, the desktop app).
 */

/** A port number from the environment: undefined when unset or empty, a clear error when it is not a port. */
export function portFromEnv(name: string, env: Readonly<Record<string, string | undefined>> = process.env): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`${name} must be a port number (0 to 65535), got "${raw}"`);
  }
  return value;
}
