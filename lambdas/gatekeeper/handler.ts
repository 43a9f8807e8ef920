// First action of the receipt rule, invoked synchronously by SES before anything is stored: bounces the
// envelope recipients that belong to no mailbox (when the config says reject) and stops the rule set when
// no recipient is left, so that unknown local parts are refused rather than archived. A rule cannot do
// this on its own: SES matches exact addresses or whole domains, and plus-addressing needs both.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SESEvent } from 'aws-lambda';
import type { ArchiverConfig } from '../../shared/config';
import type { Bouncer } from '../../shared/ports';
import { splitAddress, unknownRecipients } from '../../shared/routing';

export interface GatekeeperDeps {
  config: ArchiverConfig;
  bouncer: Bouncer;
  logger: Pick<Logger, 'info'>;
}

export type Disposition = { disposition: 'CONTINUE' | 'STOP_RULE' | 'STOP_RULE_SET' };

export function createGatekeeperHandler(deps: GatekeeperDeps) {
  return async (event: SESEvent): Promise<Disposition> => {
    const record = event.Records[0];
    if (!record) return { disposition: 'CONTINUE' };
    const { mail, receipt } = record.ses;
    const unknown = unknownRecipients(deps.config, receipt.recipients);
    if (unknown.length === 0) return { disposition: 'CONTINUE' };
    const domain = splitAddress(unknown[0] ?? '').domain || deps.config.domains[0];
    await deps.bouncer.bounce({
      sesMessageId: mail.messageId,
      bounceSender: `mailer-daemon@${domain}`,
      recipients: unknown,
    });
    const allUnknown = unknown.length === receipt.recipients.length;
    deps.logger.info('bounced unknown recipients', {
      sesMessageId: mail.messageId,
      unknown,
      stopped: allUnknown,
    });
    return { disposition: allUnknown ? 'STOP_RULE_SET' : 'CONTINUE' };
  };
}
