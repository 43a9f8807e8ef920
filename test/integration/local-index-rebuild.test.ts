// A local table's bySender made again at start (cli/local/index-table.ts) when it has the keys of before: said in
// one line, and a build longer than the wait neither fails the start nor loses a row. DynamoDB Local builds the
// index in the background; search --from answers from the mailbox's rows meanwhile.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureIndexTable } from '../../cli/local/index-table';
import { type DynamoLocal, startDynamoLocal } from '../../cli/local/services';
import { createClients, destroyClients } from '../../shared/adapters/clients';
import { DynamoDeliverySearch } from '../../shared/adapters/dynamo-search';
import {
  type DeliveryRow,
  deliveryItem,
  GSI_BY_SENDER,
  indexTableDefinition,
} from '../../shared/index/schema';

const dir = mkdtempSync(join(tmpdir(), 'mail-archiver-rebuild-'));
let dynamo: DynamoLocal | undefined;
afterAll(async () => {
  await dynamo?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ROWS = 3_000;
const SENDERS = 30;
const box = 'alice@example.com';
const table = 'legacy-rebuild';

function row(n: number): DeliveryRow {
  const key = `k${String(n).padStart(5, '0')}`;
  return {
    mailbox: box,
    folder: 'INBOX',
    uid: n + 1,
    uidValidity: 1700000000,
    flags: [],
    messageKey: key,
    sha256: 'a'.repeat(64),
    sesMessageId: key,
    location: { bucket: 'b', key: `incoming/${key}` },
    size: 10,
    lineEndings: { crlf: 1, lf: 0, cr: 0, nul: false },
    receivedAt: new Date(Date.UTC(2020, 0, 1) + n * 3_600_000).toISOString(),
    from: [],
    fromAddress: `sender${n % SENDERS}@example.org`,
    to: [],
    cc: [],
    references: [],
    attachments: [],
    verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
    envelopeRecipients: [box],
    archivedAt: '2026-01-02T00:00:00.000Z',
    schemaVersion: 1,
  } as DeliveryRow;
}

/** DynamoDB Local over `dir` (started again over the same files after a stop) and a client of it. */
async function start() {
  dynamo = await startDynamoLocal({ dataDir: dir });
  const clients = createClients({ dynamodb: dynamo.endpoint, s3: 'http://127.0.0.1:9' });
  return clients;
}

describe("a local table's bySender made again at start", () => {
  it('says so in one line, goes on past the wait, and the build ends with every row', async () => {
    const clients = await start();
    // The table as a revision from before bySender's keys changed made it: every index as now, bySender keyed by
    // sender and received key.
    const indexes = indexTableDefinition.globalSecondaryIndexes.map((g) =>
      g.indexName === GSI_BY_SENDER
        ? {
            indexName: g.indexName,
            partitionKey: g.partitionKey,
            sortKey: { name: 'gsi2sk', type: 'S' as const },
            projection: 'KEYS_ONLY' as const,
          }
        : g,
    );
    const keys: { name: string; type: 'S' | 'N' }[] = [
      indexTableDefinition.partitionKey,
      indexTableDefinition.sortKey,
      ...indexes.flatMap((g) => [g.partitionKey, g.sortKey]),
    ];
    const types = new Map(keys.map((k) => [k.name, k.type]));
    await clients.dynamodb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [...types].map(([AttributeName, AttributeType]) => ({
          AttributeName,
          AttributeType,
        })),
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: indexes.map((g) => ({
          IndexName: g.indexName,
          KeySchema: [
            { AttributeName: g.partitionKey.name, KeyType: 'HASH' },
            { AttributeName: g.sortKey.name, KeyType: 'RANGE' },
          ],
          Projection: {
            ProjectionType: g.projection,
            ...(g.nonKeyAttributes ? { NonKeyAttributes: [...g.nonKeyAttributes] } : {}),
          },
        })),
      }),
    );
    const doc = DynamoDBDocumentClient.from(clients.dynamodb);
    const batches: number[] = [];
    for (let n = 0; n < ROWS; n += 25) batches.push(n);
    await Promise.all(
      [1, 2, 3, 4].map(async () => {
        for (let n = batches.shift(); n !== undefined; n = batches.shift()) {
          const items = Array.from({ length: 25 }, (_, i) => ({
            PutRequest: { Item: deliveryItem(row(n + i)) },
          }));
          await doc.send(new BatchWriteCommand({ RequestItems: { [table]: items } }));
        }
      }),
    );
    const notices: string[] = [];
    // A wait shorter than any build: the start goes on while DynamoDB Local builds the index.
    await ensureIndexTable(clients.dynamodb, table, { notice: (line) => notices.push(line), buildWaitMs: 0 });
    expect(notices).toEqual([
      `the local index table's bySender index is being built again from its ${ROWS} items (its keys changed in this version); until it is ready, search --from reads each mailbox's rows`,
    ]);
    // search --from answers at once, from the mailbox's rows while the index is not ready.
    const sender = 'sender7@example.org';
    const expected = Array.from({ length: ROWS }, (_, n) => n)
      .filter((n) => n % SENDERS === 7)
      .map((n) => row(n).messageKey)
      .reverse();
    const during = new DynamoDeliverySearch(clients.dynamodb, table);
    expect((await during.search({ from: sender }, [box])).rows.map((r) => r.messageKey)).toEqual(expected);
    // The next start (here, while the same DynamoDB Local still builds) waits for the build and leaves it active.
    // Not tested: a stop in the middle of the build. DynamoDB Local is meant to take the build up again when it
    // next starts, but in one CI run under load the index stayed unbuilt and the start waited out its 10 minutes
    // (a search of such an index can answer no rows): noted as a defect to fix, not asserted here.
    await ensureIndexTable(clients.dynamodb, table, { notice: (line) => notices.push(line) });
    const search = new DynamoDeliverySearch(clients.dynamodb, table);
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: table }));
    const bySender = Table?.GlobalSecondaryIndexes?.find((g) => g.IndexName === GSI_BY_SENDER);
    expect(bySender?.IndexStatus).toBe('ACTIVE');
    expect(bySender?.KeySchema?.map((k) => k.AttributeName)).toEqual(['fromAddress', 'pk']);
    // Still building when this start looked: one more line, saying so.
    expect(notices.slice(1)).toEqual(
      notices.length > 1
        ? [expect.stringMatching(/^the local index table's bySender index is still being built/)]
        : [],
    );
    let items = 0;
    const reader = DynamoDBDocumentClient.from(clients.dynamodb);
    for await (const page of paginateScan({ client: reader }, { TableName: table, Select: 'COUNT' }))
      items += page.Count ?? 0;
    expect(items).toBe(ROWS);
    const found = await search.search({ from: sender }, [box]);
    expect(found.plan).toBe('sender');
    expect(found.rows.map((r) => r.messageKey)).toEqual(expected);
    destroyClients(clients);
  }, 240_000);
});
