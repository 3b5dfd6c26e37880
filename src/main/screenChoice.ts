/**
 * What the studio offers to share when the screen is shared (Windows, Linux,
 * and macOS before 15, which have no system picker Electron can show): every
 * screen, then the windows, by name, as buttons of one native dialog, with
 * Cancel last. Nothing is shared without a choice.
 */

/** What a desktopCapturer source offers to the choice (Electron's DesktopCapturerSource fits). */
export interface CaptureSource {
  id: string;
  name: string;
}

/** At most this many windows are offered (a dialog of buttons, not a list). */
export const MAX_WINDOWS_OFFERED = 8;

export interface ScreenChoice<S extends CaptureSource> {
  /** The buttons, in order; the last one is Cancel. */
  labels: string[];
  /** The source of each button but the last. */
  sources: S[];
}

export function screenChoice<S extends CaptureSource>(sources: readonly S[]): ScreenChoice<S> {
  // desktopCapturer ids say the kind: "screen:…" and "window:…".
  const screens = sources.filter((s) => s.id.startsWith('screen:'));
  const windows = sources.filter((s) => s.id.startsWith('window:') && s.name.trim() !== '').slice(0, MAX_WINDOWS_OFFERED);
  const screenLabel = (s: S, i: number) => (screens.length === 1 ? 'Entire screen' : `Screen ${i + 1}${s.name.trim() ? ` (${s.name.trim()})` : ''}`);
  const windowLabel = (s: S) => {
    const name = s.name.trim();
    return `Window: ${name.length > 60 ? `${name.slice(0, 59)}…` : name}`;
  };
  return {
    labels: [...screens.map(screenLabel), ...windows.map(windowLabel), 'Cancel'],
    sources: [...screens, ...windows],
  };
}

/** The source of the button pressed; null for Cancel, or a dialog closed without a choice. */
export function chosenSource<S extends CaptureSource>(choice: ScreenChoice<S>, button: number): S | null {
  return choice.sources[button] ?? null;
}
