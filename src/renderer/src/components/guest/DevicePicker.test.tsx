import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { DevicePicker } from './DevicePicker';

const render = (blocked?: Array<'video' | 'audio'>) =>
  renderToStaticMarkup(
    createElement(DevicePicker, {
      devices: { cameras: [{ deviceId: 'cam-1', label: 'Front' }], microphones: [], ...(blocked ? { blocked } : {}) },
      cameraId: 'cam-1',
      microphoneId: null,
      onChoose: () => {},
    }),
  );

describe('DevicePicker', () => {
  it('says a kind is blocked where the browser hides its devices, and none found where there are none', () => {
    expect(render(['audio'])).toContain('Microphone access is blocked (site settings)');
    expect(render()).toContain('No microphone found');
    expect(render(['audio'])).toContain('>Front<');
  });
});
