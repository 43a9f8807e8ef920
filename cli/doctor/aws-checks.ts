// The checks of `mail-archiver doctor` against AWS, a preflight run before and after `cdk deploy`. They read SES,
// SNS, SQS, CloudWatch, S3 (the canary record; aws-health.ts) and DNS, and change nothing. The thresholds and names are AWS's: SES's reputation review
// levels, its inbound endpoint per region, its DKIM CNAME layout (<token>._domainkey.<domain> ->
// <token>.dkim.amazonses.com).
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DescribeActiveReceiptRuleSetCommand, SESClient } from '@aws-sdk/client-ses';
import { GetAccountCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { SqsDeadLetterQueue } from '../../shared/adapters/sqs-dead-letters';
import type { ReconcileRun } from '../../shared/archive/reconcile-run';
import { type ArchiverConfig, receivingDomains } from '../../shared/config';
import { errorName } from '../../shared/errors';
import type { DeliveryIndex, RawMailStore } from '../../shared/ports';
import { type StackOutputs, stackOutputs } from '../target/aws';
import { DEAD_LETTER_QUEUES, type DeadLetterQueue } from '../target/dead-letter-queues';
import { type ArchiveHealth, awsLastReconcile, healthView } from '../target/health';
import { alarmsCheck, canaryCheck } from './aws-health';
import { type Check, fail, type NamedCheck, ok, reconcileCheck, runChecks, warn } from './check';
import { exportRecipientsCheck } from './export-encryption';
import { lastReceivedCheck } from './health-view';

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
  /** Reads the canary record (reports/canary.json) in the raw-mail bucket. */
  s3: S3Client;
  dns: DnsLookups;
  /** The deployed stack's outputs; undefined before the first deploy. */
  outputs: StackOutputs | undefined;
  /** The last `reconcile --target aws` this machine recorded, if any (the scheduled one's is read from S3). */
  lastReconcile: ReconcileRun | undefined;
  /** The data directory (MAIL_ARCHIVER_HOME): the health view reads the CLI's last reconcile there. */
  home: string;
  /** The deployed archive's raw-mail store and index (the health view); undefined before the first deploy. */
  archive:
    | { store: RawMailStore; bucket: string; index: Pick<DeliveryIndex, 'mailboxes' | 'listDeliveries'> }
    | undefined;
  now?: () => Date;
}

/** One doctor run against AWS: its deps, and what one check found that a later one reads. */
interface AwsRun {
  deps: AwsDoctorDeps;
  /** A domain's DKIM tokens, as its identity check found them (none: the identity does not exist). */
  dkimTokens: Map<string, string[]>;
  /** The health view, read once (cli/target/health.ts healthView); rejects before the first deploy. */
  health: () => Promise<ArchiveHealth>;
}

/** SES reviews an account at a 10% bounce rate and 0.5% complaint rate, and recommends staying under 5% and 0.1%. */
export const REPUTATION_LIMITS = {
  bounce: { warn: 0.05, fail: 0.1 },
  complaint: { warn: 0.001, fail: 0.005 },
} as const;

/** The SES inbound SMTP endpoint of a region, what each domain's MX record must name. */
export const inboundEndpoint = (region: string) => `inbound-smtp.${region}.amazonaws.com`;

const notDeployed = (name: string) =>
  warn(name, 'the stack is not deployed yet', 'run cdk deploy, then doctor again');

const region: NamedCheck<AwsRun> = {
  name: 'region',
  async run({ deps }) {
    const endpoint = inboundEndpoint(deps.region);
    try {
      await deps.dns.resolve4(endpoint);
      return ok('region', `SES receives mail in ${deps.region} (${endpoint})`);
    } catch {
      return fail(
        'region',
        `SES does not receive mail in ${deps.region}: ${endpoint} does not resolve`,
        'deploy to a region where SES receives mail (set AWS_REGION; see the README)',
      );
    }
  },
};

const receiptRuleSet: NamedCheck<AwsRun> = {
  name: 'receipt rule set',
  async run({ deps: { ses, config, region } }) {
    const active = (await ses.send(new DescribeActiveReceiptRuleSetCommand({}))).Metadata?.Name;
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
  },
};

const sending: NamedCheck<AwsRun> = {
  name: 'sending',
  async run({ deps: { sesv2, region } }) {
    const account = await sesv2.send(new GetAccountCommand({}));
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
  },
};

/** The domain's SES identity: verified and DKIM signing; also whether SES mails feedback to the sender. */
const identity = (domain: string): NamedCheck<AwsRun> => ({
  name: `identity ${domain}`,
  async run({ deps: { sesv2, config, region }, dkimTokens }) {
    const name = `identity ${domain}`;
    try {
      const found = await sesv2.send(new GetEmailIdentityCommand({ EmailIdentity: domain }));
      dkimTokens.set(domain, found.DkimAttributes?.Tokens ?? []);
      const dkim = found.DkimAttributes?.Status;
      const results: Check[] = [];
      if (found.VerifiedForSendingStatus && dkim === 'SUCCESS')
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
      if (found.FeedbackForwardingStatus) {
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
  },
});

/** The domain's DKIM CNAMEs resolve to SES's (the tokens its identity check found). */
const dkim = (domain: string): NamedCheck<AwsRun> => ({
  name: `dkim ${domain}`,
  async run({ deps, dkimTokens }) {
    const name = `dkim ${domain}`;
    const tokens = dkimTokens.get(domain) ?? [];
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
  },
});

/** The receiving domain's preferred MX is SES's inbound endpoint of the region. */
const mx = (domain: string): NamedCheck<AwsRun> => ({
  name: `mx ${domain}`,
  async run({ deps }) {
    const name = `mx ${domain}`;
    const endpoint = inboundEndpoint(deps.region);
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
  },
});

const alarmSubscription: NamedCheck<AwsRun> = {
  name: 'alarm subscription',
  async run({ deps: { outputs, sns, config } }) {
    const name = 'alarm subscription';
    if (!outputs?.AlarmTopicArn) return notDeployed(name);
    const { Subscriptions } = await sns.send(
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
  },
};

const reputation: NamedCheck<AwsRun> = {
  name: 'reputation',
  async run({ deps }) {
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
  },
};

/** A dead-letter queue of the stack is empty (cli/target/dead-letter-queues.ts lists them). */
const deadLetters = ({ check: name, output, fix }: DeadLetterQueue): NamedCheck<AwsRun> => ({
  name,
  async run({ deps }) {
    const url = deps.outputs?.[output];
    if (!url) return notDeployed(name);
    const { waiting, inFlight } = await new SqsDeadLetterQueue(deps.sqs, url).count();
    const count = waiting + inFlight;
    return count === 0 ? ok(name, 'empty') : fail(name, `${count} message${count === 1 ? '' : 's'}`, fix);
  },
});

/** The last reconcile as status shows it: the scheduled one's record in S3 or this machine's, the later. */
const reconcile: NamedCheck<AwsRun> = {
  name: 'reconcile',
  run: async ({ deps }) =>
    reconcileCheck(
      deps.archive ? await awsLastReconcile(deps.archive, deps.lastReconcile) : deps.lastReconcile,
      deps.now?.() ?? new Date(),
    ),
};

const lastReceived: NamedCheck<AwsRun> = {
  name: 'last received',
  async run({ deps, health }) {
    if (!deps.archive) return notDeployed('last received');
    return lastReceivedCheck(deps.config, await health(), deps.now?.() ?? new Date());
  },
};

const exportEncryption: NamedCheck<AwsRun> = {
  name: 'export encryption',
  run: async ({ deps }) => exportRecipientsCheck(deps.config),
};

/** Every check against the stack of `config`, in the report's order. */
export function awsChecks(config: ArchiverConfig): NamedCheck<AwsRun>[] {
  return [
    region,
    receiptRuleSet,
    sending,
    ...config.domains.flatMap((domain) => [identity(domain), dkim(domain)]),
    ...receivingDomains(config).map(mx),
    alarmSubscription,
    reputation,
    lastReceived,
    ...DEAD_LETTER_QUEUES.map(deadLetters),
    reconcile,
    canaryCheck,
    alarmsCheck,
    exportEncryption,
  ];
}

/**
 * Every check against the deployed (or about to be deployed) stack, and the health view `status` shows (absent
 * before the first deploy, or when a call it makes failed: the checks name that call). Never throws: a failed call
 * is a failed check.
 */
export async function runAwsDoctor(
  deps: AwsDoctorDeps,
): Promise<{ checks: Check[]; health: ArchiveHealth | undefined }> {
  let view: Promise<ArchiveHealth> | undefined;
  const health = () => {
    view ??= deps.archive
      ? healthView(deps.config, deps.archive, deps.home, deps)
      : Promise.reject(new Error('the stack is not deployed yet'));
    return view;
  };
  const checks = await runChecks(
    awsChecks(deps.config),
    { deps, dkimTokens: new Map(), health },
    'check the AWS credentials and region, then run doctor again',
  );
  return { checks, health: deps.archive ? await health().catch(() => undefined) : undefined };
}

/** The checks of runAwsDoctor. */
export async function runAwsChecks(deps: AwsDoctorDeps): Promise<Check[]> {
  return (await runAwsDoctor(deps)).checks;
}

/** The AWS side of doctor with the default credential chain and region; stack outputs when it is deployed. */
export async function awsDoctorDeps(
  config: ArchiverConfig,
  dns: DnsLookups,
  lastReconcile: ReconcileRun | undefined,
  home: string,
): Promise<AwsDoctorDeps> {
  const ses = new SESClient({});
  const region = await ses.config.region();
  const outputs = await stackOutputs(config.stackName, new CloudFormationClient({})).catch(() => undefined);
  const s3 = new S3Client({});
  const bucket = outputs?.RawMailBucketName;
  const tableName = outputs?.IndexTableName;
  return {
    home,
    archive:
      bucket && tableName
        ? {
            store: new S3RawMailStore(s3),
            bucket,
            index: new DynamoMailIndex(new DynamoDBClient({}), tableName),
          }
        : undefined,
    config,
    region,
    ses,
    sesv2: new SESv2Client({}),
    sns: new SNSClient({}),
    sqs: new SQSClient({}),
    cloudwatch: new CloudWatchClient({}),
    s3,
    dns,
    outputs,
    lastReconcile,
  };
}

const stripDot = (name: string) => name.replace(/\.$/, '');
const percent = (rate: number | undefined) =>
  rate === undefined ? 'no data' : `${(rate * 100).toFixed(2)}%`;
