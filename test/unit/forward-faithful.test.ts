// The SES copy is the original with only the rewritten fields changed: bare-CR mail, 8-bit display names,
// long From fields, bounces without an address, and header lines that are not fields.
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import {
  FORWARD_TRACE_FIELD,
  MALFORMED_LINE_FIELD,
  MAX_LINE_OCTETS,
  rewriteForForwarding,
  splitHeaderBlock,
} from '../../shared/forwarding/rewrite';
import { splitLines } from '../../shared/lines';
import { parseAddresses } from '../../shared/mime';

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
  it('reads a bare-CR message by the line rule: From rewritten, Reply-To set, body byte for byte', () => {
    const raw = Buffer.from(
      'From: Ann <ann@sender.example.org>\rTo: alice@example.com\rSubject: mac mail\rDKIM-Signature: v=1; b=x\r\rline 1\rline 2\r',
    );
    const copy = rewrite(raw);
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

  it('decodes an 8-bit Latin-1 name with the declared charset and carries its original bytes unchanged', () => {
    const fromValue = iconv.encode(' André Müller <andre@example.de>', 'latin1');
    const raw = Buffer.concat([
      Buffer.from('From:'),
      fromValue,
      Buffer.from('\r\nSubject: x\r\nContent-Type: text/plain; charset="ISO-8859-1"\r\n\r\nbody\r\n'),
    ]);
    const copy = rewrite(raw);
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

  it('decodes KOI8-R names, raw 8-bit (declared charset) or as encoded words', () => {
    const name = 'Пётр Иванов';
    const raw8bit = Buffer.concat([
      Buffer.from('From: '),
      iconv.encode(name, 'koi8-r'),
      Buffer.from(' <petr@example.ru>\nContent-Type: text/plain; charset=koi8-r\n\nтело\n'),
    ]);
    expect(decodedFrom(rewrite(raw8bit).raw)?.name).toBe(`${name} via example.com`);
    const encoded = Buffer.from(
      `From: =?koi8-r?B?${iconv.encode(name, 'koi8-r').toString('base64')}?= <petr@example.ru>\n\nbody\n`,
    );
    const copy = rewrite(encoded);
    expect(decodedFrom(copy.raw)?.name).toBe(`${name} via example.com`);
    expect(fieldBytes(copy.raw, 'X-Original-From')?.toString()).toBe(
      `X-Original-From: =?koi8-r?B?${iconv.encode(name, 'koi8-r').toString('base64')}?= <petr@example.ru>\n`,
    );
  });

  it('folds every field it writes: a legal 1,000-octet display name gives no line over 998 octets', () => {
    const words = Array.from({ length: 100 }, (_, i) => `Name${String(i).padStart(4, '0')}`);
    // Folded in the original, as RFC 5322 requires.
    const from = `From: "${words.slice(0, 50).join(' ')}\r\n ${words.slice(50).join(' ')}" <long@example.org>`;
    const unfoldedLine = `From: "${words.join(' ')}" <long@example.org>`;
    for (const header of [from, unfoldedLine]) {
      const copy = rewrite(Buffer.from(`${header}\r\nSubject: long\r\n\r\nbody\r\n`));
      const head = copy.raw.subarray(0, copy.raw.indexOf('\r\n\r\n') + 2);
      for (const line of splitLines(head)) expect(line.text.length).toBeLessThanOrEqual(MAX_LINE_OCTETS);
      expect(decodedFrom(copy.raw)?.name).toBe(`${words.join(' ')} via example.com`);
      expect(fieldBytes(copy.raw, 'Reply-To')).toBeDefined();
    }
  });

  it('adds Reply-To only when the original From holds a valid address', () => {
    for (const from of ['MAILER-DAEMON <>', 'undisclosed-recipients:;', 'nobody', '"Broken" <no-at-sign>']) {
      const copy = rewrite(Buffer.from(`From: ${from}\r\nSubject: bounce\r\n\r\nbody\r\n`));
      expect(fieldBytes(copy.raw, 'Reply-To'), from).toBeUndefined();
      expect(fieldBytes(copy.raw, 'X-Original-From')?.toString()).toBe(`X-Original-From: ${from}\r\n`);
    }
    const copy = rewrite(Buffer.from('Subject: no from at all\r\n\r\nbody\r\n'));
    expect(fieldBytes(copy.raw, 'Reply-To')).toBeUndefined();
    expect(decodedFrom(copy.raw)?.name).toBe('unknown sender via example.com');
  });

  it('never drops a header-block line that is not a field: its bytes are carried, and the change is recorded', () => {
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
    const copy = rewrite(raw);
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

  it('a From line it must cut with no space to cut at is cut between UTF-8 characters, never inside one', () => {
    // 400 three-octet characters and no space: the carried lines must be cut hard, and each piece stays UTF-8.
    const name = '中'.repeat(400);
    const copy = rewrite(Buffer.from(`From: ${name} <cjk@example.cn>\r\nSubject: x\r\n\r\nbody\r\n`));
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

  it('reads a name that is not valid in the declared UTF-8 as unlabelled 8-bit text, never as U+FFFD', () => {
    const raw = Buffer.concat([
      Buffer.from('From: '),
      iconv.encode('José Müller', 'latin1'),
      Buffer.from(' <jose@example.es>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody\r\n'),
    ]);
    const copy = rewrite(raw);
    expect(decodedFrom(copy.raw)?.name).toBe('José Müller via example.com');
    expect(copy.raw.includes('\uFFFD')).toBe(false);
  });

  it('reads an 8-bit name of a message without a top-level charset in the charset the message itself names', () => {
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
    expect(decodedFrom(rewrite(multipart).raw)?.name).toBe(`${name} via example.com`);
    // No charset anywhere but the encoded Subject the same program wrote.
    const subjectOnly = Buffer.concat([
      from,
      Buffer.from(
        `Subject: =?koi8-r?B?${iconv.encode('привет', 'koi8-r').toString('base64')}?=\r\n\r\nbody\r\n`,
      ),
    ]);
    expect(decodedFrom(rewrite(subjectOnly).raw)?.name).toBe(`${name} via example.com`);
  });

  it('a name cannot reverse or hide the "via" part: bidi formatting and C1 controls are taken out', () => {
    for (const [name, shown] of [
      ['\u202eelgooG', 'elgooG'],
      ['Ann\u2066\u202e Sender\u2069', 'Ann Sender'],
      ['Ann\u009b2J Sender', 'Ann 2J Sender'],
    ] as const) {
      const copy = rewrite(Buffer.from(`From: "${name}" <ann@example.org>\r\nSubject: x\r\n\r\nbody\r\n`));
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
