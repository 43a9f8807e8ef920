// SQS (fed by the SES receipt action's SNS topic) -> archive use case, one record at a time; failed records
// go back to the queue (partial batch response) and, after retries, to the dead-letter queue.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { archiveReceivedMail, type IngestDeps, type IngestOutcome } from '../../shared/archive/ingest';
import { isSetupNotification } from '../../shared/index/schema';
import { parseSesNotification } from '../../shared/receiving/ses-notification';

export interface IngestHandlerDeps extends IngestDeps {
  logger: Pick<Logger, 'info' | 'warn'>;
}

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
  deps: IngestHandlerDeps,
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
 * archiveReceivedMail each. A record whose body does not parse, or whose archiving throws, is reported in
 * `batchItemFailures` (Powertools' partial batch response): SQS retries only those and dead-letters them after
 * maxReceiveCount. Returns the partial batch response; throws only when every record failed.
 */
export function createIngestHandler(deps: IngestHandlerDeps) {
  const processRecord = async (record: SQSRecord) => {
    await ingestNotification(notificationBody(record.body), deps);
  };
  // A processor per invocation: Powertools' BatchProcessor keeps the batch's records and errors on itself, so
  // one shared by concurrent invocations (the local stack's SMTP sessions and imports call one handler at once)
  // reported one message's failure as another's, and could wipe a failure before it was reported.
  return (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, processRecord, new BatchProcessor(EventType.SQS), { context });
}
