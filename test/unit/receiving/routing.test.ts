import { describe, expect, it } from 'vitest';
import {
  baseAddress,
  bounceSenderFor,
  routeMessage,
  unknownRecipients,
} from '../../../shared/receiving/routing';
import { exampleConfig } from '../../support/config';

const pass = { spam: 'PASS', virus: 'PASS' } as const;

describe('routing from the envelope', () => {
  const config = exampleConfig();

  it('files plus-addressed mail into the base mailbox, case-insensitively', () => {
    expect(baseAddress('Alice+News@Example.COM', true)).toBe('alice@example.com');
    expect(baseAddress('alice+news@example.com', false)).toBe('alice+news@example.com');
    const routing = routeMessage(config, ['alice+news@example.com'], undefined, pass);
    expect(routing.deliveries).toEqual([
      {
        mailbox: 'alice@example.com',
        folder: 'INBOX',
        flags: [],
        envelopeRecipients: ['alice+news@example.com'],
      },
    ]);
  });

  it('does not strip the tag when plus-addressing is off', () => {
    const routing = routeMessage(
      exampleConfig({ plusAddressing: false }),
      ['alice+news@example.com'],
      undefined,
      pass,
    );
    expect(routing.deliveries).toEqual([]);
    expect(routing.rejected).toEqual([{ recipient: 'alice+news@example.com', reason: 'unknown recipient' }]);
  });

  it('gives one delivery per mailbox when several envelope recipients resolve to it', () => {
    const routing = routeMessage(
      config,
      ['alice@example.com', 'alice+x@example.com', 'bob@example.com'],
      undefined,
      pass,
    );
    expect(routing.deliveries.map((d) => [d.mailbox, d.envelopeRecipients])).toEqual([
      ['alice@example.com', ['alice@example.com', 'alice+x@example.com']],
      ['bob@example.com', ['bob@example.com']],
    ]);
  });

  it('sends journal copies to the Sent folder of the sender, seen', () => {
    const routing = routeMessage(config, ['sent@journal.example.com'], 'Bob@Example.com', pass);
    expect(routing.deliveries).toEqual([
      {
        mailbox: 'bob@example.com',
        folder: 'Sent',
        flags: ['\\Seen'],
        envelopeRecipients: ['sent@journal.example.com'],
      },
    ]);
  });

  it('does not route a journal copy from a sender who is not a mailbox', () => {
    const routing = routeMessage(config, ['sent@journal.example.com'], 'mallory@evil.example', pass);
    expect(routing.deliveries).toEqual([]);
    expect(routing.rejected[0]?.reason).toMatch(/mallory@evil\.example, which is not a mailbox/);
  });

  it('files spam or virus FAIL into Junk, and anything else into INBOX', () => {
    for (const [verdicts, folder] of [
      [{ spam: 'FAIL', virus: 'PASS' }, 'Junk'],
      [{ spam: 'PASS', virus: 'FAIL' }, 'Junk'],
      [{ spam: 'GRAY', virus: 'PROCESSING_FAILED' }, 'INBOX'],
    ] as const) {
      expect(routeMessage(config, ['bob@example.com'], undefined, verdicts).deliveries[0]?.folder).toBe(
        folder,
      );
    }
  });

  it('rejects unknown local parts, or files them into the catch-all mailbox', () => {
    expect(routeMessage(config, ['zed@example.com'], undefined, pass).rejected).toEqual([
      { recipient: 'zed@example.com', reason: 'unknown recipient' },
    ]);
    const catchAll = exampleConfig({ unknownRecipients: { action: 'catchAll', mailbox: 'bob@example.com' } });
    expect(routeMessage(catchAll, ['zed@example.com'], undefined, pass).deliveries[0]?.mailbox).toBe(
      'bob@example.com',
    );
    expect(routeMessage(catchAll, ['zed@other.example'], undefined, pass).rejected[0]?.reason).toMatch(
      /not a receiving domain/,
    );
  });

  it('the gatekeeper bounces exactly the recipients routing would reject', () => {
    expect(
      unknownRecipients(config, [
        'alice+x@example.com',
        'zed@example.com',
        'sent@journal.example.com',
        'bob@example.com',
      ]),
    ).toEqual(['zed@example.com']);
  });
});

// An internationalised domain has two spellings, U-label and A-label (RFC 5891); SES hands the envelope as the SMTP
// session had it, and the config may spell a mailbox either way (review-29d U4). The mailbox keeps its configured
// name: that is its key in the index.
describe('routing a domain in either spelling', () => {
  const config = exampleConfig({
    domains: ['example.com', 'xn--bcher-kva.example'],
    mailboxes: {
      'alice@example.com': { forwardTo: [] },
      'carol@bücher.example': { forwardTo: [] },
      'dave@xn--bcher-kva.example': { forwardTo: [] },
    },
  });
  const mailboxOf = (recipient: string) =>
    routeMessage(config, [recipient], undefined, pass).deliveries.map((d) => d.mailbox);

  it('routes an A-label recipient to a mailbox configured with the U-label, and the reverse', () => {
    expect(mailboxOf('carol@xn--bcher-kva.example')).toEqual(['carol@bücher.example']);
    expect(mailboxOf('dave@bücher.example')).toEqual(['dave@xn--bcher-kva.example']);
    expect(mailboxOf('Dave+News@BÜCHER.example')).toEqual(['dave@xn--bcher-kva.example']);
  });

  it('keeps routing each spelling as configured', () => {
    expect(mailboxOf('carol@bücher.example')).toEqual(['carol@bücher.example']);
    expect(mailboxOf('dave@xn--bcher-kva.example')).toEqual(['dave@xn--bcher-kva.example']);
  });

  it('gives one delivery for both spellings of one mailbox, keeping each envelope recipient', () => {
    const routing = routeMessage(
      config,
      ['carol@bücher.example', 'carol@xn--bcher-kva.example'],
      undefined,
      pass,
    );
    expect(routing.deliveries.map((d) => [d.mailbox, d.envelopeRecipients])).toEqual([
      ['carol@bücher.example', ['carol@bücher.example', 'carol@xn--bcher-kva.example']],
    ]);
  });

  it('receives for the domain in either spelling: an unknown local part is an unknown recipient', () => {
    expect(unknownRecipients(config, ['zed@bücher.example', 'carol@xn--bcher-kva.example'])).toEqual([
      'zed@bücher.example',
    ]);
    expect(routeMessage(config, ['zed@bücher.example'], undefined, pass).rejected).toEqual([
      { recipient: 'zed@bücher.example', reason: 'unknown recipient' },
    ]);
    expect(bounceSenderFor(config, 'zed@bücher.example')).toBe('mailer-daemon@xn--bcher-kva.example');
  });

  it('files a journal copy into the Sent folder of a sender written in the other spelling', () => {
    const routing = routeMessage(config, ['sent@journal.example.com'], 'carol@xn--bcher-kva.example', pass);
    expect(routing.deliveries.map((d) => [d.mailbox, d.folder])).toEqual([['carol@bücher.example', 'Sent']]);
  });
});
