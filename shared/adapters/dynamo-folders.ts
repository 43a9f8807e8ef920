// The folder items of the index on DynamoDB (each folder's UIDVALIDITY, last UID and kept count, and the rows' count
// tokens) and the mailbox registry: what `status` and `search` read instead of the rows, so they answer in
// proportion to the folders and mailboxes there are, not to the messages.
import {
  GetCommand,
  PutCommand,
  paginateQuery,
  paginateScan,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type FolderState, GSI_BY_FOLDER_UID, indexKeys, itemKeys } from '../index/schema';
import type { IndexReads } from '../ports';
import type { Folder } from '../receiving/routing';
import { cancellationReasons, countReads, type IndexTable, isConditionalCheckFailed } from './dynamo-table';

export class DynamoFolders {
  /**
   * Which folders keep a count (`<mailbox>\n<folder>` -> counted), as the folder item said when this process
   * last allocated or restored a UID in it or read it: a folder made before counts were kept never starts one
   * (its count would miss the rows before), and a counted one never stops, so what was read stays true.
   */
  private readonly counting = new Map<string, boolean>();

  constructor(private readonly table: IndexTable) {}

  async allocateUid(mailbox: string, folder: Folder): Promise<{ uid: number; uidValidity: number }> {
    const update = (create: boolean) =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: itemKeys.folder(mailbox, folder),
          // UIDVALIDITY is fixed when the folder is first used and never changes afterwards. A folder made here
          // keeps its count from its first row; one that exists is only counted if it was made so.
          UpdateExpression: create
            ? 'SET uidValidity = if_not_exists(uidValidity, :validity), mailbox = :mailbox, folder = :folder, counted = if_not_exists(counted, :true), messages = if_not_exists(messages, :zero) ADD lastUid :one'
            : 'ADD lastUid :one',
          ...(create ? {} : { ConditionExpression: 'attribute_exists(uidValidity)' }),
          ExpressionAttributeValues: {
            ...(create
              ? {
                  ':validity': Math.floor(this.table.now().getTime() / 1000),
                  ':mailbox': mailbox,
                  ':folder': folder,
                  ':true': true,
                  ':zero': 0,
                }
              : {}),
            ':one': 1,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
    let result: Awaited<ReturnType<typeof update>>;
    try {
      result = await update(false);
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      // The folder's first use: the mailbox is registered first, so a crash between the two leaves a registered
      // mailbox with no folder (harmless), never a folder that mailboxes() does not find.
      await this.registerMailbox(mailbox);
      result = await update(true);
    }
    const { Attributes } = result;
    this.counting.set(folderId(mailbox, folder), Attributes?.counted === true);
    return { uid: Number(Attributes?.lastUid), uidValidity: Number(Attributes?.uidValidity) };
  }

  async restoreUid(mailbox: string, folder: Folder, uid: number, uidValidity: number): Promise<boolean> {
    const key = itemKeys.folder(mailbox, folder);
    try {
      const { Attributes } = await this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: key,
          UpdateExpression: 'SET lastUid = :uid',
          ConditionExpression: 'uidValidity = :validity AND lastUid < :uid',
          ExpressionAttributeValues: { ':validity': uidValidity, ':uid': uid },
          ReturnValues: 'ALL_NEW',
        }),
      );
      this.counting.set(folderId(mailbox, folder), Attributes?.counted === true);
      return true;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
    // The folder is already past this UID (fine, as long as it is the same UIDVALIDITY), or does not exist yet.
    const { Item } = await this.table.doc.send(
      new GetCommand({ TableName: this.table.name, Key: key, ConsistentRead: true }),
    );
    if (Item?.uidValidity !== undefined) {
      this.counting.set(folderId(mailbox, folder), Item.counted === true);
      return Number(Item.uidValidity) === uidValidity;
    }
    await this.registerMailbox(mailbox);
    try {
      await this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: key,
          UpdateExpression:
            'SET uidValidity = :validity, mailbox = :mailbox, folder = :folder, lastUid = :uid, counted = :true, messages = if_not_exists(messages, :zero)',
          ConditionExpression: 'attribute_not_exists(uidValidity)',
          ExpressionAttributeValues: {
            ':validity': uidValidity,
            ':mailbox': mailbox,
            ':folder': folder,
            ':uid': uid,
            ':true': true,
            ':zero': 0,
          },
        }),
      );
      this.counting.set(folderId(mailbox, folder), true);
      return true;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      // Made by a concurrent writer in the meantime: decide against what it wrote.
      return this.restoreUid(mailbox, folder, uid, uidValidity);
    }
  }

  /** Whether rows of this folder are counted as they are written (see {@link counting}). */
  async isCounted(mailbox: string, folder: string): Promise<boolean> {
    const known = this.counting.get(folderId(mailbox, folder));
    if (known !== undefined) return known;
    const { Item } = await this.table.doc.send(
      new GetCommand({
        TableName: this.table.name,
        Key: itemKeys.folder(mailbox, folder),
        ConsistentRead: true,
        ProjectionExpression: 'counted',
      }),
    );
    // A folder that does not exist yet is not remembered: it may be made (counted) before the next row.
    if (Item) this.counting.set(folderId(mailbox, folder), Item.counted === true);
    return Item?.counted === true;
  }

  /**
   * Counts a row of a counted folder exactly once, before the row is written: one transaction of the row's count
   * token (itemKeys.countToken, written once, never removed) and `ADD messages 1` on the folder item. A retried or
   * concurrent delivery of the same row finds the token and adds nothing, whether the row was written or not; a
   * run that dies between this and the row leaves the count one ahead until its retry writes the row. The
   * transaction holds two small items only (about 4 write units). Throws what DynamoDB throws otherwise.
   */
  async countRow(mailbox: string, folder: string, messageKey: string): Promise<void> {
    try {
      await this.table.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table.name,
                Item: { ...itemKeys.countToken(mailbox, messageKey), folder },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Update: {
                TableName: this.table.name,
                Key: itemKeys.folder(mailbox, folder),
                UpdateExpression: 'ADD messages :one',
                ConditionExpression: 'counted = :true',
                ExpressionAttributeValues: { ':one': 1, ':true': true },
              },
            },
          ],
        }),
      );
    } catch (error) {
      // The token is there (counted before), or the folder is not counted: nothing to add either way.
      if (!cancellationReasons(error)?.includes('ConditionalCheckFailed')) throw error;
    }
  }

  /** Adds `mailbox` to the registry (idempotent: the same item every time). */
  private async registerMailbox(mailbox: string): Promise<void> {
    await this.table.doc.send(
      new PutCommand({ TableName: this.table.name, Item: { ...itemKeys.mailboxEntry(mailbox), mailbox } }),
    );
  }

  async countDeliveries(mailbox: string, folder: string, reads?: IndexReads): Promise<number> {
    const got = await this.table.doc.send(
      new GetCommand({
        TableName: this.table.name,
        Key: itemKeys.folder(mailbox, folder),
        ConsistentRead: true,
        ProjectionExpression: 'counted, messages',
      }),
    );
    countReads(reads, got);
    const { Item } = got;
    if (Item?.counted === true) return Number(Item.messages ?? 0);
    // A folder made before counts were kept: count its rows (a Select COUNT reads every row, sends none back).
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
    for await (const page of pages) {
      countReads(reads, page);
      count += page.Count ?? 0;
    }
    return count;
  }

  async folders(mailbox: string, reads?: IndexReads): Promise<FolderState[]> {
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
      countReads(reads, page);
      for (const item of page.Items ?? []) {
        out.push({
          mailbox,
          folder: String(item.folder),
          uidValidity: Number(item.uidValidity),
          lastUid: Number(item.lastUid),
          ...(item.counted === true ? { messages: Number(item.messages ?? 0) } : {}),
        });
      }
    }
    return out;
  }

  /**
   * Every mailbox with a folder, from the registry (a few items). A table from before the registry is scanned
   * once (every item read), and what the scan found is registered with the marker that makes later calls read the
   * registry alone; a caller that may not write (a read-only role) gets the scan's answer all the same.
   */
  async mailboxes(reads?: IndexReads): Promise<string[]> {
    const registered = new Set<string>();
    let complete = false;
    const pages = paginateQuery(
      { client: this.table.doc },
      {
        TableName: this.table.name,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': indexKeys.MAILBOXES_PK },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      countReads(reads, page);
      for (const item of page.Items ?? []) {
        const sk = String(item.sk);
        if (sk === indexKeys.MAILBOXES_COMPLETE_SK) complete = true;
        else if (sk.startsWith(indexKeys.MAILBOX_PREFIX))
          registered.add(sk.slice(indexKeys.MAILBOX_PREFIX.length));
      }
    }
    if (complete) return [...registered].sort();
    const found = await this.scanMailboxes(reads);
    try {
      for (const mailbox of found) if (!registered.has(mailbox)) await this.registerMailbox(mailbox);
      await this.table.doc.send(
        new PutCommand({ TableName: this.table.name, Item: itemKeys.mailboxesComplete() }),
      );
    } catch {
      // Not allowed to write (or a write failed): the scan's answer stands, and the next call scans again.
    }
    return [...new Set([...found, ...registered])].sort();
  }

  /** Every mailbox that has a folder item, by scanning the whole table (before the registry was complete). */
  private async scanMailboxes(reads: IndexReads | undefined): Promise<string[]> {
    const found = new Set<string>();
    const pages = paginateScan(
      { client: this.table.doc },
      {
        TableName: this.table.name,
        FilterExpression: 'begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':prefix': indexKeys.FOLDER_PREFIX },
        ProjectionExpression: 'mailbox',
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      countReads(reads, page);
      for (const item of page.Items ?? []) found.add(String(item.mailbox));
    }
    return [...found];
  }
}

const folderId = (mailbox: string, folder: string) => `${mailbox}\n${folder}`;
