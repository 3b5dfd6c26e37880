/**
 * What the guest page shows beside its invitations: the note above them (what
 * happened last — an invitation that ran out or was withdrawn, the guest's
 * exit from a stage — or a problem), and whether the camera and microphone
 * are open for a preview.
 */
import { EXIT_MESSAGES } from '../session/GuestSession';

export interface Note {
  text: string;
  tone: 'info' | 'error';
}

const EXITS = new Set(Object.values(EXIT_MESSAGES));

/**
 * The note once a new invitation shows: news of earlier invitations and of the
 * last stage (expired, withdrawn, removed, ended, left) is old now and goes,
 * whatever its tone; a problem that still holds (live updates late, a refused
 * accept of another invitation) stays.
 */
export function noteOnNewInvitation(note: Note | null): Note | null {
  if (note === null) return null;
  return note.tone === 'info' || EXITS.has(note.text) ? null : note;
}

/**
 * Whether the camera and microphone are open for the device check: while
 * there is something to check them for, and always where the guest sees them.
 * An invitation opens them, unless a seat is still held (its card, not the
 * invitation's, is where devices show) and that seat's card says they are off
 * (the guest left, and giving the seat up failed): no camera light for a
 * preview nobody sees. Accepting (handingOver) opens them whatever else.
 */
export function previewWanted(page: { onStage: boolean; invitations: number; held: string | null; checking: boolean; handingOver: boolean }): boolean {
  if (page.onStage) return false;
  const heldShowsDevices = page.held !== null && page.held !== 'leave_failed';
  return (page.invitations > 0 && page.held === null) || heldShowsDevices || page.checking || page.handingOver;
}
