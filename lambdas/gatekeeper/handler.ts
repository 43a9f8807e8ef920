// First action of the receipt rule, invoked synchronously by SES before anything is stored: bounces the
// envelope recipients that belong to no mailbox (when the config says reject) and stops the rule set when
// no recipient is left, so that unknown local parts are refused rather than archived. A rule cannot do
// this on its own: SES matches exact addresses or whole domains, and plus-addressing needs both.
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SESEvent } from 'aws-lambda';
import type { ArchiverConfig } from '../../shared/config';
import { BOUNCE_FAILED_METRIC } from '../../shared/metrics';
import type { Bouncer } from '../../shared/ports';
import { bounceSenderFor, unknownRecipients } from '../../shared/routing';

export interface GatekeeperDeps {
  config: ArchiverConfig;
  bouncer: Bouncer;
  logger: Pick<Logger, 'info' | 'error'>;
  /** Counts failed bounces (BounceFailed), which an alarm watches. */
  metrics: Pick<Metrics, 'addMetric' | 'publishStoredMetrics'>;
}

export type Disposition = { disposition: 'CONTINUE' | 'STOP_RULE' | 'STOP_RULE_SET' };

export function createGatekeeperHandler(deps: GatekeeperDeps) {
  return async (event: SESEvent): Promise<Disposition> => {
    const record = event.Records[0];
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
        error: error as Error,
      });
      deps.metrics.addMetric(BOUNCE_FAILED_METRIC, MetricUnit.Count, 1);
      deps.metrics.publishStoredMetrics();
    }
    return { disposition };
  };
}
