// The SES copy is the original with only the rewritten fields changed: bare-CR mail, 8-bit display names,
// long From fields, bounces without an address, and header lines that are not fields.
import iconv from 'iconv-lite';
import libbase64 from 'libbase64';
import libqp from 'libqp';
import { type ParsedMail, simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { LONG_LINE_CHANGE, longestLine } from '../../../shared/forwarding/long-lines';
import {
  FORWARD_TRACE_FIELD,
  MALFORMED_LINE_FIELD,
  rewriteForForwarding,
} from '../../../shared/forwarding/rewrite';
import { MAX_LINE_OCTETS, splitHeaderBlock } from '../../../shared/mail/header-block';
import { BareCrToLf, splitLines } from '../../../shared/mail/lines';
import { parseAddresses } from '../../../shared/mail/mime';

const rewrite = (raw: Buffer) =>
  rewriteForForwarding({
    raw,
    fromAddress: 'forwarder@example.com',
    envelopeRecipient: 'alice@example.com',
    trace: 'key; example.com',
  });

/** The raw bytes of a field of the rewritten copy (every folded line, line endings included). */
function fieldBytes(raw: Buffer, name: string): Buffer | undefined {
  return splitHeaderBlock(raw).fields.find((f) => f.name.toLowerCase() === name.toLowerCase())?.raw;
}

const decodedFrom = (raw: Buffer) => {
  const from = fieldBytes(raw, 'From')?.toString('latin1') ?? '';
  return parseAddresses(from.slice(5).replace(/\r?\n|\r/g, ''))[0];
};

describe('the SES copy of hard messages', () => {
  it('reads a bare-CR message by the line rule: From rewritten, Reply-To set, body byte for byte', async () => {
    const raw = Buffer.from(
      'From: Ann <ann@sender.example.org>\rTo: alice@example.com\rSubject: mac mail\rDKIM-Signature: v=1; b=x\r\rline 1\rline 2\r',
    );
    const copy = await rewrite(raw);
    expect(decodedFrom(copy.raw)).toEqual({ name: 'Ann via example.com', address: 'forwarder@example.com' });
    expect(fieldBytes(copy.raw, 'Reply-To')?.toString()).toBe('Reply-To: Ann <ann@sender.example.org>\r');
    expect(fieldBytes(copy.raw, 'Subject')?.toString()).toBe('Subject: mac mail\r');
    expect(fieldBytes(copy.raw, 'DKIM-Signature')).toBeUndefined();
    expect(
      copy.raw.subarray(copy.raw.indexOf('\r\rline 1')).equals(raw.subarray(raw.indexOf('\r\rline 1'))),
    ).toBe(true);
    // Every line of the copy ends in a lone CR, like the original's.
    expect(copy.raw.includes('\n')).toBe(false);
  });

  it('decodes an 8-bit Latin-1 name with the declared charset and carries its original bytes unchanged', async () => {
    const fromValue = iconv.encode(' André Müller <andre@example.de>', 'latin1');
    const raw = Buffer.concat([
      Buffer.from('From:'),
      fromValue,
      Buffer.from('\r\nSubject: x\r\nContent-Type: text/plain; charset="ISO-8859-1"\r\n\r\nbody\r\n'),
    ]);
    const copy = await rewrite(raw);
    expect(decodedFrom(copy.raw)?.name).toBe('André Müller via example.com');
    expect(copy.raw.includes('\uFFFD')).toBe(false);
    for (const name of ['Reply-To', 'X-Original-From']) {
      expect(
        fieldBytes(copy.raw, name)?.equals(
          Buffer.concat([Buffer.from(`${name}:`), fromValue, Buffer.from('\r\n')]),
        ),
      ).toBe(true);
    }
  });

  it('decodes KOI8-R names, raw 8-bit (declared charset) or as encoded words', async () => {
    const name = 'Пётр Иванов';
    const raw8bit = Buffer.concat([
      Buffer.from('From: '),
      iconv.encode(name, 'koi8-r'),
      Buffer.from(' <petr@example.ru>\nContent-Type: text/plain; charset=koi8-r\n\nтело\n'),
    ]);
    expect(decodedFrom((await rewrite(raw8bit)).raw)?.name).toBe(`${name} via example.com`);
    const encoded = Buffer.from(
      `From: =?koi8-r?B?${iconv.encode(name, 'koi8-r').toString('base64')}?= <petr@example.ru>\n\nbody\n`,
    );
    const copy = await rewrite(encoded);
    expect(decodedFrom(copy.raw)?.name).toBe(`${name} via example.com`);
    expect(fieldBytes(copy.raw, 'X-Original-From')?.toString()).toBe(
      `X-Original-From: =?koi8-r?B?${iconv.encode(name, 'koi8-r').toString('base64')}?= <petr@example.ru>\n`,
    );
  });

  it('folds every field it writes: a legal 1,000-octet display name gives no line over 998 octets', async () => {
    const words = Array.from({ length: 100 }, (_, i) => `Name${String(i).padStart(4, '0')}`);
    // Folded in the original, as RFC 5322 requires.
    const from = `From: "${words.slice(0, 50).join(' ')}\r\n ${words.slice(50).join(' ')}" <long@example.org>`;
    const unfoldedLine = `From: "${words.join(' ')}" <long@example.org>`;
    for (const header of [from, unfoldedLine]) {
      const copy = await rewrite(Buffer.from(`${header}\r\nSubject: long\r\n\r\nbody\r\n`));
      const head = copy.raw.subarray(0, copy.raw.indexOf('\r\n\r\n') + 2);
      for (const line of splitLines(head)) expect(line.text.length).toBeLessThanOrEqual(MAX_LINE_OCTETS);
      expect(decodedFrom(copy.raw)?.name).toBe(`${words.join(' ')} via example.com`);
      expect(fieldBytes(copy.raw, 'Reply-To')).toBeDefined();
    }
  });

  it('adds Reply-To only when the original From holds a valid address', async () => {
    for (const from of ['MAILER-DAEMON <>', 'undisclosed-recipients:;', 'nobody', '"Broken" <no-at-sign>']) {
      const copy = await rewrite(Buffer.from(`From: ${from}\r\nSubject: bounce\r\n\r\nbody\r\n`));
      expect(fieldBytes(copy.raw, 'Reply-To'), from).toBeUndefined();
      expect(fieldBytes(copy.raw, 'X-Original-From')?.toString()).toBe(`X-Original-From: ${from}\r\n`);
    }
    const copy = await rewrite(Buffer.from('Subject: no from at all\r\n\r\nbody\r\n'));
    expect(fieldBytes(copy.raw, 'Reply-To')).toBeUndefined();
    expect(decodedFrom(copy.raw)?.name).toBe('unknown sender via example.com');
  });

  it('never drops a header-block line that is not a field: its bytes are carried, and the change is recorded', async () => {
    // A malformed message: a MIME boundary and a body line sit in the header block (no empty line before them).
    const raw = Buffer.from(
      [
        'From: Ann <ann@sender.example.org>',
        'Subject: broken',
        'Content-Type: multipart/mixed; boundary="b1"',
        '--b1',
        'this line belongs to the body',
        '\tand its continuation',
        'From bob@example.org Mon Jan  1 00:00:00 2026',
        '',
        'rest',
        '--b1--',
        '',
      ].join('\n'),
    );
    const copy = await rewrite(raw);
    const text = copy.raw.toString();
    expect(text).toContain(`\n${MALFORMED_LINE_FIELD}: --b1\n`);
    expect(text).toContain(
      `\n${MALFORMED_LINE_FIELD}: this line belongs to the body\n\tand its continuation\n`,
    );
    expect(text).toContain(
      `\n${MALFORMED_LINE_FIELD}: From bob@example.org Mon Jan  1 00:00:00 2026\n\nrest\n`,
    );
    expect(copy.changes).toEqual([
      `header item 4 is not a field: carried in ${MALFORMED_LINE_FIELD}`,
      `header item 5 is not a field: carried in ${MALFORMED_LINE_FIELD}`,
      `header item 6 is not a field: carried in ${MALFORMED_LINE_FIELD}`,
    ]);
    // Nothing else moved: the trace field comes first, the kept fields follow in their order.
    const names = splitHeaderBlock(copy.raw).fields.map((f) => f.name);
    expect(names.slice(names.indexOf(FORWARD_TRACE_FIELD) + 1)).toEqual([
      'Subject',
      'Content-Type',
      MALFORMED_LINE_FIELD,
      MALFORMED_LINE_FIELD,
      MALFORMED_LINE_FIELD,
    ]);
  });

  it('a From line it must cut with no space to cut at is cut between UTF-8 characters, never inside one', async () => {
    // 400 three-octet characters and no space: the carried lines must be cut hard, and each piece stays UTF-8.
    const name = '中'.repeat(400);
    const copy = await rewrite(Buffer.from(`From: ${name} <cjk@example.cn>\r\nSubject: x\r\n\r\nbody\r\n`));
    const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
    for (const field of ['Reply-To', 'X-Original-From']) {
      const bytes = fieldBytes(copy.raw, field) as Buffer;
      const lines = [...splitLines(bytes)].filter((l) => l.text.length > 0);
      expect(lines.length, field).toBeGreaterThan(1);
      for (const line of lines) {
        expect(line.text.length).toBeLessThanOrEqual(MAX_LINE_OCTETS);
        expect(() => strictUtf8.decode(line.text), field).not.toThrow();
      }
      // Unfolded, only the inserted folding space differs from the original name.
      const unfolded = bytes.toString('utf8').replace(/\r\n /g, '');
      expect(unfolded).toContain(`${name} <cjk@example.cn>`);
    }
  });

  it('reads a name that is not valid in the declared UTF-8 as unlabelled 8-bit text, never as U+FFFD', async () => {
    const raw = Buffer.concat([
      Buffer.from('From: '),
      iconv.encode('José Müller', 'latin1'),
      Buffer.from(' <jose@example.es>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody\r\n'),
    ]);
    const copy = await rewrite(raw);
    expect(decodedFrom(copy.raw)?.name).toBe('José Müller via example.com');
    expect(copy.raw.includes('\uFFFD')).toBe(false);
  });

  it('reads an 8-bit name of a message without a top-level charset in the charset the message itself names', async () => {
    const name = 'Иван Петров';
    const from = Buffer.concat([
      Buffer.from('From: '),
      iconv.encode(name, 'koi8-r'),
      Buffer.from(' <ivan@example.ru>\r\n'),
    ]);
    // A multipart message: the charset is declared by its text part only.
    const multipart = Buffer.concat([
      from,
      Buffer.from('MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'),
      Buffer.from('Content-Type: text/plain; charset="KOI8-R"\r\n\r\n'),
      iconv.encode('текст', 'koi8-r'),
      Buffer.from('\r\n--b1--\r\n'),
    ]);
    expect(decodedFrom((await rewrite(multipart)).raw)?.name).toBe(`${name} via example.com`);
    // No charset anywhere but the encoded Subject the same program wrote.
    const subjectOnly = Buffer.concat([
      from,
      Buffer.from(
        `Subject: =?koi8-r?B?${iconv.encode('привет', 'koi8-r').toString('base64')}?=\r\n\r\nbody\r\n`,
      ),
    ]);
    expect(decodedFrom((await rewrite(subjectOnly)).raw)?.name).toBe(`${name} via example.com`);
  });

  it('a name cannot reverse or hide the "via" part: bidi formatting and C1 controls are taken out', async () => {
    for (const [name, shown] of [
      ['\u202eelgooG', 'elgooG'],
      ['Ann\u2066\u202e Sender\u2069', 'Ann Sender'],
      ['Ann\u009b2J Sender', 'Ann 2J Sender'],
    ] as const) {
      const copy = await rewrite(
        Buffer.from(`From: "${name}" <ann@example.org>\r\nSubject: x\r\n\r\nbody\r\n`),
      );
      expect(decodedFrom(copy.raw)?.name, JSON.stringify(name)).toBe(`${shown} via example.com`);
    }
  });

  it('splits and joins any input back to the same bytes', () => {
    for (const raw of [
      Buffer.from('A: 1\r\nB: 2\n\tx\rC: 3\r\r\nbody'),
      Buffer.from('\r\nno header'),
      Buffer.from('not a field\n: empty\n x\n\nbody\n'),
    ]) {
      const split = splitHeaderBlock(raw);
      expect(Buffer.concat([...split.fields.map((f) => f.raw), split.body]).equals(raw)).toBe(true);
    }
  });
});

/** What a recipient's mail program reads: text, HTML and every attachment's decoded bytes (mailparser). */
async function decodedParts(raw: Buffer) {
  // mailparser knows CRLF and LF; a bare-CR message is read as the line rule reads it.
  const lf = new BareCrToLf();
  const mail: ParsedMail = await simpleParser(Buffer.concat([lf.transform(raw), lf.flush()]));
  return {
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    attachments: mail.attachments.map((a) => [a.contentType, a.content.toString('base64')]),
  };
}

const lineChanges = (changes: string[] | undefined) =>
  (changes ?? []).filter((c) => c.startsWith(LONG_LINE_CHANGE));

describe('lines over 998 octets in the SES copy (SES refuses them: "552 message line is too long")', () => {
  const long = (word: string, octets: number) =>
    Array.from({ length: Math.ceil(octets / (word.length + 1)) }, () => word).join(' ');

  async function fitted(raw: Buffer) {
    const copy = await rewrite(raw);
    expect(longestLine(copy.raw)).toBeLessThanOrEqual(MAX_LINE_OCTETS);
    expect(await decodedParts(copy.raw)).toEqual(await decodedParts(raw));
    return copy;
  }

  for (const cte of ['7bit', '8bit', '']) {
    it(`re-encodes a long text line of a single-part ${cte || 'no-CTE'} message as quoted-printable`, async () => {
      const line = `${long('Grüße', 1500)}=end `;
      const raw = Buffer.concat([
        Buffer.from(
          `From: a@b.example\r\nSubject: long\r\nContent-Type: text/plain; charset=utf-8\r\n${cte ? `Content-Transfer-Encoding: ${cte}\r\n` : ''}\r\nshort\r\n`,
        ),
        Buffer.from(`${line}\r\nlast\r\n`, cte === '7bit' ? 'latin1' : 'utf8'),
      ]);
      const copy = await fitted(raw);
      const text = copy.raw.toString('latin1');
      expect(text).toContain('\r\nContent-Transfer-Encoding: quoted-printable\r\n');
      expect(text.match(/Content-Transfer-Encoding/g)).toHaveLength(1);
      expect(lineChanges(copy.changes)).toEqual([
        expect.stringMatching(/the body of the message \(text\/plain.*re-encoded as quoted-printable/),
      ]);
    });
  }

  it('re-encodes only the multipart text part with the long line; every other part is byte for byte', async () => {
    const attachment = [
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      '',
      'AAECAw==',
      '',
    ].join('\r\n');
    const html = ['--b', 'Content-Type: text/html', '', '<p>short</p>', ''].join('\r\n');
    const raw = Buffer.from(
      [
        'From: a@b.example',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b"',
        '',
        'preamble',
        '--b',
        'Content-Type: text/plain; charset=us-ascii',
        'Content-Transfer-Encoding: 7bit',
        '',
        long('word', 2000),
        `${html}${attachment}--b--`,
        '',
      ].join('\r\n'),
    );
    const copy = await fitted(raw);
    expect(copy.raw.includes(Buffer.from(`\r\n${html}${attachment}--b--\r\n`))).toBe(true);
    expect(copy.raw.toString().match(/Content-Transfer-Encoding: quoted-printable\r\n/g)).toHaveLength(1);
    expect(lineChanges(copy.changes)).toEqual([
      expect.stringMatching(/the body of part 1 \(text\/plain, 7bit/),
    ]);
  });

  it('re-wraps a base64 attachment written as one long line at 76 characters', async () => {
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
    const raw = Buffer.from(
      [
        'From: a@b.example',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b"',
        '',
        '--b',
        'Content-Type: text/plain',
        '',
        'see attached',
        '--b',
        'Content-Type: application/octet-stream; name="x.bin"',
        'Content-Transfer-Encoding: base64',
        '',
        bytes.toString('base64'),
        '--b--',
        '',
      ].join('\n'),
    );
    const copy = await fitted(raw);
    const body =
      copy.raw.toString().split('Content-Transfer-Encoding: base64\n\n')[1]?.split('\n--b--')[0] ?? '';
    expect(body.split('\n').every((l) => l.length <= 76)).toBe(true);
    expect(libbase64.decode(body.replace(/\n/g, '')).equals(bytes)).toBe(true);
    // The message's own LF line ending, not a CRLF from the encoder.
    expect(copy.raw.includes('\r')).toBe(false);
    expect(lineChanges(copy.changes)).toEqual([
      expect.stringMatching(/the body of part 2 \(application\/octet-stream, base64.*re-wrapped/),
    ]);
  });

  it('re-wraps a quoted-printable part whose encoder wrote long lines with soft line breaks', async () => {
    const content = Buffer.from(`${long('caf\u00e9=', 3000)}\r\nsecond line\r\n`, 'latin1');
    const raw = Buffer.concat([
      Buffer.from(
        'From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
      ),
      Buffer.from(libqp.encode(content)),
    ]);
    expect(longestLine(raw)).toBeGreaterThan(MAX_LINE_OCTETS);
    const copy = await fitted(raw);
    const body = copy.raw.subarray(copy.raw.indexOf('\r\n\r\n') + 4);
    expect(libqp.decode(body).equals(content)).toBe(true);
    expect(lineChanges(copy.changes)).toEqual([expect.stringMatching(/quoted-printable.*re-wrapped/)]);
  });

  it('folds a long kept header field at whitespace, unfolding to the same value', async () => {
    const value = long('keyword,', 1500);
    const raw = Buffer.from(`From: a@b.example\r\nKeywords: ${value}\r\nSubject: s\r\n\r\nbody\r\n`);
    const copy = await fitted(raw);
    const field = fieldBytes(copy.raw, 'Keywords')?.toString() ?? '';
    expect(field.replace(/\r\n(?=[ \t])/g, '')).toBe(`Keywords: ${value}\r\n`);
    // Everything after the header block is the original's.
    expect(copy.raw.subarray(-8).toString()).toBe('\r\nbody\r\n');
    expect(lineChanges(copy.changes)).toEqual([
      expect.stringMatching(/Keywords of the message .*folded at whitespace/),
    ]);
  });

  it('cuts a kept field with no whitespace to fold at, and says so', async () => {
    const raw = Buffer.from(`From: a@b.example\r\nX-Token: ${'x'.repeat(1500)}\r\n\r\nbody\r\n`);
    const copy = await rewrite(raw);
    expect(longestLine(copy.raw)).toBeLessThanOrEqual(MAX_LINE_OCTETS);
    expect(lineChanges(copy.changes)).toEqual([
      expect.stringMatching(/X-Token .*no whitespace to fold at, cut/),
    ]);
  });

  it('fits a long line of a bare-CR message and keeps every line ending a lone CR', async () => {
    const raw = Buffer.from(`From: a@b.example\rSubject: mac\r\rshort\r${long('mot', 1200)}\rend\r`);
    const copy = await fitted(raw);
    expect(copy.raw.includes('\n')).toBe(false);
    expect(copy.raw.toString()).toContain(
      '\rMIME-Version: 1.0\rContent-Transfer-Encoding: quoted-printable\r\r',
    );
    expect(lineChanges(copy.changes)).toHaveLength(1);
  });

  it('changes nothing in a message whose lines all fit (998 octets is allowed)', async () => {
    const raw = Buffer.from(`From: a@b.example\r\nSubject: s\r\n\r\n${'y'.repeat(998)}\r\n`);
    const copy = await rewrite(raw);
    expect(copy.raw.subarray(-1002).equals(raw.subarray(-1002))).toBe(true);
    expect(lineChanges(copy.changes)).toEqual([]);
  });
});
