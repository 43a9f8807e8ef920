// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { GmailApi } from '../../shared/adapters/gmail-api';
import { SecretsManagerGmailCredentialStore } from '../../shared/adapters/gmail-credentials';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { createSesSender } from '../../shared/adapters/ses-sender';
import { SqsForwardQueue } from '../../shared/adapters/sqs-forward-queue';
import { bundledConfig, requireEnv } from '../shared/environment';
import { createForwardHandler } from './handler';

const clients = createClients();
const config = bundledConfig();
export const handler = createForwardHandler({
  config,
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  store: new S3RawMailStore(clients.s3),
  sender: createSesSender(requireEnv('CONFIGURATION_SET')),
  // `via: "gmail-api"` targets: credentials from Secrets Manager (<stack>/gmail/<address>), clients made on use.
  gmail: new GmailApi({
    credentials: new SecretsManagerGmailCredentialStore(new SecretsManagerClient({}), config.stackName),
  }),
  parking: new SqsForwardQueue(requireEnv('FORWARD_DEAD_LETTER_QUEUE_URL')),
  logger: new Logger({ serviceName: 'mail-archiver-forward' }),
});
