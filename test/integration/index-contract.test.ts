// The index contract (test/support/index-contract.ts) against the DynamoDB adapters on DynamoDB Local: the same
// cases the in-memory index passes in test/unit.
import { afterAll, beforeAll } from 'vitest';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { indexContract } from '../support/index-contract';
import { startTestServices, type TestServices } from '../support/services';

let services: TestServices;
beforeAll(async () => {
  services = await startTestServices();
});
afterAll(async () => {
  await services?.stop();
});

indexContract(
  'DynamoDB',
  () =>
    new DynamoMailIndex(
      services.clients.dynamodb,
      services.tableName,
      () => new Date('2026-01-01T00:00:00Z'),
    ),
);
