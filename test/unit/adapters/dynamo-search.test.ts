// Which way a search by one sender reads (shared/adapters/dynamo-search.ts): the bySender index only when
// DescribeTable says it is built, else each mailbox's rows, with the reason. DynamoDB Local answered a query of an
// index whose build was cut short (CREATING for good) with no rows and no error, so the index's own answer cannot
// be the test; the real case is in test/integration/local-index-rebuild.test.ts.
import {
  DescribeTableCommand,
  DynamoDBClient,
  type GlobalSecondaryIndexDescription,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDeliverySearch } from '../../../shared/adapters/dynamo-search';
import { GSI_BY_RECEIVED, GSI_BY_SENDER } from '../../../shared/index/schema';

const dynamo = mockClient(DynamoDBClient);
const doc = mockClient(DynamoDBDocumentClient);
afterAll(() => {
  dynamo.restore();
  doc.restore();
});
beforeEach(() => {
  dynamo.reset();
  doc.reset();
  doc.on(QueryCommand).resolves({ Items: [], Count: 0, ScannedCount: 0 });
});

const search = () =>
  new DynamoDeliverySearch(new DynamoDBClient({ region: 'us-east-1' }), 'table').search(
    { from: 'bob@example.org' },
    ['alice@example.com'],
  );
const indexesQueried = () => doc.commandCalls(QueryCommand).map((call) => call.args[0].input.IndexName);
const described = (bySender?: GlobalSecondaryIndexDescription) =>
  dynamo.on(DescribeTableCommand).resolves({
    Table: {
      TableStatus: 'ACTIVE',
      GlobalSecondaryIndexes: [
        { IndexName: GSI_BY_RECEIVED, IndexStatus: 'ACTIVE' },
        ...(bySender ? [{ IndexName: GSI_BY_SENDER, ...bySender }] : []),
      ],
    },
  });

describe('a search by one sender', () => {
  it('reads the sender index when DescribeTable says it is active', async () => {
    described({ IndexStatus: 'ACTIVE', Backfilling: false });
    const result = await search();
    expect(result.plan).toBe('sender');
    expect(result.fallback).toBeUndefined();
    expect(indexesQueried()).toEqual([GSI_BY_SENDER]);
  });

  it.each([
    [{ IndexStatus: 'CREATING' }, 'the bySender index is not active (CREATING)'],
    [{ IndexStatus: 'CREATING', Backfilling: true }, 'the bySender index is not active (CREATING)'],
    [{ IndexStatus: 'ACTIVE', Backfilling: true }, 'the bySender index is still being backfilled'],
    [{ IndexStatus: 'DELETING' }, 'the bySender index is not active (DELETING)'],
    [undefined, 'the table has no bySender index'],
  ] as const)("reads each mailbox's rows, and says why, when bySender is %j", async (bySender, why) => {
    described(bySender);
    const result = await search();
    expect(result.plan).toBe('mailbox');
    expect(result.fallback).toBe(why);
    expect(indexesQueried()).toEqual([GSI_BY_RECEIVED]);
  });

  it('queries the sender index when the credentials may not describe the table', async () => {
    dynamo.on(DescribeTableCommand).rejects(
      Object.assign(new Error('not authorized to perform dynamodb:DescribeTable'), {
        name: 'AccessDeniedException',
      }),
    );
    const result = await search();
    expect(result.plan).toBe('sender');
    expect(indexesQueried()).toEqual([GSI_BY_SENDER]);
  });

  it('says why when the index refuses the query, and reads the rows', async () => {
    described({ IndexStatus: 'ACTIVE' });
    doc.on(QueryCommand, { IndexName: GSI_BY_SENDER }).rejects(
      Object.assign(new Error('Query condition missed key schema element: gsi2sk'), {
        name: 'ValidationException',
      }),
    );
    const result = await search();
    expect(result.plan).toBe('mailbox');
    expect(result.fallback).toBe(
      'the bySender index refused the query (ValidationException: Query condition missed key schema element: gsi2sk)',
    );
    expect(indexesQueried()).toEqual([GSI_BY_SENDER, GSI_BY_RECEIVED]);
  });
});

// Rows keep the sender as the message wrote it; an internationalised domain has two spellings (review-29d U4).
describe('a search by one sender, in every spelling that can be stored', () => {
  const sendersQueried = () =>
    doc
      .commandCalls(QueryCommand)
      .filter((call) => call.args[0].input.IndexName === GSI_BY_SENDER)
      .map((call) => call.args[0].input.ExpressionAttributeValues?.[':from']);
  const searchFrom = (from: string, mailboxes?: string[]) =>
    new DynamoDeliverySearch(new DynamoDBClient({ region: 'us-east-1' }), 'table').search(
      { from, ...(mailboxes ? { mailboxes } : {}) },
      ['alice@example.com', 'bob@example.com'],
    );

  it('issues one Query for a plain ASCII domain', async () => {
    described({ IndexStatus: 'ACTIVE' });
    await searchFrom('Bob@Example.ORG');
    expect(sendersQueried()).toEqual(['bob@example.org']);
  });

  it('queries the A-label and the U-label of an internationalised domain, asked in either', async () => {
    described({ IndexStatus: 'ACTIVE' });
    for (const from of ['alice@Bücher.example', 'alice@xn--bcher-kva.example']) {
      doc.resetHistory();
      await searchFrom(from);
      expect(sendersQueried()).toEqual(['alice@xn--bcher-kva.example', 'alice@bücher.example']);
    }
    doc.resetHistory();
    await searchFrom('alice@bücher.example', ['bob@example.com']);
    expect(sendersQueried()).toEqual(['alice@xn--bcher-kva.example', 'alice@bücher.example']);
  });

  it("asks for every spelling in the filter when it reads each mailbox's rows", async () => {
    described(undefined);
    await searchFrom('alice@bücher.example', ['bob@example.com']);
    const [query] = doc.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(query?.FilterExpression).toBe('(fromAddress = :from0 OR fromAddress = :from1)');
    expect(query?.ExpressionAttributeValues).toMatchObject({
      ':from0': 'alice@xn--bcher-kva.example',
      ':from1': 'alice@bücher.example',
    });
  });
});
