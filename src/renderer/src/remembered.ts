/**
 * Choices kept on this computer between visits (localStorage): the output
 * format, recording, cameras and microphones. Storage may be off (private
 * mode, a full quota): reading then gives nothing and writing is skipped, so
 * the choice lasts this visit only.
 */
export function recall(key: string): string | null {
  try {
    return globalThis.localStorage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

export function remember(key: string, value: string | null): void {
  if (value === null) return;
  try {
    globalThis.localStorage?.setItem(key, value);
  } catch {
    // Storage refused: the choice holds for this visit only.
  }
}
