// The local index table: created with the CDK stack's key schema (shared/index/schema.ts), and given any global
// secondary index the schema gained since it was made; an index whose keys or projection changed is made again.
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndexDescription,
  ListTablesCommand,
  type Projection,
  PutItemCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import {
  GSI_BY_SENDER,
  type IndexDefinition,
  indexTableDefinition,
  itemKeys,
} from '../../shared/index/schema';
import { sleep } from '../../shared/retry/backoff';
import { PollTimeoutError, waitUntil } from '../../shared/retry/poll';

/** What the index table's users do while one of its indexes is being built, said with the notice. */
const WHILE_BUILDING: Record<string, string> = {
  [GSI_BY_SENDER]: "search --from reads each mailbox's rows",
};

export interface EnsureIndexTableOptions {
  /** Told in one line when an index is built from the table's rows (a while on a large table). */
  notice?: (line: string) => void;
  /**
   * How long to wait for an index being built before going on without it, in milliseconds: DynamoDB Local goes on
   * building it while it runs, and may take up a build cut short when it next starts. Meanwhile the table is locked
   * while the rows are copied into the index, so by default the start waits for the build (docs/operations.md has
   * how long one takes). @default 600,000
   */
  buildWaitMs?: number;
  /**
   * How long an index found still being built (a build cut short when the services last stopped) is watched for
   * progress, in milliseconds. DynamoDB Local may take such a build up again when it starts; when what it says of
   * the index does not change in this time, it does not, and the start goes on without waiting for the index.
   * @default 5,000
   */
  stallCheckMs?: number;
}

/** Creates the index table with the same key schema as the CDK stack, if it does not exist yet (with its mailbox
 * registry marked complete); a table made before a global secondary index was added to the schema gets it
 * (DynamoDB Local backfills it, as AWS does), and one whose keys or projection changed is made again. */
export async function ensureIndexTable(
  dynamodb: DynamoDBClient,
  tableName: string,
  options: EnsureIndexTableOptions = {},
): Promise<void> {
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
  /** Whether `indexName` is active within the build wait; past it the build goes on, and so does the caller. */
  const builtInTime = async (indexName: string) => {
    try {
      await waitUntil(active, {
        intervalMs: 100,
        timeoutMs: options.buildWaitMs ?? 600_000,
        what: `index ${indexName} of table ${tableName} to become active`,
      });
      return true;
    } catch (error) {
      if (error instanceof PollTimeoutError) return false;
      throw error;
    }
  };
  const active = async () => {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    return (
      Table?.TableStatus === 'ACTIVE' &&
      (Table.GlobalSecondaryIndexes ?? []).every((g) => g.IndexStatus === 'ACTIVE')
    );
  };
  const describeIndex = async (indexName: string) => {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    return Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === indexName);
  };
  /** What DescribeTable says of an index that changes while DynamoDB Local builds it. */
  const progressOf = (g: GlobalSecondaryIndexDescription | undefined) =>
    JSON.stringify([
      g?.IndexStatus ?? null,
      g?.Backfilling ?? null,
      g?.ItemCount ?? null,
      g?.IndexSizeBytes ?? null,
    ]);
  /**
   * Whether an index that is not active is being built: what DescribeTable says of it changes within the stall
   * check (or it becomes active). A describe waits while DynamoDB Local copies rows with the table locked, and
   * then answers a changed index.
   */
  const progressing = async (indexName: string, first: GlobalSecondaryIndexDescription) => {
    const before = progressOf(first);
    const deadline = Date.now() + (options.stallCheckMs ?? 5_000);
    while (Date.now() < deadline) {
      await sleep(250);
      if (progressOf(await describeIndex(indexName)) !== before) return true;
    }
    return false;
  };
  if (TableNames?.includes(tableName)) {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const present = new Map((Table?.GlobalSecondaryIndexes ?? []).map((g) => [g.IndexName, g]));
    const rows = Table?.ItemCount === undefined ? '' : ` from its ${Table.ItemCount} items`;
    const say = (name: string, what: string, why: string) =>
      options.notice?.(
        `the local index table's ${name} index ${what}${rows} (${why})${WHILE_BUILDING[name] ? `; until it is ready, ${WHILE_BUILDING[name]}` : ''}`,
      );
    // One index per UpdateTable call, as DynamoDB allows.
    for (const g of def.globalSecondaryIndexes) {
      const existing = present.get(g.indexName);
      if (existing && sameIndex(existing, gsiSpec(g))) {
        if (existing.IndexStatus === 'ACTIVE') continue;
        // A build cut short when the services last stopped: DynamoDB Local takes it up again when it next starts
        // if the stop came before it began copying rows, but a stop during the copy leaves the index CREATING for
        // good, with no entries, and DynamoDB Local refuses to delete an index being created (ResourceInUseException),
        // so it cannot be made again without touching the table (docs/operations.md, Upgrading). Such an index shows
        // no progress: it is not waited for.
        if (!(await progressing(g.indexName, existing))) {
          const meanwhile = WHILE_BUILDING[g.indexName] ? `; ${WHILE_BUILDING[g.indexName]}` : '';
          options.notice?.(
            `the local index table's ${g.indexName} index was left unbuilt when the services last stopped during its build, and DynamoDB Local does not finish it${meanwhile} (docs/operations.md, Upgrading)`,
          );
          continue;
        }
        say(g.indexName, 'is still being built', 'its build was cut short when the services last stopped');
        if (!(await builtInTime(g.indexName))) return;
        continue;
      }
      if (existing) {
        say(g.indexName, 'is being built again', 'its keys changed in this version');
        // Made before its keys or projection changed (bySender, before it was released): DynamoDB changes neither
        // in place, so the old index goes and the new one is built from the rows, as on AWS over two deploys. One
        // being deleted already (a start cut short) is waited for: a second Delete is refused.
        if (existing.IndexStatus !== 'DELETING')
          await dynamodb.send(
            new UpdateTableCommand({
              TableName: tableName,
              GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: g.indexName } }],
            }),
          );
        await waitUntil(async () => (await describeIndex(g.indexName)) === undefined, {
          intervalMs: 100,
          timeoutMs: 60_000,
          what: `index ${g.indexName} of table ${tableName} to be deleted`,
        });
      } else {
        say(g.indexName, 'is being built', 'it is new in this version');
      }
      await dynamodb.send(
        new UpdateTableCommand({
          TableName: tableName,
          AttributeDefinitions: attributeDefinitions([g.partitionKey.name, g.sortKey.name]),
          GlobalSecondaryIndexUpdates: [{ Create: gsiSpec(g) }],
        }),
      );
      // DynamoDB builds one index at a time: the next ones wait for a later start.
      if (!(await builtInTime(g.indexName))) return;
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
