// What keeps status and search in proportion to their answer at any mailbox size, against DynamoDB Local: the
// mailbox registry (no table scan once it is complete), the folder counts kept with each row's count token, and how
// both treat a table written before them (folder items without a count, mailboxes without registry entries).
import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureIndexTable } from '../../cli/local/index-table';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { DynamoDeliverySearch } from '../../shared/adapters/dynamo-search';
import { IndexTable } from '../../shared/adapters/dynamo-table';
import { RowTooLargeError } from '../../shared/index/row-budget';
import {
  type DeliveryRow,
  deliveryItem,
  GSI_BY_RECEIVED,
  GSI_BY_SENDER,
  indexTableDefinition,
  itemKeys,
} from '../../shared/index/schema';
import type { ListQuery } from '../../shared/ports';
import { testDeliveryRow } from '../support/delivery-row';
import { startTestServices, type TestServices } from '../support/services';

let services: TestServices;
let table: IndexTable;
beforeAll(async () => {
  services = await startTestServices();
  table = new IndexTable(services.clients.dynamodb, services.tableName);
}, 60_000);
afterAll(async () => services?.stop());

const mailbox = () => `user-${randomBytes(4).toString('hex')}@example.com`;
const open = () => new DynamoMailIndex(services.clients.dynamodb, services.tableName);

/** A folder item as written before counts were kept (no `counted`, no `messages`), and no registry entry. */
async function legacyFolder(box: string, folder: string, lastUid: number) {
  await table.doc.send(
    new PutCommand({
      TableName: table.name,
      Item: { ...itemKeys.folder(box, folder), mailbox: box, folder, uidValidity: 1600000000, lastUid },
    }),
  );
}

describe('the index at scale, on DynamoDB Local', () => {
  it('lists mailboxes by scanning once on a table from before the registry, then from the registry alone', async () => {
    // A table made now is complete from the start (ensureIndexTable marks it); one from before the registry is not.
    const marker = { TableName: table.name, Key: itemKeys.mailboxesComplete() };
    expect((await table.doc.send(new GetCommand(marker))).Item).toBeDefined();
    await table.doc.send(new DeleteCommand(marker));
    const before = mailbox();
    await legacyFolder(before, 'INBOX', 3);
    // The first call scans (the registry is not complete) and registers what it found.
    expect(await open().mailboxes()).toContain(before);
    const { Items } = await table.doc.send(
      new ScanCommand({
        TableName: table.name,
        FilterExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'MAILBOXES' },
      }),
    );
    expect(Items?.map((i) => i.sk)).toEqual(expect.arrayContaining([`MAILBOX#${before}`, 'COMPLETE']));
    // From now on the registry answers: a folder item written past it (as only pre-registry code did) is not seen,
    // which shows no scan ran; a mailbox made through the index is registered on its first folder.
    const hidden = mailbox();
    await legacyFolder(hidden, 'INBOX', 1);
    const made = mailbox();
    await open().allocateUid(made, 'INBOX');
    const listed = await open().mailboxes();
    expect(listed).toContain(before);
    expect(listed).toContain(made);
    expect(listed).not.toContain(hidden);
  });

  it('counts the rows of a folder from before counts were kept by reading them, and never starts a partial count', async () => {
    const index = open();
    const box = mailbox();
    await legacyFolder(box, 'INBOX', 2);
    await index.putDelivery(testDeliveryRow(box, 'old1', 1));
    await index.putDelivery(testDeliveryRow(box, 'old2', 2));
    // New rows of that folder, written by this version: still no kept count (it would miss the two before).
    const { uid } = await index.allocateUid(box, 'INBOX');
    expect(uid).toBe(3);
    expect(await index.putDelivery(testDeliveryRow(box, 'new3', uid))).toBe('created');
    expect((await index.folders(box))[0]?.messages).toBeUndefined();
    expect(await index.countDeliveries(box, 'INBOX')).toBe(3);
  });

  it("counts what status reads (status --verbose): the registry's items, folder items, and a legacy folder's rows", async () => {
    const index = open();
    const box = mailbox();
    await legacyFolder(box, 'INBOX', 2);
    await index.putDelivery(testDeliveryRow(box, 'old1', 1));
    await index.putDelivery(testDeliveryRow(box, 'old2', 2));
    await index.allocateUid(box, 'Sent');
    const reads = { read: 0, returned: 0 };
    const listed = await index.mailboxes(reads);
    // The registry: one item per mailbox and its completeness marker.
    expect(reads.read).toBe(listed.length + 1);
    reads.read = 0;
    expect(await index.folders(box, reads)).toHaveLength(2);
    expect(reads.read).toBe(2);
    reads.read = 0;
    // A counted folder: its folder item alone; a legacy one: its folder item, then every row (a Select COUNT).
    expect(await index.countDeliveries(box, 'Sent', reads)).toBe(0);
    expect(reads.read).toBe(1);
    expect(await index.countDeliveries(box, 'INBOX', reads)).toBe(2);
    expect(reads.read).toBe(1 + 1 + 2);
  });

  it('keeps the count exact across processes and retries: a second writer of the same row adds nothing', async () => {
    const box = mailbox();
    const first = open();
    const { uid } = await first.allocateUid(box, 'INBOX');
    // Another process (another Lambda container) that did not allocate in this folder learns it is counted.
    const second = open();
    expect(await second.putDelivery(testDeliveryRow(box, 'k1', uid))).toBe('created');
    expect(await first.putDelivery(testDeliveryRow(box, 'k1', uid))).toBe('exists');
    expect(await second.putDelivery(testDeliveryRow(box, 'k1', uid))).toBe('exists');
    expect((await first.folders(box))[0]?.messages).toBe(1);
  });

  it('counts a row once however its writes race, and a run that died between the count and the row', async () => {
    const box = mailbox();
    const { uid } = await open().allocateUid(box, 'INBOX');
    // Three deliveries of one message at once (SQS delivers at least once), each in its own process.
    const outcomes = await Promise.all(
      [open(), open(), open()].map((i) => i.putDelivery(testDeliveryRow(box, 'k1', uid))),
    );
    expect(outcomes.sort()).toEqual(['created', 'exists', 'exists']);
    // A run that counted its row and died before writing it: the retry writes the row and adds nothing.
    const next = await open().allocateUid(box, 'INBOX');
    await open().deliveries.folderItems.countRow(box, 'INBOX', 'k2');
    expect((await open().folders(box))[0]?.messages).toBe(2);
    expect(await open().putDelivery(testDeliveryRow(box, 'k2', next.uid))).toBe('created');
    expect((await open().folders(box))[0]?.messages).toBe(2);
    expect(await open().countDeliveries(box, 'INBOX')).toBe(2);
  });

  it('counts a row DynamoDB refuses for its size once, with the minimal row ingest writes in its place', async () => {
    const index = open();
    const box = mailbox();
    const { uid } = await index.allocateUid(box, 'INBOX');
    await expect(
      index.putDelivery(testDeliveryRow(box, 'big', uid, { subject: 'x'.repeat(420_000) })),
    ).rejects.toThrow(RowTooLargeError);
    expect(await index.putDelivery(testDeliveryRow(box, 'big', uid))).toBe('created');
    expect((await index.folders(box))[0]?.messages).toBe(1);
  });
  it('lists a received-date window by key condition: rows outside it are never read', async () => {
    const box = mailbox();
    const writer = open();
    // 30 rows, one a day through January 2026 (newest is the 30th).
    for (let day = 1; day <= 30; day += 1) {
      const at = `2026-01-${String(day).padStart(2, '0')}T08:00:00.000Z`;
      await writer.putDelivery(testDeliveryRow(box, `d${day}`, day, { receivedAt: at }));
    }
    // Items DynamoDB read for this listing, summed from every Query's ScannedCount.
    const client = services.clients.dynamodb;
    let read = 0;
    client.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        read += (result.output as { ScannedCount?: number }).ScannedCount ?? 0;
        return result;
      },
      { step: 'initialize', name: 'countRead' },
    );
    const index = new DynamoMailIndex(client, services.tableName);
    const listed: string[] = [];
    const until = new Date('2026-01-06T00:00:00.000Z');
    const since = new Date('2026-01-03T00:00:00.000Z');
    for await (const r of index.listDeliveries(box, { since, until, limit: 2 })) listed.push(r.messageKey);
    expect(listed).toEqual(['d5', 'd4']);
    // A window of 3 rows, 2 asked for: 2 read, not the 25 newer than --until.
    expect(read).toBe(2);
    read = 0;
    listed.length = 0;
    for await (const r of index.listDeliveries(box, { since, until })) listed.push(r.messageKey);
    expect(listed).toEqual(['d5', 'd4', 'd3']);
    expect(read).toBe(3);
    client.middlewareStack.remove('countRead');
  });

  it("makes a local table's bySender index again when its keys changed (as made before the mailbox was its sort key)", async () => {
    const client = services.clients.dynamodb;
    const name = `legacy-${randomBytes(3).toString('hex')}`;
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: ['pk', 'sk', 'fromAddress', 'gsi2sk'].map((AttributeName) => ({
          AttributeName,
          AttributeType: 'S',
        })),
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: GSI_BY_SENDER,
            KeySchema: [
              { AttributeName: 'fromAddress', KeyType: 'HASH' },
              { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
          {
            IndexName: GSI_BY_RECEIVED,
            KeySchema: [
              { AttributeName: 'pk', KeyType: 'HASH' },
              { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    const box = mailbox();
    const legacy = new IndexTable(client, name);
    await legacy.doc.send(
      new PutCommand({
        TableName: name,
        Item: deliveryItem(testDeliveryRow(box, 'k1', 1, { fromAddress: 'x@y.example' })),
      }),
    );
    // Until then (a stack started before), search by sender still answers: from the mailbox's rows when the old
    // keys refuse the mailbox's condition, from the old entries otherwise (they hold gsi2sk, their sort key).
    const search = new DynamoDeliverySearch(client, name);
    const inBox = await search.search({ from: 'x@y.example', mailboxes: [box] }, [box]);
    expect(inBox.plan).toBe('mailbox');
    expect(inBox.rows.map((r) => r.messageKey)).toEqual(['k1']);
    expect((await search.search({ from: 'x@y.example' }, [box])).rows.map((r) => r.messageKey)).toEqual([
      'k1',
    ]);
    // A date range filters the new entries on gsi2sk, which the old keys hold as their sort key (refused in a filter).
    const since = new Date('2000-01-01T00:00:00.000Z');
    expect(
      (await search.search({ from: 'x@y.example', since }, [box])).rows.map((r) => r.messageKey),
    ).toEqual(['k1']);
    await ensureIndexTable(client, name);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    const bySender = Table?.GlobalSecondaryIndexes?.find((g) => g.IndexName === GSI_BY_SENDER);
    expect(bySender?.KeySchema).toEqual([
      { AttributeName: 'fromAddress', KeyType: 'HASH' },
      { AttributeName: 'pk', KeyType: 'RANGE' },
    ]);
    expect(bySender?.Projection).toEqual({ ProjectionType: 'INCLUDE', NonKeyAttributes: ['gsi2sk'] });
    expect(Table?.GlobalSecondaryIndexes).toHaveLength(indexTableDefinition.globalSecondaryIndexes.length);
    // Built from the row already there, and read by mailbox.
    const found = await search.search({ from: 'x@y.example', mailboxes: [box] }, [box]);
    expect(found).toMatchObject({ plan: 'sender', examined: 2 });
    expect(found.rows.map((r) => r.messageKey)).toEqual(['k1']);
    // A table that has it as the schema says is left as it is.
    await ensureIndexTable(client, name);
    await client.send(new DeleteTableCommand({ TableName: name }));
  });

  it('lists a small folder by reading that folder, a big one with a limit newest first, and counts what it read', async () => {
    const box = mailbox();
    const writer = open();
    // 60 INBOX rows, one a day from January 2026, and 3 Sent rows among them (days 10, 30 and 50).
    for (let day = 1; day <= 63; day += 1) {
      const folder = day === 10 || day === 30 || day === 50 ? 'Sent' : 'INBOX';
      const { uid } = await writer.allocateUid(box, folder);
      const at = new Date(Date.UTC(2026, 0, day, 8)).toISOString();
      await writer.putDelivery(testDeliveryRow(box, `d${day}`, uid, { folder, receivedAt: at }));
    }
    const client = services.clients.dynamodb;
    let read = 0;
    client.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        read += (result.output as { ScannedCount?: number }).ScannedCount ?? 0;
        return result;
      },
      { step: 'initialize', name: 'countListRead' },
    );
    try {
      const index = new DynamoMailIndex(client, services.tableName);
      const list = async (query: ListQuery) => {
        read = 0;
        const reads = { read: 0, returned: 0 };
        const keys: string[] = [];
        for await (const r of index.listDeliveries(box, { ...query, reads })) keys.push(r.messageKey);
        return { keys, read, reads };
      };
      // Sent, 2 of its 3 rows: the mailbox newest first for as many rows as Sent holds (its newest three, none of
      // Sent's), then Sent's own 3 rows; and the 2 folder items.
      const sent = await list({ folder: 'Sent', limit: 2 });
      expect(sent.keys).toEqual(['d50', 'd30']);
      expect(sent.reads).toEqual({ read: 3 + 3, returned: 3 });
      expect(sent.read).toBe(2 + 6);
      expect((await list({ folder: 'Sent' })).keys).toEqual(['d50', 'd30', 'd10']);
      // A window is read newest first too (it may hold fewer rows than the folder), then the folder alone.
      const window = await list({ folder: 'Sent', since: new Date('2026-01-20T00:00:00.000Z') });
      expect(window.keys).toEqual(['d50', 'd30']);
      expect(window.reads.read).toBe(3 + 3);
      // INBOX is most of the mailbox: its 5 newest are found reading about as many rows newest first.
      const inbox = await list({ folder: 'INBOX', limit: 5 });
      expect(inbox.keys).toEqual(['d63', 'd62', 'd61', 'd60', 'd59']);
      expect(inbox.reads.read).toBeLessThanOrEqual(6);
      expect(inbox.read).toBe(2 + inbox.reads.read);
      expect((await list({ folder: 'INBOX' })).keys).toHaveLength(60);
      // Without a folder: exactly the rows asked for.
      expect((await list({ limit: 4 })).reads).toEqual({ read: 4, returned: 4 });
    } finally {
      client.middlewareStack.remove('countListRead');
    }
  });

  it('lists an old small folder and a recent one reading a small multiple of the cheaper plan, with the same rows as the mailbox filtered by hand', async () => {
    const box = mailbox();
    const writer = open();
    // 63 rows: Work's 12 from 2008-09 (every two months), 39 INBOX rows of January 2026, and Lists' 12 the newest
    // (February 2026, among 2 more of INBOX's).
    const rows: { folder: string; at: string }[] = [];
    for (let i = 0; i < 12; i += 1)
      rows.push({ folder: 'Work', at: new Date(Date.UTC(2008, 2 * i, 15)).toISOString() });
    for (let day = 1; day <= 39; day += 1)
      rows.push({ folder: 'INBOX', at: new Date(Date.UTC(2026, 0, day)).toISOString() });
    for (let day = 1; day <= 12; day += 1)
      rows.push({ folder: 'Lists', at: new Date(Date.UTC(2026, 1, day, 12)).toISOString() });
    for (const [i, r] of rows.entries()) {
      const { uid } = await writer.allocateUid(box, r.folder);
      await writer.putDelivery(
        testDeliveryRow(box, `m${String(i).padStart(2, '0')}`, uid, { folder: r.folder, receivedAt: r.at }),
      );
    }
    const index = open();
    const read = async (query: ListQuery) => {
      const reads = { read: 0, returned: 0 };
      const found: DeliveryRow[] = [];
      for await (const r of index.listDeliveries(box, { ...query, reads })) found.push(r);
      return { keys: found.map((r) => r.messageKey), found, reads };
    };
    const folderRows = { Work: 12, Lists: 12 };
    const windows = [
      {},
      { since: new Date('2008-05-01T00:00:00.000Z'), until: new Date('2009-05-01T00:00:00.000Z') },
      { since: new Date('2008-01-01T00:00:00.000Z') },
    ];
    for (const folder of ['Work', 'Lists'] as const)
      for (const window of windows)
        for (const limit of [1, 2, 5, 11, 12, 20, undefined]) {
          const query = { folder, ...window, ...(limit !== undefined ? { limit } : {}) };
          // The plain reading: the mailbox's rows in the window newest first, the folder's kept by hand.
          const plain = (await read(window)).found;
          const wanted = plain.filter((r) => r.folder === folder).slice(0, limit);
          const listed = await read(query);
          expect(listed.keys, JSON.stringify(query)).toEqual(wanted.map((r) => r.messageKey));
          // What each plan alone reads: the folder's rows, or the mailbox newest first up to the last row wanted
          // (the whole window when it holds fewer).
          const last = wanted.at(-1);
          const newestFirst =
            limit !== undefined && wanted.length === limit && last ? plain.indexOf(last) + 1 : plain.length;
          const cheaper = Math.min(folderRows[folder], newestFirst);
          expect(listed.reads.read, JSON.stringify(query)).toBeLessThanOrEqual(3 * cheaper);
        }
    // The case found by a fresh user: Work's newest, one asked for. Newest first alone reads 52 rows, Work alone 12.
    const work = await read({ folder: 'Work', limit: 1 });
    expect(work.keys).toEqual(['m11']);
    expect(work.reads.read).toBeLessThanOrEqual(2 * 12);
    // Lists' newest: the first page of a guess capped at twice the limit.
    expect((await read({ folder: 'Lists', limit: 1 })).reads.read).toBe(2);
  });
});
