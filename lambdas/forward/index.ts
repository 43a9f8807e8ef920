// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { createSesSender } from '../../shared/adapters/ses-sender';
import { SqsForwardQueue } from '../../shared/adapters/sqs-forward-queue';
import { bundledConfig, requireEnv } from '../shared/environment';
import { createForwardHandler } from './handler';

const clients = createClients();
export const handler = createForwardHandler({
  config: bundledConfig(),
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  store: new S3RawMailStore(clients.s3),
  sender: createSesSender(requireEnv('CONFIGURATION_SET')),
  parking: new SqsForwardQueue(requireEnv('FORWARD_DEAD_LETTER_QUEUE_URL')),
  logger: new Logger({ serviceName: 'mail-archiver-forward' }),
});
