import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';
import { ErrorBoundary } from './ErrorBoundary';
import { PageBoundary, PageError } from './PageBoundary';

describe('PageBoundary', () => {
  it('shows the page while nothing failed', () => {
    const html = renderToStaticMarkup(createElement(PageBoundary, { name: 'the studio', children: createElement('p', null, 'studio') }));
    expect(html).toBe('<p>studio</p>');
  });

  it('says which page could not load and why, with a button that reloads', () => {
    const reload = vi.fn();
    const view = PageError({ name: 'the guest page', error: new Error('Failed to fetch dynamically imported module'), reload });
    const html = renderToStaticMarkup(view);
    expect(html).toContain('The guest page could not load (Failed to fetch dynamically imported module)');
    expect(html).toContain('role="alert"');
    const button = (view.props as { children: Array<ReturnType<typeof createElement>> }).children[2]!;
    (button.props as { onClick: () => void }).onClick();
    expect(reload).toHaveBeenCalledTimes(1);
  });
});

describe('ErrorBoundary', () => {
  it('renders the fallback for the error it caught, and the children again once cleared', () => {
    const boundary = new ErrorBoundary({ what: 'x', children: 'the page', fallback: (error, clear) => ({ error: error.message, clear }) as never });
    boundary.setState = ((s: { error: Error | null }) => (boundary.state = s)) as never;
    expect(boundary.render()).toBe('the page');
    boundary.state = ErrorBoundary.getDerivedStateFromError(new Error('boom'));
    const shown = boundary.render() as unknown as { error: string; clear: () => void };
    expect(shown.error).toBe('boom');
    shown.clear();
    expect(boundary.render()).toBe('the page');
  });
});
