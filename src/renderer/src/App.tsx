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

/** The page named in the address's hash (`#/watch?stream=…` → `watch`), and the hash's query. */
function useHashRoute(): { route: string; query: URLSearchParams } {
  const [hash, setHash] = useState(() => window.location.hash);
  useEffect(() => {
    const onHash = () => setHash(window.location.hash);
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  return { route: path, query: new URLSearchParams(query) };
}

export function App() {
  const { route, query } = useHashRoute();
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
        {/* Another stream in the link is another page: nothing of the last one's state or feed is kept. */}
        <Watch key={query.get('stream') ?? ''} streamId={query.get('stream')} />
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
