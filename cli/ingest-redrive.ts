// `redrive`, ingest side: messages stored but never indexed go through ingest again. On AWS they wait in the
// ingest dead-letter queue (moved back to the ingest queue by SQS); locally in MAIL_ARCHIVER_HOME/dead-letters.
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsDeadLetterQueue } from '../shared/adapters/sqs-dead-letters';
import type { ArchiverConfig } from '../shared/config';
import { stackOutputs, TargetError } from './aws-target';
import { describeError } from './describe-error';
import { type DeadLetterRedrive, LocalDeadLetters } from './local-dead-letters';
import type { LocalArchive } from './local-stack';

export const localIngestDeadLetters = (home: string) => new LocalDeadLetters(join(home, 'dead-letters'));

/** Delivers each parked notification through the ingest handler again; what fails stays parked. */
export function redriveIngestLocally(
  archive: Pick<LocalArchive, 'deliver'>,
  home: string,
): Promise<DeadLetterRedrive> {
  return localIngestDeadLetters(home).redrive((n) => archive.deliver(n), describeError);
}

/** Starts SQS's move of the ingest dead-letter queue back to the ingest queue; the ingest Lambda does the rest. */
export async function redriveIngestOnAws(config: ArchiverConfig): Promise<{ moving: number }> {
  const outputs = await stackOutputs(config.stackName);
  const url = outputs.IngestDeadLetterQueueUrl;
  if (!url)
    throw new TargetError(`stack ${config.stackName} has no IngestDeadLetterQueueUrl output: redeploy it`);
  const sqs = new SQSClient({});
  try {
    const task = await new SqsDeadLetterQueue(sqs, url).redrive();
    return { moving: task?.messages ?? 0 };
  } finally {
    sqs.destroy();
  }
}
