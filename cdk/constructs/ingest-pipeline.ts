// Stored -> indexed: SES's notification of each stored message lands in a durable queue (with a dead-letter
// queue), so no message depends on one invocation; the ingest function indexes it and queues its forwards.
import { Duration } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { SqsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ArchiverConfig } from '../../shared/config';
import { keepChildLogicalIds } from '../logical-ids';
import { ArchiverFunction } from './archiver-function';
import type { Forwarding } from './forwarding';
import type { IndexTable } from './index-table';
import type { OperatorAlarms } from './operator-alarms';
import { durableQueue, visibilityTimeoutFor } from './queues';
import type { RawMailStore } from './raw-mail-store';

export interface IngestPipelineProps {
  readonly config: ArchiverConfig;
  /** Where SES announces each stored message. */
  readonly receivedTopic: ITopic;
  readonly rawMail: RawMailStore;
  readonly index: IndexTable;
  readonly forwarding: Forwarding;
  readonly alarms: OperatorAlarms;
}

export class IngestPipeline extends Construct {
  readonly queue: Queue;
  /** Messages that could not be indexed after 5 attempts. */
  readonly deadLetterQueue: Queue;
  readonly function: ArchiverFunction;

  constructor(scope: Construct, id: string, props: IngestPipelineProps) {
    super(scope, id);
    keepChildLogicalIds(this);
    const { rawMail, index, forwarding, alarms } = props;
    const timeout = Duration.minutes(5);

    this.deadLetterQueue = durableQueue(this, 'IngestDeadLetterQueue');
    this.queue = durableQueue(this, 'IngestQueue', {
      visibilityTimeout: visibilityTimeoutFor(timeout),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    props.receivedTopic.addSubscription(new SqsSubscription(this.queue, { rawMessageDelivery: true }));

    this.function = new ArchiverFunction(this, 'IngestFunction', {
      entry: 'lambdas/ingest/index.ts',
      description: 'Indexes each raw message stored by SES into the DynamoDB index',
      // 40 MB messages are streamed, so memory is for CPU share, not for holding mail.
      memorySize: 1024,
      timeout,
      config: props.config,
      environment: {
        INDEX_TABLE: index.table.tableName,
        RAW_BUCKET: rawMail.bucket.bucketName,
        FORWARD_QUEUE_URL: forwarding.queue.queueUrl,
        POWERTOOLS_SERVICE_NAME: 'mail-archiver-ingest',
      },
    });
    forwarding.grantEnqueue(this.function);
    rawMail.grantEnvelopeReadWrite(this.function);
    this.function.addEventSource(
      new SqsEventSource(this.queue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 20 }),
    );
    rawMail.grantRawMailRead(this.function, 'ingest function');
    // Item access on the table only: ingest reads, writes and updates rows by key, never by index.
    index.grantItems(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');

    alarms.alarmWhenAboveZero(
      'IngestDeadLettersAlarm',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      'A received message could not be indexed after 5 attempts: see the ingest dead-letter queue',
    );
    alarms.alarmWhenAboveZero(
      'IngestErrorsAlarm',
      this.function.metricErrors({ period: Duration.minutes(5) }),
      'The ingest function failed',
    );
  }
}
