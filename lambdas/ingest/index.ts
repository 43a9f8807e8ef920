// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { SqsForwardQueue } from '../../shared/adapters/sqs-forward-queue';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { bundledConfig, requireEnv } from '../shared/environment';
import { createIngestHandler } from './handler';

const clients = createClients();
const store = new S3RawMailStore(clients.s3);
export const handler = createIngestHandler({
  config: bundledConfig(),
  store,
  deliveryLog: new DeliveryLog(store, requireEnv('RAW_BUCKET')),
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  forwards: new SqsForwardQueue(requireEnv('FORWARD_QUEUE_URL')),
  logger: new Logger({ serviceName: 'mail-archiver-ingest' }),
});
