// DeliverySearch on DynamoDB: one Query per mailbox on the byReceived index. The mailbox partition and the
// received-date range are key conditions (only those rows are read); message-id, has-attachment and the
// sender's address are filter expressions (DynamoDB drops the rest before they cross the network). Subject and
// recipient substrings are case-insensitive, which DynamoDB's `contains` is not: those are checked on what
// comes back, with the same rule (`matchesSearch`) every reader uses.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { GSI_BY_RECEIVED, indexKeys, rowFromItem } from '../index/schema';
import {
  compareNewestFirst,
  type DeliverySearch,
  matchesSearch,
  messageIdForms,
  type SearchQuery,
  type SearchResult,
} from '../index/search';

/** The Query input for one mailbox: exported so a test can show which criteria DynamoDB evaluates. */
export function searchQueryInput(tableName: string, mailbox: string, query: SearchQuery) {
  const values: Record<string, unknown> = { ':pk': indexKeys.mailboxPk(mailbox) };
  let keyCondition = 'pk = :pk';
  // gsi2sk is `<receivedAt ISO>#<messageKey>`: "X#..." sorts after "X", so >= since includes a row received
  // exactly at `since`, and < until excludes one received exactly at `until`.
  if (query.since && query.until) {
    keyCondition += ' AND gsi2sk BETWEEN :since AND :until';
    values[':since'] = query.since.toISOString();
    values[':until'] = query.until.toISOString();
  } else if (query.since) {
    keyCondition += ' AND gsi2sk >= :since';
    values[':since'] = query.since.toISOString();
  } else if (query.until) {
    keyCondition += ' AND gsi2sk < :until';
    values[':until'] = query.until.toISOString();
  }
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
    // fromAddress is stored in lower case by ingest.
    filters.push('contains(fromAddress, :from)');
    values[':from'] = query.from.toLowerCase();
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

export class DynamoDeliverySearch implements DeliverySearch {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  /**
   * Searches `mailboxes` (or only `query.mailboxes` among them), newest received first, at most `query.limit`
   * rows. Throws what the SDK throws (a missing table, no credentials).
   */
  async search(query: SearchQuery, mailboxes: string[]): Promise<SearchResult> {
    const result: SearchResult = { rows: [], examined: 0, returned: 0 };
    const targets = query.mailboxes ? mailboxes.filter((m) => query.mailboxes?.includes(m)) : mailboxes;
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
