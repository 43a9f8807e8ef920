// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { GmailApi } from '../../shared/adapters/gmail-api';
import { SecretsManagerGmailCredentialStore } from '../../shared/adapters/gmail-credentials';
import { RawStoreSentCollectionState } from '../../shared/adapters/raw-store-sent-state';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { METRICS_NAMESPACE, SENT_COLLECTOR_SERVICE } from '../../shared/metrics';
import { archiveLocker } from '../../shared/retention/lock-policy';
import { lockingStore } from '../../shared/retention/locking-store';
import { bundledConfig, requireEnv } from '../shared/environment';
import { createGmailSentHandler } from './handler';

const clients = createClients();
const config = bundledConfig();
// Collected messages and their sidecars are locked as they are written (shared/retention/locking-store.ts).
const store = lockingStore(
  new S3RawMailStore(clients.s3),
  archiveLocker(config, new S3ObjectLocks(clients.s3)),
);
const bucket = requireEnv('RAW_MAIL_BUCKET');
export const handler = createGmailSentHandler({
  config,
  reader: new GmailApi({
    credentials: new SecretsManagerGmailCredentialStore(new SecretsManagerClient({}), config.stackName),
  }),
  store,
  state: new RawStoreSentCollectionState(store, bucket),
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  bucket,
  deliveryLog: new DeliveryLog(store, bucket),
  logger: new Logger({ serviceName: SENT_COLLECTOR_SERVICE }),
  metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SENT_COLLECTOR_SERVICE }),
});
