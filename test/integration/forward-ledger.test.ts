// The forwarding ledger's stored items on DynamoDB Local: what a sent copy costs and which indexes it lands in, and
// entries as the ledger wrote them before it kept its copy's SES id out of the byRawObject index.
import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, destroyClients } from '../../shared/adapters/clients';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { IndexTable } from '../../shared/adapters/dynamo-table';
import { ledgerRedrives } from '../../shared/forwarding/redrive';
import { GSI_BY_RAW_OBJECT, itemKeys } from '../../shared/index/schema';
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
const T0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const open = (client: DynamoDBClient = services.clients.dynamodb) =>
  new DynamoMailIndex(client, services.tableName, () => T0);

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Every item the byRawObject index holds for `box`, read directly (the adapter's reader drops non-rows). */
async function byRawObjectItems(box: string): Promise<Record<string, unknown>[]> {
  const { Items } = await table.doc.send(
    new QueryCommand({
      TableName: table.name,
      IndexName: GSI_BY_RAW_OBJECT,
      KeyConditionExpression: 'mailbox = :mailbox',
      ExpressionAttributeValues: { ':mailbox': box },
    }),
  );
  return Items ?? [];
}

/** The write units DynamoDB reported for each request `client` sent (table and indexes together), in order. */
function recordWriteUnits(client: DynamoDBClient): { command: string; units: number }[] {
  const seen: { command: string; units: number }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'INDEXES';
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } }).ConsumedCapacity;
      seen.push({ command: String(context.commandName), units: consumed?.CapacityUnits ?? 0 });
      return result;
    },
    { step: 'initialize', name: 'testWriteUnits' },
  );
  return seen;
}

describe('the forwarding ledger on DynamoDB Local', () => {
  it('keeps a copy sent through SES out of the byRawObject index: only delivery rows are there', async () => {
    const index = open();
    const box = mailbox();
    await index.putDelivery(testDeliveryRow(box, 'k1', 1));
    const entry = { mailbox: box, messageKey: 'k1', target: 't@example.net' };
    expect(await index.claimForward(entry, at(0), false)).toBe(true);
    await index.settleForward(entry, { state: 'sent', sesMessageId: 'copy-1' }, at(1));

    expect((await byRawObjectItems(box)).map((item) => item.sk)).toEqual(['MESSAGE#k1']);
    const [sent] = await collect(index.listForwards(box));
    expect(sent).toMatchObject({ state: 'sent', sesMessageId: 'copy-1' });
    expect(await index.recordFeedback('copy-1', 'bounced', '550 no such user', at(2))).toBe(true);
    const [bounced] = await collect(index.listForwards(box));
    expect(bounced).toMatchObject({ state: 'bounced', sesMessageId: 'copy-1', feedback: '550 no such user' });
  });

  it("writes a sent copy's ledger update in one write unit", async () => {
    const clients = createClients(services.endpoints);
    try {
      const units = recordWriteUnits(clients.dynamodb);
      const index = open(clients.dynamodb);
      const entry = { mailbox: mailbox(), messageKey: 'k1', target: 't@example.net' };
      await index.claimForward(entry, at(0), false);
      units.length = 0;
      await index.settleForward(
        entry,
        { state: 'sent', sesMessageId: 'copy-1', changes: ['a change'] },
        at(1),
      );
      // The update, then the SESMSG# item bounce feedback finds the entry by.
      expect(units).toEqual([
        { command: 'UpdateItemCommand', units: 1 },
        { command: 'PutItemCommand', units: 1 },
      ]);
    } finally {
      destroyClients(clients);
    }
  });

  it('reads an entry stored before, with the SES id as sesMessageId, as sent with its id: no resend, feedback found', async () => {
    const index = open();
    const box = mailbox();
    const entry = { mailbox: box, messageKey: 'k1', target: 't@example.net' };
    await index.putDelivery(testDeliveryRow(box, 'k1', 1));
    // The two items settleForward wrote until the ledger stored the id under its own name.
    await table.doc.send(
      new PutCommand({
        TableName: table.name,
        Item: {
          ...itemKeys.forward(entry),
          ...entry,
          state: 'sent',
          attempts: 1,
          sesMessageId: 'old-copy',
          sentAt: at(1).toISOString(),
          updatedAt: at(1).toISOString(),
        },
      }),
    );
    await table.doc.send(
      new PutCommand({ TableName: table.name, Item: { ...itemKeys.sentCopy('old-copy'), ...entry } }),
    );

    const [stored] = await collect(index.listForwards(box, 'sent'));
    expect(stored).toMatchObject({ ...entry, state: 'sent', sesMessageId: 'old-copy' });
    expect(await index.claimForward(entry, at(10 * 60_000), true)).toBe(false);
    expect(await ledgerRedrives(index, [box], at(10 * 60_000))).toEqual([]);
    // Such an entry is still in byRawObject; the raw-key walk reads past it.
    expect((await collect(index.rawObjectRows(box))).map((r) => r.messageKey)).toEqual(['k1']);
    expect(await index.recordFeedback('old-copy', 'complained', 'abuse', at(2))).toBe(true);
    const [complained] = await collect(index.listForwards(box));
    expect(complained).toMatchObject({ state: 'complained', sesMessageId: 'old-copy', feedback: 'abuse' });
  });

  it("stores a new entry's SES id under sentSesMessageId, its Gmail id as before", async () => {
    const index = open();
    const box = mailbox();
    const ses = { mailbox: box, messageKey: 'k1', target: 't@example.net' };
    const gmail = { ...ses, target: 'g@gmail.com' };
    for (const e of [ses, gmail]) await index.claimForward(e, at(0), false);
    await index.settleForward(ses, { state: 'sent', sesMessageId: 'copy-1' }, at(1));
    await index.settleForward(gmail, { state: 'sent', gmailMessageId: 'gm-1' }, at(1));
    const item = async (e: typeof ses) =>
      (await table.doc.send(new GetCommand({ TableName: table.name, Key: itemKeys.forward(e) }))).Item;
    expect(await item(ses)).toMatchObject({ sentSesMessageId: 'copy-1' });
    expect(await item(ses)).not.toHaveProperty('sesMessageId');
    expect(await item(gmail)).toMatchObject({ gmailMessageId: 'gm-1' });
    const entries = await collect(index.listForwards(box));
    expect(entries.map((e) => [e.target, e.sesMessageId, e.gmailMessageId])).toEqual([
      ['g@gmail.com', undefined, 'gm-1'],
      ['t@example.net', 'copy-1', undefined],
    ]);
    expect(entries[1]).not.toHaveProperty('sentSesMessageId');
  });
});
