import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ContentHasher, contentSha256 } from '../../../shared/mail/content-identity';
import {
  BareCrToLf,
  findHeaderEnd,
  joinLines,
  type Line,
  readLines,
  splitLines,
  startsWithHeaderField,
  toImapLineEndings,
} from '../../../shared/mail/lines';

const texts = (lines: Line[]) => lines.map((l) => [l.text.toString('latin1'), l.ending]);

async function streamed(input: Buffer, chunkSize: number): Promise<Line[]> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunkSize) chunks.push(input.subarray(i, i + chunkSize));
  const out: Line[] = [];
  for await (const line of readLines(Readable.from(chunks))) out.push(line);
  return out;
}

describe('the one line rule', () => {
  const variants: [string, string][] = [
    ['CRLF', 'a: 1\r\nb: 2\r\n\r\nbody\r\n'],
    ['LF', 'a: 1\nb: 2\n\nbody\n'],
    ['bare CR', 'a: 1\rb: 2\r\rbody\r'],
    ['mixed', 'a: 1\r\nb: 2\n\rbody'],
  ];
  it.each(variants)('%s: four lines with their own endings', (_name, text) => {
    const lines = [...splitLines(Buffer.from(text))];
    expect(lines.map((l) => l.text.toString())).toEqual(['a: 1', 'b: 2', '', 'body']);
    expect(joinLines(lines).toString()).toBe(text);
  });

  it.each(variants)('%s: streamed in chunks of every size gives the same lines', async (_name, text) => {
    const input = Buffer.from(text);
    const whole = texts([...splitLines(input)]);
    for (let size = 1; size <= input.length; size++)
      expect(texts(await streamed(input, size))).toEqual(whole);
  });

  it('a CRLF split across chunks is one ending, not a bare CR and an empty line', async () => {
    const lines = await streamed(Buffer.from('x\r\ny'), 2);
    expect(texts(lines)).toEqual([
      ['x', '\r\n'],
      ['y', ''],
    ]);
  });

  it('finds the header end by the same rule', () => {
    expect(findHeaderEnd(Buffer.from('a: 1\r\n\r\nbody'))).toEqual({ headerEnd: 6, bodyStart: 8 });
    expect(findHeaderEnd(Buffer.from('a: 1\n\nbody'))).toEqual({ headerEnd: 5, bodyStart: 6 });
    expect(findHeaderEnd(Buffer.from('a: 1\r\rbody'))).toEqual({ headerEnd: 5, bodyStart: 6 });
    expect(findHeaderEnd(Buffer.from('a: 1\r\nb: 2'))).toBeUndefined();
  });

  it('tells a header field from other first lines', () => {
    expect(startsWithHeaderField(Buffer.from('Subject: x\n'))).toBe(true);
    expect(startsWithHeaderField(Buffer.from('X-GM-THRID: 1\n'))).toBe(true);
    expect(startsWithHeaderField(Buffer.from('\x89PNG\r\n\x1a\n'))).toBe(false);
    expect(startsWithHeaderField(Buffer.from('Remember the milk: and eggs\n'))).toBe(false);
    expect(startsWithHeaderField(Buffer.from(': no name\n'))).toBe(false);
    expect(startsWithHeaderField(Buffer.alloc(0))).toBe(false);
  });

  it('the content identity is the sha256 with every line ending made LF, whatever the chunks', () => {
    const sha = (text: string) => createHash('sha256').update(text, 'latin1').digest('hex');
    const lf = 'a: 1\nb: 2\n\nbody\n\nend\n';
    const copies = [
      'a: 1\r\nb: 2\r\n\r\nbody\r\n\r\nend\r\n',
      lf,
      'a: 1\rb: 2\r\rbody\r\rend\r',
      'a: 1\r\nb: 2\n\rbody\r\n\rend\n',
    ];
    for (const text of copies) {
      const input = Buffer.from(text, 'latin1');
      expect(contentSha256(input)).toBe(sha(lf));
      // Every split into three chunks, so a CR is cut from its LF at every place it can be.
      for (let i = 0; i <= input.length; i++) {
        for (let j = i; j <= input.length; j++) {
          const hasher = new ContentHasher();
          for (const chunk of [input.subarray(0, i), input.subarray(i, j), input.subarray(j)])
            hasher.update(chunk);
          expect(hasher.digest(), `${JSON.stringify(text)} cut at ${i} and ${j}`).toBe(sha(lf));
        }
      }
    }
    // One byte more than the line endings is another content; so is a line ending where there was none.
    expect(contentSha256(Buffer.from('a: 1\r\nb: 2\r\n\r\nbody!\r\n\r\nend\r\n'))).not.toBe(sha(lf));
    expect(contentSha256(Buffer.from('a: 1\r\nb: 2\r\n\r\nbo\rdy\r\n\r\nend\r\n'))).not.toBe(sha(lf));
    // A CRLF cut between chunks is one line ending, not two; a CR then CRLF is two.
    const split = new ContentHasher();
    split.update(Buffer.from('x\r'));
    split.update(Buffer.from('\r\ny'));
    // (and the message ends with one line end: SMTP carries no message without it)
    expect(split.digest()).toBe(sha('x\n\ny\n'));
  });

  describe('the content rule leaves out what programs write into every copy (rule 2)', () => {
    const original = [
      'Return-Path: <alice@example.net>',
      'Delivered-To: bob@example.com',
      'Received: from mx.example.net by mail.example.com with LMTP id 19; Sun, 04 Apr 2021 08:00:00 +0000',
      'From: Alice <alice@example.net>',
      'Subject: hello',
      '',
      'Status: this line is body text',
      'X-TUID: so is this',
      '',
    ].join('\r\n');
    const same = (copy: string) =>
      expect(contentSha256(Buffer.from(copy, 'latin1'))).toBe(contentSha256(Buffer.from(original, 'latin1')));
    const other = (copy: string) =>
      expect(contentSha256(Buffer.from(copy, 'latin1'))).not.toBe(
        contentSha256(Buffer.from(original, 'latin1')),
      );
    const lf = original.replace(/\r\n/g, '\n');
    const withHeader = (extra: string[], at = 3) => {
      const lines = lf.split('\n');
      lines.splice(at, 0, ...extra);
      return lines.join('\n');
    };

    it('mbsync, offlineimap, getmail, mutt, Thunderbird and Takeout fields', () => {
      same(withHeader(['X-TUID: d7lM0qfSzGRi'], 5));
      same(withHeader(['X-OfflineIMAP: 1234-5678'], 5));
      same(
        withHeader(['Status: RO', 'X-Status: AF', 'Content-Length: 36', 'Lines: 3', 'Tags: $Forwarded'], 5),
      );
      same(
        withHeader(['X-Mozilla-Status: 0001', 'X-Mozilla-Status2: 00000000', 'X-Mozilla-Keys: $label1'], 0),
      );
      same(withHeader(['X-Keywords: Work', 'X-UID: 7'], 5));
      same(withHeader(['X-GM-THRID: 1', 'X-Gmail-Labels: Inbox,"Work, old"'], 0));
      same(withHeader(['X-getmail-retrieved-from-mailbox: INBOX'], 5));
    });

    it('a byte order mark, a missing final line end, refolded fields', () => {
      same(`\ufeff${lf}`.replace('\ufeff', '\xef\xbb\xbf'));
      same(lf.slice(0, -1));
      // Python's email package (getmail) folds a field over 78 characters at a space.
      same(lf.replace('id 19; Sun', 'id 19;\n Sun'));
    });

    it("getmail's trace on top: its Return-Path is the message's own (moved), unless it says <unknown>", () => {
      const getmail = [
        'Return-Path: <alice@example.net>',
        'Delivered-To: bob@example.com',
        'Received: from 127.0.0.1 (127.0.0.1:42685) by localhost with IMAP4 getmail6',
        '  msgid:1796546487/1; 06 Dec 2026 08:41:36 -0000',
      ];
      same([...getmail, ...lf.split('\n').slice(1)].join('\n'));
      const appended = lf.split('\n').slice(1).join('\n');
      expect(
        contentSha256(Buffer.from(['Return-Path: <unknown>', ...getmail.slice(1), appended].join('\n'))),
      ).toBe(contentSha256(Buffer.from(appended)));
      // fetchmail's delivery adds trace above its own Received: all of it is the fetch's.
      same(
        [
          'Return-Path: <local@localhost>',
          'Received: from localhost by box with ESMTP; Mon, 7 Dec 2026 10:00:00 +0000',
          'Received: from mail.example.com [1.2.3.4] by box with IMAP (fetchmail-6.4.37) for <bob@localhost> (single-drop); Mon, 07 Dec 2026 10:00:00 +0000 (UTC)',
          lf,
        ].join('\n'),
      );
    });

    it('what the message says is never left out', () => {
      other(lf.replace('Subject: hello', 'Subject: hello!'));
      other(lf.replace('Status: this line is body text', 'this line is body text'));
      other(withHeader(['X-Spam-Status: No'], 5));
      other(withHeader(['Received: from a by b; Mon, 7 Dec 2026 10:00:00 +0000'], 0));
      other(lf.replace('Subject: hello', 'Subject: hel lo'));
      other(lf.replace('body text', 'body  text'));
    });

    it('a header block over 256 KiB is read by the line rule only, whatever the chunks', () => {
      const big = Buffer.from(`X-TUID: a\r\n${'X-Big: y\r\n'.repeat(30_000)}\r\nbody\r\n`);
      const lfOnly = createHash('sha256').update(big.toString('latin1').replace(/\r\n/g, '\n')).digest('hex');
      expect(contentSha256(big)).toBe(lfOnly);
      const hasher = new ContentHasher();
      for (let i = 0; i < big.length; i += 65_536) hasher.update(big.subarray(i, i + 65_536));
      expect(hasher.digest()).toBe(lfOnly);
    });

    it('empty lines at the very end are not content (mbox writers add or drop the separating one)', () => {
      same(`${lf}\n`);
      same(`${lf}\r\n\r\n`);
      other(`${lf} \n`);
    });
  });

  it('BareCrToLf turns only bare CRs into LF, across chunk boundaries', () => {
    const filter = new BareCrToLf();
    const out = Buffer.concat([
      filter.transform(Buffer.from('a\r')),
      filter.transform(Buffer.from('\nb\r')),
      filter.transform(Buffer.from('c\r')),
      filter.flush(),
    ]);
    expect(out.toString()).toBe('a\r\nb\nc\n');
  });
});

describe('toImapLineEndings', () => {
  it('writes bare LF and bare CR as CRLF and leaves CRLF, NUL and 8-bit bytes alone', () => {
    const cases: [string, string][] = [
      ['a\r\nb\r\n', 'a\r\nb\r\n'],
      ['a\nb\n', 'a\r\nb\r\n'],
      ['a\rb\r', 'a\r\nb\r\n'],
      ['a\r\nb\nc\rd', 'a\r\nb\r\nc\r\nd'],
      ['\n\r', '\r\n\r\n'],
      ['x\u0000\u00ff\r\r\n', 'x\u0000\u00ff\r\n\r\n'],
    ];
    for (const [input, expected] of cases) {
      expect(toImapLineEndings(Buffer.from(input, 'latin1')).toString('latin1'), JSON.stringify(input)).toBe(
        expected,
      );
    }
  });
});
