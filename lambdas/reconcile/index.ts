// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { SqsForwardQueue } from '../../shared/adapters/sqs-forward-queue';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { METRICS_NAMESPACE, RECONCILE_SERVICE } from '../../shared/metrics';
import { archiveLocker } from '../../shared/retention/lock-policy';
import { lockingStore } from '../../shared/retention/locking-store';
import { bundledConfig, requireEnv } from '../shared/environment';
import { createReconcileHandler } from './handler';

const clients = createClients();
const config = bundledConfig();
const locker = archiveLocker(config, new S3ObjectLocks(clients.s3));
const store = lockingStore(new S3RawMailStore(clients.s3), locker);
const bucket = requireEnv('RAW_BUCKET');
export const handler = createReconcileHandler({
  config,
  store,
  ...(locker ? { locker } : {}),
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  bucket,
  deliveryLog: new DeliveryLog(store, bucket),
  forwards: new SqsForwardQueue(requireEnv('FORWARD_QUEUE_URL')),
  everyMs: Number(requireEnv('RECONCILE_EVERY_MINUTES')) * 60_000,
  fullEveryMs: Number(requireEnv('RECONCILE_FULL_EVERY_MINUTES')) * 60_000,
  logger: new Logger({ serviceName: RECONCILE_SERVICE }),
  metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: RECONCILE_SERVICE }),
});
