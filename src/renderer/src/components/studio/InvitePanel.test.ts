import { describe, expect, it } from 'vitest';
import type { GuestInvitationRow, InvitationStatus, Profile } from '../../../../shared/domain';
import { invitationsShown, pickInvitee } from './InvitePanel';

const person = (id: string, display_name: string | null, username: string | null = null): Profile => ({ id, display_name, username, avatar_url: null, created_at: '2026-01-01T00:00:00Z' });
const ID = '0f8fad5b-d9cb-469f-a165-70867728950e';

describe('pickInvitee', () => {
  it('takes a user id as it is, whatever the search found', () => {
    expect(pickInvitee(ID, [person('x', 'Al')])).toEqual({ id: ID });
  });

  it('takes the only match of a name', () => {
    expect(pickInvitee('Gus Gu', [person('g', 'Gus Guest')])).toEqual({ id: 'g' });
  });

  it('with several matches, invites nobody unless one is exactly the name typed', () => {
    const als = [person('a1', 'Alice'), person('a2', 'Alan'), person('a3', 'Al', 'al_k')];
    expect(pickInvitee('Al', als)).toEqual({ id: 'a3' });
    expect(pickInvitee('al_k', als)).toEqual({ id: 'a3' });
    const noExact = pickInvitee('Ali', [person('a1', 'Alice'), person('a4', 'Alinta')]);
    expect(noExact).toEqual({ error: expect.stringMatching(/^2 people match “Ali”: choose one in the list/) });
    const twins = pickInvitee('Sam', [person('s1', 'Sam'), person('s2', 'Sam'), person('s3', 'Samir')]);
    expect(twins).toEqual({ error: expect.stringMatching(/^2 people match “Sam”/) });
  });

  it('says why nothing was invited for a short or unknown name', () => {
    expect(pickInvitee('A', [])).toEqual({ error: 'Type at least two letters of a name, or a user id.' });
    expect(pickInvitee('Nobody Here', [])).toEqual({ error: expect.stringContaining('Nobody called “Nobody Here” was found') });
  });
});

describe('invitationsShown', () => {
  const inv = (id: string, status: InvitationStatus): GuestInvitationRow => ({
    id,
    stream_id: 's',
    host_id: 'h',
    invitee_id: `guest-${id}`,
    invited_by: 'h',
    seat_index: null,
    status,
    created_at: '2026-01-01T00:00:00Z',
    expires_at: '2026-01-01T00:00:20Z',
    responded_at: null,
  });

  it('lists every pending invitation, however many (beyond the six lines of the decided ones)', () => {
    const held = ['1', '2', '3', '4', '5', '6', '7', '8'].map((id) => inv(id, 'pending'));
    expect(invitationsShown(held).map((i) => i.id)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
  });

  it('fills the rest of six lines with the latest answered or ended ones, in the order held', () => {
    const held = [inv('a', 'declined'), inv('b', 'pending'), inv('c', 'expired'), inv('d', 'accepted'), inv('e', 'cancelled'), inv('f', 'expired'), inv('g', 'declined'), inv('h', 'pending')];
    expect(invitationsShown(held).map((i) => i.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'h']);
  });
});
