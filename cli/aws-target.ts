// `--target aws`: the deployed stack, found through its CloudFormation outputs.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createClients } from '../shared/adapters/clients';
import { DynamoMailIndex } from '../shared/adapters/dynamo-index';
import { S3RawMailStore } from '../shared/adapters/s3-raw-store';
import type { ArchiverConfig } from '../shared/config';
import type { LocalArchive } from './local-stack';

export class TargetError extends Error {
  override name = 'TargetError';
}

export async function stackOutputs(stackName: string, cloudFormation = new CloudFormationClient({})) {
  try {
    const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Object.fromEntries(
      (Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
    );
    return outputs as Record<string, string>;
  } catch (error) {
    const e = error as Error;
    if (e.name === 'CredentialsProviderError' || /credential/i.test(e.message)) {
      throw new TargetError(
        'no AWS credentials found: configure them (aws configure, AWS_PROFILE or the AWS_* variables), or drop --target aws to use the local stack',
      );
    }
    if (/does not exist/i.test(e.message)) {
      throw new TargetError(
        `stack ${stackName} not found in region ${await cloudFormation.config.region()}: deploy it with "npx cdk deploy", or set AWS_REGION`,
      );
    }
    throw new TargetError(`cannot read stack ${stackName}: ${e.message}`);
  }
}

/** The deployed archive behind the same interface as the local one; delivery goes through its SQS queue. */
export async function connectAws(config: ArchiverConfig): Promise<LocalArchive> {
  const outputs = await stackOutputs(config.stackName);
  const need = (key: string) => {
    const value = outputs[key];
    if (!value)
      throw new TargetError(`stack ${config.stackName} has no output ${key}: is it an archiver stack?`);
    return value;
  };
  const bucket = need('RawMailBucketName');
  const tableName = need('IndexTableName');
  const queueUrl = need('IngestQueueUrl');
  const clients = createClients();
  const sqs = new SQSClient({});
  return {
    clients,
    store: new S3RawMailStore(clients.s3),
    index: new DynamoMailIndex(clients.dynamodb, tableName),
    bucket,
    tableName,
    endpoints: { s3: 'aws', dynamodb: 'aws' },
    async deliver(notification) {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(notification) }),
      );
    },
    async close() {
      clients.s3.destroy();
      clients.dynamodb.destroy();
      sqs.destroy();
    },
  };
}
