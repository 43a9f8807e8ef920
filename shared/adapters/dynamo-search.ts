// DeliverySearch on DynamoDB. A search by one whole sender address reads that sender's entries of the bySender
// index in the mailboxes searched (keys and the received key only; one mailbox is a key condition), orders them
// newest first and fetches just the rows it keeps, so it reads in proportion to that sender's mail there, not to
// the mailbox. Any other search is one Query per mailbox on the
// byReceived index: the mailbox partition and the received-date range are key conditions (only those rows are
// read); message-id, has-attachment and a part of the sender's address are filter expressions (DynamoDB drops the
// rest before they cross the network, but reads them). Subject and recipient substrings are case-insensitive,
// which DynamoDB's `contains` is not: those are checked on what comes back, with the same rule (`matchesSearch`)
// every reader uses. The sender index is read only when DynamoDB describes it as built (ACTIVE, not backfilling):
// DynamoDB Local answered a query of an index whose build was cut short with no rows and no error.
// Rows keep the sender as the message wrote it: a sender on an internationalised domain is looked up in each of
// its spellings (one Query of bySender apiece, or one value apiece in the filter); a plain ASCII one in one.
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { errorMessage, errorName } from '../errors';
import { GSI_BY_RECEIVED, GSI_BY_SENDER, indexKeys, rowFromItem } from '../index/schema';
import {
  compareNewestFirst,
  type DeliverySearch,
  matchesSearch,
  messageIdForms,
  type SearchQuery,
  type SearchResult,
  senderSpellings,
} from '../index/search';
import { addressSpellings } from '../mail/address';

/**
 * The received-date range as a condition on gsi2sk (`<receivedAt ISO>#<messageKey>`), added to `base`; the
 * bounds go into `values`. `list` and `search` both read a date window through it: a key condition on byReceived,
 * a filter on bySender's entries.
 */
export function receivedRange(
  base: string,
  query: { since?: Date; until?: Date },
  values: Record<string, unknown>,
): string {
  // "X#..." sorts after "X", so >= since includes a row received exactly at `since`, and < until excludes one
  // received exactly at `until`.
  if (query.since && query.until) {
    values[':since'] = query.since.toISOString();
    values[':until'] = query.until.toISOString();
    return `${base} AND gsi2sk BETWEEN :since AND :until`;
  }
  if (query.since) {
    values[':since'] = query.since.toISOString();
    return `${base} AND gsi2sk >= :since`;
  }
  if (query.until) {
    values[':until'] = query.until.toISOString();
    return `${base} AND gsi2sk < :until`;
  }
  return base;
}

/** Whether a gsi2sk is inside the received-date range, as {@link receivedRange}'s condition decides it. */
export function inReceivedRange(gsi2sk: string, query: { since?: Date; until?: Date }): boolean {
  return (
    (!query.since || gsi2sk >= query.since.toISOString()) &&
    (!query.until || gsi2sk < query.until.toISOString())
  );
}

/** The Query input for one mailbox: exported so a test can show which criteria DynamoDB evaluates. */
export function searchQueryInput(tableName: string, mailbox: string, query: SearchQuery) {
  const values: Record<string, unknown> = { ':pk': indexKeys.mailboxPk(mailbox) };
  const keyCondition = receivedRange('pk = :pk', query, values);
  const filters: string[] = [];
  if (query.messageId !== undefined) {
    const [bracketed, bare] = messageIdForms(query.messageId);
    filters.push('messageId IN (:mid1, :mid2)');
    values[':mid1'] = bracketed;
    values[':mid2'] = bare;
  }
  if (query.hasAttachment !== undefined) {
    filters.push(query.hasAttachment ? 'size(attachments) > :zero' : 'size(attachments) = :zero');
    values[':zero'] = 0;
  }
  if (query.from !== undefined) {
    // fromAddress is stored in lower case by ingest, as the message wrote it: every spelling is asked for.
    const exact = senderSpellings(query.from);
    const spellings = exact ?? addressSpellings(query.from);
    const names = spellings.map((spelling, i) => {
      values[`:from${i}`] = spelling;
      return `:from${i}`;
    });
    const conditions = names.map((name) =>
      exact !== undefined ? `fromAddress = ${name}` : `contains(fromAddress, ${name})`,
    );
    filters.push(conditions.length === 1 ? String(conditions[0]) : `(${conditions.join(' OR ')})`);
  }
  return {
    TableName: tableName,
    IndexName: GSI_BY_RECEIVED,
    KeyConditionExpression: keyCondition,
    ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
    ExpressionAttributeValues: values,
    ScanIndexForward: false,
  };
}

/**
 * The Query input for one sender's entries of the bySender index (keys and gsi2sk): in `mailbox` only (a key
 * condition), or in every mailbox. The received-date range is a filter here (the index's sort key is the mailbox):
 * DynamoDB reads the sender's other entries of those mailboxes, about 250 bytes each, and returns none of them.
 */
export function senderQueryInput(tableName: string, sender: string, query: SearchQuery, mailbox?: string) {
  const values: Record<string, unknown> = { ':from': sender, ':message': indexKeys.MESSAGE_PREFIX };
  if (mailbox !== undefined) values[':pk'] = indexKeys.mailboxPk(mailbox);
  return {
    TableName: tableName,
    IndexName: GSI_BY_SENDER,
    KeyConditionExpression:
      mailbox === undefined ? 'fromAddress = :from' : 'fromAddress = :from AND pk = :pk',
    // Only delivery rows carry fromAddress today; the filter keeps it so whatever else may one day.
    FilterExpression: receivedRange('begins_with(sk, :message)', query, values),
    ExpressionAttributeValues: values,
  };
}

/**
 * DynamoDB's answer while a new global secondary index is still being built from the table's items, or while a
 * local table's bySender is still the one made before its keys changed (made again when the local services next
 * start): "Query condition missed key schema element" for the mailbox's condition, and "Filter Expression can only
 * contain non-primary key attributes" for a date range (gsi2sk, the old index's sort key). While DynamoDB Local
 * makes it again, the index is missing ("does not have the specified index"), and a query of it fails with a
 * server error while it is being deleted or created (InternalServerError, InternalFailure): the rows are read
 * instead, which gives the same answer if the table is well, and fails in turn if it is not.
 */
const isIndexUnusable = (error: unknown) =>
  error instanceof Error &&
  ((error.name === 'ValidationException' &&
    /backfill|missed key schema element|can only contain non-primary key attributes|does not have the specified index/i.test(
      error.message,
    )) ||
    error.name === 'InternalServerError' ||
    error.name === 'InternalFailure');

/**
 * Why the sender index cannot be read, from DescribeTable's `GlobalSecondaryIndexes` (undefined when it can): it
 * must be there, ACTIVE and not backfilling. A query of an index being built is refused on AWS, but DynamoDB Local
 * answered one whose build was cut short (CREATING for good) with no rows and no error.
 */
function senderIndexUnready(
  indexes: { IndexName?: string; IndexStatus?: string; Backfilling?: boolean }[] | undefined,
): string | undefined {
  const index = indexes?.find((g) => g.IndexName === GSI_BY_SENDER);
  if (index === undefined) return `the table has no ${GSI_BY_SENDER} index`;
  if (index.IndexStatus !== 'ACTIVE')
    return `the ${GSI_BY_SENDER} index is not active (${index.IndexStatus ?? 'no status'})`;
  if (index.Backfilling === true) return `the ${GSI_BY_SENDER} index is still being backfilled`;
  return undefined;
}

export class DynamoDeliverySearch implements DeliverySearch {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  /**
   * Searches `mailboxes` (or only `query.mailboxes` among them), newest received first, at most `query.limit`
   * rows. Throws what the SDK throws (a missing table, no credentials).
   */
  async search(query: SearchQuery, mailboxes: string[]): Promise<SearchResult> {
    const targets = query.mailboxes ? mailboxes.filter((m) => query.mailboxes?.includes(m)) : mailboxes;
    const senders = query.from === undefined ? undefined : senderSpellings(query.from);
    if (senders === undefined || targets.length === 0) return this.byMailbox(query, targets);
    // A table that just gained the index answers from each mailbox's rows until the index is built.
    let fallback = await this.senderIndexState();
    if (fallback === undefined) {
      try {
        return await this.bySender(senders, query, targets);
      } catch (error) {
        if (!isIndexUnusable(error)) throw error;
        fallback = `the ${GSI_BY_SENDER} index refused the query (${errorName(error)}: ${errorMessage(error)})`;
      }
    }
    return { ...(await this.byMailbox(query, targets)), fallback };
  }

  /** {@link senderIndexUnready} for this table, from one DescribeTable. */
  private async senderIndexState(): Promise<string | undefined> {
    try {
      const { Table } = await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
      return senderIndexUnready(Table?.GlobalSecondaryIndexes);
    } catch (error) {
      // Credentials that may query the table but not describe it: the index is queried, and AWS refuses a query
      // of an index still being built (caught as isIndexUnusable).
      if (error instanceof Error && error.name === 'AccessDeniedException') return undefined;
      throw error;
    }
  }

  /**
   * One sender's index entries in `targets`, for each of its spellings (one Query per mailbox asked for, else one
   * for every mailbox), newest first by their gsi2sk; then the rows, fetched in that order in batches of what they
   * can give. A row has one fromAddress, so no entry is read twice.
   */
  private async bySender(senders: string[], query: SearchQuery, targets: string[]): Promise<SearchResult> {
    const result: SearchResult = { rows: [], examined: 0, returned: 0, plan: 'sender' };
    const wanted = new Set(targets);
    const entries: { pk: string; sk: string; gsi2sk: string }[] = [];
    for (const sender of senders) {
      for (const mailbox of query.mailboxes ? targets : [undefined]) {
        const pages = paginateQuery(
          { client: this.doc, pageSize: 1000 },
          senderQueryInput(this.tableName, sender, query, mailbox),
        );
        for await (const page of pages) {
          result.examined += page.ScannedCount ?? 0;
          for (const item of page.Items ?? []) {
            const entry = { pk: String(item.pk), sk: String(item.sk), gsi2sk: String(item.gsi2sk) };
            if (wanted.has(entry.pk.slice(indexKeys.mailboxPk('').length))) entries.push(entry);
          }
        }
      }
    }
    // gsi2sk is `<receivedAt>#<messageKey>`: newest received first, as compareNewestFirst orders the rows.
    entries.sort((a, b) => b.gsi2sk.localeCompare(a.gsi2sk) || a.pk.localeCompare(b.pk));
    const batch = query.limit !== undefined ? Math.min(100, query.limit) : 100;
    for (let at = 0; at < entries.length; at += batch) {
      const rows = await this.fetchRows(entries.slice(at, at + batch).map(({ pk, sk }) => ({ pk, sk })));
      result.examined += rows.length;
      result.returned += rows.length;
      for (const row of rows) {
        if (!matchesSearch(row, query)) continue;
        result.rows.push(row);
        if (query.limit !== undefined && result.rows.length >= query.limit) break;
      }
      if (query.limit !== undefined && result.rows.length >= query.limit) break;
    }
    result.rows.sort(compareNewestFirst);
    return result;
  }

  /** The rows at `keys` (at most 100, BatchGetItem's limit), in no particular order; retries what is unprocessed. */
  private async fetchRows(keys: { pk: unknown; sk: unknown }[]) {
    const rows = [];
    let pending: Record<string, unknown>[] = keys;
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (attempt > 0) await new Promise((done) => setTimeout(done, Math.min(1000, 50 * 2 ** attempt)));
      const { Responses, UnprocessedKeys } = await this.doc.send(
        new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending } } }),
      );
      for (const item of Responses?.[this.tableName] ?? []) rows.push(rowFromItem(item));
      pending = (UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    }
    // A batch answers in any order: newest first again (the entries were).
    return rows.sort(compareNewestFirst);
  }

  private async byMailbox(query: SearchQuery, targets: string[]): Promise<SearchResult> {
    const result: SearchResult = { rows: [], examined: 0, returned: 0, plan: 'mailbox' };
    for (const mailbox of targets) {
      let found = 0;
      const pages = paginateQuery(
        { client: this.doc, pageSize: 500 },
        searchQueryInput(this.tableName, mailbox, query),
      );
      mailboxPages: for await (const page of pages) {
        result.examined += page.ScannedCount ?? 0;
        result.returned += page.Count ?? 0;
        for (const item of page.Items ?? []) {
          const row = rowFromItem(item);
          if (!matchesSearch(row, query)) continue;
          result.rows.push(row);
          found += 1;
          // Each mailbox comes newest first: past the limit, older rows of it cannot make the cut.
          if (query.limit !== undefined && found >= query.limit) break mailboxPages;
        }
      }
    }
    result.rows.sort(compareNewestFirst);
    if (query.limit !== undefined) result.rows.length = Math.min(result.rows.length, query.limit);
    return result;
  }
}
