import { describe, expect, it } from 'vitest';
import { grantsPermission, isStudioPage } from './permissions';

const FILE = 'file:///Applications/Roast%20Live%20Studio.app/Contents/Resources/app.asar/out/renderer/index.html';
const ask = (permission: string, requestingUrl: string, over: Partial<{ isMainFrame: boolean; fromStudioWindow: boolean }> = {}) => ({
  permission,
  requestingUrl,
  isMainFrame: true,
  fromStudioWindow: true,
  ...over,
});

describe('what the desktop app lets a page use', () => {
  it("grants the camera, microphone and screen to the studio's own page in its window", () => {
    expect(grantsPermission(ask('media', `${FILE}#/studio`), FILE)).toBe(true);
    expect(grantsPermission(ask('display-capture', `${FILE}#/studio`), FILE)).toBe(true);
    expect(grantsPermission(ask('media', 'http://localhost:5173/#/studio'), 'http://localhost:5173/')).toBe(true);
  });

  it('refuses another file, another site, a frame, another window, and any other permission', () => {
    expect(grantsPermission(ask('media', 'file:///tmp/evil.html'), FILE)).toBe(false);
    expect(grantsPermission(ask('media', 'https://evil.example/'), FILE)).toBe(false);
    expect(grantsPermission(ask('media', 'http://localhost:5174/'), 'http://localhost:5173/')).toBe(false);
    expect(grantsPermission(ask('media', `${FILE}#/studio`, { isMainFrame: false }), FILE)).toBe(false);
    expect(grantsPermission(ask('media', `${FILE}#/studio`, { fromStudioWindow: false }), FILE)).toBe(false);
    for (const permission of ['geolocation', 'notifications', 'midiSysex', 'openExternal']) {
      expect(grantsPermission(ask(permission, `${FILE}#/studio`), FILE), permission).toBe(false);
    }
    expect(isStudioPage('not a url', FILE)).toBe(false);
  });
});
