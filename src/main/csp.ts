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

/**
 * The same policy written into the built page itself (a <meta> tag, by the
 * Electron build): the window loads it from a file, and a policy sent as a
 * response header does not reach file:// pages. The backend's address is
 * known only at run time, so connections may go to any http(s) or ws(s)
 * address here (the header narrows them where it applies); a <meta> policy
 * cannot say frame-ancestors.
 */
export function builtPagePolicy(): string {
  return contentSecurityPolicy('http://127.0.0.1')
    .split('; ')
    .filter((d) => !d.startsWith('frame-ancestors'))
    .map((d) => (d.startsWith('connect-src') ? "connect-src 'self' http: https: ws: wss:" : d))
    .join('; ');
}

/** Puts builtPagePolicy() into a built page's <head>, first (before any script). */
export function withBuiltPagePolicy(html: string): string {
  const tag = `<meta http-equiv="Content-Security-Policy" content="${builtPagePolicy()}" />`;
  if (!/<head>/i.test(html)) throw new Error('the page has no <head> to put its Content-Security-Policy in');
  return html.replace(/<head>/i, (head) => `${head}\n    ${tag}`);
}
