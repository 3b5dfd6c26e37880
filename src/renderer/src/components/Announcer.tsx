/**
 * One polite live region that stays on the page, for what a screen reader
 * should say as it happens (an invitation arriving, the host muting you, the
 * link failing). A region that appears already filled is skipped by many
 * screen readers; this one is there from the start and only its text changes.
 */
import { useCallback, useRef, useState } from 'react';

export function useAnnouncer(): [message: string, announce: (text: string) => void] {
  const [message, setMessage] = useState('');
  const last = useRef('');
  const announce = useCallback((text: string) => {
    // The same words again are still news (muted twice): a zero-width space makes them a change.
    const next = text === last.current.replace(/\u200b$/, '') && !last.current.endsWith('\u200b') ? `${text}\u200b` : text;
    last.current = next;
    setMessage(next);
  }, []);
  return [message, announce];
}

export function Announcer({ message }: { message: string }) {
  return (
    <p className="sr-only" role="status" aria-live="polite" aria-atomic="true" data-testid="announcer">
      {message}
    </p>
  );
}
