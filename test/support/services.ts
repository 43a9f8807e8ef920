// Real local services for integration tests: DynamoDB Local in memory and s3rver in a temp directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureIndexTable } from '../../cli/local/index-table';
import { ensureBucket, startDynamoLocal, startS3Local } from '../../cli/local/services';
import { type Archive, archiveStorage } from '../../cli/target/archive';
import { createClients, destroyClients } from '../../shared/adapters/clients';

/** The local archive's storage, over services that live as long as one test file. */
export type TestServices = Pick<
  Archive,
  | 'clients'
  | 'store'
  | 'index'
  | 'deliveryLog'
  | 'transparency'
  | 'proofs'
  | 'bucket'
  | 'tableName'
  | 'endpoints'
> & {
  stop(): Promise<void>;
};

export async function startTestServices(): Promise<TestServices> {
  const dir = mkdtempSync(join(tmpdir(), 'mail-archiver-test-'));
  const [dynamo, s3] = await Promise.all([startDynamoLocal(), startS3Local({ dataDir: join(dir, 's3') })]);
  const endpoints = { s3: s3.endpoint, dynamodb: dynamo.endpoint };
  const clients = createClients(endpoints);
  const bucket = 'raw-mail-test';
  const tableName = 'mail-index-test';
  await Promise.all([ensureBucket(clients.s3, bucket), ensureIndexTable(clients.dynamodb, tableName)]);
  return {
    ...archiveStorage(clients, bucket, tableName),
    endpoints,
    async stop() {
      destroyClients(clients);
      await Promise.all([dynamo.stop(), s3.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
