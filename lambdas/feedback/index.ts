// Composition root: clients are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { createClients } from '../../shared/adapters/clients';
import { DynamoForwardLedger } from '../../shared/adapters/dynamo-forward-ledger';
import { IndexTable } from '../../shared/adapters/dynamo-table';
import { requireEnv } from '../shared/environment';
import { createFeedbackHandler } from './handler';

const clients = createClients();
export const handler = createFeedbackHandler({
  ledger: new DynamoForwardLedger(new IndexTable(clients.dynamodb, requireEnv('INDEX_TABLE'))),
  logger: new Logger({ serviceName: 'mail-archiver-feedback' }),
});
