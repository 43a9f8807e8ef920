import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type MboxEntry, parseEnvelopeLine, readMboxMessages } from '../../shared/bundle/mbox-reader';

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
  entries.map((e) => (e.kind === 'message' ? e.raw.toString('utf8') : '<empty>'));
const eols = { LF: '\n', CRLF: '\r\n', CR: '\r' } as const;

describe('envelope lines', () => {
  it.each([
    ['From alice@example.com Tue Jan  1 10:00:00 2002', '2002-01-01T10:00:00.000Z', 'alice@example.com'],
    ['From 1802345@xxx Sat Jun 07 14:02:11 +0000 2025', '2025-06-07T14:02:11.000Z', '1802345@xxx'],
    ['From 1802345@xxx Sat Jun 07 14:02:11 +0200 2025', '2025-06-07T12:02:11.000Z', '1802345@xxx'],
    ['From - Sat Jun 07 14:02:11 2025', '2025-06-07T14:02:11.000Z', '-'],
    ['From MAILER-DAEMON Fri Feb 29 23:59:59 2002 -0500', undefined, undefined], // not a leap year
    ['From bob Mon Mar  4 01:02:03 1958', '1958-03-04T01:02:03.000Z', 'bob'],
    ['From bob Mon Mar  4 01:02 2002 remote from uunet', '2002-03-04T01:02:00.000Z', 'bob'],
    ['From bob Wed Jan  1 00:00:00 2300', '2300-01-01T00:00:00.000Z', 'bob'],
  ])('%s', (line, iso, sender) => {
    const parsed = parseEnvelopeLine(line);
    expect(parsed?.date.toISOString()).toBe(iso);
    expect(parsed?.sender).toBe(sender);
  });

  it('the 1970 placeholder of list archives is marked, other dates are not', () => {
    expect(parseEnvelopeLine('From list@example.org Thu Jan  1 00:00:00 1970')?.placeholder).toBe(true);
    expect(parseEnvelopeLine('From a Tue Jan  1 10:00:00 2002')?.placeholder).toBe(false);
  });

  it.each([
    'From my point of view, this is fine',
    'From here on we talk about 2002',
    'From: alice@example.com',
  ])('is not an envelope line: %s', (line) => expect(parseEnvelopeLine(line)).toBeUndefined());
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
    expect(entries.map((e) => (e.kind === 'message' ? e.envelope?.date.toISOString() : ''))).toEqual([
      '2002-01-01T10:00:00.000Z',
      '2002-01-02T10:00:00.000Z',
    ]);
  });

  it.each([
    ['a sentence', ['', 'From my point of view, this is fine.', 'more']],
    [
      'a dated sentence not after an empty line',
      ['text', 'From bob Tue Jan  1 10:00:00 2002', 'Subject: quoted'],
    ],
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
    expect(entries).toHaveLength(1);
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
    expect(entries).toHaveLength(2);
    expect(bodies(entries)[0]).toBe(
      join([`Content-Length: ${Buffer.byteLength(body)}`, 'Subject: one', '']) + body,
    );
    expect(bodies(entries)[1]).toBe(join(['Subject: three', '', 'x']));
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
    expect(entries.reduce((n, e) => n + e.sourceBytes, 0)).toBe(Buffer.byteLength(text));
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
