import { describe, expect, it } from 'vitest';
import { EXIT_MESSAGES } from '../session/GuestSession';
import { noteOnNewInvitation } from './guestNotes';

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
