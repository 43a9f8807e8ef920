// What tells the operator the archive stopped receiving, when nothing fails loudly: the canary (a scheduled
// function that sends a small message through SES to the archive's own canary address and checks, on its next
// run, that the previous one was archived) and its alarms, and the silence alarm (no mail at all for a while). docs/operations.md has what each alarm means.
import { Duration, Stack } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { ArchiverConfig } from '../../shared/config';
import { canaryAddress } from '../../shared/health/config';
import { addressDomain } from '../../shared/mail/address';
import {
  CANARY_FAILED_METRIC,
  CANARY_SERVICE,
  INGEST_SERVICE,
  MESSAGES_RECEIVED_METRIC,
  METRICS_NAMESPACE,
} from '../../shared/metrics';
import { ArchiverFunction } from './archiver-function';
import type { IndexTable } from './index-table';
import type { OperatorAlarms } from './operator-alarms';
import type { RawMailStore } from './raw-mail-store';

/** Props of {@link ArchiveHealth}. */
export interface ArchiveHealthProps {
  /** The config: `health.canary` (on, address, period, window, ping URL). */
  readonly config: ArchiverConfig;
  /** The raw-mail bucket: the canary record (reports/canary.json), and the raw objects a lost canary is sought in. */
  readonly rawMail: RawMailStore;
  /** The index table: the canary mailbox's rows. */
  readonly index: IndexTable;
  /** Where this construct's alarms notify the operator. */
  readonly alarms: OperatorAlarms;
}

/**
 * The silence alarm, when `health.silenceAlarmHours` is set (SilenceAlarm: no message archived for a mailbox other
 * than the canary's for that many hours). The canary, when `health.canary.enabled`: a function on a schedule of `everyHours`, and two alarms,
 * CanaryFailedAlarm (the previous canary late or lost, or SES refused this one) and CanaryHeartbeatAlarm (no run
 * ended for twice the period). Grants the function: read and write reports/*, read incoming/* and list the
 * bucket (a lost canary's raw object is sought by listing), `Query` on the index table and its indexes, and
 * `ses:SendEmail` on the canary's own identities only when the From address is the canary address and every
 * recipient is the canary address (IAM condition keys ses:FromAddress and ses:Recipients, SES developer guide,
 * "Identity and access management in Amazon SES").
 */
export class ArchiveHealth extends Construct {
  /** The canary function (lambdas/canary), when the canary is on. */
  readonly canaryFunction?: ArchiverFunction;

  constructor(scope: Construct, id: string, props: ArchiveHealthProps) {
    super(scope, id);
    const { config, rawMail, index, alarms } = props;
    const { canary, silenceAlarmHours } = config.health;
    if (silenceAlarmHours !== undefined) {
      // Ingest counts what it archived for a mailbox other than the canary's: a canary arriving does not hide a
      // domain that stopped receiving its own mail.
      alarms.alarmWhenSilent('SilenceAlarm', {
        service: INGEST_SERVICE,
        metricName: MESSAGES_RECEIVED_METRIC,
        hours: silenceAlarmHours,
        alarmDescription: `No message was received for ${silenceAlarmHours} hours (health.silenceAlarmHours): see the domain's MX records, SES receiving, the active receipt rule set (mail-archiver doctor --target aws)`,
      });
    }
    if (!canary.enabled) return;
    const address = canaryAddress(config);
    const every = Duration.hours(canary.everyHours);
    const fn = new ArchiverFunction(this, 'CanaryFunction', {
      entry: 'lambdas/canary/index.ts',
      description: 'Checks that the previous canary was archived, then sends the next one through SES',
      config,
      memorySize: 512,
      // A canary that is not indexed is sought among the raw objects: a listing of incoming/ (1,000 keys per
      // request), which grows with the archive.
      timeout: Duration.minutes(5),
      // A failed run is reported by the heartbeat alarm and repeated by the next schedule, not retried at once
      // (a retry would send a second canary).
      retryAttempts: 0,
      environment: {
        RAW_BUCKET: rawMail.bucket.bucketName,
        INDEX_TABLE: index.table.tableName,
        POWERTOOLS_SERVICE_NAME: CANARY_SERVICE,
      },
    });
    this.canaryFunction = fn;
    rawMail.grantReportsReadWrite(fn, 'canary');
    rawMail.grantRawMailRead(fn, 'canary (the header block of a canary not indexed yet)');
    rawMail.grantList(fn);
    index.grantWithIndexes(fn, 'the canary queries for its mailbox newest first', 'dynamodb:Query');
    // SES authorizes a send against the sending identity and, in the sandbox, the recipient's identity: both are
    // the canary address (an address identity, if one is ever verified) or its domain.
    const stack = Stack.of(this);
    const identity = (name: string) =>
      `arn:${stack.partition}:ses:${stack.region}:${stack.account}:identity/${name}`;
    fn.addToRolePolicy(
      new PolicyStatement({
        // SES v2 SendEmail (raw content included) is authorized as ses:SendEmail.
        actions: ['ses:SendEmail'],
        resources: [identity(addressDomain(address)), identity(address)],
        conditions: {
          StringEquals: { 'ses:FromAddress': address },
          // Every recipient is the canary address, and there is at least one (ForAllValues alone matches a
          // request without the key: IAM User Guide, "Single-valued vs. multivalued context keys").
          'ForAllValues:StringEquals': { 'ses:Recipients': [address] },
          Null: { 'ses:Recipients': 'false' },
        },
      }),
    );

    new Rule(this, 'CanarySchedule', {
      description: `Sends the archiver's canary every ${canary.everyHours} h and checks the previous one`,
      schedule: Schedule.rate(every),
      targets: [new LambdaFunction(fn, { retryAttempts: 0 })],
    });
    alarms.alarmWhenAboveZero(
      'CanaryFailedAlarm',
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: CANARY_FAILED_METRIC,
        dimensionsMap: { service: CANARY_SERVICE },
        statistic: 'Maximum',
        // One data point per run: the alarm stays in ALARM until a run finds the canary on time again.
        period: every,
      }),
      `The canary sent to ${address} was not archived within ${canary.windowMinutes} minutes (or SES refused to send it): the canary function's log says where its path broke (sent, stored in S3, indexed); then \`mail-archiver doctor --target aws\``,
    );
    alarms.alarmWhenSilent('CanaryHeartbeatAlarm', {
      service: CANARY_SERVICE,
      hours: canary.everyHours * 2,
      alarmDescription: `No canary run has ended for twice its period (${every.toHumanString()}): see whether the CanarySchedule rule is enabled and the canary function's log`,
    });
  }
}
