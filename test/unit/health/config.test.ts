import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../shared/config';
import { forwardRequestsFor } from '../../../shared/forwarding/policy';
import { canaryAddress } from '../../../shared/health/config';
import { isCanaryOnly, routeMessage, unknownRecipients } from '../../../shared/receiving/routing';
import { exampleConfig } from '../../support/config';

const pass = { spam: 'PASS', virus: 'PASS' } as const;

const errorOf = (overrides: Record<string, unknown>) => {
  try {
    exampleConfig(overrides);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
};

describe('the health section of the config', () => {
  it('defaults: a canary every 6 hours to canary@<first domain>, a 60-minute window, kept 14 days, no silence alarm', () => {
    const config = exampleConfig();
    expect(config.health).toEqual({
      canary: { enabled: true, everyHours: 6, windowMinutes: 60, keepDays: 14 },
    });
    expect(canaryAddress(config)).toBe('canary@example.com');
  });

  it('a canary address colliding with a real mailbox is a config error naming the field', () => {
    expect(errorOf({ health: { canary: { address: 'Alice@example.com' } } })).toMatch(
      /health\.canary\.address: alice@example\.com is the mailbox alice@example\.com/,
    );
    expect(
      errorOf({
        mailboxes: { 'canary@example.com': { forwardTo: [] } },
      }),
    ).toMatch(
      /health\.canary\.address: canary@example\.com is the mailbox canary@example\.com.*set health\.canary\.address/,
    );
    expect(errorOf({ health: { canary: { address: 'sent@journal.example.com' } } })).toMatch(
      /health\.canary\.address: sent@journal\.example\.com is not on one of "domains"/,
    );
    expect(errorOf({ forwarding: { fromAddress: 'canary@example.com' } })).toMatch(
      /health\.canary\.address: .* is forwarding\.fromAddress/,
    );
  });

  it('reads the canary address in either spelling of a domain (shared/mail/address.ts), and sends to its A-label', () => {
    const idn = { domains: ['example.com', 'xn--bcher-kva.example'] };
    const config = exampleConfig({ ...idn, health: { canary: { address: 'Canary@Bücher.example' } } });
    // SES takes the A-label only (no SMTPUTF8), and the canary's mailbox is named as it is sent to.
    expect(canaryAddress(config)).toBe('canary@xn--bcher-kva.example');
    expect(
      errorOf({
        ...idn,
        mailboxes: { 'carol@xn--bcher-kva.example': {} },
        health: { canary: { address: 'carol@bücher.example' } },
      }),
    ).toMatch(
      /health\.canary\.address: carol@xn--bcher-kva\.example is the mailbox carol@xn--bcher-kva\.example/,
    );
    expect(errorOf({ ...idn, health: { canary: { address: 'canary@bücher.other' } } })).toMatch(
      /health\.canary\.address: canary@xn--bcher-kva\.other is not on one of "domains"/,
    );
  });

  it('the canary off: its address is free again', () => {
    const config = exampleConfig({
      mailboxes: { 'canary@example.com': { forwardTo: [] } },
      health: { canary: { enabled: false } },
    });
    expect(Object.keys(config.mailboxes)).toEqual(['canary@example.com']);
  });

  it('names bad canary fields: the window longer than the interval, a ping URL that is not http(s), a + address', () => {
    expect(errorOf({ health: { canary: { everyHours: 1, windowMinutes: 90 } } })).toMatch(
      /health\.canary\.windowMinutes: must be at most everyHours \(1 h\)/,
    );
    // The reason, not zod's bare "Invalid URL": a file:// or ftp:// URL is a URL, just not one we call.
    for (const pingUrl of ['ftp://hc-ping.example/abc', 'file:///etc/passwd', 'not a url', 'http://']) {
      expect(errorOf({ health: { canary: { pingUrl } } })).toMatch(
        /health\.canary\.pingUrl: must be an http:\/\/ or https:\/\/ URL/,
      );
    }
    expect(errorOf({ health: { canary: { address: 'canary+x@example.com' } } })).toMatch(
      /health\.canary\.address: must be an email address/,
    );
    expect(errorOf({ health: { silenceAlarmHours: 0 } })).toMatch(/health\.silenceAlarmHours/);
    expect(errorOf({ health: { canary: { every: 6 } } })).toMatch(/health\.canary/);
  });

  it('accepts a ping URL and a silence alarm', () => {
    const config = parseConfig({
      ...exampleConfig(),
      mailboxes: { 'alice@example.com': { forwardTo: ['alice.example@gmail.com'] } },
      health: { canary: { pingUrl: 'https://hc-ping.com/5f1c' }, silenceAlarmHours: 48 },
    });
    expect(config.health.canary.pingUrl).toBe('https://hc-ping.com/5f1c');
    expect(config.health.silenceAlarmHours).toBe(48);
  });
});

describe('routing of the canary address', () => {
  it('a message is only a canary when every envelope recipient is the canary address (plus-addressing folded)', () => {
    const config = exampleConfig({ journalAddress: 'journal@example.com' });
    expect(isCanaryOnly(config, ['canary@example.com'])).toBe(true);
    expect(isCanaryOnly(config, ['Canary+probe@Example.com', 'canary@example.com'])).toBe(true);
    expect(isCanaryOnly(config, ['canary@example.com', 'alice@example.com'])).toBe(false);
    expect(isCanaryOnly(config, ['canary@example.com', 'journal@example.com'])).toBe(false);
    expect(isCanaryOnly(config, ['canary@example.com', 'nobody@example.com'])).toBe(false);
    expect(isCanaryOnly(config, [])).toBe(false);
    const off = exampleConfig({ health: { canary: { enabled: false } } });
    expect(isCanaryOnly(off, ['canary@example.com'])).toBe(false);
  });

  it('is a mailbox of its own, even where unknown recipients are rejected, and is never forwarded', () => {
    const config = exampleConfig();
    expect(unknownRecipients(config, ['canary@example.com', 'Canary+1@Example.com'])).toEqual([]);
    const routing = routeMessage(config, ['canary@example.com'], undefined, pass);
    expect(routing.deliveries).toEqual([
      {
        mailbox: 'canary@example.com',
        folder: 'INBOX',
        flags: [],
        envelopeRecipients: ['canary@example.com'],
      },
    ]);
    expect(forwardRequestsFor(config, 'k', routing.deliveries)).toEqual([]);
  });

  it('goes to no catch-all mailbox, and is an unknown recipient when the canary is off', () => {
    const catchAll = exampleConfig({ unknownRecipients: { action: 'catchAll', mailbox: 'bob@example.com' } });
    expect(routeMessage(catchAll, ['canary@example.com'], undefined, pass).deliveries[0]?.mailbox).toBe(
      'canary@example.com',
    );
    const off = exampleConfig({ health: { canary: { enabled: false } } });
    expect(unknownRecipients(off, ['canary@example.com'])).toEqual(['canary@example.com']);
  });
});
