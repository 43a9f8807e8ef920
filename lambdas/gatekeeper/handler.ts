// First action of the receipt rule, invoked synchronously by SES before anything is stored: bounces the
// envelope recipients that belong to no mailbox (when the config says reject) and stops the rule set when
// no recipient is left, so that unknown local parts are refused rather than archived. A rule cannot do
// this on its own: SES matches exact addresses or whole domains, and plus-addressing needs both.
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import type { ArchiverConfig } from '../../shared/config';
import { asError } from '../../shared/errors';
import { BOUNCE_FAILED_METRIC } from '../../shared/metrics';
import type { Bouncer } from '../../shared/ports';
import { bounceSenderFor, unknownRecipients } from '../../shared/receiving/routing';

export interface GatekeeperDeps {
  config: ArchiverConfig;
  bouncer: Bouncer;
  logger: Pick<Logger, 'info' | 'error'>;
  /** Counts failed bounces (BounceFailed), which an alarm watches. */
  metrics: Pick<Metrics, 'addMetric' | 'publishStoredMetrics'>;
}

export type Disposition = { disposition: 'CONTINUE' | 'STOP_RULE' | 'STOP_RULE_SET' };

/**
 * What the gatekeeper reads of SES's receipt event (the Lambda action, invocation type RequestResponse): the
 * message id and the envelope recipients. Other fields are SES's and pass unread.
 */
const receiptEvent = z.object({
  Records: z.array(
    z.object({
      ses: z.object({
        mail: z.object({ messageId: z.string().min(1) }),
        receipt: z.object({ recipients: z.array(z.string().min(1)).min(1) }),
      }),
    }),
  ),
});

/** The SES receipt event as SES sends it (aws-lambda's SESEvent), or anything else, which is logged. */
export type GatekeeperEvent = unknown;

/**
 * The gatekeeper Lambda's handler: the first action of the receipt rule, invoked synchronously by SES
 * (RequestResponse) before anything is stored. Bounces unknown recipients (SES v1 SendBounce) and answers SES
 * with the rule set's disposition (Amazon SES Developer Guide, "Lambda action": STOP_RULE_SET, CONTINUE).
 */
export function createGatekeeperHandler(deps: GatekeeperDeps) {
  /**
   * Returns the disposition SES applies to the rest of the rule set: STOP_RULE_SET when every recipient is
   * unknown (bounced), CONTINUE otherwise. Never throws: an event that does not parse is logged and passed on
   * (CONTINUE), so that a surprise in SES's event format archives mail rather than losing it.
   */
  return async (event: GatekeeperEvent): Promise<Disposition> => {
    const parsed = receiptEvent.safeParse(event);
    if (!parsed.success) {
      deps.logger.error('not an SES receipt event: passed on unchecked', { issues: parsed.error.issues });
      return { disposition: 'CONTINUE' };
    }
    const record = parsed.data.Records[0];
    if (!record) return { disposition: 'CONTINUE' };
    const { mail, receipt } = record.ses;
    const unknown = unknownRecipients(deps.config, receipt.recipients);
    if (unknown.length === 0) return { disposition: 'CONTINUE' };
    const allUnknown = unknown.length === receipt.recipients.length;
    const disposition = allUnknown ? 'STOP_RULE_SET' : 'CONTINUE';
    // A synchronous rule action must not fail: SES refuses bounces in the sandbox, above its sending rate
    // (a dictionary attack) or from an unverified sender. The message is still handled as if bounced (not
    // stored for nobody, or stored for its known recipients); the failure is logged and counted for the alarm.
    try {
      await deps.bouncer.bounce({
        sesMessageId: mail.messageId,
        bounceSender: bounceSenderFor(deps.config, unknown[0] ?? ''),
        recipients: unknown,
      });
      deps.logger.info('bounced unknown recipients', {
        sesMessageId: mail.messageId,
        unknown,
        stopped: allUnknown,
      });
    } catch (error) {
      deps.logger.error('could not bounce unknown recipients', {
        sesMessageId: mail.messageId,
        unknown,
        stopped: allUnknown,
        error: asError(error),
      });
      deps.metrics.addMetric(BOUNCE_FAILED_METRIC, MetricUnit.Count, 1);
      deps.metrics.publishStoredMetrics();
    }
    return { disposition };
  };
}
