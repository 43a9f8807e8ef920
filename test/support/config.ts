import { type ArchiverConfig, parseConfig } from '../../shared/config';

/** The documented example config, as the tests use it. */
export function exampleConfig(overrides: Record<string, unknown> = {}): ArchiverConfig {
  return parseConfig({
    domains: ['example.com'],
    mailboxes: {
      'alice@example.com': { forwardTo: ['alice.example@gmail.com'] },
      'bob@example.com': { forwardTo: [] },
    },
    unknownRecipients: { action: 'reject' },
    plusAddressing: true,
    journalAddress: 'sent@journal.example.com',
    alarmEmail: 'ops@example.com',
    ses: { ruleSetName: 'mail-archiver', activateRuleSet: true },
    ...overrides,
  });
}
