import { readFileSync } from 'node:fs';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { SesSender } from '../../../shared/adapters/ses-sender';
import { SendError } from '../../../shared/forwarding/errors';
import { LONG_LINE_CHANGE, longestLine } from '../../../shared/forwarding/long-lines';
import { contentBlocker, forwardBlocker } from '../../../shared/forwarding/policy';
import {
  asciiEnvelopeAddress,
  FORWARD_TRACE_FIELD,
  forwardedFrom,
  MALFORMED_LINE_FIELD,
  rewriteForForwarding,
  SINGLE_INSTANCE_FIELDS,
} from '../../../shared/forwarding/rewrite';
import type { DeliveryRow } from '../../../shared/index/schema';
import {
  fieldValue,
  type HeaderField,
  MAX_LINE_OCTETS,
  splitHeaderBlock,
} from '../../../shared/mail/header-block';
import { exampleConfig } from '../../support/config';
import { corporaPresent, corporaSkipReason, corpusMessages, corpusName } from '../../support/corpora';

const FROM = 'forwarder@example.com';

function rewrite(raw: Buffer) {
  return rewriteForForwarding({
    raw,
    fromAddress: FROM,
    envelopeRecipient: 'alice@example.com',
    trace: 'key; example.com',
  });
}

/** The rewrite may change only From, Reply-To, the added X- fields and the removed fields; nothing else. */
function assertOnlyRewrittenHeadersDiffer(original: Buffer, rewritten: Buffer, where: string) {
  const before = splitHeaderBlock(original);
  const after = splitHeaderBlock(rewritten);
  expect(after.body.equals(before.body), `${where}: body changed`).toBe(true);
  const removable = new Set(['from', 'return-path', 'sender', 'dkim-signature', 'domainkey-signature']);
  // The rewrite puts its own fields first; everything after them must be the original fields, in order,
  // less the removed ones and repeated single-instance ones; a line that was not a field is carried in place.
  const first = after.fields.findIndex((f) => f.name === FORWARD_TRACE_FIELD) + 1;
  expect(first, `${where}: no trace field`).toBeGreaterThan(0);
  const same = (b: HeaderField | undefined, a: HeaderField) =>
    a.name === MALFORMED_LINE_FIELD ? b?.name === '' : Boolean(b?.raw.equals(a.raw));
  let i = 0;
  for (const field of after.fields.slice(first)) {
    while (i < before.fields.length && !same(before.fields[i], field)) {
      const name = before.fields[i]?.name.toLowerCase() ?? '';
      expect(removable.has(name) || SINGLE_INSTANCE_FIELDS.has(name), `${where}: dropped ${name}`).toBe(true);
      i++;
    }
    expect(i < before.fields.length, `${where}: ${field.name} is not an original field`).toBe(true);
    i++;
  }
  for (; i < before.fields.length; i++) {
    const name = before.fields[i]?.name.toLowerCase() ?? '';
    expect(removable.has(name) || SINGLE_INSTANCE_FIELDS.has(name), `${where}: dropped ${name}`).toBe(true);
  }
}

/** What SES checks: no repeated single-instance field, a From that is the verified identity. */
function assertSesAcceptable(rewritten: Buffer, where: string) {
  const { fields } = splitHeaderBlock(rewritten);
  const counts = new Map<string, number>();
  for (const f of fields) counts.set(f.name.toLowerCase(), (counts.get(f.name.toLowerCase()) ?? 0) + 1);
  for (const [name, count] of counts) {
    if (SINGLE_INSTANCE_FIELDS.has(name)) expect(count, `${where}: ${name} repeated`).toBe(1);
  }
  const from = fields.filter((f) => f.name.toLowerCase() === 'from');
  expect(from).toHaveLength(1);
  expect(fieldValue(from[0] as (typeof fields)[number])).toMatch(new RegExp(`<${FROM}>$`));
  expect(fields.some((f) => f.name === '')).toBe(false);
  expect(longestLine(rewritten), `${where}: a line over 998 octets`).toBeLessThanOrEqual(MAX_LINE_OCTETS);
}

describe('the forwarding rewrite', () => {
  it('a byte order mark before the header does not hide the From; the copy goes without it, and says so', async () => {
    const raw = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('From: Ann <ann@example.org>\r\nTo: alice@example.com\r\nSubject: bom\r\n\r\nbody\r\n'),
    ]);
    const rewritten = await rewrite(raw);
    expect(rewritten.originalFrom).toBe('Ann <ann@example.org>');
    expect(rewritten.raw[0]).toBe('F'.charCodeAt(0));
    expect(rewritten.raw.toString()).toMatch(/^From: /);
    expect(rewritten.raw.toString()).not.toMatch(/X-Mail-Archiver-Malformed-Line/);
    expect(rewritten.changes).toEqual(['the byte order mark before the header was not sent']);
  });

  const original = Buffer.from(
    [
      'Return-Path: <bounce@list.example.org>',
      'Received: from a by b; Mon, 1 Jan 2026 00:00:00 +0000',
      'DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1;',
      '\th=from:to:subject; bh=abc=;',
      '\tb=def',
      'DKIM-Signature: v=1; a=rsa-sha256; d=list.example.org; s=s2; b=ghi',
      'Delivered-To: alice@example.com',
      'Delivered-To: alice@example.com',
      'From: =?utf-8?q?Ann_S=C3=A9nder?= <ann@example.org>',
      'Sender: list-bounces@list.example.org',
      'To: alice@example.com',
      'Subject: hello',
      'List-Id: <a.list.example.org>',
      'List-Id: <b.list.example.org>',
      ': empty name',
      'Message-ID: <m@example.org>',
      '',
      'Body line 1',
      'From a line in the body',
      '',
    ].join('\r\n'),
  );

  it('rewrites only what SES requires and keeps every other byte', async () => {
    const result = await rewrite(original);
    const text = result.raw.toString('utf8');
    expect(text).toMatch(
      /^From: =\?UTF-8\?Q\?Ann_S=C3=A9nder_via_example=2Ecom\?= <forwarder@example\.com>\r\n/,
    );
    expect(text).toContain('\r\nReply-To: =?utf-8?q?Ann_S=C3=A9nder?= <ann@example.org>\r\n');
    expect(text).toContain('\r\nX-Original-From: =?utf-8?q?Ann_S=C3=A9nder?= <ann@example.org>\r\n');
    expect(text).toContain('\r\nX-Original-To: alice@example.com\r\n');
    expect(text).toContain(`\r\n${FORWARD_TRACE_FIELD}: key; example.com\r\n`);
    expect(text).not.toMatch(/DKIM-Signature|Return-Path|^Sender:/m);
    // The line with an empty name is not a field: it is carried whole, never dropped, and recorded.
    expect(text).toContain(`\r\n${MALFORMED_LINE_FIELD}: : empty name\r\n`);
    expect(result.changes).toContain(`header item 13 is not a field: carried in ${MALFORMED_LINE_FIELD}`);
    expect(text.match(/^Delivered-To:/gm)).toHaveLength(1);
    expect(text.match(/^List-Id:/gm)).toHaveLength(1);
    expect(
      result.raw
        .subarray(result.raw.indexOf('\r\n\r\n'))
        .equals(original.subarray(original.indexOf('\r\n\r\n'))),
    ).toBe(true);
    assertOnlyRewrittenHeadersDiffer(original, result.raw, 'fixture');
    assertSesAcceptable(result.raw, 'fixture');
  });

  it('keeps an existing Reply-To, and builds a display name from the address when there is none', async () => {
    const raw = Buffer.from('From: bare@example.org\nReply-To: list@example.org\nSubject: x\n\nbody\n');
    const text = (await rewrite(raw)).raw.toString();
    expect(text).toMatch(/^From: "bare@example\.org via example\.com" <forwarder@example\.com>\n/);
    expect(text.match(/^Reply-To:/gm)).toHaveLength(1);
    expect(text).toContain('Reply-To: list@example.org\n');
    expect(forwardedFrom('"Quote \\"me\\"" <q@example.org>', FROM)).toBe(
      '"Quote \\"me\\" via example.com" <forwarder@example.com>',
    );
  });

  it('writes international envelope domains in punycode and refuses a non-ASCII local part', () => {
    expect(asciiEnvelopeAddress('user@bücher.example')).toBe('user@xn--bcher-kva.example');
    expect(() => asciiEnvelopeAddress('jörg@example.com')).toThrow(/not ASCII/);
  });

  it.skipIf(!corporaPresent)(
    'gives a message SES accepts for every corpus message, changing nothing else',
    async () => {
      let count = 0;
      for (const file of corpusMessages()) {
        const raw = readFileSync(file);
        const result = await rewrite(raw);
        assertSesAcceptable(result.raw, corpusName(file));
        // A copy that had a line over 998 octets had it folded or re-encoded on purpose (recorded; its decoded
        // parts are checked against the original's in test/integration/forward-check.test.ts).
        if (!result.changes?.some((c) => c.startsWith(LONG_LINE_CHANGE)))
          assertOnlyRewrittenHeadersDiffer(raw, result.raw, corpusName(file));
        count++;
      }
      expect(count).toBeGreaterThan(100);
    },
  );
  if (!corporaPresent) console.warn(corporaSkipReason);
});

describe('the forwarding policy', () => {
  const config = exampleConfig();
  const clean = { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' } as const;
  const row = (over: Partial<DeliveryRow>) => ({ folder: 'INBOX', verdicts: clean, ...over }) as DeliveryRow;
  const dmarcFailing = (dmarcPolicy: 'reject' | 'quarantine') =>
    row({ verdicts: { ...clean, spf: 'FAIL', dkim: 'FAIL', dmarc: 'FAIL', dmarcPolicy } });

  it('never forwards viruses, sent mail, spam (by default) or DMARC rejects (by default)', () => {
    expect(forwardBlocker(row({}), config)).toBeUndefined();
    expect(forwardBlocker(row({ folder: 'Sent' }), config)).toMatch(/never forwarded/);
    expect(forwardBlocker(row({ verdicts: { ...clean, virus: 'FAIL' } }), config)).toMatch(/virus/);
    const spam = row({ folder: 'Junk', verdicts: { ...clean, spam: 'FAIL' } });
    expect(forwardBlocker(spam, config)).toMatch(/spam/);
    expect(forwardBlocker(spam, exampleConfig({ forwarding: { forwardSpam: true } }))).toBeUndefined();
    expect(forwardBlocker(dmarcFailing('reject'), config)).toMatch(/DMARC/);
    expect(forwardBlocker(dmarcFailing('quarantine'), config)).toBeUndefined();
  });

  it('recognises loops by our trace field or more than 25 Received fields', () => {
    expect(contentBlocker(Buffer.from(`${FORWARD_TRACE_FIELD}: x\r\nSubject: y\r\n\r\nz`))).toMatch(/loop/);
    const hops = Array.from({ length: 26 }, (_, i) => `Received: from h${i}`).join('\r\n');
    expect(contentBlocker(Buffer.from(`${hops}\r\nSubject: y\r\n\r\nz`))).toMatch(/26 Received/);
    expect(contentBlocker(Buffer.from('Received: from a\r\nSubject: y\r\n\r\nz'))).toBeUndefined();
  });
});

describe('sending through SES v2 (the exact command)', () => {
  it('sends the raw bytes to one recipient from the verified identity with the configuration set', async () => {
    const ses = mockClient(SESv2Client);
    ses.on(SendEmailCommand).resolves({ MessageId: 'ses-1' });
    const raw = Buffer.from('From: x\r\n\r\nbody');
    const result = await new SesSender(new SESv2Client({ region: 'us-east-1' }), 'archiver-forwarding').send({
      from: FROM,
      to: 'alice.example@gmail.com',
      raw,
    });
    expect(result).toEqual({ messageId: 'ses-1' });
    const calls = ses.commandCalls(SendEmailCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      FromEmailAddress: FROM,
      Destination: { ToAddresses: ['alice.example@gmail.com'] },
      Content: { Raw: { Data: raw } },
      ConfigurationSetName: 'archiver-forwarding',
    });
    ses.restore();
  });

  it('tells transient failures (throttling) from permanent ones (rejections)', async () => {
    const ses = mockClient(SESv2Client);
    const sender = new SesSender(new SESv2Client({ region: 'us-east-1', maxAttempts: 1 }));
    ses
      .on(SendEmailCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'TooManyRequestsException' }));
    await expect(sender.send({ from: FROM, to: 'a@b.example', raw: Buffer.from('x') })).rejects.toMatchObject(
      { permanent: false },
    );
    ses
      .on(SendEmailCommand)
      .rejectsOnce(Object.assign(new Error('Email address is not verified'), { name: 'MessageRejected' }));
    const error = await sender.send({ from: FROM, to: 'a@b.example', raw: Buffer.from('x') }).catch((e) => e);
    expect(error).toBeInstanceOf(SendError);
    expect(error.permanent).toBe(true);
    ses.restore();
  });

  it('reads the HTTP status of a failure, and takes a connection that failed for transient', async () => {
    const ses = mockClient(SESv2Client);
    const sender = new SesSender(new SESv2Client({ region: 'us-east-1', maxAttempts: 1 }));
    const failWith = (error: Error) => {
      ses.reset();
      ses.on(SendEmailCommand).rejects(error);
      return sender.send({ from: FROM, to: 'a@b.example', raw: Buffer.from('x') }).catch((e) => e);
    };
    const unavailable = Object.assign(new Error('oops'), {
      name: 'Unknown',
      $metadata: { httpStatusCode: 503 },
    });
    expect(await failWith(unavailable)).toMatchObject({ permanent: false, message: 'Unknown: oops' });
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(await failWith(reset)).toMatchObject({ permanent: false, message: 'Error: read ECONNRESET' });
    ses.restore();
  });
});
