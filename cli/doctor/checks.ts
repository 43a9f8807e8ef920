// `mail-archiver doctor`: a preflight run before and after `cdk deploy`. Each check says ok, warn or fail, what it
// found, and the one thing to do about it. The AWS checks read SES, SNS, SQS, CloudWatch and DNS; they change
// nothing. The thresholds and names are AWS's: SES's reputation review levels, its inbound endpoint per region,
// its DKIM CNAME layout (<token>._domainkey.<domain> -> <token>.dkim.amazonses.com).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeActiveReceiptRuleSetCommand, SESClient } from '@aws-sdk/client-ses';
import { GetAccountCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type ArchiverConfig, receivingDomains } from '../../shared/config';
import { errorMessage, errorName } from '../../shared/errors';
import type { StackFile } from '../local/running-stack';
import { stackOutputs } from '../target/aws';
import { exportRecipientsCheck } from './export-encryption';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  /** What is checked, e.g. `mx example.com`. */
  name: string;
  status: CheckStatus;
  /** What was found, one line. */
  detail: string;
  /** What to do about it, one line; absent when the check is ok. */
  fix?: string;
}

/** The DNS lookups the checks make (node's dns.promises.Resolver has them). */
export interface DnsLookups {
  resolve4(name: string): Promise<string[]>;
  resolveMx(name: string): Promise<{ exchange: string; priority: number }[]>;
  resolveCname(name: string): Promise<string[]>;
}

export interface AwsDoctorDeps {
  config: ArchiverConfig;
  region: string;
  ses: SESClient;
  sesv2: SESv2Client;
  sns: SNSClient;
  sqs: SQSClient;
  cloudwatch: CloudWatchClient;
  dns: DnsLookups;
  /** The deployed stack's outputs; undefined before the first deploy. */
  outputs: Record<string, string> | undefined;
  /** The last `reconcile` of this target, if one was recorded. */
  lastReconcile: ReconcileRecord | undefined;
  now?: () => Date;
}

/** SES reviews an account at a 10% bounce rate and 0.5% complaint rate, and recommends staying under 5% and 0.1%. */
export const REPUTATION_LIMITS = {
  bounce: { warn: 0.05, fail: 0.1 },
  complaint: { warn: 0.001, fail: 0.005 },
} as const;

/** The SES inbound SMTP endpoint of a region, what each domain's MX record must name. */
export const inboundEndpoint = (region: string) => `inbound-smtp.${region}.amazonaws.com`;

const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail });
const warn = (name: string, detail: string, fix: string): Check => ({ name, status: 'warn', detail, fix });
const fail = (name: string, detail: string, fix: string): Check => ({ name, status: 'fail', detail, fix });

/** Every check against the deployed (or about to be deployed) stack. Never throws: a failed call is a failed check. */
export async function runAwsChecks(deps: AwsDoctorDeps): Promise<Check[]> {
  const checks: Check[] = [];
  const guard = async (name: string, fn: () => Promise<Check | Check[]>) => {
    try {
      checks.push(...([] as Check[]).concat(await fn()));
    } catch (error) {
      checks.push(
        fail(
          name,
          `${errorName(error)}: ${errorMessage(error)}`,
          'check the AWS credentials and region, then run doctor again',
        ),
      );
    }
  };
  const { config, region } = deps;
  const endpoint = inboundEndpoint(region);

  await guard('region', async () => {
    try {
      await deps.dns.resolve4(endpoint);
      return ok('region', `SES receives mail in ${region} (${endpoint})`);
    } catch {
      return fail(
        'region',
        `SES does not receive mail in ${region}: ${endpoint} does not resolve`,
        'deploy to a region where SES receives mail (set AWS_REGION; see the README)',
      );
    }
  });

  await guard('receipt rule set', async () => {
    const active = (await deps.ses.send(new DescribeActiveReceiptRuleSetCommand({}))).Metadata?.Name;
    const ours = config.ses.ruleSetName;
    const name = 'receipt rule set';
    if (active === ours) return ok(name, `${ours} is the active rule set`);
    if (config.ses.activateRuleSet) {
      return active
        ? warn(
            name,
            `${active} is active; deploying makes ${ours} the active set instead, and ${active} stops receiving`,
            `set ses.activateRuleSet to false to keep ${active}, or move its rules into ${ours}`,
          )
        : warn(name, `no rule set is active; deploying activates ${ours}`, 'run cdk deploy');
    }
    return fail(
      name,
      `${active ?? 'no rule set'} is active, not ${ours} (ses.activateRuleSet is false)`,
      `aws ses set-active-receipt-rule-set --rule-set-name ${ours} --region ${region}`,
    );
  });

  await guard('sending', async () => {
    const account = await deps.sesv2.send(new GetAccountCommand({}));
    const quota = account.SendQuota;
    const figures = `${quota?.SentLast24Hours ?? 0} of ${quota?.Max24HourSend ?? 0} sent in 24 h, at most ${quota?.MaxSendRate ?? 0}/s`;
    if (account.SendingEnabled === false) {
      return fail(
        'sending',
        `sending is paused for this account in ${region} (${figures})`,
        'see the SES console reputation dashboard; SES paused sending',
      );
    }
    if (!account.ProductionAccessEnabled) {
      return warn(
        'sending',
        `SES sandbox in ${region}: copies reach only verified addresses (${figures})`,
        'request production access in the SES console; do not verify the forwarding targets (see the README)',
      );
    }
    return ok('sending', `production access in ${region} (${figures})`);
  });

  for (const domain of config.domains) {
    let tokens: string[] = [];
    await guard(`identity ${domain}`, async () => {
      const name = `identity ${domain}`;
      try {
        const identity = await deps.sesv2.send(new GetEmailIdentityCommand({ EmailIdentity: domain }));
        tokens = identity.DkimAttributes?.Tokens ?? [];
        const dkim = identity.DkimAttributes?.Status;
        const results: Check[] = [];
        if (identity.VerifiedForSendingStatus && dkim === 'SUCCESS')
          results.push(ok(name, 'verified, DKIM signing'));
        else if (dkim === 'FAILED' || dkim === 'TEMPORARY_FAILURE')
          results.push(
            fail(
              name,
              `DKIM ${dkim}: SES cannot find the DKIM CNAME records`,
              'create the DkimRecord* CNAMEs the stack outputs in your DNS',
            ),
          );
        else
          results.push(
            warn(
              name,
              `not verified yet (DKIM ${dkim ?? 'unknown'})`,
              'create the DkimRecord* CNAMEs the stack outputs; SES verifies within 72 hours',
            ),
          );
        if (identity.FeedbackForwardingStatus) {
          results.push(
            warn(
              `feedback ${domain}`,
              'SES mails bounces and complaints to the sender (the forwarder address, no mailbox)',
              `aws sesv2 put-email-identity-feedback-attributes --email-identity ${domain} --no-email-forwarding-enabled --region ${region}`,
            ),
          );
        }
        return results;
      } catch (error) {
        if (errorName(error) !== 'NotFoundException') throw error;
        return config.ses.existingIdentities.includes(domain)
          ? fail(
              name,
              `${domain} is listed in ses.existingIdentities but is no SES identity in ${region}`,
              `remove ${domain} from ses.existingIdentities so the stack creates it`,
            )
          : warn(name, `${domain} is not an SES identity in ${region} yet`, 'cdk deploy creates it');
      }
    });
    await guard(`dkim ${domain}`, async () => {
      const name = `dkim ${domain}`;
      if (tokens.length === 0)
        return warn(
          name,
          'no DKIM tokens yet (the identity does not exist)',
          'cdk deploy, then create the DkimRecord* CNAMEs',
        );
      const missing: string[] = [];
      for (const token of tokens) {
        const record = `${token}._domainkey.${domain}`;
        const target = `${token}.dkim.amazonses.com`;
        const found = await deps.dns.resolveCname(record).catch(() => [] as string[]);
        if (!found.map(stripDot).includes(target)) missing.push(`${record} CNAME ${target}`);
      }
      return missing.length === 0
        ? ok(name, `${tokens.length} DKIM CNAMEs resolve`)
        : fail(
            name,
            `${missing.length} of ${tokens.length} DKIM CNAMEs do not resolve`,
            `create ${missing[0]}${missing.length > 1 ? ` (and ${missing.length - 1} more, see the stack outputs)` : ''}`,
          );
    });
  }

  for (const domain of receivingDomains(config)) {
    await guard(`mx ${domain}`, async () => {
      const name = `mx ${domain}`;
      const records = await deps.dns.resolveMx(domain).catch(() => []);
      const fix = `set the MX record of ${domain} to: 10 ${endpoint}`;
      if (records.length === 0) return fail(name, 'no MX record', fix);
      const exchanges = records
        .sort((a, b) => a.priority - b.priority)
        .map((r) => stripDot(r.exchange).toLowerCase());
      if (exchanges[0] === endpoint) return ok(name, `MX ${endpoint}`);
      if (exchanges.includes(endpoint))
        return warn(name, `MX ${exchanges.join(', ')}: ${endpoint} is not the preferred one`, fix);
      return fail(name, `MX ${exchanges.join(', ')}, not ${endpoint}`, fix);
    });
  }

  const outputs = deps.outputs;
  const notDeployed = (name: string) =>
    warn(name, 'the stack is not deployed yet', 'run cdk deploy, then doctor again');

  await guard('alarm subscription', async () => {
    const name = 'alarm subscription';
    if (!outputs?.AlarmTopicArn) return notDeployed(name);
    const { Subscriptions } = await deps.sns.send(
      new ListSubscriptionsByTopicCommand({ TopicArn: outputs.AlarmTopicArn }),
    );
    const mine = (Subscriptions ?? []).find(
      (s) => s.Protocol === 'email' && s.Endpoint?.toLowerCase() === config.alarmEmail.toLowerCase(),
    );
    if (!mine)
      return fail(
        name,
        `${config.alarmEmail} is not subscribed to the alarm topic`,
        'run cdk deploy (alarmEmail changed?)',
      );
    if (mine.SubscriptionArn === 'PendingConfirmation')
      return warn(
        name,
        `${config.alarmEmail} has not confirmed the subscription: alarms reach nobody`,
        `open the "AWS Notification - Subscription Confirmation" mail sent to ${config.alarmEmail} and confirm`,
      );
    return ok(name, `alarms are mailed to ${config.alarmEmail}`);
  });

  await guard('reputation', async () => {
    const now = deps.now?.() ?? new Date();
    const rate = async (metricName: string) => {
      const { Datapoints } = await deps.cloudwatch.send(
        new GetMetricStatisticsCommand({
          Namespace: 'AWS/SES',
          MetricName: metricName,
          StartTime: new Date(now.getTime() - 24 * 3600_000),
          EndTime: now,
          Period: 3600,
          Statistics: ['Maximum'],
        }),
      );
      const values = (Datapoints ?? []).map((d) => d.Maximum ?? 0);
      return values.length ? Math.max(...values) : undefined;
    };
    const bounce = await rate('Reputation.BounceRate');
    const complaint = await rate('Reputation.ComplaintRate');
    const shown = `bounce rate ${percent(bounce)}, complaint rate ${percent(complaint)} (highest in 24 h)`;
    const fix =
      'stop forwarding to the addresses that bounce or complain: mail-archiver forwards --state bounced';
    if (
      (bounce ?? 0) >= REPUTATION_LIMITS.bounce.fail ||
      (complaint ?? 0) >= REPUTATION_LIMITS.complaint.fail
    )
      return fail('reputation', `${shown}: SES reviews accounts at 10% / 0.5%`, fix);
    if (
      (bounce ?? 0) >= REPUTATION_LIMITS.bounce.warn ||
      (complaint ?? 0) >= REPUTATION_LIMITS.complaint.warn
    )
      return warn('reputation', `${shown}: SES recommends under 5% / 0.1%`, fix);
    return ok('reputation', shown);
  });

  for (const [name, output, fix] of [
    [
      'dead letters ingest',
      'IngestDeadLetterQueueUrl',
      'messages that could not be indexed: mail-archiver reconcile, then mail-archiver reindex',
    ],
    [
      'dead letters notification',
      'ReceivedNotificationDeadLetterQueueUrl',
      'notifications SNS could not deliver to the ingest queue: mail-archiver redrive',
    ],
    [
      'dead letters forward',
      'ForwardDeadLetterQueueUrl',
      'parked forwards: mail-archiver forwards --state failed, then mail-archiver redrive',
    ],
  ] as const) {
    await guard(name, async () => {
      const url = outputs?.[output];
      if (!url) return notDeployed(name);
      const { Attributes } = await deps.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      const count =
        Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
      return count === 0 ? ok(name, 'empty') : fail(name, `${count} message${count === 1 ? '' : 's'}`, fix);
    });
  }

  checks.push(reconcileCheck(deps.lastReconcile, deps.now?.() ?? new Date()));
  checks.push(exportRecipientsCheck(deps.config));
  return checks;
}

export interface LocalDoctorDeps {
  config: ArchiverConfig;
  running: StackFile | undefined;
  lastReconcile: ReconcileRecord | undefined;
  /** The local dead-letter folders' counts (MAIL_ARCHIVER_HOME/dead-letters, forward-dead-letters). */
  deadLetters?: { ingest: number; parkedForwards: number; unreadable?: { file: string; reason: string }[] };
  /** Whether something answers on host:port (default: a TCP connect). */
  reachable?: (url: string) => Promise<boolean>;
  now?: () => Date;
}

/** The checks of the local stack (`npm start`): it runs, and its S3 and DynamoDB answer. */
export async function runLocalChecks(deps: LocalDoctorDeps): Promise<Check[]> {
  const checks: Check[] = [
    ok(
      'config',
      `valid: ${deps.config.domains.join(', ')}, ${Object.keys(deps.config.mailboxes).length} mailboxes`,
    ),
  ];
  const reachable = deps.reachable ?? tcpReachable;
  if (!deps.running) {
    checks.push(warn('local stack', 'not running', 'npm start'));
  } else {
    checks.push(ok('local stack', `running (pid ${deps.running.pid}, since ${deps.running.startedAt})`));
    const { s3, dynamodb } = deps.running.endpoints;
    for (const [name, url] of Object.entries({ s3, dynamodb })) {
      checks.push(
        (await reachable(url))
          ? ok(`local ${name}`, `answers at ${url}`)
          : fail(
              `local ${name}`,
              `nothing answers at ${url} (not listening, or not responding within 3 s)`,
              'stop npm start and start it again',
            ),
      );
    }
  }
  checks.push(reconcileCheck(deps.lastReconcile, deps.now?.() ?? new Date()));
  checks.push(exportRecipientsCheck(deps.config));
  if (deps.deadLetters) {
    const { ingest, parkedForwards, unreadable = [] } = deps.deadLetters;
    if (unreadable.length > 0)
      checks.push(
        fail(
          'dead letters unreadable',
          unreadable.map((u) => `${u.file}: ${u.reason}`).join('; '),
          'read each, then move it out of the folder (redrive cannot use it)',
        ),
      );
    checks.push(
      ingest === 0
        ? ok('dead letters ingest', 'empty')
        : fail('dead letters ingest', `${ingest} stored messages not indexed`, 'mail-archiver redrive'),
      parkedForwards === 0
        ? ok('parked forwards', 'none')
        : fail(
            'parked forwards',
            `${parkedForwards} parked`,
            'mail-archiver forwards --state failed, then mail-archiver redrive',
          ),
    );
  }
  return checks;
}

/** When reconcile last ran clean: a week without one is a warning, a run that found problems a failure. */
function reconcileCheck(last: ReconcileRecord | undefined, now: Date): Check {
  const name = 'reconcile';
  if (!last) return warn(name, 'no reconcile recorded for this target', 'mail-archiver reconcile');
  if (!last.ok)
    return fail(
      name,
      `the last reconcile (${last.at}) found differences`,
      'mail-archiver reconcile (it lists them, with the command for each)',
    );
  const days = (now.getTime() - Date.parse(last.lastCleanAt ?? last.at)) / 86_400_000;
  if (days > 7) return warn(name, `last ran clean ${Math.floor(days)} days ago`, 'mail-archiver reconcile');
  return ok(name, `ran clean at ${last.lastCleanAt ?? last.at}`);
}

/** The outcome of the last `reconcile` of a target, kept in the data directory. */
export interface ReconcileRecord {
  at: string;
  ok: boolean;
  /** When it last ran clean, possibly before `at`. */
  lastCleanAt?: string;
  /** Raw objects that run found not indexed. */
  notIndexed?: number;
  /** Messages that run's lock sweep left with a version that has no Object Lock retention. */
  unlockedMessages?: number;
}

const recordPath = (home: string, target: string) => join(home, `last-reconcile.${target}.json`);

export function readReconcileRecord(home: string, target: string): ReconcileRecord | undefined {
  const path = recordPath(home, target);
  if (!existsSync(path)) return undefined;
  let parsed: Partial<ReconcileRecord> | null;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<ReconcileRecord> | null;
  } catch {
    return undefined;
  }
  // A record damaged by hand reads as none (doctor said "the last reconcile (undefined) found differences").
  if (typeof parsed?.at !== 'string' || typeof parsed.ok !== 'boolean') return undefined;
  return parsed as ReconcileRecord;
}

/** Records a reconcile run (called by `mail-archiver reconcile`), keeping when it last ran clean. */
export function recordReconcileRun(
  home: string,
  target: string,
  clean: boolean,
  now = new Date(),
  notIndexed?: number,
  unlockedMessages?: number,
): void {
  const previous = readReconcileRecord(home, target);
  const at = now.toISOString();
  const record: ReconcileRecord = {
    at,
    ok: clean,
    lastCleanAt: clean ? at : previous?.lastCleanAt,
    ...(notIndexed !== undefined ? { notIndexed } : {}),
    ...(unlockedMessages !== undefined ? { unlockedMessages } : {}),
  };
  mkdirSync(home, { recursive: true });
  writeFileSync(recordPath(home, target), `${JSON.stringify(record)}\n`);
}

/** The AWS side of doctor with the default credential chain and region; stack outputs when it is deployed. */
export async function awsDoctorDeps(
  config: ArchiverConfig,
  dns: DnsLookups,
  lastReconcile: ReconcileRecord | undefined,
): Promise<AwsDoctorDeps> {
  const ses = new SESClient({});
  const region = await ses.config.region();
  const outputs = await stackOutputs(config.stackName, new CloudFormationClient({})).catch(() => undefined);
  return {
    config,
    region,
    ses,
    sesv2: new SESv2Client({}),
    sns: new SNSClient({}),
    sqs: new SQSClient({}),
    cloudwatch: new CloudWatchClient({}),
    dns,
    outputs,
    lastReconcile,
  };
}

/** Whether a TCP connection to the URL's host and port opens within 2 s. */
/**
 * Whether the service at `url` answers: it accepts a connection and then responds to an HTTP request (any bytes,
 * or closing the connection) within `ms`. A connection alone is not enough: a stopped or hung JVM (DynamoDB
 * Local under SIGSTOP, a full GC) still has its socket accepted by the kernel, and every command then waited on
 * it for ever while doctor said "answers".
 */
export function tcpReachable(url: string, ms = 3000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () =>
      socket.write(`GET / HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
    );
    socket.once('data', () => done(true));
    socket.once('end', () => done(true));
    socket.once('error', () => done(false));
  });
}

const stripDot = (name: string) => name.replace(/\.$/, '');
const percent = (rate: number | undefined) =>
  rate === undefined ? 'no data' : `${(rate * 100).toFixed(2)}%`;

/** The report for people: one line per check, the fix under it. */
export function formatChecks(checks: Check[]): string[] {
  const width = Math.max(...checks.map((c) => c.name.length));
  return checks.flatMap((c) => [
    `${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`,
    ...(c.fix ? [`${' '.repeat(6 + width)}  fix: ${c.fix}`] : []),
  ]);
}
