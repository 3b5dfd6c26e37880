import { describe, expect, it } from 'vitest';
import { isSeatUpdate, laterStreamRow, mergeEvents, type GuestEventRow, type GuestSeatRow, type StreamRow } from './domain';

const event = (id: number, name = `e${id}`) => ({ id, display_name: name }) as unknown as GuestEventRow;

describe('mergeEvents', () => {
  it('keeps each event once, newest first, whichever source brought it first', () => {
    const live = [event(7), event(9)];
    const listed = [event(8), event(7, 'listed copy'), event(3)];
    expect(mergeEvents(live, listed, 10).map((e) => e.id)).toEqual([9, 8, 7, 3]);
    expect(mergeEvents(live, listed, 10).find((e) => e.id === 7)?.display_name).toBe('listed copy');
  });

  it('keeps at most the newest `keep`', () => {
    expect(mergeEvents([event(1), event(2)], [event(5), event(4), event(3)], 3).map((e) => e.id)).toEqual([5, 4, 3]);
  });
});

describe('isSeatUpdate', () => {
  const seat = (version: number) => ({ id: 's', version }) as unknown as GuestSeatRow;
  it('takes a first copy, the same version or a newer one, never an older one', () => {
    expect(isSeatUpdate(undefined, seat(1))).toBe(true);
    expect(isSeatUpdate(seat(2), seat(2))).toBe(true);
    expect(isSeatUpdate(seat(2), seat(3))).toBe(true);
    expect(isSeatUpdate(seat(3), seat(2))).toBe(false);
  });
});

describe('laterStreamRow', () => {
  const row = (status: StreamRow['status'], title = 'Show', id = 's1'): StreamRow => ({
    id,
    host_id: 'h',
    title,
    status,
    ingest_provider: 'local',
    live_input_id: null,
    playback_url: status === 'live' ? 'http://ingest/p.m3u8' : null,
    locked_seats: [],
    started_at: null,
    ended_at: null,
    created_at: '2026-12-06T00:00:00Z',
  });

  it('keeps a live change when a read sent before it answers afterwards with the older status', () => {
    expect(laterStreamRow(row('live'), row('idle')).status).toBe('live');
    expect(laterStreamRow(row('ended'), row('live')).status).toBe('ended');
  });

  it('takes a row that moves the stream forward or changes it within its phase', () => {
    expect(laterStreamRow(row('idle'), row('live')).status).toBe('live');
    expect(laterStreamRow(row('live'), row('live', 'New title')).title).toBe('New title');
    expect(laterStreamRow(null, row('ended')).status).toBe('ended');
  });

  it('takes another stream’s row as it is', () => {
    expect(laterStreamRow(row('ended'), row('idle', 'Other', 's2')).id).toBe('s2');
  });
});
