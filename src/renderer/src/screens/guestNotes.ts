/**
 * The note above the guest's invitations: what happened last (an invitation
 * that ran out or was withdrawn, the guest's exit from a stage) or a problem.
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
