import { describe, expect, it } from 'vitest';
import { chosenSource, MAX_WINDOWS_OFFERED, screenChoice } from './screenChoice';

describe('the screen share choice', () => {
  it('offers the screens first, then the windows by name, then Cancel; a window without a name is left out', () => {
    const choice = screenChoice([
      { id: 'window:11:0', name: 'Notes — secret' },
      { id: 'screen:0:0', name: 'Screen 1' },
      { id: 'screen:1:0', name: 'Screen 2' },
      { id: 'window:12:0', name: '   ' },
    ]);
    expect(choice.labels).toEqual(['Screen 1 (Screen 1)', 'Screen 2 (Screen 2)', 'Window: Notes — secret', 'Cancel']);
    expect(chosenSource(choice, 1)?.id).toBe('screen:1:0');
    expect(chosenSource(choice, 2)?.id).toBe('window:11:0');
  });

  it('shares nothing on Cancel, or when the dialog closed without a choice', () => {
    const choice = screenChoice([{ id: 'screen:0:0', name: 'Entire Screen' }]);
    expect(choice.labels).toEqual(['Entire screen', 'Cancel']);
    expect(chosenSource(choice, 1)).toBeNull();
    expect(chosenSource(choice, -1)).toBeNull();
  });

  it('offers a bounded number of windows, their long names cut', () => {
    const windows = Array.from({ length: 20 }, (_, i) => ({ id: `window:${i}:0`, name: `${'w'.repeat(80)}${i}` }));
    const choice = screenChoice([{ id: 'screen:0:0', name: '' }, ...windows]);
    expect(choice.sources).toHaveLength(1 + MAX_WINDOWS_OFFERED);
    expect(choice.labels[1]).toBe(`Window: ${'w'.repeat(59)}…`);
  });
});
