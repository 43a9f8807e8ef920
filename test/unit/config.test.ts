import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  forwardingFrom,
  loadConfig,
  parseConfig,
  parseConfigJson,
  receivingDomains,
  serializeConfig,
} from '../../shared/config';
import { exampleConfig } from '../support/config';

describe('config', () => {
  it('loads the documented example config shipped at the top of the repository', () => {
    const config = loadConfig('mail-archiver.config.json');
    expect(config.mailboxes['alice@example.com']?.forwardTo).toEqual(['alice.example@gmail.com']);
    expect(config.mailboxes['bob@example.com']?.forwardTo).toEqual([]);
    expect(config.plusAddressing).toBe(true);
    expect(config.unknownRecipients).toEqual({ action: 'reject' });
    expect(receivingDomains(config)).toEqual(['example.com', 'journal.example.com']);
  });

  it('names every bad field and what is wrong with it', () => {
    let message = '';
    try {
      parseConfig({
        domains: ['not a domain'],
        mailboxes: { 'alice@example.com': { forwardTo: ['nope'] } },
        alarmEmail: 'ops@example.com',
        ses: { ruleSetName: 'x' },
      });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/domains\.0: must be a domain name/);
    expect(message).toMatch(/mailboxes\.alice@example\.com\.forwardTo\.0: must be an email address/);
    expect(message).toMatch(/ses\.activateRuleSet/);
  });

  it('refuses an address whose local part is not ASCII, naming why (SES has no SMTPUTF8; review-30c 4)', () => {
    expect(() =>
      exampleConfig({
        mailboxes: { 'jörg@example.com': { forwardTo: [] }, 'bob@example.com': { forwardTo: [] } },
      }),
    ).toThrow(/mailboxes\.jörg@example\.com.*7-bit ASCII/);
    expect(() =>
      exampleConfig({ mailboxes: { 'alice@example.com': { forwardTo: ['jörg@gmail.example'] } } }),
    ).toThrow(/forwardTo\.0.*7-bit ASCII/);
    expect(
      exampleConfig({
        mailboxes: { 'alice@bücher.example': { forwardTo: [] } },
        domains: ['xn--bcher-kva.example'],
      }),
    ).toBeDefined();
  });

  it('leaves X-Ray tracing off unless "tracing" is true, and names a tracing that is not a boolean', () => {
    expect(exampleConfig().tracing).toBe(false);
    expect(exampleConfig({ tracing: true }).tracing).toBe(true);
    expect(() => exampleConfig({ tracing: 'on' })).toThrow(/tracing: .*boolean/);
  });

  it('names the A-label to write for an internationalised domain (SES and DNS take the A-label)', () => {
    expect(() => exampleConfig({ domains: ['Bücher.example'] })).toThrow(
      /domains\.0: "bücher\.example" is an internationalised domain: write its A-label "xn--bcher-kva\.example"/,
    );
    expect(() => exampleConfig({ domains: ['not a domain'] })).toThrow(/domains\.0: must be a domain name$/m);
  });

  it('rejects unknown fields, a catch-all outside the mailboxes and forwarding loops', () => {
    expect(() => exampleConfig({ mailboxs: {} })).toThrow(/mailboxs/);
    expect(() =>
      exampleConfig({ unknownRecipients: { action: 'catchAll', mailbox: 'zed@example.com' } }),
    ).toThrow(/unknownRecipients\.mailbox: the catch-all mailbox must be one of "mailboxes"/);
    expect(() =>
      exampleConfig({ mailboxes: { 'alice@example.com': { forwardTo: ['bob@example.com'] } } }),
    ).toThrow(/forwardTo\.0: bob@example\.com is on a domain this archiver receives/);
    expect(() => exampleConfig({ mailboxes: { 'alice@other.org': {} } })).toThrow(
      /mailboxes\.alice@other\.org: the domain of alice@other\.org is not listed in "domains"/,
    );
  });

  it('reads a domain in either spelling as one domain: a U-label mailbox on an A-label domain (review-29d U4)', () => {
    const idn =
      (mailboxes: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      () =>
        exampleConfig({ domains: ['example.com', 'xn--bcher-kva.example'], mailboxes, ...extra });
    expect(Object.keys(idn({ 'carol@bücher.example': {} })().mailboxes)).toEqual(['carol@bücher.example']);
    // Forwarding to the other spelling of a receiving domain still loops.
    expect(idn({ 'carol@bücher.example': { forwardTo: ['dave@xn--bcher-kva.example'] } })).toThrow(
      /forwardTo\.0: dave@xn--bcher-kva\.example is on a domain this archiver receives/,
    );
    expect(idn({ 'carol@xn--bcher-kva.example': {} }, { journalAddress: 'carol@bücher.example' })).toThrow(
      /journalAddress: the journal address must not also be a mailbox/,
    );
    // SES sends only 7-bit addresses: the forwarder's is its A-label, however the config writes it.
    const forwarder = idn(
      { 'carol@bücher.example': {} },
      { forwarding: { fromAddress: 'Forwarder@Bücher.example' } },
    );
    expect(forwardingFrom(forwarder())).toBe('forwarder@xn--bcher-kva.example');
  });

  it('names what is wrong with a forwarding target object, and never crashes on one', () => {
    const target = (t: unknown) => () =>
      exampleConfig({ mailboxes: { 'alice@example.com': { forwardTo: ['ann@gmail.com', t] } } });
    expect(target({ address: 'ann.api@gmail.com', via: 'gmail' })).toThrow(
      /forwardTo\.1\.via: Invalid option: expected one of "ses"\|"gmail-api"/,
    );
    // collectSent without gmail-api: the target's own refinement, not a TypeError from a cross-field check.
    expect(target({ address: 'ann.api@gmail.com', via: 'ses', collectSent: true })).toThrow(
      /forwardTo\.1\.collectSent: collectSent needs via "gmail-api"/,
    );
    expect(target({ via: 'gmail-api' })).toThrow(/forwardTo\.1\.address: /);
    expect(target({ address: 'ann.api@gmail.com', via: 'gmail-api', extra: 1 })).toThrow(
      /forwardTo\.1: Unrecognized key: "extra"/,
    );
    expect(target(42)).toThrow(/forwardTo\.1: Invalid input/);
    for (const bad of [{ via: 'gmail' }, { address: 'x@gmail.com', via: 'ses', collectSent: true }]) {
      expect(target(bad)).toThrow(ConfigError);
    }
  });

  it('says which file is unreadable or not JSON', () => {
    expect(() => loadConfig('/nonexistent/mail-archiver.config.json')).toThrow(/cannot read the config file/);
  });

  it('normalises mailbox addresses to lower case', () => {
    const config = exampleConfig({ mailboxes: { 'Alice@Example.com': {} } });
    expect(Object.keys(config.mailboxes)).toEqual(['alice@example.com']);
  });

  // The Lambdas read the config compiled into their code through the same parser: what the stack writes must
  // read back to the same config, or every function fails at cold start.
  it('serializes every config to JSON the parser reads back to an equal config', () => {
    const configs = [
      loadConfig('mail-archiver.config.json'),
      exampleConfig(),
      exampleConfig({
        stackName: 'Mail-Archive-2',
        mailboxes: {
          'Alice@Example.com': {
            forwardTo: [
              'Alice.Example@gmail.com',
              { address: 'alice@workspace.example.org', via: 'gmail-api', collectSent: true },
              { address: 'alice2@gmail.com', via: 'gmail-api' },
            ],
          },
          'bob@example.com': {},
        },
        unknownRecipients: { action: 'catchAll', mailbox: 'Bob@example.com' },
        forwarding: { forwardSpam: true, bounceRateAlarm: 0.02, fromAddress: 'Fwd@example.com' },
        ses: { ruleSetName: 'rules', activateRuleSet: false, existingIdentities: ['example.com'] },
      }),
    ];
    for (const config of configs) {
      expect(parseConfigJson(serializeConfig(config), 'the bundled config')).toEqual(config);
    }
  });
});
