import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseEnvelopeLine } from '../../../shared/bundle/envelope-line';
import { type MboxEntry, readMboxMessages, startsLikeMbox } from '../../../shared/bundle/mbox-reader';

async function read(text: string | Buffer, options?: { escapedMboxrd?: boolean }): Promise<MboxEntry[]> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const out: MboxEntry[] = [];
  // Small chunks: every boundary case of the line reader is crossed.
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7));
  for await (const entry of readMboxMessages(Readable.from(chunks), options)) out.push(entry);
  return out;
}

const bodies = (entries: MboxEntry[]) =>
  entries
    .filter((e) => e.kind !== 'notice')
    .map((e) => (e.kind === 'message' ? e.raw.toString('utf8') : '<empty>'));
const notices = (entries: MboxEntry[]) =>
  entries.flatMap((e) => (e.kind === 'notice' ? [`#${e.position} line ${e.line}: ${e.reason}`] : []));
const sourceBytes = (entries: MboxEntry[]) =>
  entries.reduce((n, e) => n + (e.kind === 'notice' ? 0 : e.sourceBytes), 0);
const eols = { LF: '\n', CRLF: '\r\n', CR: '\r' } as const;

describe('envelope lines', () => {
  it.each([
    ['From alice@example.com Tue Jan  1 10:00:00 2002', '2002-01-01T10:00:00.000Z', 'alice@example.com'],
    ['From 1802345@xxx Sat Jun 07 14:02:11 +0000 2025', '2025-06-07T14:02:11.000Z', '1802345@xxx'],
    ['From 1802345@xxx Sat Jun 07 14:02:11 +0200 2025', '2025-06-07T12:02:11.000Z', '1802345@xxx'],
    ['From - Sat Jun 07 14:02:11 2025', '2025-06-07T14:02:11.000Z', '-'],
    ['From MAILER-DAEMON Fri Feb 29 23:59:59 2002 -0500', undefined, 'MAILER-DAEMON'], // not a leap year
    ['From bob Mon Mar  4 01:02:03 1958', '1958-03-04T01:02:03.000Z', 'bob'],
    ['From bob Mon Mar  4 01:02 2002 remote from uunet', '2002-03-04T01:02:00.000Z', 'bob'],
    ['From bob Wed Jan  1 00:00:00 2300', '2300-01-01T00:00:00.000Z', 'bob'],
    // Forms other writers use: day before month with a zone, an ISO date after an empty sender, a malformed time.
    ['From MAILER-DAEMON Mon 1 Jan 2015 00:00:00 +0900', '2014-12-31T15:00:00.000Z', 'MAILER-DAEMON'],
    ['From () 2019-10-02 05:04:34 +0000', '2019-10-02T05:04:34.000Z', '()'],
    ['From MAILER-DAEMON Fri Jan 1 00:0:00 2015', '2015-01-01T00:00:00.000Z', 'MAILER-DAEMON'],
    ['From Mon Jan  1 00:00:00 2001', '2001-01-01T00:00:00.000Z', ''],
    ['From me at mutt.org  Tue Jan  1 10:00:00 2002', '2002-01-01T10:00:00.000Z', 'me at mutt.org'],
    ['From "a b"@example.com Tue Jan  1 10:00:00 2002', '2002-01-01T10:00:00.000Z', '"a b"@example.com'],
    // Netscape writes no date at all: an envelope line whose date is unknown.
    ['From - ', undefined, '-'],
    ['From my point of view, this is fine', undefined, 'my'],
  ])('%s', (line, iso, sender) => {
    const parsed = parseEnvelopeLine(line);
    expect(parsed?.date?.toISOString()).toBe(iso);
    expect(parsed?.sender).toBe(sender);
  });

  it('the 1970 placeholder of list archives is marked, other dates are not', () => {
    expect(parseEnvelopeLine('From list@example.org Thu Jan  1 00:00:00 1970')?.placeholder).toBe(true);
    expect(parseEnvelopeLine('From a Tue Jan  1 10:00:00 2002')?.placeholder).toBe(false);
  });

  it.each(['From: alice@example.com', '>From a Tue Jan  1 10:00:00 2002', 'from a Tue Jan  1 10:00:00 2002'])(
    'is not an envelope line: %s',
    (line) => expect(parseEnvelopeLine(line)).toBeUndefined(),
  );
});

describe.each(Object.entries(eols))('mbox with %s line ends', (_name, eol) => {
  const join = (lines: string[]) => lines.join(eol) + eol;

  it('splits at envelope lines after an empty line, followed by a header', async () => {
    const text = join([
      'From a@example.com Tue Jan  1 10:00:00 2002',
      'Subject: one',
      '',
      'first',
      '',
      'From b@example.com Wed Jan  2 10:00:00 2002',
      'Subject: two',
      '',
      'second',
    ]);
    const entries = await read(text);
    expect(bodies(entries)).toEqual([
      join(['Subject: one', '', 'first']),
      join(['Subject: two', '', 'second']),
    ]);
    expect(entries.map((e) => (e.kind === 'message' ? e.envelope?.date?.toISOString() : ''))).toEqual([
      '2002-01-01T10:00:00.000Z',
      '2002-01-02T10:00:00.000Z',
    ]);
  });

  it.each([
    ['a sentence', ['', 'From my point of view, this is fine.', 'more']],
    ['an undated line after a non-empty line', ['text', 'From here: a list', 'Subject: not a header']],
    [
      'an envelope-like line not followed by a header',
      ['', 'From bob Tue Jan  1 10:00:00 2002', '', 'quoted'],
    ],
    ['an envelope-like line at the very end', ['', 'From bob Tue Jan  1 10:00:00 2002']],
  ])('an unescaped From line in a body (%s) stays in the body', async (_kind, bodyLines) => {
    const text = join([
      'From a@example.com Tue Jan  1 10:00:00 2002',
      'Subject: one',
      '',
      'start',
      ...bodyLines,
    ]);
    const entries = await read(text);
    expect(bodies(entries)).toHaveLength(1);
    expect(bodies(entries)[0]).toBe(join(['Subject: one', '', 'start', ...bodyLines]));
  });

  it('mboxcl2: Content-Length keeps a body with separator-like lines whole', async () => {
    const body = join([
      'look:',
      '',
      'From b@example.com Wed Jan  2 10:00:00 2002',
      'Subject: not a message',
      '',
      'end',
    ]);
    const text =
      join([
        'From a@example.com Tue Jan  1 10:00:00 2002',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'Subject: one',
        '',
      ]) +
      body +
      join(['', 'From c@example.com Thu Jan  3 10:00:00 2002', 'Subject: three', '', 'x']);
    const entries = await read(text);
    expect(bodies(entries)).toEqual([
      join([`Content-Length: ${Buffer.byteLength(body)}`, 'Subject: one', '']) + body,
      join(['Subject: three', '', 'x']),
    ]);
    // The dated line inside the counted body is said, with where it stayed.
    expect(notices(entries)).toEqual(['#1 line 7: inside the body its Content-Length counts']);
  });

  it.each([
    ['too large', 10_000],
    ['too small', 3],
  ])('a wrong Content-Length (%s) falls back to the separator rule', async (_kind, length) => {
    const text = join([
      'From a@example.com Tue Jan  1 10:00:00 2002',
      `Content-Length: ${length}`,
      'Subject: one',
      '',
      'first body',
      '',
      'From b@example.com Wed Jan  2 10:00:00 2002',
      'Subject: two',
      '',
      'second',
    ]);
    const entries = await read(text);
    expect(bodies(entries)).toEqual([
      join([`Content-Length: ${length}`, 'Subject: one', '', 'first body']),
      join(['Subject: two', '', 'second']),
    ]);
  });

  it('undoes >From escaping (mboxrd and mboxo)', async () => {
    const text = join([
      'From a Tue Jan  1 10:00:00 2002',
      'Subject: x',
      '',
      '>From here',
      '>>From there',
      '>not from',
    ]);
    expect(bodies(await read(text))).toEqual([
      join(['Subject: x', '', 'From here', '>From there', '>not from']),
    ]);
  });

  it('a single message file that begins with an envelope line is one message, without it', async () => {
    const text = join(['From alice@example.com Tue Jan  1 10:00:00 2002', 'Subject: one', '', 'body']);
    const entries = await read(text);
    expect(bodies(entries)).toEqual([join(['Subject: one', '', 'body'])]);
  });

  it('an envelope line with nothing after it is an empty message', async () => {
    const entries = await read(
      join([
        'From a Tue Jan  1 10:00:00 2002',
        'Subject: x',
        '',
        'y',
        '',
        'From b Tue Jan  1 10:00:00 2002',
        'Subject: z',
      ]),
    );
    expect(entries).toHaveLength(2);
    const lone = await read(join(['From a Tue Jan  1 10:00:00 2002']));
    expect(lone.map((e) => e.kind)).toEqual(['empty']);
  });

  it('accounts for every byte of the file', async () => {
    const text = join([
      'From a Tue Jan  1 10:00:00 2002',
      'Subject: x',
      '',
      'y',
      '',
      'From b Tue Jan  1 10:00:00 2002',
      'Subject: z',
    ]);
    const entries = await read(text);
    expect(sourceBytes(entries)).toBe(Buffer.byteLength(text));
  });
});

describe('our own mboxrd (the bundle verifier)', () => {
  it('every envelope line separates, whatever follows', async () => {
    const text =
      'From MAILER-DAEMON Tue Jan  1 10:00:00 2002\n\x89PNG\n\nFrom MAILER-DAEMON Tue Jan  1 10:00:00 2002\nSubject: b\n\n>From x\n\n';
    expect(bodies(await read(text, { escapedMboxrd: true }))).toEqual([
      '\x89PNG\n',
      'Subject: b\n\nFrom x\n',
    ]);
  });
});

// What real writers do, each as a small input written here (the kinds: mbox(5) of qmail and mutt, mutt's mbox.c,
// Python's mailbox.mbox, getmail6's Mboxrd destination, neomutt's mboxcl2, Netscape's `From - `).
describe.each(Object.entries(eols))('separators as real writers leave them (%s)', (_name, eol) => {
  const join = (lines: string[]) => lines.join(eol) + eol;

  it('Netscape: `From - ` with no date separates after an empty line; the date is unknown, not a refusal', async () => {
    const text = join(['From - ', 'Subject: one', '', 'first', '', 'From - ', 'Subject: two', '', 'second']);
    const entries = await read(text);
    expect(bodies(entries)).toEqual([
      join(['Subject: one', '', 'first']),
      join(['Subject: two', '', 'second']),
    ]);
    expect(entries.map((e) => (e.kind === 'message' ? e.envelope : undefined))).toEqual([
      { sender: '-', placeholder: false },
      { sender: '-', placeholder: false },
    ]);
  });

  it.each([
    ['From MAILER-DAEMON Mon 1 Jan 2015 00:00:00 +0900', '2014-12-31T15:00:00.000Z'],
    ['From () 2019-10-02 05:04:34 +0000', '2019-10-02T05:04:34.000Z'],
    ['From MAILER-DAEMON Fri Jan 1 00:0:00 2015', '2015-01-01T00:00:00.000Z'],
  ])('a separator in another date form: %s', async (envelope, iso) => {
    const text = join([envelope, 'Subject: one', '', 'a', '', envelope, 'Subject: two', '', 'b']);
    const entries = await read(text);
    expect(bodies(entries)).toHaveLength(2);
    expect(entries.map((e) => (e.kind === 'message' ? e.envelope?.date?.toISOString() : ''))).toEqual([
      iso,
      iso,
    ]);
  });

  it('getmail: a message without a final line end is followed by the next envelope line directly', async () => {
    const text =
      join(['From unknown Sun Dec  6 08:41:36 2026', 'Subject: one', '', 'no final line end']) +
      join(['From unknown Sun Dec  6 08:41:36 2026', 'Subject: two', '', 'second', '']);
    const entries = await read(text);
    // The line end before the envelope line stays: the file cannot say whose it was (the content identity
    // counts a missing final line end as one, so both readings are one message).
    expect(bodies(entries)).toEqual([
      join(['Subject: one', '', 'no final line end']),
      join(['Subject: two', '', 'second']),
    ]);
    expect(notices(entries)).toEqual([]);
    expect(sourceBytes(entries)).toBe(Buffer.byteLength(text));
  });

  it('neomutt (mboxcl2): a Content-Length that ends before the line end the writer added keeps the message exact', async () => {
    // Message two ends with an empty line of its own; neomutt escapes nothing, so `>From` is its own text.
    const two = join(['>From already escaped', '>>From twice', '']);
    const text =
      join([
        'From a@example.net Fri Mar  5 10:00:00 2021',
        'Subject: one',
        'Content-Length: 17',
        '',
        'no final line end',
      ]) +
      join([
        'From a@example.net Sat Mar  6 10:00:00 2021',
        'Subject: two',
        `Content-Length: ${Buffer.byteLength(two)}`,
        '',
      ]) +
      two +
      join(['', 'From a@example.net Sun Mar  7 10:00:00 2021', 'Subject: three', '', 'x']);
    const entries = await read(text);
    expect(bodies(entries)).toEqual([
      `${join(['Subject: one', 'Content-Length: 17', ''])}no final line end`,
      join(['Subject: two', `Content-Length: ${Buffer.byteLength(two)}`, '']) + two,
      join(['Subject: three', '', 'x']),
    ]);
    expect(sourceBytes(entries)).toBe(Buffer.byteLength(text));
  });

  it('a `From ` line after a non-empty line inside an unclosed multipart stays, and is reported', async () => {
    const text = join([
      'From a Tue Jan  1 10:00:00 2002',
      'Subject: one',
      'Content-Type: multipart/mixed;',
      ' boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'forwarded below:',
      'From bob Tue Jan  1 09:00:00 2002',
      'Subject: inner',
      '',
      'inner body',
      '--b1--',
      'From c Tue Jan  1 11:00:00 2002',
      'Subject: two',
      '',
      'second',
    ]);
    const entries = await read(text);
    expect(bodies(entries)).toHaveLength(2);
    expect(bodies(entries)[1]).toBe(join(['Subject: two', '', 'second']));
    expect(notices(entries)).toEqual([
      '#1 line 10: it follows a non-empty line inside a MIME multipart body whose closing boundary has not come',
    ]);
  });

  it('a dated `From ` line with no header after it stays in the body, and is reported', async () => {
    const text = join([
      'From a Tue Jan  1 10:00:00 2002',
      'Subject: one',
      '',
      'text',
      '',
      'From bob Tue Jan  1 10:00:00 2002',
      'not a header',
    ]);
    const entries = await read(text);
    expect(bodies(entries)).toHaveLength(1);
    expect(notices(entries)).toEqual(['#1 line 6: no header field follows it']);
  });

  it('a byte order mark before the first envelope line belongs to the file', async () => {
    const text = `\ufeff${join(['From a Tue Jan  1 10:00:00 2002', 'Subject: one', '', 'x'])}`;
    const entries = await read(text);
    expect(bodies(entries)).toEqual([join(['Subject: one', '', 'x'])]);
    expect(sourceBytes(entries)).toBe(Buffer.byteLength(text));
    expect(startsLikeMbox(Buffer.from(text))).toBe(true);
  });
});

describe('what starts like an mbox', () => {
  it.each([
    ['From a Tue Jan  1 10:00:00 2002\nSubject: x\n', true],
    ['From - \nX-Mozilla-Status: 0001\n', true],
    ['\ufeffFrom () 2019-10-02 05:04:34 +0000\nSubject: x\n', true],
    ['From: a@example.com\nSubject: x\n', false],
    ['From my point of view\nthis is prose\n', false],
    ['From a Tue Jan  1 10:00:00 2002', false],
  ])('%j -> %s', (text, mbox) => expect(startsLikeMbox(Buffer.from(text))).toBe(mbox));
});
