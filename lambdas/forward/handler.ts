// SQS (forward requests written by ingest) -> one forwarded copy per target, exactly once. A transient failure
// sends the request back to the queue (retried with backoff, then the dead-letter queue); a permanent one is
// recorded in the ledger and parked in the dead-letter queue at once, for `mail-archiver redrive`.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { RetryLaterError } from '../../shared/forwarding/errors';
import { type ForwardDeps, type ForwardOutcome, forwardMessage } from '../../shared/forwarding/forward';
import { type ForwardRequest, parseForwardRequest } from '../../shared/forwarding/ledger';
import { GMAIL_AUTH_FAILURE_LOG } from '../../shared/metrics';
import type { ForwardParking } from '../../shared/ports';

export interface ForwardHandlerDeps extends ForwardDeps {
  parking: ForwardParking;
  logger: Pick<Logger, 'info' | 'warn'>;
}

/** Forwards one request; throws RetryLaterError when a target failed transiently. */
export async function handleForwardRequest(
  request: ForwardRequest & { redrive?: boolean },
  deps: ForwardHandlerDeps,
): Promise<ForwardOutcome[]> {
  const { redrive, ...target } = request;
  const outcomes = await forwardMessage(target, deps, { redrive: redrive ?? false });
  deps.logger.info('forward request handled', { ...request, outcomes });
  for (const outcome of outcomes.filter((o) => o.reauthorise)) {
    // The stack's alarm counts this message: Google refused a Gmail credential.
    deps.logger.warn(GMAIL_AUTH_FAILURE_LOG, { ...request, target: outcome.target, detail: outcome.detail });
  }
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (failed.some((o) => !o.permanent)) {
    throw new RetryLaterError(
      `transient send failure: ${failed.map((o) => `${o.target}: ${o.detail}`).join('; ')}`,
    );
  }
  if (failed.length > 0) {
    const reason = failed.map((o) => `${o.target}: ${o.detail}`).join('; ');
    deps.logger.warn('forward failed permanently: parked', { ...request, reason });
    await deps.parking.park(target, reason);
  }
  return outcomes;
}

/**
 * Whether the forward handler runs a batch's records at once: no. A forward holds its message whole several times
 * over (raw bytes, the rewritten copy, the SDK's base64 request body), so one record at a time bounds its memory to
 * one message, SES's largest included (cdk/constructs/lambda-memory.ts sizes the function from that); SES's
 * sending rate, not the handler, limits how fast copies go out.
 */
export const FORWARD_BATCH_IN_PARALLEL = false;

/**
 * The forward Lambda's handler: SQS records (`{ mailbox, messageKey, redrive? }`, validated) -> handleForwardRequest
 * each. A transient send failure (RetryLaterError) or a bad record is a batch item failure, retried by SQS with its
 * visibility timeout and dead-lettered after maxReceiveCount; a permanent failure is recorded and parked at once.
 */
export function createForwardHandler(deps: ForwardHandlerDeps) {
  const processRecord = async (record: SQSRecord) => {
    await handleForwardRequest(parseForwardRequest(record.body, `SQS message ${record.messageId}`), deps);
  };
  // A processor per invocation: Powertools' BatchProcessor keeps the batch's records and errors on itself, so
  // one shared by concurrent invocations (the local stack's SMTP sessions and imports call one handler at once)
  // reported one message's failure as another's, and could wipe a failure before it was reported.
  return (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, processRecord, new BatchProcessor(EventType.SQS), {
      context,
      processInParallel: FORWARD_BATCH_IN_PARALLEL,
    });
}
