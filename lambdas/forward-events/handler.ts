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

export function createForwardEventsHandler(deps: {
  ledger: ForwardLedger;
  logger: Pick<Logger, 'info' | 'warn'>;
  now?: () => Date;
}) {
  return async (event: SNSEvent): Promise<void> => {
    for (const record of event.Records) {
      const message = JSON.parse(record.Sns.Message) as SesEvent;
      const type = message.eventType ?? message.notificationType;
      const id = message.mail?.messageId;
      if (!id || (type !== 'Bounce' && type !== 'Complaint')) continue;
      const feedback =
        type === 'Bounce'
          ? `${message.bounce?.bounceType}/${message.bounce?.bounceSubType}: ${(message.bounce?.bouncedRecipients ?? []).map((r) => `${r.emailAddress} ${r.diagnosticCode ?? ''}`.trim()).join('; ')}`
          : `complaint: ${message.complaint?.complaintFeedbackType ?? 'unspecified'}`;
      const found = await deps.ledger.recordForwardFeedback(
        id,
        type === 'Bounce' ? 'bounced' : 'complained',
        feedback,
        (deps.now ?? (() => new Date()))(),
      );
      if (found) deps.logger.info('forward feedback recorded', { sesMessageId: id, type, feedback });
      else deps.logger.warn('feedback for a message the ledger does not know', { sesMessageId: id, type });
    }
  };
}
