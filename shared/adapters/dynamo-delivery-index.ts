// DeliveryIndex on DynamoDB (AWS or DynamoDB Local): delivery rows; the folder items and mailbox registry are
// shared/adapters/dynamo-folders.ts's.
import { GetCommand, PutCommand, paginateQuery, paginateScan, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { errorMessage } from '../errors';
import { folderListPlan, nextReceivedPage, RECEIVED_PAGE_ROWS } from '../index/listing';
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
import type { DeliveryIndex, IndexReads, ListQuery } from '../ports';
import type { Folder } from '../receiving/routing';
import { DynamoFolders } from './dynamo-folders';
import { inReceivedRange, receivedRange } from './dynamo-search';
import {
  countReads,
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
    const limit = query.limit;
    if (limit !== undefined && limit <= 0) return;
    const plan = query.folder === undefined ? undefined : await this.folderPlan(mailbox, query.folder, query);
    if (query.folder !== undefined && plan?.plan === 'folder') {
      yield* this.folderNewestFirst(mailbox, query.folder, query);
      return;
    }
    // A page's Limit counts the rows read, before the folder's filter: read units are paid per row read. Without a
    // folder every row read is yielded, so a page holds no more than the rows asked for.
    const budget = plan?.plan === 'received' ? plan.budget : Number.POSITIVE_INFINITY;
    let page =
      plan?.plan === 'received' ? plan.firstPage : Math.min(RECEIVED_PAGE_ROWS, limit ?? RECEIVED_PAGE_ROWS);
    const values: Record<string, unknown> = {
      ':pk': indexKeys.mailboxPk(mailbox),
      ...(query.folder ? { ':folder': query.folder } : {}),
    };
    // The date window is a key condition: rows outside it are not read (nor paid for on AWS).
    const keyCondition = receivedRange('pk = :pk', query, values);
    let read = 0;
    let yielded = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.table.doc.send(
        new QueryCommand({
          TableName: this.table.name,
          IndexName: GSI_BY_RECEIVED,
          KeyConditionExpression: keyCondition,
          ExpressionAttributeValues: values,
          ...(query.folder ? { FilterExpression: 'folder = :folder' } : {}),
          ScanIndexForward: false,
          Limit: page,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      countReads(query.reads, result);
      read += result.ScannedCount ?? 0;
      for (const item of result.Items ?? []) {
        yielded += 1;
        yield rowFromItem(item);
        // Done at the limit, before asking for a page nobody will read.
        if (limit !== undefined && yielded >= limit) return;
      }
      start = result.LastEvaluatedKey;
      page = nextReceivedPage(page, budget - read);
    } while (start && page > 0);
    if (!start || query.folder === undefined) return;
    // The folder's count of rows read and still rows wanted: the rest of them are older than where the read
    // stopped (an old folder), and the folder alone holds them.
    yield* this.folderNewestFirst(
      mailbox,
      query.folder,
      { ...query, ...(limit !== undefined ? { limit: limit - yielded } : {}) },
      String(start.gsi2sk),
    );
  }

  /**
   * How listing `folder` reads (shared/index/listing.ts), from the counts its folder items keep; undefined for a
   * mailbox with a folder from before counts were kept (the mailbox newest first, as always).
   */
  private async folderPlan(mailbox: string, folder: string, query: ListQuery) {
    const folders = await this.folderItems.folders(mailbox);
    if (folders.some((f) => f.messages === undefined)) return undefined;
    return folderListPlan({
      folderRows: folders.find((f) => f.folder === folder)?.messages ?? 0,
      mailboxRows: folders.reduce((sum, f) => sum + (f.messages ?? 0), 0),
      window: query.since !== undefined || query.until !== undefined,
      ...(query.limit !== undefined ? { limit: query.limit } : {}),
    });
  }

  /**
   * One folder's rows in the date window (and received before the gsi2sk `olderThan`, when given), newest received
   * first: all of them read, ordered here.
   */
  private async *folderNewestFirst(mailbox: string, folder: string, query: ListQuery, olderThan?: string) {
    const rows: { sk: string; row: DeliveryRow }[] = [];
    for await (const page of this.folderPages(mailbox, folder)) {
      countReads(query.reads, page);
      for (const item of page.Items ?? []) {
        const row = rowFromItem(item);
        const sk = indexKeys.receivedSk(row.receivedAt, row.messageKey);
        if (inReceivedRange(sk, query) && (olderThan === undefined || sk < olderThan)) rows.push({ sk, row });
      }
    }
    // byReceived's order: gsi2sk (`<receivedAt>#<messageKey>`, ASCII) descending.
    rows.sort((a, b) => (a.sk < b.sk ? 1 : a.sk > b.sk ? -1 : 0));
    for (const { row } of rows.slice(0, query.limit ?? rows.length)) yield row;
  }

  async *folderDeliveries(mailbox: string, folder: string): AsyncIterable<DeliveryRow> {
    for await (const page of this.folderPages(mailbox, folder))
      for (const item of page.Items ?? []) yield rowFromItem(item);
  }

  /** One folder's rows through byFolderUid, in UID order, 500 a page. */
  private folderPages(mailbox: string, folder: string) {
    return paginateQuery(
      { client: this.table.doc, pageSize: 500 },
      {
        TableName: this.table.name,
        IndexName: GSI_BY_FOLDER_UID,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': indexKeys.folderUidPk(mailbox, folder) },
        ScanIndexForward: true,
      },
    );
  }

  countDeliveries(mailbox: string, folder: string, reads?: IndexReads): Promise<number> {
    return this.folderItems.countDeliveries(mailbox, folder, reads);
  }

  folders(mailbox: string, reads?: IndexReads): Promise<FolderState[]> {
    return this.folderItems.folders(mailbox, reads);
  }

  mailboxes(reads?: IndexReads): Promise<string[]> {
    return this.folderItems.mailboxes(reads);
  }
}
