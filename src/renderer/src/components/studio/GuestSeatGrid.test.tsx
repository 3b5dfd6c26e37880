import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { GuestSeatRow } from '../../../../shared/domain';
import { GuestSeatGrid } from './GuestSeatGrid';

const seat = (over: Partial<GuestSeatRow>): GuestSeatRow =>
  ({
    id: `seat-${over.user_id}`,
    stream_id: 'stream-1',
    user_id: 'guest-a',
    seat_index: 0,
    joined_at: '2026-01-01T00:00:00Z',
    left_at: null,
    mic_enabled: true,
    camera_enabled: true,
    muted_by_host: false,
    camera_disabled_by_host: false,
    is_moderator: false,
    volume: 1,
    ...over,
  }) as GuestSeatRow;

const render = (seats: GuestSeatRow[], lockedSeats: number[] = []) =>
  renderToStaticMarkup(
    createElement(GuestSeatGrid, {
      hostName: 'Hana',
      hostId: 'host',
      hostMicOn: true,
      hostCameraOn: true,
      seats,
      lockedSeats,
      names: { 'guest-a': 'Ada', 'guest-b': 'Bo' },
      links: { 'guest-a': 'connected', 'guest-b': 'away' },
      disabled: false,
      onAction: () => {},
    }),
  );

const tileLabel = (html: string, index: number) => html.match(new RegExp(`<button[^>]*aria-label="([^"]*)"[^>]*data-testid="seat-${index}"|<button[^>]*data-testid="seat-${index}"[^>]*aria-label="([^"]*)"`));

describe('GuestSeatGrid', () => {
  it("says each seat's whole state in its name, and that it opens a menu", () => {
    const html = render([
      seat({ user_id: 'guest-a', seat_index: 0, muted_by_host: true, mic_enabled: false, camera_enabled: false, is_moderator: true }),
      seat({ user_id: 'guest-b', seat_index: 1, camera_disabled_by_host: true, camera_enabled: false }),
    ]);
    const a = tileLabel(html, 0)!;
    expect(a[1] ?? a[2]).toBe('Seat 1: Ada, moderator, muted by host, camera off, connected');
    const b = tileLabel(html, 1)!;
    expect(b[1] ?? b[2]).toBe('Seat 2: Bo, mic on, camera off by host, away (page closed)');
    expect(html.match(/aria-haspopup="menu"/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('names an empty or locked seat as such', () => {
    const html = render([], [2]);
    const empty = tileLabel(html, 0)!;
    expect(empty[1] ?? empty[2]).toBe('Seat 1: empty');
    const locked = tileLabel(html, 2)!;
    expect(locked[1] ?? locked[2]).toBe('Seat 3: locked');
  });
});
