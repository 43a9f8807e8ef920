// SES configuration-set events (SNS): bounces and complaints of forwarded copies update the ledger.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SNSEvent } from 'aws-lambda';
import type { ForwardLedger } from '../../shared/ports';

interface SesEvent {
  eventType?: string;
  notificationType?: string;
  mail?: { messageId?: string };
  bounce?: {
    bounceType?: string;
    bounceSubType?: string;
    bouncedRecipients?: { emailAddress?: string; diagnosticCode?: string }[];
  };
  complaint?: { complaintFeedbackType?: string };
}

/**
 * The SES event in one SNS record, or undefined when the record is not one: SES also publishes plain text to
 * the topic ("Successfully validated SNS topic for Amazon SES event publishing." when the configuration set's
 * destination is created), and anything can be published to a topic. Never throws.
 */
export function sesEventOf(message: string): SesEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as SesEvent) : undefined;
}

/** Some records of an event could not be recorded; the invocation fails so that Lambda retries it. */
export class FeedbackRecordingError extends AggregateError {
  override name = 'FeedbackRecordingError';
}

export function createForwardEventsHandler(deps: {
  ledger: ForwardLedger;
  logger: Pick<Logger, 'info' | 'warn'>;
  now?: () => Date;
}) {
  return async (event: SNSEvent): Promise<void> => {
    const failures: unknown[] = [];
    for (const record of event.Records) {
      const message = sesEventOf(record.Sns.Message);
      if (!message) {
        deps.logger.info('ignoring a message that is not an SES event', {
          snsMessageId: record.Sns.MessageId,
          message: String(record.Sns.Message).slice(0, 200),
        });
        continue;
      }
      const type = message.eventType ?? message.notificationType;
      const id = message.mail?.messageId;
      if (typeof id !== 'string' || (type !== 'Bounce' && type !== 'Complaint')) continue;
      const recipients = Array.isArray(message.bounce?.bouncedRecipients)
        ? message.bounce.bouncedRecipients
        : [];
      const feedback =
        type === 'Bounce'
          ? `${message.bounce?.bounceType}/${message.bounce?.bounceSubType}: ${recipients.map((r) => `${r?.emailAddress} ${r?.diagnosticCode ?? ''}`.trim()).join('; ')}`
          : `complaint: ${message.complaint?.complaintFeedbackType ?? 'unspecified'}`;
      try {
        const found = await deps.ledger.recordForwardFeedback(
          id,
          type === 'Bounce' ? 'bounced' : 'complained',
          feedback,
          (deps.now ?? (() => new Date()))(),
        );
        if (found) deps.logger.info('forward feedback recorded', { sesMessageId: id, type, feedback });
        else deps.logger.warn('feedback for a message the ledger does not know', { sesMessageId: id, type });
      } catch (error) {
        // The other records are still recorded; this one fails the invocation (retried, then the failure
        // destination keeps the event).
        failures.push(error);
      }
    }
    if (failures.length > 0) {
      throw new FeedbackRecordingError(failures, `${failures.length} feedback records could not be recorded`);
    }
  };
}
