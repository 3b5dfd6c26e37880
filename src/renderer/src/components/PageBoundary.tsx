/**
 * A page whose code could not load (the connection dropped, or the app was
 * updated and the old parts are gone) or that failed while rendering shows
 * what happened and a way out, instead of a blank window. Reloading fetches
 * the page's code again (a failed load is not retried in place: the page's
 * module stays failed until the page reloads); the sign-in stays in the tab.
 */
import type { ReactNode } from 'react';
import { ErrorBoundary } from './ErrorBoundary';

interface Props {
  /** The page, for the message ("the studio"). */
  name: string;
  children: ReactNode;
  /** Reloads the page (the browser's reload; replaced in tests). */
  reload?: () => void;
}

export function PageBoundary({ name, children, reload }: Props) {
  return (
    <ErrorBoundary what={`${name} could not load`} fallback={(error) => <PageError name={name} error={error} reload={reload ?? (() => window.location.reload())} />}>
      {children}
    </ErrorBoundary>
  );
}

export function PageError({ name, error, reload }: { name: string; error: Error; reload: () => void }) {
  return (
    <main className="home" role="alert" data-testid="page-error">
      <h1>Something went wrong</h1>
      <p className="error-text">
        {name[0]!.toUpperCase() + name.slice(1)} could not load ({error.message}). Check the connection, then reload.
      </p>
      <button type="button" className="primary" onClick={reload}>
        Reload
      </button>
    </main>
  );
}
