// HoldLog on DynamoDB: one item per legal hold in the index table, all in one partition (holds are few), and the
// versions each hold placed in parts of their own partition (a hold over years of mail names too many versions for
// one item: DynamoDB takes at most 400 KB an item).
import { GetCommand, PutCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { indexKeys, itemKeys } from '../index/schema';
import type { HoldLog, ObjectVersion } from '../ports';
import { HeldVersionsMissingError, type HoldRecord } from '../retention/hold-record';
import type { IndexTable } from './dynamo-table';

export class DynamoHoldLog implements HoldLog {
  constructor(private readonly table: IndexTable) {}

  async putHold(record: HoldRecord): Promise<void> {
    await this.table.doc.send(
      new PutCommand({ TableName: this.table.name, Item: { ...itemKeys.hold(record.holdId), ...record } }),
    );
  }

  async getHold(holdId: string): Promise<HoldRecord | undefined> {
    const { Item } = await this.table.doc.send(
      new GetCommand({ TableName: this.table.name, Key: itemKeys.hold(holdId), ConsistentRead: true }),
    );
    return Item ? holdOf(Item) : undefined;
  }

  async listHolds(): Promise<HoldRecord[]> {
    const holds: HoldRecord[] = [];
    const pages = paginateQuery(
      { client: this.table.doc },
      {
        TableName: this.table.name,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': indexKeys.HOLDS_PK },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) holds.push(holdOf(item));
    return holds;
  }

  async putHeldVersions(
    holdId: string,
    bucket: string,
    versions: readonly { key: string; versionId: string }[],
  ): Promise<number> {
    const parts = packParts(versions.map((v) => JSON.stringify([v.key, v.versionId])));
    for (const [part, pairs] of parts.entries()) {
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.name,
          Item: { ...itemKeys.heldPart(holdId, part), bucket, versions: `[${pairs.join(',')}]` },
        }),
      );
    }
    return parts.length;
  }

  async heldVersions(holdId: string, parts: number): Promise<ObjectVersion[]> {
    const versions: ObjectVersion[] = [];
    for (let part = 0; part < parts; part++) {
      const { Item } = await this.table.doc.send(
        new GetCommand({
          TableName: this.table.name,
          Key: itemKeys.heldPart(holdId, part),
          ConsistentRead: true,
        }),
      );
      if (!Item)
        throw new HeldVersionsMissingError(
          `hold ${holdId}: part ${part} of the ${parts} recording its versions is missing`,
        );
      for (const [key, versionId] of JSON.parse(String(Item.versions)) as [string, string][])
        versions.push({ bucket: String(Item.bucket), key, versionId });
    }
    return versions;
  }
}

/** The most a part's versions take, in bytes of JSON: the item's keys and bucket fit in what is left of 400 KB. */
const PART_BYTES = 380_000;

/** `pairs` (JSON texts) cut into runs whose joined JSON stays within PART_BYTES. */
function packParts(pairs: readonly string[]): string[][] {
  const parts: string[][] = [];
  let current: string[] = [];
  let size = 2;
  for (const pair of pairs) {
    const bytes = Buffer.byteLength(pair) + 1;
    if (current.length > 0 && size + bytes > PART_BYTES) {
      parts.push(current);
      current = [];
      size = 2;
    }
    current.push(pair);
    size += bytes;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

function holdOf(item: Record<string, unknown>): HoldRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as HoldRecord;
}
