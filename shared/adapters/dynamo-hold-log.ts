// HoldLog on DynamoDB: one item per legal hold in the index table, all in one partition (holds are few).
import { GetCommand, PutCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { indexKeys, itemKeys } from '../index/schema';
import type { HoldLog } from '../ports';
import type { HoldRecord } from '../retention/hold-record';
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
}

function holdOf(item: Record<string, unknown>): HoldRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as HoldRecord;
}
