import { afterEach, describe, expect, it, vi } from 'vitest';
import { recall, remember } from './remembered';

afterEach(() => vi.unstubAllGlobals());

describe('choices kept on this computer', () => {
  it('are recalled as they were remembered', () => {
    const saved = new Map<string, string>();
    vi.stubGlobal('localStorage', { getItem: (k: string) => saved.get(k) ?? null, setItem: (k: string, v: string) => saved.set(k, v) });
    remember('roast.outputFormat', '1080p30');
    remember('roast.record', null);
    expect(recall('roast.outputFormat')).toBe('1080p30');
    expect(recall('roast.record')).toBeNull();
  });

  it('last this visit only where storage is off or refuses, without an error', () => {
    vi.stubGlobal('localStorage', {
      getItem: () => {
        throw new Error('SecurityError');
      },
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
    });
    expect(() => remember('roast.outputFormat', '720p60')).not.toThrow();
    expect(recall('roast.outputFormat')).toBeNull();
    vi.stubGlobal('localStorage', undefined);
    expect(recall('roast.outputFormat')).toBeNull();
  });
});
