import { useEffect, useState } from 'react';
import { Studio } from './screens/Studio';
import { Guest } from './screens/Guest';
import { Watch } from './screens/Watch';

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
  if (route === 'studio') return <Studio />;
  if (route === 'guest') return <Guest />;
  if (route === 'watch') return <Watch />;
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
