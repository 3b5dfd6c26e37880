/**
 * Links to the web app that guests and viewers open in their browsers: the
 * guest page and a stream's watch page, absolute where the app's address is
 * known (so they can be shared, and open from the desktop app), else
 * relative to the page showing them.
 */

/** The setting that names the web app's address where the backend is not the local one. */
export const WEB_APP_URL_SETTING = 'ROAST_WEB_APP_URL';

/** An http(s) address of the web app, made to end with `/`; anything else is a clear error naming the setting. */
export function parseWebAppUrl(value: string, setting = WEB_APP_URL_SETTING): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new Error(`${setting} must be the web app's address, such as https://app.example.com/ (got "${value}")`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${setting} must be an http or https address (got "${value}")`);
  }
  if (url.hash || url.search) throw new Error(`${setting} must be the app's address without a query or #route (got "${value}")`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

/** `{ webAppUrl }` from the environment when the setting is there (checked), else nothing. */
export function webAppUrlFromEnv(env: Record<string, string | undefined>): { webAppUrl?: string } {
  const value = env[WEB_APP_URL_SETTING];
  return value ? { webAppUrl: parseWebAppUrl(value) } : {};
}

/** The guest page, where invited guests sign in and take their seat. */
export function guestPageLink(webAppUrl: string | undefined): string {
  return `${webAppUrl ?? ''}#/guest`;
}

/** The page where viewers watch a stream. */
export function watchPageLink(webAppUrl: string | undefined, streamId: string): string {
  return `${webAppUrl ?? ''}#/watch?stream=${encodeURIComponent(streamId)}`;
}
