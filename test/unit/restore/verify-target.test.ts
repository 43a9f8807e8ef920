// What a server may do to a received date it cannot keep, as measured against Dovecot 2.3.19, Cyrus IMAP 3.6 and
// Courier-IMAP 5.0: named as "altered by the server", never taken for a match, and anything else a problem.
import { describe, expect, it } from 'vitest';
import { checkDate } from '../../../shared/restore/verify-target';

const secs = (iso: string) => Date.parse(iso) / 1000;
const now = secs('2026-12-06T12:00:00Z');

describe('checkDate', () => {
  it('the same date is the same', () => {
    expect(checkDate(secs('2040-06-04T12:00:00Z'), secs('2040-06-04T12:00:00Z'), now)).toEqual({
      same: true,
    });
  });

  it('a date in the future the server replaced (Dovecot: the APPEND time; Cyrus: modulo 2^32) is altered', () => {
    expect(checkDate(secs('2300-03-05T12:00:00Z'), secs('2026-12-06T12:32:20Z'), now + 3600).change).toBe(
      'received date 2300-03-05T12:00:00.000Z kept as 2026-12-06T12:32:20.000Z (the server keeps no date in the future)',
    );
    expect(checkDate(secs('2300-03-05T12:00:00Z'), secs('2027-12-20T23:03:28Z'), now).change).toMatch(
      /kept as 2027-12-20T23:03:28.000Z \(the server keeps no date in the future\)$/,
    );
  });

  it('a date before 1901 kept as the smallest 32-bit time is altered', () => {
    expect(checkDate(secs('1899-12-31T23:59:59Z'), -(2 ** 31), now).change).toMatch(
      /kept as 1901-12-13T20:45:52.000Z \(the server keeps no date before 1970\)$/,
    );
    expect(checkDate(secs('1899-12-31T23:59:59Z'), 2 ** 31, now).change).toMatch(
      /kept as 2038-01-19T03:14:08.000Z/,
    );
  });

  it('any other difference is a problem, a past date moved to now included', () => {
    expect(checkDate(secs('2024-03-01T09:00:00Z'), secs('2026-12-06T11:00:00Z'), now).problem).toBe(
      'INTERNALDATE 2026-12-06T11:00:00.000Z != 2024-03-01T09:00:00.000Z',
    );
    expect(checkDate(secs('2300-03-05T12:00:00Z'), secs('2100-01-01T00:00:00Z'), now).problem).toMatch(
      /^INTERNALDATE/,
    );
  });
});
