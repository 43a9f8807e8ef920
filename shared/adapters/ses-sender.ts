// MailSender on SES v2: SendEmail with raw content takes 40 MB (v1 SendRawEmail stops at 10 MB).
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { errorMessage, errorName, httpStatusOf, networkFailure } from '../errors';
import { SendError } from '../forwarding/errors';
import type { MailSender } from '../ports';

const TRANSIENT = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'LimitExceededException',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

export class SesSender implements MailSender {
  constructor(
    private readonly ses: SESv2Client,
    private readonly configurationSetName?: string,
  ) {}

  async send(input: { from: string; to: string; raw: Buffer }): Promise<{ messageId: string }> {
    try {
      const result = await this.ses.send(
        new SendEmailCommand({
          FromEmailAddress: input.from,
          Destination: { ToAddresses: [input.to] },
          Content: { Raw: { Data: input.raw } },
          ...(this.configurationSetName ? { ConfigurationSetName: this.configurationSetName } : {}),
        }),
      );
      if (!result.MessageId) throw new SendError('SES returned no message id', false);
      return { messageId: result.MessageId };
    } catch (error) {
      if (error instanceof SendError) throw error;
      const name = errorName(error) ?? 'Error';
      const status = httpStatusOf(error) ?? 0;
      // No answer (the SDK's own retries spent on a refused or reset connection) says nothing against the message.
      const transient =
        TRANSIENT.has(name) || status === 429 || status >= 500 || networkFailure(error) !== undefined;
      throw new SendError(`${name}: ${errorMessage(error)}`, !transient, { cause: error });
    }
  }
}

export function createSesSender(configurationSetName?: string): SesSender {
  return new SesSender(new SESv2Client({}), configurationSetName);
}
