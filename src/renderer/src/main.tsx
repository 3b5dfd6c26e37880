import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { useStore } from './store';
import './styles.css';

// Test hook: Playwright reads application state instead of scraping the DOM.
(window as unknown as { __roast: unknown }).__roast = { getState: () => useStore.getState() };

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
