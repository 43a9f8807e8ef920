// The local index table: created with the CDK stack's key schema (shared/index/schema.ts), and given any global
// secondary index the schema gained since it was made; an index whose keys or projection changed is made again.
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ListTablesCommand,
  type Projection,
  PutItemCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import { type IndexDefinition, indexTableDefinition, itemKeys } from '../../shared/index/schema';
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
  const gsiSpec = (g: IndexDefinition) => ({
    IndexName: g.indexName,
    KeySchema: [
      { AttributeName: g.partitionKey.name, KeyType: 'HASH' as const },
      { AttributeName: g.sortKey.name, KeyType: 'RANGE' as const },
    ],
    Projection: {
      ProjectionType: g.projection,
      ...(g.nonKeyAttributes ? { NonKeyAttributes: [...g.nonKeyAttributes] } : {}),
    },
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
    const present = new Map((Table?.GlobalSecondaryIndexes ?? []).map((g) => [g.IndexName, g]));
    // One index per UpdateTable call, as DynamoDB allows.
    for (const g of def.globalSecondaryIndexes) {
      const existing = present.get(g.indexName);
      if (existing && sameIndex(existing, gsiSpec(g))) continue;
      if (existing) {
        // Made before its keys or projection changed (bySender, before it was released): DynamoDB changes neither
        // in place, so the old index goes and the new one is built from the rows, as on AWS over two deploys.
        await dynamodb.send(
          new UpdateTableCommand({
            TableName: tableName,
            GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: g.indexName } }],
          }),
        );
        await waitUntil(
          async () => {
            const { Table: now } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
            return !(now?.GlobalSecondaryIndexes ?? []).some((i) => i.IndexName === g.indexName);
          },
          {
            intervalMs: 100,
            timeoutMs: 60_000,
            what: `index ${g.indexName} of table ${tableName} to be deleted`,
          },
        );
      }
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

/** Whether an index as DynamoDB describes it has the keys and projection of `spec`. */
function sameIndex(
  described: { KeySchema?: { AttributeName?: string; KeyType?: string }[]; Projection?: Projection },
  spec: { KeySchema: { AttributeName: string; KeyType: string }[]; Projection: Projection },
): boolean {
  const keys = (schema: { AttributeName?: string; KeyType?: string }[] = []) =>
    schema.map((k) => `${k.KeyType}:${k.AttributeName}`).join(',');
  const projection = (p: Projection = {}) =>
    `${p.ProjectionType}:${[...(p.NonKeyAttributes ?? [])].sort().join(',')}`;
  return (
    keys(described.KeySchema) === keys(spec.KeySchema) &&
    projection(described.Projection) === projection(spec.Projection)
  );
}
