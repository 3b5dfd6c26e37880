/**
 * A step that cannot be undone (leaving the stage, removing a guest) asks to
 * be sure: a first tap sets what is being confirmed, a second one does it,
 * and the question lapses by itself after CONFIRM_MS.
 */
import { useEffect, useState } from 'react';

export const CONFIRM_MS = 4000;

/** What a first tap asked to confirm (null when nothing is), and the setter. */
export function useSecondTap<K>(): [K | null, (key: K | null) => void] {
  const [confirming, setConfirming] = useState<K | null>(null);
  useEffect(() => {
    if (confirming === null) return;
    const timer = setTimeout(() => setConfirming(null), CONFIRM_MS);
    return () => clearTimeout(timer);
  }, [confirming]);
  return [confirming, setConfirming];
}
