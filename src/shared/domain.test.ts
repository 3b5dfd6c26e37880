import { describe, expect, it } from 'vitest';
import { isSeatUpdate, mergeEvents, type GuestEventRow, type GuestSeatRow } from './domain';

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
