// The Gmail API side of forwarding (only when a target says `via: "gmail-api"`): one Secrets Manager secret per
// such target (`<stack>/gmail/<address>`, created empty; `mail-archiver gmail-auth <mailbox> --target aws` puts
// the credential in), read by the forward function; an alarm when Google refuses a credential (the functions
// log GMAIL_AUTH_FAILURE_LOG); and, for targets with `collectSent`, a scheduled function that archives what the
// user sent from Gmail into the mailbox's Sent folder.
import { Duration, SecretValue, Validations } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FilterPattern, type ILogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type ArchiverConfig, gmailApiTargets } from '../../shared/config';
import { gmailSecretName } from '../../shared/index/schema';
import { GMAIL_AUTH_FAILURE_LOG, SENT_COLLECTOR_SERVICE } from '../../shared/metrics';
import { ArchiverFunction } from './archiver-function';
import type { IndexTable } from './index-table';
import type { OperatorAlarms } from './operator-alarms';
import type { RawMailStore } from './raw-mail-store';

/** Props of {@link GmailDelivery}. */
export interface GmailDeliveryProps {
  readonly config: ArchiverConfig;
  /** The forward function, which imports into Gmail with these credentials. */
  readonly forwardFunction: ArchiverFunction;
  /** The raw-mail bucket, on whose prefixes this construct grants its functions access. */
  readonly rawMail: RawMailStore;
  /** The index table, on which this construct grants its functions item (and where needed query) access. */
  readonly index: IndexTable;
  /** Where this construct's alarms notify the operator. */
  readonly alarms: OperatorAlarms;
  /**
   * How often the Sent collection runs.
   * @default - every 15 minutes
   */
  readonly collectEvery?: Duration;
}

/** The CloudWatch metric the Gmail authorisation alarm watches. */
export const GMAIL_AUTH_METRIC = { namespace: 'MailArchiver', metricName: 'GmailAuthFailures' } as const;

/**
 * The Gmail API side of forwarding: one Secrets Manager secret per `via: "gmail-api"` target, the authorisation
 * alarm, and the scheduled Sent collection for targets with `collectSent`. Grants: `secretsmanager:GetSecretValue`
 * on each secret to the forward function (and, for collecting targets, to the Sent collector); the collector
 * reads and writes its raw-mail prefixes and gets item access on the index table.
 */
export class GmailDelivery extends Construct {
  /** One secret per `via: "gmail-api"` target, by address. */
  readonly secrets = new Map<string, Secret>();
  /** The scheduled Sent collection, when a target collects. */
  readonly sentCollector?: ArchiverFunction;

  constructor(scope: Construct, id: string, props: GmailDeliveryProps) {
    super(scope, id);
    const { config, forwardFunction, rawMail, index, alarms } = props;
    const targets = gmailApiTargets(config);
    for (const target of targets) {
      const secret = new Secret(this, `Credential-${target.address}`, {
        secretName: gmailSecretName(config.stackName, target.address),
        description: `Gmail API credential of ${target.address} (service account key or refresh token); set it with: mail-archiver gmail-auth ${target.mailbox} --target aws`,
        // Created empty ("{}": no credential yet); never generated, never in the template.
        secretStringValue: SecretValue.unsafePlainText('{}'),
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'A Google refresh token or service account key cannot be rotated by a Lambda: it is replaced by running gmail-auth again',
      });
      // The credential store only reads the secret (GetSecretValue); grantRead would add DescribeSecret.
      grantSecretValue(secret, forwardFunction);
      this.secrets.set(target.address, secret);
    }

    const authFailures: ILogGroup[] = [forwardFunction.logGroup];
    const collecting = targets.filter((t) => t.collectSent);
    if (collecting.length > 0) {
      this.sentCollector = new ArchiverFunction(this, 'SentCollectorFunction', {
        entry: 'lambdas/gmail-sent/index.ts',
        description:
          'Archives what Gmail users sent (SENT label, by history id) into their mailboxes Sent folders',
        memorySize: 1024,
        timeout: Duration.minutes(10),
        // One run at a time: a second one would fetch the same messages (harmless, but wasted quota).
        reservedConcurrentExecutions: 1,
        environment: {
          INDEX_TABLE: index.table.tableName,
          RAW_MAIL_BUCKET: rawMail.bucket.bucketName,
          POWERTOOLS_SERVICE_NAME: SENT_COLLECTOR_SERVICE,
        },
      });
      for (const target of collecting) {
        const secret = this.secrets.get(target.address);
        if (secret) grantSecretValue(secret, this.sentCollector);
      }
      rawMail.grantSentCollection(this.sentCollector);
      if (config.archive.lock.mode !== 'off') rawMail.grantLock(this.sentCollector);
      rawMail.grantDeliveryLogAppend(this.sentCollector);
      index.grantItems(this.sentCollector, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
      const every = props.collectEvery ?? Duration.minutes(15);
      new Rule(this, 'SentCollectorSchedule', {
        description: 'Runs the Gmail Sent collection',
        schedule: Schedule.rate(every),
        targets: [new LambdaFunction(this.sentCollector, { retryAttempts: 0 })],
      });
      authFailures.push(this.sentCollector.logGroup);
      alarms.alarmWhenAboveZero(
        'SentCollectorErrorsAlarm',
        this.sentCollector.metricErrors({ period: Duration.minutes(15) }),
        'The Gmail Sent collection failed for a target: see its log',
      );
      // A heartbeat: twice the schedule's period, in whole hours (the alarm's periods are hours).
      alarms.alarmWhenSilent('SentCollectorHeartbeatAlarm', {
        service: SENT_COLLECTOR_SERVICE,
        hours: Math.max(1, Math.ceil((2 * every.toMinutes()) / 60)),
        alarmDescription:
          'No Gmail Sent collection ended without a failure for twice its period: its SentCollectorSchedule rule, its log',
      });
    }

    // Google refused a credential (HTTP 401, a revoked or expired refresh token, a missing delegation): every
    // import and collection for that user fails until someone runs gmail-auth again.
    authFailures.forEach((logGroup, i) => {
      new MetricFilter(this, `AuthFailureFilter${i}`, {
        logGroup,
        filterPattern: FilterPattern.stringValue('$.message', '=', GMAIL_AUTH_FAILURE_LOG),
        metricNamespace: GMAIL_AUTH_METRIC.namespace,
        metricName: GMAIL_AUTH_METRIC.metricName,
        metricValue: '1',
      });
    });
    alarms.alarmWhenAboveZero(
      'GmailAuthFailureAlarm',
      new Metric({ ...GMAIL_AUTH_METRIC, statistic: 'Sum', period: Duration.minutes(5) }),
      'Google refused a Gmail API credential (401 or invalid_grant): run mail-archiver gmail-auth <mailbox> --target aws, then mail-archiver redrive',
    );
  }
}

/** secretsmanager:GetSecretValue on the one secret: all the Gmail credential store calls. */
function grantSecretValue(secret: Secret, fn: ArchiverFunction): void {
  fn.addToRolePolicy(
    new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
  );
}
