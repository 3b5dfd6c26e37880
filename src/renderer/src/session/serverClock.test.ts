import { describe, expect, it } from 'vitest';
import { ServerClock } from './serverClock';

describe("the database's clock as the page sees it", () => {
  const made = '2026-12-06T10:00:00.000Z';
  const expires = '2026-12-06T10:00:20.000Z';

  it("reads the database's times as they are until a fresh row says otherwise", () => {
    const clock = new ServerClock();
    expect(clock.local(expires)).toBe(Date.parse(expires));
  });

  it("learns from a direct read of the database's clock, taking the middle of the round trip", () => {
    const clock = new ServerClock();
    const at = Date.parse(made);
    clock.learnFromRead(made, at + 24_000, at + 26_000);
    expect(clock.offset).toBe(25_000);
    clock.learnFromRead(made, at - 500, at + 900);
    expect(clock.offset).toBe(0);
    // An answer that makes no sense changes nothing.
    clock.learnFromRead('not a time', at, at + 10);
    clock.learnFromRead(made, at + 10, at);
    expect(clock.offset).toBe(0);
  });

  it('leaves a few seconds of delivery alone', () => {
    const clock = new ServerClock();
    clock.learn(made, Date.parse(made) + 1500);
    expect(clock.offset).toBe(0);
    clock.learn(made, Date.parse(made) - 1000);
    expect(clock.offset).toBe(0);
  });

  it('moves the expiry of an invitation onto a page clock that runs 25 s fast, or 30 s slow', () => {
    const clock = new ServerClock();
    clock.learn(made, Date.parse(made) + 25_000);
    expect(clock.local(expires)).toBe(Date.parse(expires) + 25_000);
    expect(clock.localIso(expires)).toBe('2026-12-06T10:00:45.000Z');
    clock.learn(made, Date.parse(made) - 30_000);
    expect(clock.local(expires)).toBe(Date.parse(expires) - 30_000);
    // Set right again: no correction.
    clock.learn(made, Date.parse(made) + 300);
    expect(clock.offset).toBe(0);
  });

  it('ignores a time it cannot read', () => {
    const clock = new ServerClock();
    clock.learn(made, Date.parse(made) + 25_000);
    clock.learn('not a time');
    expect(clock.offset).toBe(25_000);
    expect(clock.localIso('not a time')).toBe('not a time');
  });

  it('after a direct read, a row that disagrees asks for another read, which settles a late delivery and a clock set since', () => {
    const clock = new ServerClock();
    const at = Date.parse(made);
    clock.learnFromRead(made, at - 100, at + 100);
    // A row delivered within the tolerance of the read agrees: nothing to ask.
    expect(clock.learn(made, at + 1500)).toBe(false);
    expect(clock.offset).toBe(0);
    // Delivered 3.5 s after it was made (a slow network): another read is asked for, and says the clock is right.
    expect(clock.learn(made, at + 3500)).toBe(true);
    clock.learnFromRead(made, at - 50, at + 50);
    expect(clock.offset).toBe(0);
    expect(clock.local(expires)).toBe(Date.parse(expires));
    // The phone's clock set 25 s ahead since: the row is taken at once, and the next read confirms it.
    expect(clock.learn(made, at + 25_300)).toBe(true);
    expect(clock.offset).toBe(25_300);
    clock.learnFromRead(made, at + 24_900, at + 25_100);
    expect(clock.offset).toBe(25_000);
    expect(clock.learn(made, at + 25_400)).toBe(false);
    expect(clock.offset).toBe(25_000);
  });
});
