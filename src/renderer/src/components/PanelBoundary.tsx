/**
 * Keeps a failing panel from taking the studio down with it: an error thrown
 * while rendering one panel (seat grid, invitations, activity…) replaces that
 * panel with a message and a retry, while the studio, its session and the
 * broadcast go on. Without it React unmounts the whole page, and with it the
 * host's session — ending a live stream over a display glitch.
 */
import type { ReactNode } from 'react';
import { ErrorBoundary } from './ErrorBoundary';

interface Props {
  /** What the panel is, for the message ("the seat grid"). */
  name: string;
  children: ReactNode;
}

export function PanelBoundary({ name, children }: Props) {
  return (
    <ErrorBoundary what={`${name} failed to display`} fallback={(error, clear) => <PanelError name={name} error={error} clear={clear} />}>
      {children}
    </ErrorBoundary>
  );
}

function PanelError({ name, error, clear }: { name: string; error: Error; clear: () => void }) {
  return (
    <div className="card error-text" role="alert" data-testid="panel-error">
      <p>
        {name} could not be shown ({error.message}). The broadcast is not affected.
      </p>
      <button type="button" onClick={clear}>
        Show it again
      </button>
    </div>
  );
}
