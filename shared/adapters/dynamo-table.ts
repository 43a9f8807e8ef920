// The index table as the DynamoDB adapters share it: one document client, the table name, the clock.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

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
 * Did a conditional write fail its condition? The SDK throws ConditionalCheckFailedException; it is recognised
 * by name, because an error that crossed a second copy of the SDK (a bundle, a test helper) fails `instanceof`.
 */
export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}
