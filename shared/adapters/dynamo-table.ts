// The index table as the DynamoDB adapters share it: one document client, the table name, the clock.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { IndexReads } from '../ports';

export class IndexTable {
  readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly name: string,
    readonly now: () => Date = () => new Date(),
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }
}

/**
 * Adds a Query or Scan page's ScannedCount (items read) and Count (returned after the filter) to `reads`; a GetItem
 * answer (`Item`) adds the one item it read, if there was one.
 */
export function countReads(
  reads: IndexReads | undefined,
  page: { ScannedCount?: number; Count?: number; Item?: unknown },
): void {
  if (!reads) return;
  const item = page.Item === undefined ? 0 : 1;
  reads.read += page.ScannedCount ?? item;
  reads.returned += page.Count ?? item;
}

/**
 * Did a conditional write fail its condition? The SDK throws ConditionalCheckFailedException; it is recognised
 * by name, because an error that crossed a second copy of the SDK (a bundle, a test helper) fails `instanceof`.
 */
export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/**
 * DynamoDB's answer to an item over 400 KB: a ValidationException "Item size has exceeded the maximum allowed
 * size" (also when an index's copy of the item would be too large: "... exceeded the maximum allowed size ...").
 */
export function isItemTooLarge(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === 'ValidationException' &&
    /item size has exceeded|maximum allowed size/i.test(error.message)
  );
}

/**
 * The per-item reasons of a cancelled transaction (TransactionCanceledException's CancellationReasons codes, in
 * the order of its items: `None`, `ConditionalCheckFailed`, `ValidationError`, ...), or undefined for any other
 * error. https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
 */
export function cancellationReasons(error: unknown): string[] | undefined {
  if (!(error instanceof Error) || error.name !== 'TransactionCanceledException') return undefined;
  const reasons = (error as Error & { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  return (reasons ?? []).map((r) => r.Code ?? 'None');
}

/**
 * The key condition of a Query over one partition's family of rows (sort keys starting with `prefix`, e.g.
 * `MESSAGE#`): all of them, or with `after` (a sort key, excluded) those above it. The family ends below
 * `<prefix without #>$` because `$` sorts right above `#`. Returns KeyConditionExpression and the values it names
 * (`:pk`, `:prefix` or `:after`/`:end`), for the caller to spread into its QueryCommand input.
 */
export function partitionRangeQuery(pk: string, prefix: string, after?: string) {
  return {
    KeyConditionExpression:
      after === undefined
        ? 'pk = :pk AND begins_with(sk, :prefix)'
        : 'pk = :pk AND sk BETWEEN :after AND :end',
    ExpressionAttributeValues: {
      ':pk': pk,
      ...(after === undefined
        ? { ':prefix': prefix }
        : { ':after': after, ':end': `${prefix.replace(/#$/, '')}$` }),
    } as Record<string, string>,
  };
}
