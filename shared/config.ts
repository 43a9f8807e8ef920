// The one configuration file: read at synth time by the CDK app, handed to every Lambda as JSON in an
// environment variable, and read by the local stack and the CLI. Validated once; errors name the field.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type AwsNameRule, hostedZoneIdRule, sesReceiptNameRule, stackNameRule } from './aws-names';
import { exportSchema } from './bundle/export-config';
import { errorMessage } from './errors';
import { healthIssues, healthSchema } from './health/config';
import { addressDomain, addressKey, domainKey, sameAddress } from './mail/address';
import { archiveSchema } from './retention/archive-config';
import { replicaIssues } from './retention/replica';
import { transparencySchema } from './transparency/config';

/** A string AWS accepts as a name of the kind `rule` describes; the message quotes AWS's rule. */
const awsName = (rule: AwsNameRule) => z.string().refine(rule.test, { message: rule.rule });

const DOMAIN_NAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
function notADomainName(input: string): string {
  const aLabel = domainKey(input);
  if (aLabel === input || !DOMAIN_NAME.test(aLabel)) return 'must be a domain name';
  return `"${input}" is an internationalised domain: write its A-label "${aLabel}"`;
}
/** SES, DNS and the stack take an internationalised domain as its A-label (RFC 5891): the refusal names it. */
const domainName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(DOMAIN_NAME, { error: ({ input }) => notADomainName(String(input)) });

const emailAddress = z
  .string()
  .trim()
  .regex(/^[^\s@<>()",;]+@[^\s@<>()",;]+\.[^\s@<>()",;]+$/, 'must be an email address like user@example.com')
  // Amazon SES API Reference, Destination: no SMTPUTF8, so the local part is 7-bit ASCII (the domain may be a U-label).
  .regex(
    /^[\x20-\x7e]+@/,
    'the part before @ must be 7-bit ASCII: SES neither receives nor sends other (no SMTPUTF8)',
  );

/**
 * One forwarding target: a bare address (re-sent through SES), or `{ address, via }`. `via: "gmail-api"` imports
 * the untouched original into that Gmail or Google Workspace mailbox with the Gmail API instead; such a target
 * may also collect what its user sends (`collectSent`) into the archive's Sent folder.
 */
const forwardTarget = z.union([
  emailAddress,
  z
    .object({
      address: emailAddress,
      via: z
        .enum(['ses', 'gmail-api'])
        .default('ses')
        .describe(
          'ses: a rewritten copy sent through SES; gmail-api: the original imported with the Gmail API',
        ),
      collectSent: z
        .boolean()
        .default(false)
        .describe(
          "gmail-api only: archive the messages of the Gmail SENT label into this mailbox's Sent folder",
        ),
    })
    .strict()
    .refine((t) => t.via === 'gmail-api' || !t.collectSent, {
      message: 'collectSent needs via "gmail-api"',
      path: ['collectSent'],
    }),
]);

/** How one target is delivered (the config's output form; a bare address is `via: "ses"`). */
export interface ForwardTarget {
  address: string;
  via: 'ses' | 'gmail-api';
  collectSent: boolean;
}

const mailbox = z
  .object({
    forwardTo: z
      .array(forwardTarget)
      .max(50, 'at most 50 forwarding targets')
      .default([])
      .describe('Hosted mailboxes that receive a copy of every message archived for this mailbox.'),
  })
  .strict()
  .transform((box) => {
    const targets: ForwardTarget[] = box.forwardTo.map((t) =>
      typeof t === 'string'
        ? { address: t.toLowerCase(), via: 'ses' as const, collectSent: false }
        : { ...t, address: t.address.toLowerCase() },
    );
    // forwardTo stays the list of addresses every reader uses; targets says how each is delivered.
    return { forwardTo: targets.map((t) => t.address), targets };
  });

const unknownRecipients = z.discriminatedUnion('action', [
  z.object({ action: z.literal('reject') }).strict(),
  z.object({ action: z.literal('catchAll'), mailbox: emailAddress }).strict(),
]);

/**
 * The config file's schema. Every field's documentation is its `.describe()` (or `.meta()` where the default is
 * computed, not a value): `npm run config-docs` turns it into mail-archiver.config.schema.json (editor
 * completion) and the config table of docs/configuration.md.
 */
export const configSchema = z
  .object({
    $schema: z.string().optional().describe('The JSON Schema of this file, for editor completion.'),
    stackName: awsName(stackNameRule)
      .default('MailArchiver')
      .describe(
        'CloudFormation stack name, also the prefix of local resource names: a letter, then letters, digits and hyphens, at most 57 characters (the export function is `<stackName>-export`, and Lambda names stop at 64).',
      ),
    domains: z
      .array(domainName)
      .min(1, 'list at least one domain')
      .describe("Domains whose MX points at SES; the journal address's domain is added to these."),
    mailboxes: z
      .record(emailAddress, mailbox)
      .refine((m) => Object.keys(m).length > 0, 'define at least one mailbox')
      .describe(
        'Address -> `{ "forwardTo": [...] }`: at most 50 targets, never on a domain this archiver receives (that would loop). A target is an address (re-sent through SES) or `{ "address": "alice.example@gmail.com", "via": "gmail-api", "collectSent": true }` (see [Gmail API delivery](forwarding.md#gmail-api-delivery-the-original-not-a-copy)); `collectSent` needs `journalAddress`.',
      ),
    unknownRecipients: unknownRecipients
      .default({ action: 'reject' })
      .describe(
        '`{ "action": "reject" }` bounces unknown local parts before anything is stored; `{ "action": "catchAll", "mailbox": "bob@example.com" }` files them there.',
      ),
    plusAddressing: z.boolean().default(true).describe('`alice+news@` files into `alice@`.'),
    journalAddress: emailAddress
      .optional()
      .describe(
        'Mail to this address is archived into the **Sent** folder of its sender (the From, when a mailbox), flagged seen, and never forwarded.',
      ),
    alarmEmail: emailAddress.describe(
      'Where alarms (dead letters, function errors, bounce rate) are emailed; confirm the SNS subscription email.',
    ),
    ses: z
      .object({
        ruleSetName: awsName(sesReceiptNameRule).describe(
          "The receipt rule set the stack creates: ASCII letters, digits, `_` and `-`, starting and ending with a letter or digit, at most 64 characters (SES's rule; checked when the config is read).",
        ),
        activateRuleSet: z
          .boolean()
          .describe(
            '**An account has one active receipt rule set per region.** `true` makes ours the active one, *replacing whatever set is active now*; `false` leaves that to you (the `ActivateRuleSetCommand` output has the command). No default on purpose: choose.',
          ),
        existingIdentities: z
          .array(domainName)
          .default([])
          .describe(
            'Domains of `domains` that already are SES identities in this account and region: the stack uses them as they are instead of creating them (creating one that exists fails the deploy with AlreadyExists). Turn their feedback forwarding off yourself.',
          ),
      })
      .strict(),
    forwarding: z
      .object({
        fromAddress: emailAddress.optional().meta({
          description:
            'The verified address forwarded copies are sent from (SES sends only from a verified identity); must be on one of `domains`.',
          'x-default-text': '`forwarder@<first domain>`',
        }),
        forwardSpam: z
          .boolean()
          .default(false)
          .describe(
            'Also forward mail SES marked as spam (it always stays in Junk). Off: forwarding spam is how forwarders lose their SES account.',
          ),
        forwardDmarcReject: z
          .boolean()
          .default(false)
          .describe('Also forward mail failing DMARC whose domain asks receivers to reject it.'),
        bounceRateAlarm: z
          .number()
          .min(0.01)
          .max(0.1)
          .default(0.05)
          .describe(
            'Alarm when the bounce rate of forwarded mail reaches this (SES reviews accounts at 10%).',
          ),
        smarthost: z
          .object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) })
          .strict()
          .optional()
          .meta({
            description: 'Local stack only: `{ "host", "port" }` to forward to.',
            'x-default-text': 'a local sink that keeps every copy in the data directory',
          }),
      })
      .strict()
      // The field defaults above are the only ones: an absent block is parsed as `{}`.
      .prefault({}),
    route53: z
      .object({ hostedZoneId: awsName(hostedZoneIdRule), zoneName: domainName })
      .strict()
      .optional()
      .meta({
        description:
          '`{ "hostedZoneId", "zoneName" }`: the stack creates the MX and DKIM records in this Route 53 hosted zone.',
        'x-default-text': 'none: create the records from the stack outputs',
      }),
    export: exportSchema.prefault({}),
    // The field defaults are the only ones: an absent block is parsed as `{}`.
    transparency: transparencySchema.prefault({}),
    archiveTransitionDays: z
      .number()
      .int()
      .min(30)
      .default(90)
      .describe(
        'Days before raw mail moves to S3 Glacier Instant Retrieval (same latency, cheaper storage).',
      ),
    archive: archiveSchema,
    health: healthSchema.describe(
      '`{ "canary": {...}, "silenceAlarmHours" }`: what tells you the archive stopped receiving ([operations](operations.md)).',
    ),
    tracing: z
      .boolean()
      .default(false)
      .describe(
        "X-Ray active tracing on every Lambda: a trace of each invocation. Lambda's fixed sampling records the first request each second, so at mail rates every one, about three traces a message ($5 per million past X-Ray's free tier). Off: the functions pass tracing through (mode PassThrough) and record nothing of their own; their logs and metrics are the same.",
      ),
  })
  .strict()
  .superRefine((config, ctx) => {
    // Relations between fields are checked once every field is itself valid (and transformed): zod runs this
    // after non-aborting issues too, when a target that failed to parse is still the raw JSON value.
    if (ctx.issues.length > 0) return;
    for (const issue of replicaIssues(config)) ctx.addIssue({ code: 'custom', ...issue });
    for (const issue of healthIssues(config)) ctx.addIssue({ code: 'custom', ...issue });
    // A domain in either spelling (bücher.example, xn--bcher-kva.example) is one domain (shared/mail/address.ts).
    const receiving = new Set(receivingDomains(config).map(domainKey));
    for (const address of Object.keys(config.mailboxes)) {
      if (!config.domains.includes(domainKey(addressDomain(address)))) {
        ctx.addIssue({
          code: 'custom',
          path: ['mailboxes', address],
          message: `the domain of ${address} is not listed in "domains"`,
        });
      }
    }
    const mailboxAddresses = new Set(Object.keys(config.mailboxes).map((a) => a.toLowerCase()));
    if (
      config.unknownRecipients.action === 'catchAll' &&
      !mailboxAddresses.has(config.unknownRecipients.mailbox.toLowerCase())
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['unknownRecipients', 'mailbox'],
        message: 'the catch-all mailbox must be one of "mailboxes"',
      });
    }
    const journal = config.journalAddress;
    if (
      journal &&
      Object.keys(config.mailboxes).some((mailbox) =>
        sameAddress(mailbox.toLowerCase(), journal.toLowerCase()),
      )
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['journalAddress'],
        message: 'the journal address must not also be a mailbox',
      });
    }
    config.ses.existingIdentities.forEach((domain, i) => {
      if (!config.domains.includes(domain)) {
        ctx.addIssue({
          code: 'custom',
          path: ['ses', 'existingIdentities', i],
          message: `${domain} is not listed in "domains"`,
        });
      }
    });
    const from = config.forwarding.fromAddress;
    if (from && !config.domains.includes(domainKey(addressDomain(from)))) {
      ctx.addIssue({
        code: 'custom',
        path: ['forwarding', 'fromAddress'],
        message: 'must be on one of "domains" (SES sends only from a verified identity)',
      });
    }
    if (!config.journalAddress) {
      for (const [address, { targets }] of Object.entries(config.mailboxes)) {
        targets.forEach((target, i) => {
          if (target.collectSent) {
            ctx.addIssue({
              code: 'custom',
              path: ['mailboxes', address, 'forwardTo', i, 'collectSent'],
              message:
                'collecting Sent mail needs "journalAddress" (collected mail is filed as journal copies)',
            });
          }
        });
      }
    }
    for (const [address, { forwardTo }] of Object.entries(config.mailboxes)) {
      forwardTo.forEach((target, i) => {
        if (receiving.has(domainKey(addressDomain(target)))) {
          ctx.addIssue({
            code: 'custom',
            path: ['mailboxes', address, 'forwardTo', i],
            message: `${target} is on a domain this archiver receives: forwarding there would loop`,
          });
        }
      });
    }
  });

export type ArchiverConfig = z.output<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * A value matching no branch of a union (a forwarding target that is neither an address nor a target object)
 * is described by the branch of its own kind: `forwardTo.1.via: Invalid option: expected one of "ses"|"gmail-api"`
 * rather than zod's bare "Invalid input". The branches that fail on the value's type itself are left out.
 */
function unionBranchIssues(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string }[] {
  // A bad record key (a mailbox address) says what is wrong with it, not zod's "Invalid key in record".
  if (issue.code === 'invalid_key')
    return issue.issues.map((i) => ({ path: issue.path, message: i.message }));
  if (issue.code !== 'invalid_union') return [issue];
  const ofItsKind = issue.errors.filter(
    (branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0),
  );
  if (ofItsKind.length !== 1) return [issue];
  return (ofItsKind[0] ?? []).flatMap((inner) =>
    unionBranchIssues(inner).map((i) => ({ path: [...issue.path, ...i.path], message: i.message })),
  );
}

/** Validates a parsed config object; the error lists every bad field by its path. */
export function parseConfig(raw: unknown, source = 'config'): ArchiverConfig {
  const result = configSchema.safeParse(raw);
  if (result.success) return normaliseConfig(result.data);
  const problems = result.error.issues.flatMap((issue) =>
    unionBranchIssues(issue).map((problem) => {
      const path = problem.path.length ? problem.path.map(String).join('.') : '(top level)';
      return `  ${path}: ${problem.message}`;
    }),
  );
  throw new ConfigError(`${source} is invalid:\n${problems.join('\n')}`);
}

export function loadConfig(path: string): ArchiverConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the config file ${path}: ${errorMessage(error)}`, { cause: error });
  }
  return parseConfigJson(text, path);
}

/** Parses and validates config JSON (a file's text, the Lambdas' ARCHIVER_CONFIG); throws ConfigError. */
export function parseConfigJson(text: string, source = 'config'): ArchiverConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${source} is not valid JSON: ${errorMessage(error)}`, { cause: error });
  }
  return parseConfig(raw, source);
}

/**
 * The config as config-file JSON that {@link parseConfigJson} reads back to an equal config: what the Lambdas get
 * compiled into their code. The parsed form is not such a file (a mailbox's `targets` is derived from its
 * `forwardTo`, and the schema refuses unknown keys), so each mailbox is written back in the file's own form.
 */
export function serializeConfig(config: ArchiverConfig): string {
  const mailboxes = Object.fromEntries(
    Object.entries(config.mailboxes).map(([address, box]) => [
      address,
      {
        forwardTo: box.targets.map((t) =>
          t.via === 'ses' && !t.collectSent
            ? t.address
            : { address: t.address, via: t.via, collectSent: t.collectSent },
        ),
      },
    ]),
  );
  return JSON.stringify({ ...config, mailboxes });
}

/** The verified identity forwarded copies are sent from, its domain as the A-label: SES sends no U-label. */
export function forwardingFrom(config: Pick<ArchiverConfig, 'forwarding' | 'domains'>): string {
  return addressKey(config.forwarding.fromAddress?.toLowerCase() ?? `forwarder@${config.domains[0]}`);
}

/** How a mailbox's target is delivered; SES re-sending unless the config says `via: "gmail-api"`. */
export function forwardTargetOf(config: ArchiverConfig, mailbox: string, address: string): ForwardTarget {
  return (
    config.mailboxes[mailbox]?.targets.find((t) => t.address === address.toLowerCase()) ?? {
      address,
      via: 'ses',
      collectSent: false,
    }
  );
}

/** Every target delivered through the Gmail API, with the mailbox it belongs to (credentials, Sent collection). */
export function gmailApiTargets(config: ArchiverConfig): (ForwardTarget & { mailbox: string })[] {
  return Object.entries(config.mailboxes).flatMap(([mailbox, box]) =>
    box.targets.filter((t) => t.via === 'gmail-api').map((t) => ({ ...t, mailbox })),
  );
}

/** The config file used when none is named: MAIL_ARCHIVER_CONFIG, else ./mail-archiver.config.json. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.MAIL_ARCHIVER_CONFIG ?? 'mail-archiver.config.json';
}

/**
 * Every domain SES must receive for, each once, as its A-label (domainKey): the configured ones plus the journal
 * address's domain, which the config may write as a U-label. SES receipt rules and DNS take only the A-label.
 */
export function receivingDomains(config: Pick<ArchiverConfig, 'domains' | 'journalAddress'>): string[] {
  const journal = config.journalAddress ? [addressDomain(config.journalAddress)] : [];
  return [...new Set([...config.domains, ...journal].map(domainKey))];
}

// Addresses are compared in lower case everywhere; normalising once here keeps every reader consistent.
function normaliseConfig(config: ArchiverConfig): ArchiverConfig {
  const mailboxes = Object.fromEntries(
    Object.entries(config.mailboxes).map(([address, box]) => [address.toLowerCase(), box]),
  );
  const unknownRecipients =
    config.unknownRecipients.action === 'catchAll'
      ? { action: 'catchAll' as const, mailbox: config.unknownRecipients.mailbox.toLowerCase() }
      : config.unknownRecipients;
  return {
    ...config,
    mailboxes,
    unknownRecipients,
    journalAddress: config.journalAddress?.toLowerCase(),
  };
}
