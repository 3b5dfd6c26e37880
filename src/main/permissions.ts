/**
 * What the desktop app lets a page use: the camera and microphone ("media")
 * and screen capture, for the studio's own page in the app's window (its main
 * frame), nothing for anything else — a page the window was somehow sent to,
 * or a frame inside the studio.
 */
const STUDIO_PERMISSIONS = new Set(['media', 'display-capture']);

export interface PermissionRequest {
  permission: string;
  /** The address of the page (or frame) asking. */
  requestingUrl: string;
  isMainFrame: boolean;
  /** Whether it comes from the studio's window. */
  fromStudioWindow: boolean;
}

/**
 * `studioUrl` is what the window loads: the renderer's index.html as a file
 * URL, or the development server's address. A file is matched as that very
 * file (any file:// page would otherwise pass as "same origin"), a server by
 * its origin; the hash and query (the app's routes) do not count.
 */
export function grantsPermission(request: PermissionRequest, studioUrl: string): boolean {
  if (!STUDIO_PERMISSIONS.has(request.permission) || !request.fromStudioWindow || !request.isMainFrame) return false;
  return isStudioPage(request.requestingUrl, studioUrl);
}

export function isStudioPage(url: string, studioUrl: string): boolean {
  let asked: URL;
  let studio: URL;
  try {
    asked = new URL(url);
    studio = new URL(studioUrl);
  } catch {
    return false;
  }
  // Decoded, and letters in either case: Windows writes a drive letter both ways.
  const path = (u: URL) => decodeURIComponent(u.pathname).toLowerCase();
  if (studio.protocol === 'file:') return asked.protocol === 'file:' && path(asked) === path(studio);
  return asked.origin === studio.origin;
}
