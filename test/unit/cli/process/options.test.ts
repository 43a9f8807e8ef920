// The CLI's option parsers: a date the user typed is read as exactly the moment it names, or refused; never a
// guess (V8's Date parser reads "12" as December 2001 and rolls 2020-02-30 over into March).
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { checkDateRange, parseDate } from '../../../../cli/process/options';
import { ExitCode, UserError } from '../../../../cli/process/output';

describe('parseDate', () => {
  it('reads ISO 8601 dates (a day, a month or a year is its first moment, UTC) and date-times', () => {
    expect(parseDate('2016-03-01').toISOString()).toBe('2016-03-01T00:00:00.000Z');
    expect(parseDate('2016-03').toISOString()).toBe('2016-03-01T00:00:00.000Z');
    expect(parseDate('2016').toISOString()).toBe('2016-01-01T00:00:00.000Z');
    expect(parseDate('2024-02-29').toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(parseDate('2026-01-31T12:00:00Z').toISOString()).toBe('2026-01-31T12:00:00.000Z');
    expect(parseDate('2026-01-31T12:00Z').toISOString()).toBe('2026-01-31T12:00:00.000Z');
    expect(parseDate('2026-01-31T12:00:00.250+02:00').toISOString()).toBe('2026-01-31T10:00:00.250Z');
    expect(parseDate(' 2026-01-31 ').toISOString()).toBe('2026-01-31T00:00:00.000Z');
  });

  it.each([
    ['12', 'a bare number V8 reads as December 2001'],
    ['0', 'V8: 2000-01-01'],
    ['2020-02-30', 'a day February does not have (V8 rolls it into March)'],
    ['2021-02-29', 'not a leap year'],
    ['2020-04-31', 'April has 30 days'],
    ['2020-13-01', 'no month 13'],
    ['2020-00-10', 'no month 0'],
    ['2020-01-01T24:00:00Z', 'no hour 24'],
    ['2020-01-01T12:60Z', 'no minute 60'],
    ['June 2019', 'words: read in local time by V8, and not what the help promises'],
    ['2019/06/01', 'slashes: local time in V8'],
    ['yesterday', 'not a date'],
    ['', 'empty'],
  ])('refuses %j (%s), naming the forms it takes', (value) => {
    expect(() => parseDate(value)).toThrow(InvalidArgumentError);
    expect(() => parseDate(value)).toThrow(/2026-01-31/);
  });
});

describe('checkDateRange', () => {
  it('accepts either bound alone, or since before until', () => {
    expect(() => checkDateRange({})).not.toThrow();
    expect(() => checkDateRange({ since: new Date('2020-01-01T00:00:00Z') })).not.toThrow();
    expect(() => checkDateRange({ until: new Date('2020-01-01T00:00:00Z') })).not.toThrow();
    expect(() =>
      checkDateRange({ since: new Date('2019-01-01T00:00:00Z'), until: new Date('2020-01-01T00:00:00Z') }),
    ).not.toThrow();
  });

  it('refuses --since at or after --until as a user mistake naming both (DynamoDB refuses such a BETWEEN)', () => {
    for (const since of ['2020-01-01T00:00:00Z', '2021-06-01T00:00:00Z']) {
      const range = { since: new Date(since), until: new Date('2020-01-01T00:00:00Z') };
      expect(() => checkDateRange(range)).toThrow(UserError);
      expect(() => checkDateRange(range)).toThrow(/--since .* is not before --until/);
      expect(() => checkDateRange(range)).toThrow(expect.objectContaining({ exitCode: ExitCode.usage }));
    }
  });

  it('refuses the same day for both, with a hint naming the next day as --until (the first moment not included)', () => {
    const day = new Date('2002-10-01T00:00:00Z');
    expect(() => checkDateRange({ since: day, until: day })).toThrow(
      expect.objectContaining({
        exitCode: ExitCode.usage,
        hint: expect.stringContaining('--until 2002-10-02'),
      }),
    );
  });
});
