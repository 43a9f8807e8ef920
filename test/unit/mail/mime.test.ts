import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readMessage, readMessageBytes, sanitiseFilename } from '../../../shared/mail/mime';
import { makeMessage, makeMessageWithAttachment } from '../../support/messages';

describe('reading a message for the index', () => {
  it('decodes RFC 2047 subjects and display names, and parses address lists and groups', async () => {
    const summary = await readMessageBytes(
      makeMessage({
        from: '"=?ISO-8859-1?Q?Andr=E9?= Pirard" <PIRARD@vm1.ulg.ac.be>',
        to: 'undisclosed:;, Team: a@x.org, "B, C" <b@x.org>;',
        cc: '=?utf-8?B?5pel5pys6Kqe?= <jp@x.org>',
        subject: '=?utf-8?q?caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?=',
      }),
    );
    expect(summary.headers.subject).toBe('café crème');
    expect(summary.headers.from).toEqual([{ name: 'André Pirard', address: 'PIRARD@vm1.ulg.ac.be' }]);
    expect(summary.headers.to.map((a) => a.address)).toEqual(['a@x.org', 'b@x.org']);
    expect(summary.headers.cc).toEqual([{ name: '日本語', address: 'jp@x.org' }]);
  });

  it('keeps Message-ID, In-Reply-To and References, and the Date as ISO', async () => {
    const summary = await readMessageBytes(
      makeMessage({
        messageId: '<m1@x>',
        date: 'Mon, 2 Mar 2026 08:00:00 -0500 (EST)',
        extraHeaders: ['In-Reply-To: <m0@x>', 'References: <a@x>\r\n <m0@x>'],
      }),
    );
    expect(summary.headers.messageId).toBe('<m1@x>');
    expect(summary.headers.inReplyTo).toBe('<m0@x>');
    expect(summary.headers.references).toEqual(['<a@x>', '<m0@x>']);
    expect(summary.headers.date).toBe('2026-03-02T13:00:00.000Z');
  });

  it('a message past the MIME part limit says so plainly, and counts what it dropped as a lower bound', async () => {
    // 2,000 attachments against 1,000 parts: the splitter stops, so how many were dropped is only known as "at least".
    const parts = Array.from({ length: 2000 }, (_, i) =>
      ['--b1', `Content-Disposition: attachment; filename="f${i}.txt"`, '', 'x'].join('\n'),
    );
    const raw = makeMessage({
      extraHeaders: ['Content-Type: multipart/mixed; boundary="b1"'],
      body: `${parts.join('\n')}\n--b1--\n`,
    });
    const summary = await readMessage(
      (async function* () {
        yield raw;
      })(),
    );
    expect(summary.attachments).toHaveLength(200);
    expect(summary.parseError).toMatch(
      /^more than 1000 MIME parts: the parts after them were not read for the index; at least \d+ attachments beyond the first 200 not indexed$/,
    );
  });

  it('hashes exactly the bytes it was given, however they are chunked', async () => {
    const raw = makeMessageWithAttachment('a.bin', 100_000);
    const expected = createHash('sha256').update(raw).digest('hex');
    async function* oneByteAtFirst() {
      for (let i = 0; i < 1000; i++) yield raw.subarray(i, i + 1);
      yield raw.subarray(1000);
    }
    const summary = await readMessage(oneByteAtFirst());
    expect(summary.sha256).toBe(expected);
    expect(summary.size).toBe(raw.length);
    expect(summary.attachments).toEqual([
      { filename: 'a.bin', contentType: 'application/octet-stream', size: 100_000 },
    ]);
  });

  it('caps hostile headers before decoding them', async () => {
    const hugeTo = Array.from({ length: 20_000 }, (_, i) => `=?utf-8?q?n${i}?= <u${i}@x.org>`).join(',\r\n ');
    const started = Date.now();
    const summary = await readMessageBytes(makeMessage({ to: hugeTo }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(summary.headers.to.length).toBeLessThanOrEqual(100);
  });

  it('records the failure and still hashes the whole message when the head is too large', async () => {
    const raw = makeMessage({ subject: 'x'.repeat(2 * 1024 * 1024) });
    const summary = await readMessageBytes(raw);
    expect(summary.parseError).toMatch(/header size/i);
    expect(summary.sha256).toBe(createHash('sha256').update(raw).digest('hex'));
    expect(summary.size).toBe(raw.length);
  });
});

describe('sanitising names from messages', () => {
  it.each([
    ['../../etc/passwd', 'passwd'],
    ['..\\..\\win.ini', 'win.ini'],
    ['evil\u0000name.txt', 'evilname.txt'],
    ['.htaccess', 'htaccess'],
    ['..', 'attachment'],
    ['', 'attachment'],
    ['=?utf-8?q?..=2F..=2Fboot.ini?=', 'boot.ini'],
    ['a:b|c?.txt', 'a_b_c_.txt'],
  ])('%j -> %j', (input, expected) => {
    expect(sanitiseFilename(input)).toBe(expected);
  });

  it('caps names at 255 UTF-8 bytes', () => {
    expect(Buffer.byteLength(sanitiseFilename('é'.repeat(300)), 'utf8')).toBeLessThanOrEqual(255);
  });
});

describe('bare CR handling, however the bytes are chunked', () => {
  it('reads the same headers from bare-CR mail split at every position', async () => {
    const raw = Buffer.from('Subject: bare\rFrom: a@example.org\r\rbody\rline\r');
    for (let cut = 1; cut < raw.length; cut++) {
      async function* chunks() {
        yield raw.subarray(0, cut);
        yield raw.subarray(cut);
      }
      const summary = await readMessage(chunks());
      expect(summary.headers.subject, `cut at ${cut}`).toBe('bare');
      expect(summary.headers.from[0]?.address, `cut at ${cut}`).toBe('a@example.org');
    }
  });
});

describe('a byte order mark before the header (an editor wrote it)', () => {
  it('does not hide the first field from the index, however the bytes are chunked; the hash is of the bytes', async () => {
    const raw = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('From: a@example.org\r\nSubject: with a mark\r\n\r\nbody\r\n'),
    ]);
    for (let cut = 0; cut <= 4; cut++) {
      async function* chunks() {
        yield raw.subarray(0, cut);
        yield raw.subarray(cut);
      }
      const summary = await readMessage(chunks());
      expect(summary.headers.from[0]?.address, `cut at ${cut}`).toBe('a@example.org');
      expect(summary.headers.subject, `cut at ${cut}`).toBe('with a mark');
      expect(summary.sha256).toBe(createHash('sha256').update(raw).digest('hex'));
      expect(summary.size).toBe(raw.length);
    }
  });
});
