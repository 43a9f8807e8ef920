// `redrive`, ingest side: messages stored but never indexed go through ingest again. On AWS they wait in the
// ingest dead-letter queue (moved back to the ingest queue by SQS); locally in MAIL_ARCHIVER_HOME/dead-letters.
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsDeadLetterQueue } from '../../shared/adapters/sqs-dead-letters';
import type { ArchiverConfig } from '../../shared/config';
import { type DeadLetterRedrive, LocalDeadLetters } from '../local/dead-letters';
import { describeError } from '../process/describe-error';
import type { Archive } from './archive';
import { stackOutputs, TargetError } from './aws';

export const localIngestDeadLetters = (home: string) => new LocalDeadLetters(join(home, 'dead-letters'));

/** Delivers each parked notification through the ingest handler again; what fails stays parked. */
export function redriveIngestLocally(
  archive: Pick<Archive, 'deliver'>,
  home: string,
): Promise<DeadLetterRedrive> {
  return localIngestDeadLetters(home).redrive((n) => archive.deliver(n), describeError);
}

/**
 * Starts SQS's moves back to the ingest queue, of the ingest dead-letter queue (messages that failed ingest five
 * times) and of the notification dead-letter queue (notifications SNS could not deliver); the ingest Lambda does
 * the rest.
 */
export async function redriveIngestOnAws(config: ArchiverConfig): Promise<{ moving: number }> {
  const outputs = await stackOutputs(config.stackName);
  const ingestQueue = outputs.IngestQueueUrl;
  const deadLetters = outputs.IngestDeadLetterQueueUrl;
  if (!ingestQueue || !deadLetters)
    throw new TargetError(`stack ${config.stackName} has no IngestDeadLetterQueueUrl output: redeploy it`);
  const sqs = new SQSClient({});
  try {
    let moving = (await new SqsDeadLetterQueue(sqs, deadLetters).redrive())?.messages ?? 0;
    const notifications = outputs.ReceivedNotificationDeadLetterQueueUrl;
    if (notifications) {
      // Not the source of these (SNS is): the destination is named.
      const destination = await new SqsDeadLetterQueue(sqs, ingestQueue).arn();
      moving += (await new SqsDeadLetterQueue(sqs, notifications).redrive(destination))?.messages ?? 0;
    }
    return { moving };
  } finally {
    sqs.destroy();
  }
}
