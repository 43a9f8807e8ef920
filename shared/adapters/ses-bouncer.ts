// Bounces mail for unknown recipients through SES (v1 SendBounce: the receipt-rule era API that knows
// received message ids).
import { SESClient, SendBounceCommand } from '@aws-sdk/client-ses';
import type { Bouncer } from '../ports';

export class SesBouncer implements Bouncer {
  constructor(private readonly ses: SESClient = new SESClient({})) {}

  async bounce(input: { sesMessageId: string; bounceSender: string; recipients: string[] }): Promise<void> {
    await this.ses.send(
      new SendBounceCommand({
        OriginalMessageId: input.sesMessageId,
        BounceSender: input.bounceSender,
        Explanation: 'This address does not exist.',
        BouncedRecipientInfoList: input.recipients.map((Recipient) => ({
          Recipient,
          BounceType: 'DoesNotExist',
        })),
      }),
    );
  }
}
