// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { SqsForwardQueue } from '../../shared/adapters/sqs-forward-queue';
import { bundledConfig, requireEnv } from '../shared/environment';
import { createReconcileHandler } from './handler';

const clients = createClients();
export const handler = createReconcileHandler({
  config: bundledConfig(),
  store: new S3RawMailStore(clients.s3),
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  bucket: requireEnv('RAW_BUCKET'),
  forwards: new SqsForwardQueue(requireEnv('FORWARD_QUEUE_URL')),
  logger: new Logger({ serviceName: 'mail-archiver-reconcile' }),
});
