import { describe, expect, it } from 'vitest';
import type { GuestInvitationRow } from '../../../shared/domain';
import { useStore } from './index';

const invitation = (status: GuestInvitationRow['status']): GuestInvitationRow =>
  ({ id: 'inv-1', stream_id: 's', host_id: 'h', invitee_id: 'g', seat_index: null, status, created_at: '2026-12-06T10:00:00Z', expires_at: '2026-12-06T10:00:20Z' }) as GuestInvitationRow;

describe('the studio store’s invitations', () => {
  it('keeps an answer over a pending copy read before it arrived', () => {
    const store = useStore.getState();
    store.upsertInvitation(invitation('pending'));
    store.upsertInvitation(invitation('accepted'));
    // A list fetched before the accept comes back after it.
    useStore.getState().upsertInvitation(invitation('pending'));
    expect(useStore.getState().invitations.filter((i) => i.id === 'inv-1').map((i) => i.status)).toEqual(['accepted']);
  });
});
