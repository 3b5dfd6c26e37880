import { describe, expect, it } from 'vitest';
import type { GuestEventRow } from '../../../../shared/domain';
import { describeEvent } from './EventsFeed';

const event = (event_type: GuestEventRow['event_type'], metadata: Record<string, unknown> = {}, patch: Partial<GuestEventRow> = {}): GuestEventRow => ({
  id: 1,
  stream_id: 's',
  user_id: 'u',
  actor_id: 'h',
  event_type,
  display_name: 'Gus',
  actor_display_name: 'Hana',
  seat_index: 2,
  metadata,
  created_at: '2026-01-01T00:00:00Z',
  ...patch,
});

const line = (e: GuestEventRow) => {
  const { name, rest } = describeEvent(e);
  return name + rest;
};

describe('describeEvent', () => {
  it('says who switched a microphone: the guest, the host or a named moderator', () => {
    expect(line(event('muted_mic', { by: 'host', mic_enabled: true, muted_by_host: true }))).toBe('Gus was muted by the host');
    expect(line(event('muted_mic', { by: 'moderator', mic_enabled: true, muted_by_host: true }, { actor_display_name: 'Mo' }))).toBe('Gus was muted by Mo');
    expect(line(event('muted_mic', { by: 'self', mic_enabled: false, muted_by_host: false }))).toBe('Gus turned their microphone off');
    expect(line(event('unmuted_mic', { by: 'self', mic_enabled: true, muted_by_host: false }))).toBe('Gus turned their microphone on');
  });

  it('does not call a release an unmute: the switch stays off until the guest turns it on', () => {
    expect(line(event('unmuted_mic', { by: 'host', mic_enabled: false, muted_by_host: false }))).toBe('Gus’s microphone was released by the host: they can turn it on');
    expect(line(event('unmuted_mic', { by: 'host', mic_enabled: true, muted_by_host: false }))).toBe('Gus was unmuted by the host');
    expect(line(event('camera_on', { by: 'host', camera_enabled: false, camera_disabled_by_host: false }))).toBe('Gus’s camera was released by the host: they can turn it on');
    expect(line(event('camera_off', { by: 'host', camera_enabled: true, camera_disabled_by_host: true }))).toBe('Gus’s camera was turned off by the host');
    expect(line(event('camera_on', { by: 'self', camera_enabled: true, camera_disabled_by_host: false }))).toBe('Gus turned their camera on');
  });

  it('words the other events as sentences', () => {
    expect(line(event('invitation_cancelled'))).toBe('Gus’s invitation was cancelled');
    expect(line(event('invitation_expired'))).toBe("Gus didn't answer the invitation in time");
    expect(line(event('invitation_expired', { invitation_id: 'i', replaced: true }))).toBe('Gus was invited again (the earlier invitation was replaced)');
    expect(line(event('seat_locked', {}, { user_id: null, display_name: null, seat_index: 8 }))).toBe('Hana locked seat 9');
    expect(line(event('removed'))).toBe('Gus was removed from the stage');
  });
});
