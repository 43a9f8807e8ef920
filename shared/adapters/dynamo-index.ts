// MailIndex on DynamoDB (AWS or DynamoDB Local), through the document client.
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  paginateScan,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ForwardEntry, ForwardLedger, ForwardState, SentResult } from '../forward';
import {
  type DeliveryRow,
  deliveryItem,
  type ExportPart,
  type ExportRecord,
  type FolderState,
  GSI_BY_FOLDER_UID,
  GSI_BY_RECEIVED,
  indexKeys,
  rowFromItem,
} from '../index-schema';
import type { ListQuery, MailIndex } from '../ports';
import type { Folder } from '../routing';
import { RowTooLargeError } from '../row-budget';

/** A claim on a send lasts this long; a worker that dies mid-send leaves it for a redrive to decide. */
const SEND_LEASE_MS = 5 * 60 * 1000;

export class DynamoMailIndex implements MailIndex, ForwardLedger {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async getDelivery(mailbox: string, messageKey: string): Promise<DeliveryRow | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: indexKeys.mailboxPk(mailbox), sk: indexKeys.messageSk(messageKey) },
        ConsistentRead: true,
      }),
    );
    return Item ? rowFromItem(Item) : undefined;
  }

  async allocateUid(mailbox: string, folder: Folder): Promise<{ uid: number; uidValidity: number }> {
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: indexKeys.mailboxPk(mailbox), sk: indexKeys.folderSk(folder) },
        // UIDVALIDITY is fixed when the folder is first used and never changes afterwards.
        UpdateExpression:
          'SET uidValidity = if_not_exists(uidValidity, :validity), mailbox = :mailbox, folder = :folder ADD lastUid :one',
        ExpressionAttributeValues: {
          ':validity': Math.floor(this.now().getTime() / 1000),
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
    const key = { pk: indexKeys.mailboxPk(mailbox), sk: indexKeys.folderSk(folder) };
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
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
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
    // The folder is already past this UID: fine, as long as it is the same UIDVALIDITY.
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return Number(Item?.uidValidity) === uidValidity;
  }

  async *allDeliveries(): AsyncIterable<DeliveryRow> {
    const pages = paginateScan(
      { client: this.doc, pageSize: 500 },
      {
        TableName: this.tableName,
        FilterExpression: 'begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':prefix': indexKeys.MESSAGE_PREFIX },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) yield rowFromItem(item);
  }

  async putDelivery(row: DeliveryRow): Promise<'created' | 'exists'> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: deliveryItem(row),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'created';
    } catch (error) {
      if (
        error instanceof ConditionalCheckFailedException ||
        (error as Error).name === 'ConditionalCheckFailedException'
      ) {
        return 'exists';
      }
      if (isItemTooLarge(error)) {
        throw new RowTooLargeError(`DynamoDB refused the row: ${(error as Error).message}`, { cause: error });
      }
      throw error;
    }
  }

  async *listDeliveries(mailbox: string, query: ListQuery = {}): AsyncIterable<DeliveryRow> {
    let yielded = 0;
    const pages = paginateQuery(
      { client: this.doc, pageSize: 200 },
      {
        TableName: this.tableName,
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
      { client: this.doc, pageSize: 500 },
      {
        TableName: this.tableName,
        IndexName: GSI_BY_FOLDER_UID,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': indexKeys.folderUidPk(mailbox, folder) },
        ScanIndexForward: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) yield rowFromItem(item);
  }

  async folders(mailbox: string): Promise<FolderState[]> {
    const out: FolderState[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tableName,
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
      { client: this.doc },
      {
        TableName: this.tableName,
        FilterExpression: 'begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':prefix': indexKeys.FOLDER_PREFIX },
        ProjectionExpression: 'mailbox',
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) found.add(String(item.mailbox));
    return [...found].sort();
  }

  async putExport(record: ExportRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: indexKeys.mailboxPk(record.mailbox), sk: indexKeys.exportSk(record.exportId), ...record },
      }),
    );
  }

  async recordExportPart(
    mailbox: string,
    exportId: string,
    index: number,
    part: ExportPart,
  ): Promise<ExportRecord> {
    const key = { pk: indexKeys.mailboxPk(mailbox), sk: indexKeys.exportSk(exportId) };
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET partResults.#i = :part, updatedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#i': String(index) },
        ExpressionAttributeValues: { ':part': part, ':now': this.now().toISOString() },
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
      updatedAt: this.now().toISOString(),
    };
    try {
      // Only one of the parts that raced to the end writes the final record.
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, ...done },
          ConditionExpression: '#state = :running',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':running': 'running' },
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
    return done;
  }

  async recordExportProgress(
    mailbox: string,
    exportId: string,
    index: number,
    messages: number,
  ): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: indexKeys.mailboxPk(mailbox), sk: indexKeys.exportSk(exportId) },
        UpdateExpression: 'SET partProgress.#i = :n, updatedAt = :now',
        ConditionExpression: 'attribute_exists(partProgress)',
        ExpressionAttributeNames: { '#i': String(index) },
        ExpressionAttributeValues: { ':n': messages, ':now': this.now().toISOString() },
      }),
    );
  }

  async failExport(mailbox: string, exportId: string, error: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: indexKeys.mailboxPk(mailbox), sk: indexKeys.exportSk(exportId) },
        UpdateExpression: 'SET #state = :failed, #error = :error, updatedAt = :now',
        ExpressionAttributeNames: { '#state': 'state', '#error': 'error' },
        ExpressionAttributeValues: { ':failed': 'failed', ':error': error, ':now': this.now().toISOString() },
      }),
    );
  }

  async getExport(mailbox: string, exportId: string): Promise<ExportRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: indexKeys.mailboxPk(mailbox), sk: indexKeys.exportSk(exportId) },
        ConsistentRead: true,
      }),
    );
    return Item ? exportFromItem(Item) : undefined;
  }

  async latestExport(mailbox: string, format: ExportRecord['format']): Promise<ExportRecord | undefined> {
    const pages = paginateQuery(
      { client: this.doc, pageSize: 50 },
      {
        TableName: this.tableName,
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

  private forwardKey(e: Pick<ForwardEntry, 'mailbox' | 'messageKey' | 'target'>) {
    return { pk: indexKeys.mailboxPk(e.mailbox), sk: indexKeys.forwardSk(e.messageKey, e.target) };
  }

  async claimForward(
    e: Pick<ForwardEntry, 'mailbox' | 'messageKey' | 'target'>,
    now: Date,
    redrive: boolean,
  ): Promise<boolean> {
    // Normal delivery may take over only what never started or failed transiently; a redrive also takes
    // permanent failures and claims whose worker died (its lease ran out).
    const condition = redrive
      ? 'attribute_not_exists(pk) OR #state IN (:pending, :failed) OR (#state = :sending AND leaseUntil < :now)'
      : 'attribute_not_exists(pk) OR #state = :pending OR (#state = :failed AND permanent = :false)';
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.forwardKey(e),
          UpdateExpression:
            'SET #state = :sending, leaseUntil = :lease, updatedAt = :now, mailbox = :mailbox, messageKey = :key, target = :target ADD attempts :one',
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':sending': 'sending',
            ':pending': 'pending',
            ':failed': 'failed',
            ...(redrive ? {} : { ':false': false }),
            ':lease': new Date(now.getTime() + SEND_LEASE_MS).toISOString(),
            ':now': now.toISOString(),
            ':mailbox': e.mailbox,
            ':key': e.messageKey,
            ':target': e.target,
            ':one': 1,
          },
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async settleForward(
    e: Pick<ForwardEntry, 'mailbox' | 'messageKey' | 'target'>,
    result: SentResult | { state: 'failed'; error: string; permanent: boolean },
    now: Date,
  ): Promise<void> {
    if (result.state === 'sent') {
      const ses = 'sesMessageId' in result;
      const changes = ses && result.changes?.length ? result.changes : undefined;
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.forwardKey(e),
          UpdateExpression: `SET #state = :sent, ${ses ? 'sesMessageId' : 'gmailMessageId'} = :id, sentAt = :now, updatedAt = :now${changes ? ', changes = :changes' : ''} REMOVE leaseUntil, #error, permanent`,
          ExpressionAttributeNames: { '#state': 'state', '#error': 'error' },
          ExpressionAttributeValues: {
            ':sent': 'sent',
            ':id': ses ? result.sesMessageId : result.gmailMessageId,
            ':now': now.toISOString(),
            ...(changes ? { ':changes': changes } : {}),
          },
        }),
      );
      // Bounce and complaint feedback finds the entry by SES's id; Gmail imports get none.
      if (!ses) return;
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: indexKeys.sentCopyPk(result.sesMessageId),
            sk: indexKeys.SENT_COPY_SK,
            mailbox: e.mailbox,
            messageKey: e.messageKey,
            target: e.target,
          },
        }),
      );
      return;
    }
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.forwardKey(e),
        UpdateExpression:
          'SET #state = :failed, #error = :error, permanent = :permanent, updatedAt = :now REMOVE leaseUntil',
        ExpressionAttributeNames: { '#state': 'state', '#error': 'error' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':error': result.error.slice(0, 2000),
          ':permanent': result.permanent,
          ':now': now.toISOString(),
        },
      }),
    );
  }

  async skipForward(
    e: Pick<ForwardEntry, 'mailbox' | 'messageKey' | 'target'>,
    reason: string,
    now: Date,
  ): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.forwardKey(e),
            ...e,
            state: 'skipped',
            reason,
            attempts: 0,
            updatedAt: now.toISOString(),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #state = :pending',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':pending': 'pending' },
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
  }

  async *listForwards(mailbox: string, state?: ForwardState): AsyncIterable<ForwardEntry> {
    const pages = paginateQuery(
      { client: this.doc, pageSize: 200 },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': indexKeys.mailboxPk(mailbox),
          ':prefix': indexKeys.FORWARD_PREFIX,
          ...(state ? { ':state': state } : {}),
        },
        ...(state
          ? { FilterExpression: '#state = :state', ExpressionAttributeNames: { '#state': 'state' } }
          : {}),
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const { pk: _pk, sk: _sk, ...entry } = item;
        yield entry as ForwardEntry;
      }
    }
  }

  async recordForwardFeedback(
    sesMessageId: string,
    state: 'bounced' | 'complained',
    feedback: string,
    now: Date,
  ): Promise<boolean> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: indexKeys.sentCopyPk(sesMessageId), sk: indexKeys.SENT_COPY_SK },
      }),
    );
    if (!Item) return false;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.forwardKey(Item as Pick<ForwardEntry, 'mailbox' | 'messageKey' | 'target'>),
        UpdateExpression: 'SET #state = :state, feedback = :feedback, updatedAt = :now',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':state': state,
          ':feedback': feedback.slice(0, 2000),
          ':now': now.toISOString(),
        },
      }),
    );
    return true;
  }
}

function exportFromItem(item: Record<string, unknown>): ExportRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as ExportRecord;
}

/**
 * DynamoDB's answer to an item over 400 KB: a ValidationException "Item size has exceeded the maximum allowed
 * size" (also when an index's copy of the item would be too large: "... exceeded the maximum allowed size ...").
 */
function isItemTooLarge(error: unknown): boolean {
  const e = error as Error;
  return e.name === 'ValidationException' && /item size has exceeded|maximum allowed size/i.test(e.message);
}
