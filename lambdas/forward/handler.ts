// SQS (forward requests written by ingest) -> one forwarded copy per target, exactly once. A transient failure
// sends the request back to the queue (retried with backoff, then the dead-letter queue); a permanent one is
// recorded in the ledger and parked in the dead-letter queue at once, for `mail-archiver redrive`.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { type ForwardDeps, type ForwardOutcome, type ForwardRequest, RetryLater, forwardMessage } from '../../shared/forward';

const forwardRequest = z.object({ mailbox: z.string().min(3), messageKey: z.string().min(10) });

export interface ForwardHandlerDeps extends ForwardDeps {
  parking: { park(request: ForwardRequest, reason: string): Promise<void> };
  logger: Pick<Logger, 'info' | 'warn'>;
}

/** Forwards one request; throws RetryLater when a target failed transiently. */
export async function handleForwardRequest(request: ForwardRequest, deps: ForwardHandlerDeps): Promise<ForwardOutcome[]> {
  const outcomes = await forwardMessage(request, deps);
  deps.logger.info('forward request handled', { ...request, outcomes });
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (failed.some((o) => !o.permanent)) {
    throw new RetryLater(`transient send failure: ${failed.map((o) => `${o.target}: ${o.detail}`).join('; ')}`);
  }
  if (failed.length > 0) {
    const reason = failed.map((o) => `${o.target}: ${o.detail}`).join('; ');
    deps.logger.warn('forward failed permanently: parked', { ...request, reason });
    await deps.parking.park(request, reason);
  }
  return outcomes;
}

export function createForwardHandler(deps: ForwardHandlerDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const processRecord = async (record: SQSRecord) => {
    await handleForwardRequest(forwardRequest.parse(JSON.parse(record.body)), deps);
  };
  return (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, processRecord, processor, { context });
}
