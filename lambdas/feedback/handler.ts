// SES configuration-set events (SNS): bounces and complaints of forwarded copies update the ledger.
import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import type { ForwardLedger } from '../../shared/ports';

/** SNS's envelope around each event (aws-lambda's SNSEvent): only the message text is read. */
const snsEvent = z.object({ Records: z.array(z.object({ Sns: z.object({ Message: z.string() }) })) });

/**
 * What is read of an SES event: configuration-set events say `eventType`, identity notifications
 * `notificationType`; only bounces and complaints of a message with an id matter here.
 */
const sesFeedback = z.object({
  eventType: z.string().optional(),
  notificationType: z.string().optional(),
  mail: z.object({ messageId: z.string().min(1) }).optional(),
  bounce: z
    .object({
      bounceType: z.string().optional(),
      bounceSubType: z.string().optional(),
      bouncedRecipients: z
        .array(z.object({ emailAddress: z.string().optional(), diagnosticCode: z.string().optional() }))
        .optional(),
    })
    .optional(),
  complaint: z.object({ complaintFeedbackType: z.string().optional() }).optional(),
});

/** The feedback handler's input: an SNS event carrying SES events (anything else throws a ZodError). */
export type FeedbackEvent = unknown;

/** Some records of an event could not be recorded; the invocation fails so that Lambda retries it. */
export class FeedbackRecordingError extends AggregateError {
  override name = 'FeedbackRecordingError';
}

/**
 * The feedback Lambda's handler: SNS-delivered SES events of the forwarding configuration set; bounces and
 * complaints are recorded on the ledger entry of the copy they are about (by SES's message id of that copy).
 */
export function createFeedbackHandler(deps: {
  ledger: Pick<ForwardLedger, 'recordFeedback'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  now?: () => Date;
}) {
  /**
   * Records each bounce or complaint on the ledger entry of the forwarded copy SES names. Other event types
   * are ignored; an SES event that is not JSON or not an SES event is logged and skipped (retrying would not
   * change it). Throws when the SNS envelope itself is malformed, or (FeedbackRecordingError, after every other
   * record) when the ledger cannot be written (the invocation is retried).
   */
  return async (event: FeedbackEvent): Promise<void> => {
    const failures: unknown[] = [];
    for (const record of snsEvent.parse(event).Records) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(record.Sns.Message);
      } catch {
        deps.logger.warn('an SNS message that is not JSON: skipped', {
          message: record.Sns.Message.slice(0, 200),
        });
        continue;
      }
      const result = sesFeedback.safeParse(parsed);
      if (!result.success) {
        deps.logger.warn('an SNS message that is not an SES event: skipped', { issues: result.error.issues });
        continue;
      }
      const message = result.data;
      const type = message.eventType ?? message.notificationType;
      const id = message.mail?.messageId;
      if (!id || (type !== 'Bounce' && type !== 'Complaint')) continue;
      const feedback =
        type === 'Bounce'
          ? `${message.bounce?.bounceType}/${message.bounce?.bounceSubType}: ${(message.bounce?.bouncedRecipients ?? []).map((r) => `${r.emailAddress} ${r.diagnosticCode ?? ''}`.trim()).join('; ')}`
          : `complaint: ${message.complaint?.complaintFeedbackType ?? 'unspecified'}`;
      try {
        const found = await deps.ledger.recordFeedback(
          id,
          type === 'Bounce' ? 'bounced' : 'complained',
          feedback,
          (deps.now ?? (() => new Date()))(),
        );
        if (found) deps.logger.info('feedback recorded', { sesMessageId: id, type, feedback });
        else deps.logger.warn('feedback for a message the ledger does not know', { sesMessageId: id, type });
      } catch (error) {
        // The other records are still recorded; this one fails the invocation (retried by Lambda, then kept
        // by the on-failure destination).
        failures.push(error);
      }
    }
    if (failures.length > 0) {
      throw new FeedbackRecordingError(failures, `${failures.length} feedback records could not be recorded`);
    }
  };
}
