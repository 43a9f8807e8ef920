// DeliveryIndex on DynamoDB (AWS or DynamoDB Local): delivery rows; the folder items and mailbox registry are
// shared/adapters/dynamo-folders.ts's.
import { GetCommand, PutCommand, paginateQuery, paginateScan } from '@aws-sdk/lib-dynamodb';
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
import { DynamoFolders } from './dynamo-folders';
import { receivedRange } from './dynamo-search';
import {
  type IndexTable,
  isConditionalCheckFailed,
  isItemTooLarge,
  partitionRangeQuery,
} from './dynamo-table';

export class DynamoDeliveryIndex implements DeliveryIndex {
  /** Folder items (UIDs and counts) and the mailbox registry. */
  readonly folderItems: DynamoFolders;

  constructor(private readonly table: IndexTable) {
    this.folderItems = new DynamoFolders(table);
  }

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

  allocateUid(mailbox: string, folder: Folder): Promise<{ uid: number; uidValidity: number }> {
    return this.folderItems.allocateUid(mailbox, folder);
  }

  restoreUid(mailbox: string, folder: Folder, uid: number, uidValidity: number): Promise<boolean> {
    return this.folderItems.restoreUid(mailbox, folder, uid, uidValidity);
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
        // After `MESSAGE#<key>`: from `MESSAGE#<key>\0`, the first sort key above it.
        ...partitionRangeQuery(
          indexKeys.mailboxPk(mailbox),
          indexKeys.MESSAGE_PREFIX,
          afterMessageKey === undefined ? undefined : `${indexKeys.messageSk(afterMessageKey)}\u0000`,
        ),
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) yield rowFromItem(item);
  }

  async putDelivery(row: DeliveryRow): Promise<'created' | 'exists'> {
    // Counted first (once per row, see DynamoFolders.countRow): the row itself is then a plain conditional put,
    // which DynamoDB bills once, where a transaction would bill the row and its index copies twice.
    if (await this.folderItems.isCounted(row.mailbox, row.folder)) {
      await this.folderItems.countRow(row.mailbox, row.folder, row.messageKey);
    }
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
    if (query.limit !== undefined && query.limit <= 0) return;
    let yielded = 0;
    // Without a filter, a page holds no more rows than asked for: read units are paid per row read.
    const pageSize = query.limit !== undefined && !query.folder ? Math.min(query.limit, 200) : 200;
    const values: Record<string, unknown> = {
      ':pk': indexKeys.mailboxPk(mailbox),
      ...(query.folder ? { ':folder': query.folder } : {}),
    };
    const pages = paginateQuery(
      { client: this.table.doc, pageSize },
      {
        TableName: this.table.name,
        IndexName: GSI_BY_RECEIVED,
        // The date window is a key condition: rows outside it are not read (nor paid for on AWS).
        KeyConditionExpression: receivedRange('pk = :pk', query, values),
        ExpressionAttributeValues: values,
        ...(query.folder ? { FilterExpression: 'folder = :folder' } : {}),
        ScanIndexForward: false,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        yielded += 1;
        yield rowFromItem(item);
        // Done at the limit, before the paginator asks for a page nobody will read.
        if (query.limit !== undefined && yielded >= query.limit) return;
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

  countDeliveries(mailbox: string, folder: string): Promise<number> {
    return this.folderItems.countDeliveries(mailbox, folder);
  }

  folders(mailbox: string): Promise<FolderState[]> {
    return this.folderItems.folders(mailbox);
  }

  mailboxes(): Promise<string[]> {
    return this.folderItems.mailboxes();
  }
}
