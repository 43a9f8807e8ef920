// A message's recipients from its headers (shared/receiving/header-recipients.ts): what history import, reindex
// and the scheduled reconcile give a message that no envelope describes. Parsed from real header blocks.
import { describe, expect, it } from 'vitest';
import { rawMessageRecipients } from '../../../shared/receiving/header-recipients';
import { exampleConfig } from '../../support/config';

const config = exampleConfig({ plusAddressing: true, journalAddress: 'journal@journal.example.com' });
const message = (headers: string) => Buffer.from(`${headers}\r\nSubject: x\r\n\r\nbody\r\n`);

describe('rawMessageRecipients', () => {
  it('gives mail from outside to the To/Cc addresses that are configured mailboxes', async () => {
    const raw = message(
      'From: Ann <ann@elsewhere.org>\r\nTo: Alice+news@Example.com, stranger@example.com\r\nCc: bob@example.com',
    );
    expect(await rawMessageRecipients(config, raw)).toEqual(['alice+news@example.com', 'bob@example.com']);
  });

  it('gives mail one of our mailboxes sent to that mailbox alone', async () => {
    const raw = message('From: alice@example.com\r\nTo: someone@elsewhere.org');
    expect(await rawMessageRecipients(config, raw)).toEqual(['alice@example.com']);
  });

  it('leaves out the journal address, and may find nobody', async () => {
    expect(
      await rawMessageRecipients(config, message('From: a@b.org\r\nTo: journal@journal.example.com')),
    ).toEqual([]);
  });
});

// The To, Cc or From in the other spelling of an internationalised domain than the config's (review-29d U4).
describe('rawMessageRecipients, a domain in either spelling', () => {
  const idn = exampleConfig({
    domains: ['example.com', 'xn--bcher-kva.example'],
    mailboxes: { 'carol@bücher.example': {}, 'dave@xn--bcher-kva.example': {} },
    journalAddress: 'journal@journal.example.com',
  });

  it('gives mail to the configured mailboxes written in the other spelling', async () => {
    const raw = message(
      'From: ann@elsewhere.org\r\nTo: carol@xn--bcher-kva.example\r\nCc: =?utf-8?q?Dave?= <dave@bücher.example>',
    );
    expect(await rawMessageRecipients(idn, raw)).toEqual([
      'carol@xn--bcher-kva.example',
      'dave@bücher.example',
    ]);
  });

  it('gives mail a mailbox sent, its From in the other spelling, to that mailbox as configured', async () => {
    const raw = message('From: carol@xn--bcher-kva.example\r\nTo: someone@elsewhere.org');
    expect(await rawMessageRecipients(idn, raw)).toEqual(['carol@bücher.example']);
  });
});
