// The deployed stack's side of cli/target/operations.ts: redrive through SQS (the queues move messages back;
// the Lambdas do the work), the stack's seal function run on demand, and exports built by the export function.
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsDeadLetterQueue } from '../../shared/adapters/sqs-dead-letters';
import { redriveParkedForwards, SqsForwardQueue } from '../../shared/adapters/sqs-forward-queue';
import type { ArchiverConfig } from '../../shared/config';
import { ledgerRedrives, uniqueRequests } from '../../shared/forwarding/redrive';
import type { SealReport } from '../../shared/transparency/seal';
import { connectAws, exportOnAws, stackOutputs, TargetError } from './aws';
import { knownMailbox } from './mailboxes';
import type { RedriveReport, TargetOperations } from './operations';

export function awsOperations(config: ArchiverConfig): TargetOperations {
  return {
    async redrivePlan() {
      const parked = await forwardDeadLetterCount(config);
      const archive = await connectAws(config);
      try {
        const ledger = await ledgerRedrives(archive.index, Object.keys(config.mailboxes), new Date(), []);
        return { parked, ledger, unreadable: [] };
      } finally {
        await archive.close();
      }
    },
    async redrive(): Promise<RedriveReport> {
      const { moving } = await redriveIngest(config);
      const forwards = await redriveForwards(config);
      return {
        ingest: `${moving} moving back to the ingest queue`,
        ingestFailures: [],
        forwards,
      };
    },
    seal: () => sealOnAws(config),
    async exportBundle(build, partPath, onProgress) {
      const archive = await connectAws(config);
      let mailbox: string;
      try {
        // The mailbox as the archive names it: a mailbox kept only in the index may be typed in either spelling.
        mailbox = await knownMailbox(build.mailbox, config, archive.index);
      } finally {
        await archive.close();
      }
      // Only age recipients travel to the function (a passphrase never leaves this machine: bundle-keys.ts).
      const recipients =
        build.encryption && 'recipients' in build.encryption ? build.encryption.recipients : undefined;
      const record = await exportOnAws(
        config,
        {
          mailbox,
          format: build.format,
          incremental: build.incremental,
          ...(build.parts !== undefined ? { parts: build.parts } : {}),
          ...(recipients ? { recipients } : {}),
        },
        partPath,
        onProgress,
      );
      // The function encrypts every part to the recipients it was given.
      return { record, partsEncrypted: Boolean(record.recipients?.length) };
    },
  };
}

/** How many requests wait in the forward dead-letter queue (approximate, as SQS counts; nothing is received). */
async function forwardDeadLetterCount(config: ArchiverConfig): Promise<number> {
  const outputs = await stackOutputs(config.stackName);
  const deadLetters = outputs.ForwardDeadLetterQueueUrl;
  if (!deadLetters)
    throw new TargetError(`stack ${config.stackName} has no forward queue outputs: redeploy it`);
  const sqs = new SQSClient({});
  try {
    return (await new SqsDeadLetterQueue(sqs, deadLetters).count()).waiting;
  } finally {
    sqs.destroy();
  }
}

/**
 * Starts SQS's moves back to the ingest queue, of the ingest dead-letter queue (messages that failed ingest five
 * times) and of the notification dead-letter queue (notifications SNS could not deliver); the ingest Lambda does
 * the rest.
 */
async function redriveIngest(config: ArchiverConfig): Promise<{ moving: number }> {
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

/**
 * Parked requests move from the forward dead-letter queue back to the forward queue, flagged as a redrive,
 * together with the ledger's failed entries and claims of workers that died mid-send. The forward Lambda sends
 * them (`mail-archiver forwards <mailbox>` shows how each went), so nothing counts as sent or failed here.
 */
async function redriveForwards(config: ArchiverConfig): Promise<RedriveReport['forwards']> {
  const outputs = await stackOutputs(config.stackName);
  const queueUrl = outputs.ForwardQueueUrl;
  const deadLetters = outputs.ForwardDeadLetterQueueUrl;
  if (!queueUrl || !deadLetters)
    throw new TargetError(`stack ${config.stackName} has no forward queue outputs: redeploy it`);
  const sqs = new SQSClient({});
  const archive = await connectAws(config);
  let requests = 0;
  try {
    const parked = await redriveParkedForwards(sqs, deadLetters, queueUrl);
    const fromLedger = await ledgerRedrives(archive.index, Object.keys(config.mailboxes), new Date(), parked);
    await new SqsForwardQueue(queueUrl, sqs).enqueue(fromLedger.map((r) => ({ ...r, redrive: true })));
    requests = uniqueRequests(parked).length + fromLedger.length;
  } finally {
    await archive.close();
    sqs.destroy();
  }
  return { requests, sent: 0, failed: 0, failures: [] };
}

/**
 * Runs the stack's seal function now and waits for it (the scheduled step, on demand). Returns its report and the
 * log's key line. Throws TargetError when the stack has no seal function, and Error with the function's own
 * message when the seal failed.
 */
async function sealOnAws(
  config: ArchiverConfig,
  lambda = new LambdaClient({}),
): Promise<SealReport & { key: string }> {
  const outputs = await stackOutputs(config.stackName);
  const functionName = outputs.SealFunctionName;
  if (!functionName)
    throw new TargetError(`stack ${config.stackName} has no SealFunctionName output: redeploy it`);
  const { FunctionError, Payload } = await lambda.send(
    new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse' }),
  );
  const text = Buffer.from(Payload ?? new Uint8Array()).toString('utf8');
  if (FunctionError) {
    const failure = JSON.parse(text || '{}') as { errorMessage?: string };
    throw new Error(`the seal function failed: ${failure.errorMessage ?? FunctionError}`);
  }
  return JSON.parse(text) as SealReport & { key: string };
}
