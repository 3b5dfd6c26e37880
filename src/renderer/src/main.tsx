import './zodWithoutEval';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { loadConfig } from './config';
import * as streamGuestService from './services/streamGuestService';
import { useStore } from './store';
import './styles.css';

// Test hook: Playwright reads application state instead of scraping the DOM, and calls the guest services as the page's user.
(window as unknown as { __roast: unknown }).__roast = { getState: () => useStore.getState(), services: { streamGuest: streamGuestService } };

// The page's code loads in parts: the backend's address is fetched meanwhile (a failure shows where it is used).
loadConfig().catch(() => {});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
