import { useEffect, useState } from 'react';
import { secondsLeft } from '../../../shared/domain';

/** Seconds left until `expiresAt`, updated every 250 ms. */
export function useSecondsLeft(expiresAt: string): number {
  const [left, setLeft] = useState(() => secondsLeft(expiresAt, Date.now()));
  useEffect(() => {
    const timer = setInterval(() => setLeft(secondsLeft(expiresAt, Date.now())), 250);
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
