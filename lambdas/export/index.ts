// Composition root: clients are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { asyncInvoker } from '../../shared/adapters/lambda-invoker';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { requireEnv } from '../shared/environment';
import { createExportHandler } from './handler';

const clients = createClients();
export const handler = createExportHandler({
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  store: new S3RawMailStore(clients.s3),
  bucket: requireEnv('RAW_BUCKET'),
  logger: new Logger({ serviceName: 'mail-archiver-export' }),
  // Further parts run as further invocations of this same function.
  dispatch: asyncInvoker(requireEnv('AWS_LAMBDA_FUNCTION_NAME')),
  maxRawBytesPerPart: Number(process.env.MAX_RAW_BYTES_PER_PART) || undefined,
});
