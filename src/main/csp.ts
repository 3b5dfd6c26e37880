/**
 * The studio window's Content-Security-Policy: its own scripts only, and
 * connections to its own backend. In development (`electron-vite dev`) the
 * React plugin's refresh preamble is an inline script, which is let in there
 * and nowhere else.
 */
export function contentSecurityPolicy(supabaseUrl: string, options: { dev?: boolean } = {}): string {
  const api = new URL(supabaseUrl);
  const ws = `${api.protocol === 'https:' ? 'wss' : 'ws'}://${api.host}`;
  return [
    "default-src 'self'",
    options.dev ? "script-src 'self' 'unsafe-inline'" : "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    // The dev server's hot reload talks over its own WebSocket.
    options.dev ? `connect-src 'self' ws: ${api.origin} ${ws}` : `connect-src 'self' ${api.origin} ${ws}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
