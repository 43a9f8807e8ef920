// Scheduled reconcile: every 6 hours the raw store, the index and the forwarding ledger are compared (what changed
// since the last clean run, the whole archive once a week), and what is missing from the index is reindexed
// (lambdas/reconcile). A raw object no notification announced (SES could
// not publish, SNS could not deliver) is found here rather than by hand; what cannot be repaired fails the run,
// which alarms.
import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import type { ArchiverConfig } from '../../shared/config';
import { METRICS_NAMESPACE, RECONCILE_SERVICE, UNLOCKED_MESSAGES_METRIC } from '../../shared/metrics';
import { ArchiverFunction } from './archiver-function';
import type { Forwarding } from './forwarding';
import type { IndexTable } from './index-table';
import type { OperatorAlarms } from './operator-alarms';
import type { RawMailStore } from './raw-mail-store';

/**
 * How often the schedule invokes the function: each tick goes on with a run in progress, starts one that is due,
 * or returns at once. Equal to the function's timeout, so a tick normally finds the last invocation gone; one
 * that finds it still working leaves (lambdas/reconcile/handler.ts holds the run with a lease).
 */
export const RECONCILE_TICK = Duration.minutes(15);

/** Props of {@link ScheduledReconcile}. */
export interface ScheduledReconcileProps {
  readonly config: ArchiverConfig;
  /** The raw-mail bucket, on whose prefixes this construct grants its functions access. */
  readonly rawMail: RawMailStore;
  /** The index table, on which this construct grants its functions item (and where needed query) access. */
  readonly index: IndexTable;
  /** Forwarding, whose queue reconcile re-enqueues missing forwards into. */
  readonly forwarding: Forwarding;
  /** Where this construct's alarms notify the operator. */
  readonly alarms: OperatorAlarms;
  /**
   * How often a run starts (a run that takes longer than one invocation goes on at the next ticks, every
   * {@link RECONCILE_TICK} or `every` if shorter).
   * @default - every 6 hours
   */
  readonly every?: Duration;
  /**
   * How often a run walks the whole archive; the runs in between compare what changed since the last clean run
   * (shared/archive/reconcile-scope.ts).
   * @default - every 7 days
   */
  readonly fullEvery?: Duration;
}

/**
 * Scheduled reconcile: compares the raw store, the index and the forwarding ledger on a schedule and reindexes
 * what is missing; a run that cannot repair fails, which alarms. Grants: read raw mail (incoming/*), read and
 * write envelopes and reports/*, item actions and `Query` on the index table and its indexes, enqueue forwards.
 */
export class ScheduledReconcile extends Construct {
  /** The reconcile function (lambdas/reconcile). */
  readonly function: ArchiverFunction;

  constructor(scope: Construct, id: string, props: ScheduledReconcileProps) {
    super(scope, id);
    const { rawMail, index, forwarding, alarms } = props;
    const every = props.every ?? Duration.hours(6);
    const fullEvery = props.fullEvery ?? Duration.days(7);
    this.function = new ArchiverFunction(this, 'ReconcileFunction', {
      entry: 'lambdas/reconcile/index.ts',
      description: 'Compares raw mail, the index and the forwarding ledger; reindexes what is missing',
      config: props.config,
      memorySize: 1024,
      timeout: Duration.minutes(15),
      // A failed run is reported by its alarm and repeated by the next schedule, not retried at once.
      retryAttempts: 0,
      environment: {
        INDEX_TABLE: index.table.tableName,
        RAW_BUCKET: rawMail.bucket.bucketName,
        FORWARD_QUEUE_URL: forwarding.queue.queueUrl,
        POWERTOOLS_SERVICE_NAME: RECONCILE_SERVICE,
        RECONCILE_EVERY_MINUTES: String(every.toMinutes()),
        RECONCILE_FULL_EVERY_MINUTES: String(fullEvery.toMinutes()),
      },
    });
    rawMail.grantRawMailRead(this.function, 'scheduled reconcile');
    rawMail.grantEnvelopeReadWrite(this.function);
    rawMail.grantReportsReadWrite(this.function);
    const locking = props.config.archive.lock.mode !== 'off';
    // The sweep's grant holds the lock step of what reconcile itself writes.
    if (locking) {
      rawMail.grantLockSweep(this.function);
      // Reindex archives like ingest: a canary's versions are tagged, not locked.
      rawMail.grantCanaryTagging(this.function);
    }
    rawMail.grantDeliveryLogAppend(this.function, { read: true });
    forwarding.grantEnqueue(this.function);
    index.grantWithIndexes(
      this.function,
      'reconcile and reindex query',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
      // Every delivery row of every mailbox is compared with the raw store.
      'dynamodb:Scan',
    );
    new Rule(this, 'ReconcileSchedule', {
      description: 'Runs the archiver reconcile (and reindex) on a schedule',
      schedule: Schedule.rate(every.toMinutes() < RECONCILE_TICK.toMinutes() ? every : RECONCILE_TICK),
      targets: [new LambdaFunction(this.function, { retryAttempts: 0 })],
    });
    if (locking) {
      alarms.alarmWhenAboveZero(
        'UnlockedMessagesAlarm',
        new Metric({
          namespace: METRICS_NAMESPACE,
          metricName: UNLOCKED_MESSAGES_METRIC,
          dimensionsMap: { service: RECONCILE_SERVICE },
          statistic: 'Maximum',
          period: Duration.hours(6),
        }),
        'The lock sweep left messages with a version that has no Object Lock retention: see the reconcile log, then `mail-archiver reconcile`',
      );
    }
    alarms.alarmWhenAboveZero(
      'ReconcileErrorsAlarm',
      this.function.metricErrors({ period: Duration.hours(1) }),
      'The scheduled reconcile found differences it could not repair (or failed): see its log, then `mail-archiver reconcile`',
    );
    // A run that fails alarms above; a run that never happens (the rule disabled, the function deleted or
    // throttled, the schedule gone) alarms here, when no run has ended clean for twice the period.
    alarms.alarmWhenSilent('ReconcileHeartbeatAlarm', {
      service: RECONCILE_SERVICE,
      hours: Math.ceil(every.toHours({ integral: false }) * 2),
      alarmDescription: `The scheduled reconcile has not ended clean for twice its period (${every.toHumanString()}): see whether its rule is enabled and its function's log, then \`mail-archiver reconcile --target aws\``,
    });
  }
}
