// ExportLog on DynamoDB: one item per export, its parts recorded atomically as they finish.
import { GetCommand, PutCommand, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type ExportPart, type ExportRecord, exportFromItem, indexKeys, itemKeys } from '../index/schema';
import type { ExportLog } from '../ports';
import { type IndexTable, isConditionalCheckFailed } from './dynamo-table';

export class DynamoExportLog implements ExportLog {
  constructor(private readonly table: IndexTable) {}

  async putExport(record: ExportRecord): Promise<void> {
    await this.table.doc.send(
      new PutCommand({
        TableName: this.table.name,
        Item: { ...itemKeys.export(record.mailbox, record.exportId), ...record },
      }),
    );
  }

  async recordExportPart(
    mailbox: string,
    exportId: string,
    part: number,
    result: ExportPart,
  ): Promise<ExportRecord> {
    const key = itemKeys.export(mailbox, exportId);
    const { Attributes } = await this.table.doc.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: key,
        UpdateExpression: 'SET partResults.#i = :part, updatedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#i': String(part) },
        ExpressionAttributeValues: { ':part': result, ':now': this.table.now().toISOString() },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const record = exportFromItem(Attributes ?? {});
    const results = record.partResults ?? {};
    const count = record.partCount ?? 1;
    if (record.state !== 'running' || Object.keys(results).length < count) return record;
    const parts = Array.from({ length: count }, (_, i) => results[String(i)] as ExportPart);
    const done: ExportRecord = {
      ...record,
      state: 'done',
      parts,
      messagesDone: parts.reduce((n, p) => n + p.messages, 0),
      updatedAt: this.table.now().toISOString(),
    };
    try {
      // Only one of the parts that raced to the end writes the final record.
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.name,
          Item: { ...key, ...done },
          ConditionExpression: '#state = :running',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':running': 'running' },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
    return done;
  }

  async recordExportProgress(
    mailbox: string,
    exportId: string,
    part: number,
    messages: number,
  ): Promise<void> {
    await this.table.doc.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: itemKeys.export(mailbox, exportId),
        UpdateExpression: 'SET partProgress.#i = :n, updatedAt = :now',
        ConditionExpression: 'attribute_exists(partProgress)',
        ExpressionAttributeNames: { '#i': String(part) },
        ExpressionAttributeValues: { ':n': messages, ':now': this.table.now().toISOString() },
      }),
    );
  }

  async failExport(mailbox: string, exportId: string, error: string): Promise<void> {
    await this.table.doc.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: itemKeys.export(mailbox, exportId),
        UpdateExpression: 'SET #state = :failed, #error = :error, updatedAt = :now',
        ExpressionAttributeNames: { '#state': 'state', '#error': 'error' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':error': error,
          ':now': this.table.now().toISOString(),
        },
      }),
    );
  }

  async getExport(mailbox: string, exportId: string): Promise<ExportRecord | undefined> {
    const { Item } = await this.table.doc.send(
      new GetCommand({
        TableName: this.table.name,
        Key: itemKeys.export(mailbox, exportId),
        ConsistentRead: true,
      }),
    );
    return Item ? exportFromItem(Item) : undefined;
  }

  async latestExport(mailbox: string, format: ExportRecord['format']): Promise<ExportRecord | undefined> {
    const pages = paginateQuery(
      { client: this.table.doc, pageSize: 50 },
      {
        TableName: this.table.name,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': indexKeys.mailboxPk(mailbox),
          ':prefix': indexKeys.EXPORT_PREFIX,
        },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const record = exportFromItem(item);
        if (record.state === 'done' && record.format === format) return record;
      }
    }
    return undefined;
  }
}
