import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { GuestInvitationRow } from '../../../../shared/domain';
import { InvitationCard } from './InvitationCard';

const invitation = (): GuestInvitationRow => ({
  id: 'inv-1',
  stream_id: 'stream-1',
  host_id: 'host-1',
  invitee_id: 'guest-1',
  invited_by: 'host-1',
  seat_index: 2,
  status: 'pending',
  created_at: new Date().toISOString(),
  expires_at: new Date(Date.now() + 15_000).toISOString(),
  responded_at: null,
});

const render = (props: { busy: boolean; disabled?: boolean }) =>
  renderToStaticMarkup(createElement(InvitationCard, { invitation: invitation(), hostName: 'Hana', onAccept: () => {}, onDecline: () => {}, ...props }));

const button = (html: string, testId: string) => html.match(new RegExp(`<button[^>]*data-testid="${testId}"[^>]*>(.*?)</button>`))!;

describe('InvitationCard', () => {
  it('says "Joining…" only on the invitation being accepted', () => {
    const accepting = render({ busy: true });
    expect(button(accepting, 'accept')[1]).toBe('Joining…');
    expect(button(accepting, 'accept')[0]).toContain('disabled');
    expect(button(accepting, 'decline')[0]).toContain('disabled');
  });

  it('another answer under way only holds the buttons', () => {
    const waiting = render({ busy: false, disabled: true });
    expect(button(waiting, 'accept')[1]).toBe('Accept &amp; join');
    expect(button(waiting, 'accept')[0]).toContain('disabled');
    expect(button(waiting, 'decline')[0]).toContain('disabled');
  });

  it('open, with its seat and countdown', () => {
    const open = render({ busy: false });
    expect(button(open, 'accept')[0]).not.toContain('disabled');
    expect(open).toContain('Hana invites you to go live');
    expect(open).toContain('Seat 3');
    // The invitation made above ends in 15 s: its countdown says so (14 or 15, by when this runs).
    const countdown = open.match(/<span class="countdown[^"]*" data-testid="countdown">(\d+)s<\/span>/);
    expect(countdown, open).not.toBeNull();
    expect(Number(countdown![1])).toBeGreaterThanOrEqual(14);
    expect(Number(countdown![1])).toBeLessThanOrEqual(15);
  });
});
