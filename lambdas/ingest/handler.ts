// SQS (fed by the SES receipt action's SNS topic) -> archive use case, one record at a time; failed records
// go back to the queue (partial batch response) and, after retries, to the dead-letter queue.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { archiveReceivedMail, type IngestDeps, type IngestOutcome } from '../../shared/archive/ingest';
import type { DeliveryLog, DeliveryLogBatch } from '../../shared/delivery-log/log';
import { countsAsReceived } from '../../shared/health/config';
import { isSetupNotification } from '../../shared/index/schema';
import { MESSAGES_RECEIVED_METRIC } from '../../shared/metrics';
import { parseSesNotification } from '../../shared/receiving/ses-notification';

export interface IngestHandlerDeps extends Omit<IngestDeps, 'logBatch'> {
  logger: Pick<Logger, 'info' | 'warn'>;
  /** The delivery log: each invocation appends one object with the records of every row its messages have. */
  deliveryLog?: DeliveryLog;
  /**
   * Where the count of messages archived for a mailbox (the canary's aside) is published: the silence alarm
   * (health.silenceAlarmHours) watches it. Absent locally.
   */
  metrics?: Pick<Metrics, 'addMetric' | 'publishStoredMetrics'>;
}

/** The ingest Lambda's handler; `using(batch)` is the same handler logging into a batch the caller flushes. */
export type IngestHandler = ((event: SQSEvent, context: Context) => Promise<SQSBatchResponse>) & {
  using(batch: DeliveryLogBatch): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
};

/** SNS wraps the notification unless the subscription uses raw message delivery: accept both. */
export function notificationBody(body: string): unknown {
  const parsed: unknown = JSON.parse(body);
  if (parsed && typeof parsed === 'object' && (parsed as { Type?: unknown }).Type === 'Notification') {
    return JSON.parse(String((parsed as { Message?: unknown }).Message));
  }
  return parsed;
}

export async function ingestNotification(
  body: unknown,
  deps: Omit<IngestHandlerDeps, 'deliveryLog'> & { logBatch?: DeliveryLogBatch },
): Promise<IngestOutcome | undefined> {
  const type = (body as { notificationType?: unknown } | null)?.notificationType;
  if (type !== 'Received') {
    deps.logger.warn('ignoring a notification that is not a received message', {
      notificationType: String(type),
    });
    return undefined;
  }
  const notification = parseSesNotification(body);
  if (isSetupNotification(notification.receipt.action.objectKey)) {
    deps.logger.info('ignoring SES setup notification', { key: notification.receipt.action.objectKey });
    return undefined;
  }
  const outcome = await archiveReceivedMail(notification, deps);
  deps.logger.info('message archived', {
    sesMessageId: notification.mail.messageId,
    sha256: outcome.sha256,
    size: outcome.size,
    deliveries: outcome.deliveries,
    rejected: outcome.rejected,
    ...(outcome.parseError ? { parseError: outcome.parseError } : {}),
  });
  return outcome;
}

/**
 * The ingest Lambda's handler: SQS records (SES's receipt notification, wrapped by SNS or raw) -> one
 * archiveReceivedMail each, then one delivery log object with the records of every row they have. A record
 * whose body does not parse, or whose archiving throws, is reported in `batchItemFailures` (Powertools' partial
 * batch response): SQS retries only those and dead-letters them after maxReceiveCount. Returns the partial batch
 * response; throws when every record failed, and when the delivery log object cannot be written (then SQS
 * delivers the whole batch again: its rows are found, and logged again).
 */
export function createIngestHandler(deps: IngestHandlerDeps): IngestHandler {
  const { deliveryLog, metrics, ...rest } = deps;
  // The envelope may stay in the log alone (IngestDeps.envelopeInLog) only where this handler flushes the batch
  // itself, before it answers, and throws when the flush fails (SQS delivers the batch again); with `using`, the
  // caller flushes when it likes, and every message gets its sidecar.
  const run = async (
    event: SQSEvent,
    context: Context,
    batch: DeliveryLogBatch | undefined,
    flushedHere: boolean,
  ) => {
    let received = 0;
    const processRecord = async (record: SQSRecord) => {
      const outcome = await ingestNotification(notificationBody(record.body), {
        ...rest,
        ...(batch ? { logBatch: batch } : {}),
        envelopeInLog: rest.envelopeInLog === true && flushedHere,
        // A redelivery (or a record that does not say): the run before may have died without throwing.
        receiptFirst: record.attributes?.ApproximateReceiveCount !== '1',
      });
      const mailboxes = outcome?.deliveries.map((d) => d.mailbox) ?? [];
      if (countsAsReceived(rest.config, mailboxes)) received++;
    };
    // A processor per invocation: Powertools' BatchProcessor keeps the batch's records and errors on itself, so
    // one shared by concurrent invocations (the local stack's SMTP sessions and imports call one handler at once)
    // reported one message's failure as another's, and could wipe a failure before it was reported.
    try {
      return await processPartialResponse(event, processRecord, new BatchProcessor(EventType.SQS), {
        context,
      });
    } finally {
      if (metrics && received > 0) {
        metrics.addMetric(MESSAGES_RECEIVED_METRIC, MetricUnit.Count, received);
        metrics.publishStoredMetrics();
      }
    }
  };
  const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const batch = deliveryLog?.batch('ingest');
    const response = await run(event, context, batch, true);
    await batch?.flush();
    return response;
  };
  return Object.assign(handler, {
    using: (batch: DeliveryLogBatch) => (event: SQSEvent, context: Context) =>
      run(event, context, batch, false),
  });
}
