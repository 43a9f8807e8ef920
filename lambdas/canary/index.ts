// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { httpPing } from '../../shared/adapters/http-ping';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { createSesSender } from '../../shared/adapters/ses-sender';
import { storedCanaryFinder } from '../../shared/health/canary-trail';
import { CANARY_SERVICE, METRICS_NAMESPACE } from '../../shared/metrics';
import { bundledConfig, requireEnv } from '../shared/environment';
import { createCanaryHandler } from './handler';

const clients = createClients();
const config = bundledConfig();
const bucket = requireEnv('RAW_BUCKET');
// The canary record is a report (reports/canary.json), not mail: the plain store, no lock step.
const store = new S3RawMailStore(clients.s3);
export const handler = createCanaryHandler({
  config,
  store,
  bucket,
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  // No configuration set: the canary's own sends are not forwards, and have no ledger to record feedback in.
  sender: createSesSender(),
  findStored: storedCanaryFinder(store, bucket),
  ping: httpPing(),
  logger: new Logger({ serviceName: CANARY_SERVICE }),
  metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: CANARY_SERVICE }),
});
