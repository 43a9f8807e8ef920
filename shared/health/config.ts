// The `health` section of the config file (shared/config.ts): the canary and the silence alarm. Every field's
// documentation is its `.describe()` or `.meta()`, as in the rest of the schema (scripts/config-docs.ts).
import { z } from 'zod';
import { addressDomain, addressKey, domainKey, sameAddress } from '../mail/address';

const emailAddress = z
  .string()
  .trim()
  .toLowerCase()
  .regex(
    /^[^\s@<>()",;+]+@[^\s@<>()",;]+\.[^\s@<>()",;]+$/,
    'must be an email address like canary@example.com, without +',
  );

/** What tells the operator the archive stopped receiving (docs/operations.md). */
export const healthSchema = z
  .object({
    canary: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'Send a canary through SES to the canary address on a schedule; the next run checks it was archived, else an alarm says where its path broke.',
          ),
        address: emailAddress.optional().meta({
          description:
            'The reserved address canaries are sent from and to, archived in a mailbox of its own (never forwarded); on one of `domains`, and no mailbox, catch-all or journal address.',
          'x-default-text': '`canary@<first domain>`',
        }),
        everyHours: z
          .number()
          .int()
          .min(1)
          .max(24)
          .default(6)
          .describe('Hours between canaries (each run checks the previous one, then sends the next).'),
        windowMinutes: z
          .number()
          .int()
          .min(5)
          .max(24 * 60)
          .default(60)
          .describe(
            'Minutes a canary may take from SES sending to the index before it counts as late; at most `everyHours`.',
          ),
        pingUrl: z
          .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
          .optional()
          .describe(
            'Called (GET) after each canary round trip that arrived on time, the healthchecks.io convention: your monitoring notices silence even when the alarm topic breaks. An unreachable URL is logged and counted, never fails the canary.',
          ),
        keepDays: z
          .number()
          .int()
          .min(1)
          .max(29)
          .default(14)
          .describe(
            "Days a canary is kept: a message whose every envelope recipient is the canary address is not locked, and its raw object, envelope sidecar and index row expire after this many days (an S3 lifecycle rule on its tag, DynamoDB TTL). Less than `archiveTransitionDays`, so no canary pays Glacier Instant Retrieval's 128 KB minimum.",
          ),
      })
      .strict()
      .prefault({}),
    silenceAlarmHours: z
      .number()
      .int()
      .min(1)
      .max(168)
      .optional()
      .describe(
        'Alarm when no message at all was received for this many hours (for domains that receive mail every day; the canary covers quiet ones).',
      ),
  })
  .strict()
  .prefault({});

export type HealthConfig = z.output<typeof healthSchema>;

/**
 * The S3 object tag of a canary's versions (its raw message and envelope sidecar): the lifecycle rule that expires
 * canaries filters on it, and the lock sweep leaves a version carrying it unlocked. Tag keys may hold `:`
 * (Amazon S3 User Guide, "Categorizing your storage using tags"); S3 keeps at most 10 tags per version.
 */
export const CANARY_OBJECT_TAG = { key: 'mail-archiver:canary', value: '1' } as const;

const DAY_SECONDS = 24 * 60 * 60;

/**
 * When a canary received at `receivedAt` (ISO 8601 UTC) expires, in epoch seconds: `keepDays` later. S3 counts a
 * lifecycle rule's days from the object's creation, rounded up to the next midnight UTC (Amazon S3 User Guide,
 * "Lifecycle configuration elements"), so the raw object never goes before its row's TTL time.
 */
export function canaryExpiresAt(config: { health: HealthConfig }, receivedAt: string): number {
  return Math.floor(Date.parse(receivedAt) / 1000) + config.health.canary.keepDays * DAY_SECONDS;
}

/**
 * The address canaries are sent from and to, lower case, its domain as the A-label (shared/mail/address.ts
 * domainKey): configured, else `canary@<first domain>`. SES sends only to and from 7-bit addresses (no SMTPUTF8:
 * an internationalised domain goes as its A-label), and the canary's mailbox is named as the canary is sent.
 */
export function canaryAddress(config: { health: HealthConfig; domains: string[] }): string {
  return addressKey(config.health.canary.address ?? `canary@${config.domains[0]?.toLowerCase()}`);
}

/**
 * Whether a message archived into `mailboxes` counts as mail received (the silence alarm's count): it reached a
 * mailbox other than the canary's.
 */
export function countsAsReceived(
  config: { health: HealthConfig; domains: string[] },
  mailboxes: readonly string[],
): boolean {
  const canary = config.health.canary.enabled ? canaryAddress(config) : undefined;
  return mailboxes.some((mailbox) => mailbox !== canary);
}

/** The config as {@link healthIssues} reads it. */
export interface HealthConfigView {
  health: HealthConfig;
  domains: string[];
  mailboxes: Record<string, unknown>;
  journalAddress?: string | undefined;
  unknownRecipients: { action: 'reject' } | { action: 'catchAll'; mailbox: string };
  forwarding: { fromAddress?: string | undefined };
  archiveTransitionDays: number;
}

/**
 * Relations of the `health` section to the rest of the config: the canary address is on a domain of ours and
 * collides with no real address (a canary filed into a real mailbox would be forwarded and exported with it).
 */
export function healthIssues(config: HealthConfigView): { path: (string | number)[]; message: string }[] {
  const { canary } = config.health;
  if (!canary.enabled) return [];
  const path = ['health', 'canary', 'address'];
  const address = canaryAddress(config);
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (!config.domains.some((domain) => domainKey(domain) === domainKey(addressDomain(address)))) {
    issues.push({
      path,
      message: `${address} is not on one of "domains" (the canary tests our own receiving)`,
    });
  }
  const taken: [string | undefined, string][] = [
    ...Object.keys(config.mailboxes).map((m): [string, string] => [m, `the mailbox ${m}`]),
    [config.journalAddress, 'the journal address'],
    [
      config.unknownRecipients.action === 'catchAll' ? config.unknownRecipients.mailbox : undefined,
      'the catch-all mailbox',
    ],
    [config.forwarding.fromAddress, 'forwarding.fromAddress'],
  ];
  for (const [other, what] of taken) {
    if (other !== undefined && sameAddress(other.toLowerCase(), address)) {
      issues.push({
        path,
        message: `${address} is ${what}: the canary needs an address of its own (set health.canary.address)`,
      });
    }
  }
  if (canary.windowMinutes > canary.everyHours * 60) {
    issues.push({
      path: ['health', 'canary', 'windowMinutes'],
      message: `must be at most everyHours (${canary.everyHours} h): each run judges the previous canary`,
    });
  }
  if (canary.keepDays >= config.archiveTransitionDays) {
    issues.push({
      path: ['health', 'canary', 'keepDays'],
      message: `must be less than archiveTransitionDays (${config.archiveTransitionDays}): a canary moved to Glacier Instant Retrieval is billed 128 KB for 90 days`,
    });
  }
  return issues;
}
