/**
 * Full screen for the guest on stage: the page fills a phone's screen (no
 * browser bars), and where the browser allows it turns to landscape, where
 * the program is widest. Shown only where the page can go full screen (not
 * on an iPhone's Safari, which keeps that to videos).
 */
import { useEffect, useState } from 'react';
import { FullscreenIcon } from './icons';

export function FullscreenButton() {
  const [full, setFull] = useState(() => typeof document !== 'undefined' && document.fullscreenElement !== null);
  const [failed, setFailed] = useState<string | null>(null);
  useEffect(() => {
    const follow = () => setFull(document.fullscreenElement !== null);
    document.addEventListener('fullscreenchange', follow);
    return () => document.removeEventListener('fullscreenchange', follow);
  }, []);
  if (typeof document === 'undefined' || !document.fullscreenEnabled) return null;

  const toggle = async () => {
    setFailed(null);
    try {
      if (document.fullscreenElement) {
        await document.exitFullscreen();
        return;
      }
      await document.documentElement.requestFullscreen({ navigationUI: 'hide' });
      // A phone turns to landscape where the browser lets a full-screen page choose (Android); elsewhere it stays as held.
      const orientation = screen.orientation as ScreenOrientation & { lock?: (o: string) => Promise<void> };
      await orientation.lock?.('landscape').catch(() => {});
    } catch (err) {
      setFailed(`Full screen is not available here${err instanceof Error && err.message ? ` (${err.message})` : ''}.`);
    }
  };

  return (
    <button
      type="button"
      className="g-fullscreen"
      onClick={() => void toggle()}
      aria-label={full ? 'Leave full screen' : 'Full screen'}
      title={failed ?? (full ? 'Leave full screen' : 'Full screen')}
      data-testid="fullscreen"
      data-state={full ? 'on' : 'off'}
    >
      <FullscreenIcon exit={full} />
    </button>
  );
}
