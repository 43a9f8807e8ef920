// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { SqsForwardQueue } from '../../shared/adapters/sqs-forward-queue';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { INGEST_SERVICE, METRICS_NAMESPACE } from '../../shared/metrics';
import { archiveLocker } from '../../shared/retention/lock-policy';
import { lockingStore } from '../../shared/retention/locking-store';
import { bundledConfig, requireEnv } from '../shared/environment';
import { createIngestHandler } from './handler';

const clients = createClients();
const config = bundledConfig();
const locker = archiveLocker(config, new S3ObjectLocks(clients.s3));
const store = lockingStore(new S3RawMailStore(clients.s3), locker);
export const handler = createIngestHandler({
  config,
  store,
  ...(locker ? { locker } : {}),
  deliveryLog: new DeliveryLog(store, requireEnv('RAW_BUCKET')),
  // The handler flushes the log before it answers and throws when it cannot: SQS delivers the batch again.
  envelopeInLog: true,
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  forwards: new SqsForwardQueue(requireEnv('FORWARD_QUEUE_URL')),
  logger: new Logger({ serviceName: INGEST_SERVICE }),
  metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: INGEST_SERVICE }),
});
