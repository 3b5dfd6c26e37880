import { describe, expect, it } from 'vitest';
import { postgresChangesFilter } from '@supabase/realtime-js';
import { RealtimeError } from './errors.js';
import { MAX_FILTER_VALUE_LENGTH, MAX_IN_VALUES, matchesFilter, parseFilter } from './filters.js';

const types = new Map([
  ['id', 'int4'],
  ['big', 'int8'],
  ['score', 'numeric'],
  ['name', 'text'],
  ['status', 'text'],
  ['live', 'bool'],
  ['stream_id', 'uuid'],
  ['at', 'timestamptz'],
  ['note', 'text'],
]);

const row = {
  id: 7,
  big: 9000000000,
  score: 2.5,
  name: 'a,b',
  status: 'live',
  live: true,
  stream_id: '6F9619FF-8B86-D011-B42D-00C04FC964FF',
  at: '2024-05-01T10:00:00+00:00',
  note: null,
};

function matches(filter: string, record: Record<string, unknown> = row): boolean {
  return matchesFilter(parseFilter(filter), record, types);
}

describe('parseFilter', () => {
  it('reads single and combined conditions', () => {
    expect(parseFilter('id=eq.7')).toEqual([{ column: 'id', op: 'eq', negate: false, value: '7', values: [] }]);
    expect(parseFilter(undefined)).toEqual([]);
    expect(parseFilter('')).toEqual([]);
    const conds = parseFilter('status=in.(live,"a,b"),id=not.eq.3');
    expect(conds.map((c) => [c.column, c.op, c.negate])).toEqual([
      ['status', 'in', false],
      ['id', 'eq', true],
    ]);
    expect(conds[0]!.values).toEqual(['live', 'a,b']);
  });

  it('reads what the realtime-js filter builder writes', () => {
    const built = postgresChangesFilter().eq('name', 'a,b').in('id', [1, 7]).not('status', 'eq', 'ended').neq('live', false).build();
    expect(matches(built)).toBe(true);
    expect(matches(postgresChangesFilter().eq('name', ' padded ').build(), { ...row, name: ' padded ' })).toBe(true);
    expect(matches(postgresChangesFilter().eq('name', 'say "hi"\\').build(), { ...row, name: 'say "hi"\\' })).toBe(true);
  });

  it('refuses malformed filters with reason invalid_filter', () => {
    for (const bad of ['id', 'id=7', 'id=foo.7', 'id=in.1,2', 'id=in.(1,2', 'name=eq."open', '=eq.1']) {
      try {
        parseFilter(bad);
        throw new Error(`accepted ${bad}`);
      } catch (err) {
        expect(err, bad).toBeInstanceOf(RealtimeError);
        expect((err as RealtimeError).reason).toBe('invalid_filter');
      }
    }
  });

  it('refuses every operator hosted Realtime does not evaluate, naming the ones it takes', () => {
    // A regular expression from any subscriber would run on every changed row:
    // `^(a+)+$` against 28 a's and a '!' takes minutes of one thread.
    for (const bad of [
      'name=match.^(a+)+$',
      'name=imatch.^(a+)+$',
      'name=like.%a%a%a%a%a%a%b',
      'name=ilike.a*',
      'note=is.null',
      'note=not.is.null',
      'id=isdistinct.7',
      'id=cs.{1}',
      'name=fts.word',
    ]) {
      expect(() => parseFilter(bad), bad).toThrow(RealtimeError);
      expect(() => parseFilter(bad), bad).toThrow(/is not supported \(Realtime filters take eq, neq, lt, lte, gt, gte, in\)/);
    }
  });

  it('bounds in lists, values and conditions', () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => i).join(',');
    expect(parseFilter(`id=in.(${ids(MAX_IN_VALUES)})`)[0]!.values).toHaveLength(MAX_IN_VALUES);
    expect(() => parseFilter(`id=in.(${ids(MAX_IN_VALUES + 1)})`)).toThrow(/at most 100 values/);
    const long = 'x'.repeat(MAX_FILTER_VALUE_LENGTH + 1);
    expect(parseFilter(`name=eq.${long.slice(1)}`)[0]!.value).toHaveLength(MAX_FILTER_VALUE_LENGTH);
    expect(() => parseFilter(`name=eq.${long}`)).toThrow(/longer than 1024 characters/);
    expect(() => parseFilter(`name=in.(a,"${long}")`)).toThrow(/longer than 1024 characters/);
    expect(() => parseFilter(Array.from({ length: 17 }, () => 'id=eq.1').join(','))).toThrow(/at most 16 conditions/);
    try {
      parseFilter(`name=eq.${long}`);
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(300);
    }
  });
});

describe('matchesFilter', () => {
  it('compares numbers as numbers', () => {
    expect(matches('id=eq.7')).toBe(true);
    expect(matches('id=eq.07')).toBe(true);
    expect(matches('id=neq.7')).toBe(false);
    expect(matches('id=gt.10')).toBe(false);
    expect(matches('id=gte.7')).toBe(true);
    expect(matches('id=lt.10')).toBe(true);
    expect(matches('id=lte.6')).toBe(false);
    expect(matches('big=gt.8999999999')).toBe(true);
    expect(matches('score=lt.3')).toBe(true);
    expect(matches('id=eq.seven')).toBe(false);
  });

  it('handles in lists, text, uuid, booleans and timestamps', () => {
    expect(matches('id=in.(1,7,9)')).toBe(true);
    expect(matches('id=in.(1,9)')).toBe(false);
    expect(matches('status=eq.live')).toBe(true);
    expect(matches('status=eq.Live')).toBe(false);
    expect(matches('name=eq."a,b"')).toBe(true);
    expect(matches('stream_id=eq.6f9619ff-8b86-d011-b42d-00c04fc964ff')).toBe(true);
    expect(matches('live=eq.true')).toBe(true);
    expect(matches('live=eq.f')).toBe(false);
    expect(matches('live=neq.false')).toBe(true);
    expect(matches('at=gt.2024-05-01T09:00:00Z')).toBe(true);
    expect(matches('at=eq.2024-05-01T12:00:00+02:00')).toBe(true);
  });

  it('treats NULL as SQL does', () => {
    expect(matches('note=eq.x')).toBe(false);
    expect(matches('note=neq.x')).toBe(false);
    expect(matches('note=not.eq.x')).toBe(false);
    expect(matches('note=in.(x,y)')).toBe(false);
    expect(matches('note=not.in.(x,y)')).toBe(false);
    expect(matches('missing=eq.1')).toBe(false);
  });

  it('requires every condition and has no record for no match', () => {
    expect(matches('id=eq.7,status=eq.live')).toBe(true);
    expect(matches('id=eq.7,status=eq.ended')).toBe(false);
    expect(matchesFilter(parseFilter('id=eq.7'), null, types)).toBe(false);
    expect(matchesFilter([], null, types)).toBe(true);
  });
});
