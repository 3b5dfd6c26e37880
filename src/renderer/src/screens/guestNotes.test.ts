import { describe, expect, it } from 'vitest';
import { EXIT_MESSAGES } from '../session/GuestSession';
import { noteOnNewInvitation, previewWanted } from './guestNotes';

describe('the guest note when a new invitation shows', () => {
  it('drops the news of earlier invitations and of the last stage', () => {
    for (const text of ['The invitation from Hana expired.', 'Hana withdrew the invitation.', "Hana's stream has ended: the invitation is void."]) {
      expect(noteOnNewInvitation({ tone: 'info', text })).toBeNull();
    }
    expect(noteOnNewInvitation({ tone: 'error', text: EXIT_MESSAGES.removed })).toBeNull();
    expect(noteOnNewInvitation({ tone: 'error', text: EXIT_MESSAGES.stream_ended })).toBeNull();
    expect(noteOnNewInvitation({ tone: 'info', text: EXIT_MESSAGES.left })).toBeNull();
    expect(noteOnNewInvitation(null)).toBeNull();
  });

  it('keeps a problem that still holds', () => {
    const late = { tone: 'error' as const, text: 'Invitations may arrive late (connection lost); trying again.' };
    expect(noteOnNewInvitation(late)).toBe(late);
    const refused = { tone: 'error' as const, text: 'All seats are taken.' };
    expect(noteOnNewInvitation(refused)).toBe(refused);
  });
});

describe('the camera and microphone opened for the device check', () => {
  const page = { onStage: false, invitations: 0, held: null as string | null, checking: false, handingOver: false };

  it('open for an invitation, a check asked for, an accept under way, or a held seat that shows them', () => {
    expect(previewWanted(page)).toBe(false);
    expect(previewWanted({ ...page, invitations: 1 })).toBe(true);
    expect(previewWanted({ ...page, checking: true })).toBe(true);
    expect(previewWanted({ ...page, handingOver: true })).toBe(true);
    expect(previewWanted({ ...page, held: 'reloaded' })).toBe(true);
    expect(previewWanted({ ...page, onStage: true, invitations: 1 })).toBe(false);
  });

  it('stay closed for an invitation that arrives while a seat the guest left is still held (its card says they are off)', () => {
    expect(previewWanted({ ...page, held: 'leave_failed' })).toBe(false);
    expect(previewWanted({ ...page, held: 'leave_failed', invitations: 1 })).toBe(false);
    expect(previewWanted({ ...page, held: 'leave_failed', invitations: 1, handingOver: true })).toBe(true);
  });
});
