// Stored -> indexed: SES's notification of each stored message lands in a durable queue (with a dead-letter
// queue), so no message depends on one invocation; the ingest function indexes it and queues its forwards.
import { Duration, Validations } from 'aws-cdk-lib';
import { ComparisonOperator } from 'aws-cdk-lib/aws-cloudwatch';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { SqsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ArchiverConfig } from '../../shared/config';
import { INGEST_SERVICE } from '../../shared/metrics';
import { ArchiverFunction } from './archiver-function';
import type { Forwarding } from './forwarding';
import type { IndexTable } from './index-table';
import { INGEST_MEMORY_MB } from './lambda-memory';
import type { OperatorAlarms } from './operator-alarms';
import { durableQueue, visibilityTimeoutFor } from './queues';
import type { RawMailStore } from './raw-mail-store';

/** Props of {@link IngestPipeline}. */
export interface IngestPipelineProps {
  readonly config: ArchiverConfig;
  /** Where SES announces each stored message. */
  readonly receivedTopic: ITopic;
  /** The raw-mail bucket, on whose prefixes this construct grants its functions access. */
  readonly rawMail: RawMailStore;
  /** The index table, on which this construct grants its functions item (and where needed query) access. */
  readonly index: IndexTable;
  /** Forwarding, whose queue the ingest function enqueues forwards into. */
  readonly forwarding: Forwarding;
  /** Where this construct's alarms notify the operator. */
  readonly alarms: OperatorAlarms;
}

/**
 * Stored -> indexed: SES's notification of each stored message reaches a durable queue (with a dead-letter
 * queue); the ingest function indexes the message and enqueues its forwards. Grants: the ingest function reads
 * raw mail (incoming/*), reads and writes envelopes, gets item access on the index table and may enqueue forwards.
 */
export class IngestPipeline extends Construct {
  /** One SES notification per stored message (subscribed to the received topic). */
  readonly queue: Queue;
  /** Messages that could not be indexed after 5 attempts. */
  readonly deadLetterQueue: Queue;
  /** Indexes each stored message and enqueues its forwards. */
  readonly function: ArchiverFunction;
  /** Notifications SNS could not deliver to the ingest queue (the subscription's redrive policy). */
  readonly notificationDeadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: IngestPipelineProps) {
    super(scope, id);
    const { rawMail, index, forwarding, alarms } = props;
    const timeout = Duration.minutes(5);

    this.deadLetterQueue = durableQueue(this, 'IngestDeadLetterQueue');
    this.queue = durableQueue(this, 'IngestQueue', {
      visibilityTimeout: visibilityTimeoutFor(timeout),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    // SNS retries a delivery it cannot make (the queue's key, its policy) and then keeps the notification here,
    // rather than dropping it: the raw object would otherwise sit in incoming/ with nothing to index it.
    this.notificationDeadLetterQueue = durableQueue(this, 'ReceivedNotificationDeadLetterQueue');
    Validations.of(this.notificationDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'It is a dead-letter queue itself: the redrive policy of the SNS subscription of the ingest queue',
    });
    props.receivedTopic.addSubscription(
      new SqsSubscription(this.queue, {
        rawMessageDelivery: true,
        deadLetterQueue: this.notificationDeadLetterQueue,
      }),
    );

    this.function = new ArchiverFunction(this, 'IngestFunction', {
      entry: 'lambdas/ingest/index.ts',
      description: 'Indexes each raw message stored by SES into the DynamoDB index',
      // Ingest streams each message, a 40 MB one too: its peak is far below this (lambda-memory.ts says where the
      // figures are).
      memorySize: INGEST_MEMORY_MB,
      timeout,
      config: props.config,
      environment: {
        INDEX_TABLE: index.table.tableName,
        RAW_BUCKET: rawMail.bucket.bucketName,
        FORWARD_QUEUE_URL: forwarding.queue.queueUrl,
        POWERTOOLS_SERVICE_NAME: INGEST_SERVICE,
      },
    });
    forwarding.grantEnqueue(this.function);
    rawMail.grantEnvelopeReadWrite(this.function);
    rawMail.grantDeliveryLogAppend(this.function);
    this.function.addEventSource(
      new SqsEventSource(this.queue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 20 }),
    );
    rawMail.grantRawMailRead(this.function, 'ingest function');
    if (props.config.archive.lock.mode !== 'off') {
      rawMail.grantLock(this.function);
      rawMail.grantLockedRead(this.function);
      // A message only to the canary address is tagged instead of locked (it expires).
      rawMail.grantCanaryTagging(this.function);
    }
    // Item access on the table only: ingest reads, writes and updates rows by key, never by index.
    index.grantItems(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');

    alarms.alarmWhenAboveZero(
      'IngestDeadLettersAlarm',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      'A received message could not be indexed after 5 attempts: see the ingest dead-letter queue',
    );
    alarms.alarmWhenAboveZero(
      'ReceivedNotificationsFailedAlarm',
      props.receivedTopic.metricNumberOfNotificationsFailed({ period: Duration.minutes(5) }),
      'SNS could not deliver a received-mail notification to the ingest queue: it is kept in the notification dead-letter queue (`mail-archiver redrive`); `reconcile` finds the message',
    );
    alarms.alarmWhenAboveZero(
      'ReceivedNotificationDeadLettersAlarm',
      this.notificationDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
      }),
      'A received-mail notification could not be delivered to the ingest queue: run `mail-archiver redrive`',
    );
    alarms.alarm('IngestQueueStuckAlarm', {
      alarmDescription:
        'A received message has waited in the ingest queue for over an hour: ingest is failing or throttled',
      metric: this.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 3600,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    alarms.alarmWhenAboveZero(
      'IngestErrorsAlarm',
      this.function.metricErrors({ period: Duration.minutes(5) }),
      'The ingest function failed',
    );
  }
}
