// DeliveryIndex on DynamoDB (AWS or DynamoDB Local): delivery rows and the folders' UID state.
import { GetCommand, PutCommand, paginateQuery, paginateScan, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { errorMessage } from '../errors';
import { RowTooLargeError } from '../index/row-budget';
import {
  contentItem,
  type DeliveryRow,
  deliveryItem,
  type FolderState,
  GSI_BY_FOLDER_UID,
  GSI_BY_RAW_OBJECT,
  GSI_BY_RECEIVED,
  indexKeys,
  itemKeys,
  type RawObjectRow,
  rawObjectRowFromItem,
  rowFromItem,
} from '../index/schema';
import type { DeliveryIndex, ListQuery } from '../ports';
import type { Folder } from '../receiving/routing';
import { type IndexTable, isConditionalCheckFailed, isItemTooLarge } from './dynamo-table';

export class DynamoDeliveryIndex implements DeliveryIndex {
  constructor(private readonly table: IndexTable) {}

  async getDelivery(mailbox: string, messageKey: string): Promise<DeliveryRow | undefined> {
    const { Item } = await this.table.doc.send(
      new GetCommand({
        TableName: this.table.name,
        Key: itemKeys.delivery(mailbox, messageKey),
        ConsistentRead: true,
      }),
    );
    return Item ? rowFromItem(Item) : undefined;
  }

  async allocateUid(mailbox: string, folder: Folder): Promise<{ uid: number; uidValidity: number }> {
    const { Attributes } = await this.table.doc.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: itemKeys.folder(mailbox, folder),
        // UIDVALIDITY is fixed when the folder is first used and never changes afterwards.
        UpdateExpression:
          'SET uidValidity = if_not_exists(uidValidity, :validity), mailbox = :mailbox, folder = :folder ADD lastUid :one',
        ExpressionAttributeValues: {
          ':validity': Math.floor(this.table.now().getTime() / 1000),
          ':mailbox': mailbox,
          ':folder': folder,
          ':one': 1,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return { uid: Number(Attributes?.lastUid), uidValidity: Number(Attributes?.uidValidity) };
  }

  async restoreUid(mailbox: string, folder: Folder, uid: number, uidValidity: number): Promise<boolean> {
    const key = itemKeys.folder(mailbox, folder);
    try {
      await this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: key,
          UpdateExpression:
            'SET uidValidity = :validity, mailbox = :mailbox, folder = :folder, lastUid = :uid',
          ConditionExpression:
            '(attribute_not_exists(uidValidity) OR uidValidity = :validity) AND (attribute_not_exists(lastUid) OR lastUid < :uid)',
          ExpressionAttributeValues: {
            ':validity': uidValidity,
            ':mailbox': mailbox,
            ':folder': folder,
            ':uid': uid,
          },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
    // The folder is already past this UID: fine, as long as it is the same UIDVALIDITY.
    const { Item } = await this.table.doc.send(
      new GetCommand({ TableName: this.table.name, Key: key, ConsistentRead: true }),
    );
    return Number(Item?.uidValidity) === uidValidity;
  }

  async *allDeliveries(): AsyncIterable<DeliveryRow> {
    const pages = paginateScan(
      { client: this.table.doc, pageSize: 500 },
      {
        TableName: this.table.name,
        FilterExpression: 'begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':prefix': indexKeys.MESSAGE_PREFIX },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) yield rowFromItem(item);
  }

  async *rawObjectRows(mailbox: string, afterSesMessageId?: string): AsyncIterable<RawObjectRow> {
    // A global secondary index is read eventually consistent (its only mode): a row written in the last moment
    // may be missing here, and reconcile reports its object once, then finds it the next run.
    const pages = paginateQuery(
      { client: this.table.doc, pageSize: 1000 },
      {
        TableName: this.table.name,
        IndexName: GSI_BY_RAW_OBJECT,
        KeyConditionExpression:
          afterSesMessageId === undefined
            ? 'mailbox = :mailbox'
            : 'mailbox = :mailbox AND sesMessageId > :after',
        ExpressionAttributeValues: {
          ':mailbox': mailbox,
          ...(afterSesMessageId === undefined ? {} : { ':after': afterSesMessageId }),
        },
      },
    );
    for await (const page of pages) {
      // Within one sesMessageId the index's order is unspecified: callers group by it.
      for (const item of page.Items ?? []) {
        const row = rawObjectRowFromItem(item);
        if (row) yield row;
      }
    }
  }

  async *mailboxRows(mailbox: string, afterMessageKey?: string): AsyncIterable<DeliveryRow> {
    const pages = paginateQuery(
      { client: this.table.doc, pageSize: 200 },
      {
        TableName: this.table.name,
        KeyConditionExpression:
          afterMessageKey === undefined
            ? 'pk = :pk AND begins_with(sk, :prefix)'
            : 'pk = :pk AND sk BETWEEN :after AND :end',
        ExpressionAttributeValues: {
          ':pk': indexKeys.mailboxPk(mailbox),
          ...(afterMessageKey === undefined
            ? { ':prefix': indexKeys.MESSAGE_PREFIX }
            : // `MESSAGE#<key>` and the keys after it, up to the last MESSAGE# key (`$` sorts above `#`).
              { ':after': `${indexKeys.messageSk(afterMessageKey)}\u0000`, ':end': 'MESSAGE$' }),
        },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) yield rowFromItem(item);
  }

  async putDelivery(row: DeliveryRow): Promise<'created' | 'exists'> {
    try {
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.name,
          Item: deliveryItem(row),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'created';
    } catch (error) {
      if (isConditionalCheckFailed(error)) return 'exists';
      if (isItemTooLarge(error)) {
        throw new RowTooLargeError(`DynamoDB refused the row: ${errorMessage(error)}`, { cause: error });
      }
      throw error;
    }
  }

  async claimContent(mailbox: string, contentSha256: string, messageKey: string): Promise<string> {
    try {
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.name,
          Item: contentItem(mailbox, contentSha256, messageKey),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return messageKey;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
    // Markers are never changed or deleted: the one there now is the one that won.
    return (await this.contentHolder(mailbox, contentSha256)) ?? messageKey;
  }

  async contentHolder(mailbox: string, contentSha256: string): Promise<string | undefined> {
    const { Item } = await this.table.doc.send(
      new GetCommand({
        TableName: this.table.name,
        Key: itemKeys.content(mailbox, contentSha256),
        ConsistentRead: true,
      }),
    );
    return Item ? String(Item.messageKey) : undefined;
  }

  async *listDeliveries(mailbox: string, query: ListQuery = {}): AsyncIterable<DeliveryRow> {
    let yielded = 0;
    // Without a filter, a page holds no more rows than asked for: read units are paid per row read.
    const pageSize = query.limit !== undefined && !query.folder ? Math.min(query.limit, 200) : 200;
    const pages = paginateQuery(
      { client: this.table.doc, pageSize },
      {
        TableName: this.table.name,
        IndexName: GSI_BY_RECEIVED,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: {
          ':pk': indexKeys.mailboxPk(mailbox),
          ...(query.folder ? { ':folder': query.folder } : {}),
        },
        ...(query.folder ? { FilterExpression: 'folder = :folder' } : {}),
        ScanIndexForward: false,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        if (query.limit !== undefined && yielded >= query.limit) return;
        yielded += 1;
        yield rowFromItem(item);
      }
    }
  }

  async *folderDeliveries(mailbox: string, folder: string): AsyncIterable<DeliveryRow> {
    const pages = paginateQuery(
      { client: this.table.doc, pageSize: 500 },
      {
        TableName: this.table.name,
        IndexName: GSI_BY_FOLDER_UID,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': indexKeys.folderUidPk(mailbox, folder) },
        ScanIndexForward: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) yield rowFromItem(item);
  }

  async countDeliveries(mailbox: string, folder: string): Promise<number> {
    let count = 0;
    const pages = paginateQuery(
      { client: this.table.doc },
      {
        TableName: this.table.name,
        IndexName: GSI_BY_FOLDER_UID,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': indexKeys.folderUidPk(mailbox, folder) },
        Select: 'COUNT',
      },
    );
    for await (const page of pages) count += page.Count ?? 0;
    return count;
  }

  async folders(mailbox: string): Promise<FolderState[]> {
    const out: FolderState[] = [];
    const pages = paginateQuery(
      { client: this.table.doc },
      {
        TableName: this.table.name,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': indexKeys.mailboxPk(mailbox),
          ':prefix': indexKeys.FOLDER_PREFIX,
        },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        out.push({
          mailbox,
          folder: String(item.folder),
          uidValidity: Number(item.uidValidity),
          lastUid: Number(item.lastUid),
        });
      }
    }
    return out;
  }

  async mailboxes(): Promise<string[]> {
    const found = new Set<string>();
    const pages = paginateScan(
      { client: this.table.doc },
      {
        TableName: this.table.name,
        FilterExpression: 'begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':prefix': indexKeys.FOLDER_PREFIX },
        ProjectionExpression: 'mailbox',
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) found.add(String(item.mailbox));
    return [...found].sort();
  }
}
