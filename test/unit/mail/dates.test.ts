import { describe, expect, it } from 'vitest';
import { chooseReceivedTime, parseMailDate, receivedStamps } from '../../../shared/mail/dates';
import { readMessageBytes } from '../../../shared/mail/mime';

describe('RFC 5322 dates with the obsolete forms', () => {
  it.each([
    ['Mon, 4 Mar 102 10:00:00 +0000', '2002-03-04T10:00:00.000Z'], // obs-year, three digits: 1900 + 102
    ['Tue, 4 Mar 03 10:00:00 GMT', '2003-03-04T10:00:00.000Z'], // two digits below 50: 2000+
    ['Wed, 4 Mar 98 10:00:00 EST', '1998-03-04T15:00:00.000Z'], // two digits from 50: 1900+; EST = -0500
    ['4 Mar 1998 10:00 PDT', '1998-03-04T17:00:00.000Z'], // no weekday, no seconds
    ['Tue, 04 Mar 1958 10:00:00 +0100 (CET)', '1958-03-04T09:00:00.000Z'], // before 1970, comment
    ['Sat, 1 Jan 2300 00:00:00 +0000', '2300-01-01T00:00:00.000Z'],
    ['Thu,  1 Jan 2004 10:00:00 -0000', '2004-01-01T10:00:00.000Z'],
    ['Sun, 31 Dec 2006 23:59:60 +0000', '2006-12-31T23:59:59.000Z'], // leap second
    ['Tue Jan  1 10:00:00 2002', '2002-01-01T10:00:00.000Z'], // asctime
    ['2002-01-01T10:00:00Z', '2002-01-01T10:00:00.000Z'],
  ])('%s', (text, iso) => expect(parseMailDate(text)?.toISOString()).toBe(iso));

  it.each(['', 'yesterday', '31 Feb 2002 10:00:00 +0000', '2002-01-01 10:00'])('%s is no date', (text) =>
    expect(parseMailDate(text)).toBeUndefined(),
  );

  it('the indexer reads Date with these rules, and the Received stamps', async () => {
    const summary = await readMessageBytes(
      Buffer.from(
        'Received: from b by c; Tue, 5 Mar 102 10:00:00 +0000\r\nReceived: from a by b; Mon, 4 Mar 102 10:00:00 +0000\r\nDate: Mon, 4 Mar 102 09:00:00 +0000\r\n\r\nx\r\n',
      ),
    );
    expect(summary.headers.date).toBe('2002-03-04T09:00:00.000Z');
    expect(summary.headers.receivedStamps).toEqual(['2002-03-05T10:00:00.000Z', '2002-03-04T10:00:00.000Z']);
  });

  it('Received stamps: the date after the last semicolon', () => {
    expect(
      receivedStamps(['from x (a; b) by y; Tue, 5 Mar 2002 10:00:00 +0000', 'no date']).map(String),
    ).toEqual([String(new Date('2002-03-05T10:00:00Z'))]);
  });
});

describe('the received time and where it came from', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const d = (iso: string) => new Date(iso);
  const all = {
    ses: d('2020-01-01T00:00:00Z'),
    envelope: d('2019-01-01T00:00:00Z'),
    received: [d('2018-01-01T00:00:00Z'), d('2018-06-01T00:00:00Z')],
    date: d('2017-01-01T00:00:00Z'),
    file: d('2016-01-01T00:00:00Z'),
  };
  it.each([
    ['ses', all, '2020-01-01T00:00:00.000Z'],
    ['envelope', { ...all, ses: undefined }, '2019-01-01T00:00:00.000Z'],
    ['received', { ...all, ses: undefined, envelope: undefined }, '2018-06-01T00:00:00.000Z'],
    ['date', { date: all.date, file: all.file }, '2017-01-01T00:00:00.000Z'],
    ['file', { file: all.file }, '2016-01-01T00:00:00.000Z'],
    ['import', {}, '2026-01-01T00:00:00.000Z'],
  ] as const)('%s', (source, evidence, iso) => {
    const chosen = chooseReceivedTime(evidence as Parameters<typeof chooseReceivedTime>[0], now);
    expect(chosen.source).toBe(source);
    expect(chosen.receivedAt.toISOString()).toBe(iso);
  });

  it('a 1970 placeholder never wins over the Date or a Received stamp', () => {
    const placeholder = d('1970-01-01T00:00:00Z');
    expect(chooseReceivedTime({ envelope: placeholder, date: all.date }, now).source).toBe('date');
    expect(chooseReceivedTime({ envelope: placeholder, received: all.received }, now).source).toBe(
      'received',
    );
  });

  it('a Date in the future of the import is not plausible; one long ago is', () => {
    expect(chooseReceivedTime({ date: d('2300-01-01T00:00:00Z'), file: all.file }, now).source).toBe('file');
    expect(chooseReceivedTime({ date: d('1958-03-04T00:00:00Z'), file: all.file }, now).source).toBe('date');
  });
});
