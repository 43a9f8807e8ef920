// An envelope recipient on an internationalised domain, in either spelling: accepted or refused as SES would,
// and handed on as SES hands it (the domain an A-label), by the SMTP listener and by `import --to` alike.
import { describe, expect, it } from 'vitest';
import { checkImportOptions, routeImport } from '../../../shared/history/import';
import { checkEnvelopeRecipient, envelopeRecipient } from '../../../shared/receiving/recipient-check';
import { exampleConfig } from '../../support/config';

const config = exampleConfig({
  domains: ['xn--bcher-kva.example'],
  mailboxes: {
    'alice@xn--bcher-kva.example': { forwardTo: [] },
    'bob@bücher.example': { forwardTo: [] },
  },
});

describe('an envelope recipient on an internationalised domain', () => {
  it.each([
    ['alice@bücher.example', 'alice@xn--bcher-kva.example'],
    ['Alice@Bücher.example', 'alice@xn--bcher-kva.example'],
    ['<alice@XN--BCHER-KVA.example>', 'alice@xn--bcher-kva.example'],
    ['bob@bücher.example', 'bob@xn--bcher-kva.example'],
    ['bob+news@xn--bcher-kva.example', 'bob+news@xn--bcher-kva.example'],
    ['canary@bücher.example', 'canary@xn--bcher-kva.example'],
  ])('%s is accepted as %s', (recipient, address) => {
    expect(checkEnvelopeRecipient(config, recipient)).toEqual({ accepted: true, address });
  });

  it.each([
    ['carol@bücher.example', '550 5.1.1 Mailbox does not exist'],
    ['alice@bücher.other', '550 5.7.1 Relaying denied: not a receiving domain'],
    ['alice@bücher..example', '501 5.1.3 Bad recipient address syntax'],
  ])('%s is refused: %s', (recipient, reply) => {
    const check = checkEnvelopeRecipient(config, recipient);
    expect(check.accepted).toBe(false);
    if (!check.accepted) expect(`${check.code} ${check.reply}`).toBe(reply);
  });

  it('a plain ASCII address is only normalised', () => {
    expect(envelopeRecipient(' <Alice@Example.COM> ')).toBe('alice@example.com');
  });

  it('import --to takes either spelling', () => {
    expect(() =>
      checkImportOptions(config, { to: ['alice@bücher.example', 'bob@bücher.example'] }),
    ).not.toThrow();
    expect(() => checkImportOptions(config, { to: ['carol@bücher.example'] })).toThrow(/550 5\.1\.1/);
    expect(routeImport(config, {}, {} as never, { to: ['Alice@Bücher.example'] }).recipients).toEqual([
      'alice@xn--bcher-kva.example',
    ]);
  });
});
