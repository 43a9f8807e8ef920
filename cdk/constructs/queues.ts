// The queue settings every Lambda-fed queue of the archiver shares.
import { Duration } from 'aws-cdk-lib';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/**
 * The visibility timeout of a queue that feeds a Lambda function: six times the function's timeout, plus the
 * batching window, as Lambda's SQS event source documentation recommends, so that a message is not handed to a
 * second invocation while the first one may still be running or being retried after throttling.
 * @param functionTimeout - the consuming function's timeout
 * @param maxBatchingWindow - the event source's batching window (default none)
 */
export function visibilityTimeoutFor(functionTimeout: Duration, maxBatchingWindow?: Duration): Duration {
  return Duration.seconds(6 * functionTimeout.toSeconds() + (maxBatchingWindow?.toSeconds() ?? 0));
}

/** An SQS-managed-encrypted, TLS-only queue that keeps messages 14 days (the maximum). */
export function durableQueue(
  scope: Construct,
  id: string,
  props: { visibilityTimeout?: Duration; deadLetterQueue?: { queue: IQueue; maxReceiveCount: number } } = {},
): Queue {
  return new Queue(scope, id, {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    ...props,
  });
}
