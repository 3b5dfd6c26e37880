import { Suspense, lazy, useEffect, useState, type ReactNode } from 'react';
import { PageBoundary } from './components/PageBoundary';

// Each page loads its own code: a guest's phone does not download and parse the studio (compositor, encoder) or the player.
const Studio = lazy(() => import('./screens/Studio').then((m) => ({ default: m.Studio })));
const Guest = lazy(() => import('./screens/Guest').then((m) => ({ default: m.Guest })));
const Watch = lazy(() => import('./screens/Watch').then((m) => ({ default: m.Watch })));

/** A page's code loading, then the page; a page that cannot load says so (PageBoundary). */
function Loading({ name, children }: { name: string; children: ReactNode }) {
  return (
    <PageBoundary name={name}>
      <Suspense
        fallback={
          <main className="home" aria-busy="true">
            <p>Loading…</p>
          </main>
        }
      >
        {children}
      </Suspense>
    </PageBoundary>
  );
}

function useHashRoute(): string {
  const [route, setRoute] = useState(() => window.location.hash.replace(/^#\/?/, '').split('?')[0] ?? '');
  useEffect(() => {
    const onHash = () => setRoute(window.location.hash.replace(/^#\/?/, '').split('?')[0] ?? '');
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return route;
}

export function App() {
  const route = useHashRoute();
  if (route === 'studio')
    return (
      <Loading name="the studio">
        <Studio />
      </Loading>
    );
  if (route === 'guest')
    return (
      <Loading name="the guest page">
        <Guest />
      </Loading>
    );
  if (route === 'watch')
    return (
      <Loading name="the viewer page">
        <Watch />
      </Loading>
    );
  return (
    <main className="home">
      <h1>
        <span className="brand-dot" /> Roast Live Studio
      </h1>
      <p>Go live with up to nine co-hosts.</p>
      <nav>
        <a className="button primary" href="#/studio">
          Open the studio
        </a>
        <a className="button" href="#/guest">
          Join as a guest
        </a>
      </nav>
    </main>
  );
}
