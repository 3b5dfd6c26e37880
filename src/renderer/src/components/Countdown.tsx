import { useEffect, useState } from 'react';
import { secondsLeft } from '../../../shared/domain';

/** Seconds left until `expiresAt`, updated every 250 ms until none are left (then the timer stops). */
export function useSecondsLeft(expiresAt: string): number {
  const [left, setLeft] = useState(() => secondsLeft(expiresAt, Date.now()));
  useEffect(() => {
    const now = secondsLeft(expiresAt, Date.now());
    setLeft(now);
    if (now === 0) return;
    const timer = setInterval(() => {
      const s = secondsLeft(expiresAt, Date.now());
      setLeft(s);
      if (s === 0) clearInterval(timer);
    }, 250);
    return () => clearInterval(timer);
  }, [expiresAt]);
  return left;
}

export function Countdown({ expiresAt }: { expiresAt: string }) {
  const left = useSecondsLeft(expiresAt);
  return (
    <span className={left <= 5 ? 'countdown urgent' : 'countdown'} data-testid="countdown">
      {left}s
    </span>
  );
}
