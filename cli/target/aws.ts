// `--target aws`: the deployed stack, found through its CloudFormation outputs.

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createClients, destroyClients } from '../../shared/adapters/clients';
import type { StackOutputName } from '../../shared/aws-names';
import { createExportId } from '../../shared/bundle/export-job';
import type { BundleFormat } from '../../shared/bundle/manifest';
import type { ArchiverConfig } from '../../shared/config';
import { asError } from '../../shared/errors';
import type { ExportRecord } from '../../shared/index/schema';
import { poll } from '../../shared/retry/poll';
import { UserError } from '../process/output';
import { type Archive, archiveStorage } from './archive';
import { privateBundleStream } from './bundle-file';

/** The deployed stack cannot be reached as configured: a setting for the user to fix, printed without a stack. */
export class TargetError extends UserError {
  override name = 'TargetError';
}

export const NO_REGION_HINT =
  'set AWS_REGION to the region the stack is deployed in (export AWS_REGION=eu-west-1), or AWS_PROFILE to a profile whose ~/.aws/config entry names one';

/** The deployed stack's outputs by name (shared/aws-names.ts STACK_OUTPUT); an output it lacks is absent. */
export type StackOutputs = Partial<Record<StackOutputName, string>>;

/**
 * The outputs of stack `stackName`. Throws TargetError when no region or credentials are configured, or the
 * stack does not exist.
 */
export async function stackOutputs(
  stackName: string,
  cloudFormation = new CloudFormationClient({}),
): Promise<StackOutputs> {
  try {
    const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Object.fromEntries(
      (Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
    );
    return outputs as StackOutputs;
  } catch (error) {
    const e = asError(error);
    if (/region is missing|region not accepted/i.test(e.message)) {
      throw new TargetError('no AWS region is configured for --target aws', {
        hint: NO_REGION_HINT,
        cause: e,
      });
    }
    if (e.name === 'CredentialsProviderError' || /credential/i.test(e.message)) {
      throw new TargetError(
        'no AWS credentials found: configure them (aws configure, AWS_PROFILE or the AWS_* variables), or drop --target aws to use the local stack',
        { cause: e },
      );
    }
    if (/does not exist/i.test(e.message)) {
      throw new TargetError(
        `stack ${stackName} not found in region ${await cloudFormation.config.region()}: deploy it with "npx cdk deploy", or set AWS_REGION`,
        { cause: e },
      );
    }
    throw new TargetError(`cannot read stack ${stackName}: ${e.message}`, { cause: e });
  }
}

/** The deployed archive behind the same interface as the local one; delivery goes through its SQS queue. */
export async function connectAws(config: ArchiverConfig): Promise<Archive> {
  const outputs = await stackOutputs(config.stackName);
  const need = (key: StackOutputName) => {
    const value = outputs[key];
    if (!value)
      throw new TargetError(`stack ${config.stackName} has no output ${key}: is it an archiver stack?`);
    return value;
  };
  const bucket = need('RawMailBucketName');
  const tableName = need('IndexTableName');
  const queueUrl = need('IngestQueueUrl');
  const storage = archiveStorage(createClients(), bucket, tableName, config);
  const { clients } = storage;
  const sqs = new SQSClient({});
  return {
    ...storage,
    endpoints: { s3: 'aws', dynamodb: 'aws' },
    async deliver(notification) {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(notification) }),
      );
    },
    async close() {
      destroyClients(clients);
      sqs.destroy();
    },
  };
}

/**
 * Starts the export Lambda asynchronously (it splits large mailboxes into parts built by parallel invocations),
 * follows its progress in the index, then downloads every part through a short-lived presigned URL.
 */
export async function exportOnAws(
  config: ArchiverConfig,
  request: {
    mailbox: string;
    format: BundleFormat;
    incremental: boolean;
    parts?: number;
    /** age recipients (public keys): the function encrypts every part to them before it is uploaded. */
    recipients?: string[];
  },
  partPath: (exportId: string, part: number, count: number) => string,
  onProgress: (done: number, total: number) => void,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<ExportRecord> {
  const outputs = await stackOutputs(config.stackName);
  const functionName = outputs.ExportFunctionName;
  if (!functionName)
    throw new TargetError(`stack ${config.stackName} has no ExportFunctionName output: redeploy it`);
  const archive = await connectAws(config);
  try {
    const exportId = createExportId();
    await new LambdaClient({}).send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify({ ...request, exportId })),
      }),
    );
    log(`export ${exportId} started in ${functionName}`);
    const started = Date.now();
    const record = await poll(
      async () => {
        const found = await archive.index.getExport(request.mailbox, exportId);
        if (found?.state === 'done') return found;
        if (found?.state === 'failed') throw new Error(`the export failed: ${found.error}`);
        if (!found && Date.now() - started > 120_000) {
          throw new Error(
            'the export did not start within 2 minutes: see the ExportFunction logs in CloudWatch',
          );
        }
        if (found) {
          const done = Object.values(found.partProgress ?? {}).reduce((a, b) => a + b, 0);
          onProgress(done, found.messagesTotal);
        }
        return undefined;
      },
      {
        intervalMs: 3000,
        timeoutMs: 16 * 60_000,
        what: 'the export',
        onTimeout: () => new Error('the export did not finish within 16 minutes'),
      },
    );
    for (const [i, part] of record.parts.entries()) {
      const url = await getSignedUrl(
        archive.clients.s3,
        new GetObjectCommand({ Bucket: archive.bucket, Key: part.key }),
        {
          expiresIn: 900,
        },
      );
      const response = await fetch(url);
      if (!response.ok || !response.body)
        throw new Error(`download of ${part.key} failed: HTTP ${response.status}`);
      let received = 0;
      let lastLog = 0;
      const body = Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
      body.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (Date.now() - lastLog > 2000) {
          lastLog = Date.now();
          log(
            `  downloading part ${i + 1}/${record.parts.length}: ${Math.round((100 * received) / Math.max(part.bytes, 1))}%`,
          );
        }
      });
      await pipeline(body, privateBundleStream(partPath(exportId, i, record.parts.length)));
    }
    return record;
  } finally {
    await archive.close();
  }
}
