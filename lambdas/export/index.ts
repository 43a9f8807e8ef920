// Composition root: clients are built once per cold start. The same bundle runs twice: on the main thread as the
// handler, and in the worker thread that builds each part with a bounded heap (shared/bundle/export-worker.ts).
import { Logger } from '@aws-lambda-powertools/logger';
import { createClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { asyncInvoker } from '../../shared/adapters/lambda-invoker';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { S3WriteOnceStore } from '../../shared/adapters/s3-write-once-store';
import { runInExportWorker, serveExportWorker } from '../../shared/bundle/export-worker';
import { leafIdentity } from '../../shared/transparency/leaf';
import { TRANSPARENCY_PREFIX } from '../../shared/transparency/log-files';
import { logBundleProofs } from '../../shared/transparency/prove';
import { requireEnv } from '../shared/environment';
import { createExportHandler, createPartBuilder, type PartOutcome, type PartRequest } from './handler';

const clients = createClients();
const bucket = requireEnv('RAW_BUCKET');
const deps = {
  index: new DynamoMailIndex(clients.dynamodb, requireEnv('INDEX_TABLE')),
  store: new S3RawMailStore(clients.s3),
  bucket,
  // Every bundle carries the proofs of its messages against the checkpoint sealed by the export's start.
  proofs: logBundleProofs(new S3WriteOnceStore(clients.s3, bucket, TRANSPARENCY_PREFIX), leafIdentity),
};

serveExportWorker(createPartBuilder(deps));

export const handler = createExportHandler({
  ...deps,
  logger: new Logger({ serviceName: 'mail-archiver-export' }),
  // Further parts run as further invocations of this same function.
  dispatch: asyncInvoker(requireEnv('AWS_LAMBDA_FUNCTION_NAME')),
  // This bundle is CommonJS (cdk/constructs/archiver-function.ts): __filename is the bundle itself.
  buildPart: (request: PartRequest) => runInExportWorker<PartOutcome>(__filename, request),
  maxRawBytesPerPart: Number(process.env.MAX_RAW_BYTES_PER_PART) || undefined,
});
