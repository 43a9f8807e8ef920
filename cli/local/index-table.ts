// The local index table: created with the CDK stack's key schema (shared/index/schema.ts), and given any global
// secondary index the schema gained since it was made.
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ListTablesCommand,
  PutItemCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import { indexTableDefinition, itemKeys } from '../../shared/index/schema';
import { waitUntil } from '../../shared/retry/poll';

/** Creates the index table with the same key schema as the CDK stack, if it does not exist yet (with its mailbox
 * registry marked complete); a table made before a global secondary index was added to the schema gets it
 * (DynamoDB Local backfills it, as AWS does). */
export async function ensureIndexTable(dynamodb: DynamoDBClient, tableName: string): Promise<void> {
  const { TableNames } = await dynamodb.send(new ListTablesCommand({}));
  const def = indexTableDefinition;
  const attributes = new Map<string, 'S' | 'N'>();
  for (const key of [
    def.partitionKey,
    def.sortKey,
    ...def.globalSecondaryIndexes.flatMap((g) => [g.partitionKey, g.sortKey]),
  ]) {
    attributes.set(key.name, key.type);
  }
  const attributeDefinitions = (names: string[]) =>
    names.map((AttributeName) => ({
      AttributeName,
      AttributeType: attributes.get(AttributeName) as 'S' | 'N',
    }));
  const gsiSpec = (g: (typeof def.globalSecondaryIndexes)[number]) => ({
    IndexName: g.indexName,
    KeySchema: [
      { AttributeName: g.partitionKey.name, KeyType: 'HASH' as const },
      { AttributeName: g.sortKey.name, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: g.projection },
  });
  const active = async () => {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    return (
      Table?.TableStatus === 'ACTIVE' &&
      (Table.GlobalSecondaryIndexes ?? []).every((g) => g.IndexStatus === 'ACTIVE')
    );
  };
  if (TableNames?.includes(tableName)) {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((g) => g.IndexName));
    // One index per UpdateTable call, as DynamoDB allows.
    for (const g of def.globalSecondaryIndexes) {
      if (present.has(g.indexName)) continue;
      await dynamodb.send(
        new UpdateTableCommand({
          TableName: tableName,
          AttributeDefinitions: attributeDefinitions([g.partitionKey.name, g.sortKey.name]),
          GlobalSecondaryIndexUpdates: [{ Create: gsiSpec(g) }],
        }),
      );
      await waitUntil(active, {
        intervalMs: 100,
        timeoutMs: 60_000,
        what: `index ${g.indexName} of table ${tableName} to become active`,
      });
    }
    return;
  }
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: attributeDefinitions([...attributes.keys()]),
      KeySchema: [
        { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: def.sortKey.name, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: def.globalSecondaryIndexes.map(gsiSpec),
    }),
  );
  await waitUntil(active, {
    intervalMs: 100,
    timeoutMs: 10_000,
    what: `table ${tableName} to become active`,
  });
  // A new table has no mailbox the registry misses: mark it complete, so no command ever scans it for mailboxes.
  const complete = itemKeys.mailboxesComplete();
  await dynamodb.send(
    new PutItemCommand({ TableName: tableName, Item: { pk: { S: complete.pk }, sk: { S: complete.sk } } }),
  );
}
