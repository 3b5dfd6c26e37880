import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy } from './csp';

const directives = (csp: string) => Object.fromEntries(csp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));

describe('the studio window’s Content-Security-Policy', () => {
  it('runs the app’s own scripts only and connects to its backend, over wss for https', () => {
    const csp = directives(contentSecurityPolicy('https://abc.supabase.co'));
    expect(csp['script-src']).toBe("'self'");
    expect(csp['connect-src']).toBe("'self' https://abc.supabase.co wss://abc.supabase.co");
    expect(csp['object-src']).toBe("'none'");
  });

  it('lets the dev server’s inline refresh preamble and hot-reload socket in, in development only', () => {
    const dev = directives(contentSecurityPolicy('http://127.0.0.1:54321', { dev: true }));
    expect(dev['script-src']).toBe("'self' 'unsafe-inline'");
    expect(dev['connect-src']).toBe("'self' ws: http://127.0.0.1:54321 ws://127.0.0.1:54321");
    const built = directives(contentSecurityPolicy('http://127.0.0.1:54321'));
    expect(built['script-src']).toBe("'self'");
    expect(built['connect-src']).toBe("'self' http://127.0.0.1:54321 ws://127.0.0.1:54321");
  });
});
