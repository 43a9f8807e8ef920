// Composition root: clients, config and the signer are built once per cold start.

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { KMSClient } from '@aws-sdk/client-kms';
import { SNSClient } from '@aws-sdk/client-sns';
import { createClients } from '../../shared/adapters/clients';
import { KmsNoteSigner } from '../../shared/adapters/kms-note-signer';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { S3WriteOnceStore } from '../../shared/adapters/s3-write-once-store';
import { SnsCheckpointWitness } from '../../shared/adapters/sns-witness';
import { httpTimestampAuthority } from '../../shared/adapters/tsa-client';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { METRICS_NAMESPACE } from '../../shared/metrics';
import { archiveLocker } from '../../shared/retention/lock-policy';
import { deliveryLogSource } from '../../shared/transparency/leaf';
import { TRANSPARENCY_PREFIX } from '../../shared/transparency/log-files';
import { logOrigin } from '../../shared/transparency/origin';
import { bundledConfig, requireEnv } from '../shared/environment';
import { createSealHandler } from './handler';

const serviceName = 'mail-archiver-seal';
const config = bundledConfig();
const clients = createClients();
const bucket = requireEnv('RAW_BUCKET');
const kms = new KMSClient({});
const tsa = config.transparency.timestampAuthority;
export const handler = createSealHandler({
  // Each file of the log is locked like the raw mail (config archive.lock), on the version the seal created.
  store: new S3WriteOnceStore(
    clients.s3,
    bucket,
    TRANSPARENCY_PREFIX,
    archiveLocker(config, new S3ObjectLocks(clients.s3)),
  ),
  signer: () => KmsNoteSigner.open(kms, requireEnv('SIGNING_KEY_ARN'), logOrigin(config, 'aws')),
  source: deliveryLogSource(new DeliveryLog(new S3RawMailStore(clients.s3), bucket)),
  witness: new SnsCheckpointWitness(new SNSClient({}), requireEnv('ALARM_TOPIC_ARN')),
  ...(tsa ? { timestampAuthority: httpTimestampAuthority(tsa) } : {}),
  logger: new Logger({ serviceName }),
  metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName }),
});
