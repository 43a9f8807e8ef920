// The envelope in the delivery log (issue 29's cost): on ingest's ordinary path no sidecar is written, the log's v2
// records carry the receipt, and every reader takes the log for the sidecar: the index rebuilt from S3 alone (a
// wiped table) has every row back with its UID, folder, Bcc-only recipient and verdicts; reconcile finds a row
// deleted by hand (full and incremental runs) and reindex brings it back; a legal hold holds the log objects, and
// its release frees what it placed after reindex rebuilt the row.
// Every other path (a redelivery, an import, a content duplicate) still writes the sidecar. DynamoDB Local, s3rver.
import { createHash } from 'node:crypto';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { HandlerExecutionContext, InitializeHandler } from '@smithy/types';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deliverThrough,
  LOCAL_BUCKET,
  LOCAL_TABLE,
  openArchive,
  receiveRawMessage,
} from '../../cli/local/archive';
import { ensureIndexTable } from '../../cli/local/index-table';
import { ensureBucket } from '../../cli/local/services';
import { archiveStorage } from '../../cli/target/archive';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { destroyClients } from '../../shared/adapters/clients';
import { DynamoHoldLog } from '../../shared/adapters/dynamo-hold-log';
import { IndexTable } from '../../shared/adapters/dynamo-table';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { readEnvelope } from '../../shared/archive/envelope';
import { continueReconcile, reconcile, reindex, startReconcile } from '../../shared/archive/reconcile';
import {
  DELIVERY_LOG_PREFIX,
  type DeliveryRow,
  importMessageId,
  indexKeys,
  rawMailKey,
} from '../../shared/index/schema';
import type { MailIndex } from '../../shared/ports';
import { buildReceivedNotification } from '../../shared/receiving/ses-notification';
import { placeHold, releaseHold } from '../../shared/retention/holds';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

const config = exampleConfig({
  mailboxes: { 'alice@example.com': { forwardTo: [] }, 'bob@example.com': { forwardTo: [] } },
});
const quiet = { info: () => undefined, warn: () => undefined };

let services: TestServices;
/** S3 requests by `<command> <key's first segment>/`, while `counting`, and the most of each at once. */
const s3Requests = new Map<string, number>();
const inFlight = new Map<string, number>();
const s3Peaks = new Map<string, number>();
let counting = false;

beforeAll(async () => {
  services = await startTestServices();
  watchS3(services.clients.s3, async (name, next) => {
    if (!counting) return next();
    s3Requests.set(name, (s3Requests.get(name) ?? 0) + 1);
    inFlight.set(name, (inFlight.get(name) ?? 0) + 1);
    s3Peaks.set(name, Math.max(s3Peaks.get(name) ?? 0, inFlight.get(name) ?? 0));
    try {
      return await next();
    } finally {
      inFlight.set(name, (inFlight.get(name) ?? 1) - 1);
    }
  });
}, 120_000);
afterAll(async () => services?.stop());

/**
 * Runs `watch` around every request `client` sends, named by its command and the first part of its key
 * (`PutObject delivery-log/`).
 */
function watchS3(
  client: S3Client,
  watch: (name: string, next: () => Promise<unknown>) => Promise<unknown>,
): void {
  client.middlewareStack.add(
    <Input extends object, Output extends object>(
      next: InitializeHandler<Input, Output>,
      context: HandlerExecutionContext,
    ): InitializeHandler<Input, Output> =>
      async (args) => {
        const key = (args.input as { Key?: unknown }).Key;
        const name = `${String(context.commandName).replace(/Command$/, '')} ${typeof key === 'string' ? `${key.split('/')[0]}/` : ''}`;
        return (await watch(name, () => next(args))) as Awaited<ReturnType<InitializeHandler<Input, Output>>>;
      },
    { step: 'initialize', name: 'testRequestWatch' },
  );
}

async function counted<T>(
  work: () => Promise<T>,
): Promise<{ result: T; requests: Record<string, number>; peaks: Record<string, number> }> {
  s3Requests.clear();
  s3Peaks.clear();
  counting = true;
  try {
    const result = await work();
    return { result, requests: Object.fromEntries(s3Requests), peaks: Object.fromEntries(s3Peaks) };
  } finally {
    counting = false;
  }
}

const handler = (envelopeInLog: boolean) =>
  createIngestHandler({
    config,
    store: services.store,
    index: services.index,
    deliveryLog: services.deliveryLog,
    logger: quiet,
    ...(envelopeInLog ? { envelopeInLog } : {}),
  });

/** What placeHold and releaseHold use, on the test's local services. */
const holdDeps = () => ({
  index: services.index,
  holds: new DynamoHoldLog(new IndexTable(services.clients.dynamodb, services.tableName)),
  locks: new S3ObjectLocks(services.clients.s3),
  bucket: services.bucket,
  deliveryLog: services.deliveryLog,
});

/** `notification` as SQS hands it over again (a receive count of 2: the run before may have died). */
const redelivered = (notification: unknown, messageId: string) =>
  ({
    Records: [
      {
        messageId,
        body: JSON.stringify(notification),
        eventSource: 'aws:sqs',
        attributes: { ApproximateReceiveCount: '2' },
      },
    ],
  }) as unknown as SQSEvent;

/** A message to alice (To) with bob as a Bcc-only recipient, delivered once as SQS delivers a new message. */
async function arrive(subject: string, options: { envelopeInLog?: boolean; spam?: 'FAIL' } = {}) {
  const { notification } = await receiveLikeSes(
    services.store,
    services.bucket,
    makeMessage({ subject, to: 'alice@example.com' }),
    {
      recipients: ['alice@example.com', 'bob@example.com'],
      ...(options.spam ? { verdicts: { spam: options.spam } } : {}),
    },
  );
  await deliverThrough(handler(options.envelopeInLog ?? true))(notification);
  return notification.mail.messageId;
}

async function rowsOf(index: MailIndex, ids: readonly string[]) {
  const rows: DeliveryRow[] = [];
  for (const mailbox of ['alice@example.com', 'bob@example.com'])
    for await (const row of index.listDeliveries(mailbox)) if (ids.includes(row.sesMessageId)) rows.push(row);
  return rows
    .map((r) => ({
      mailbox: r.mailbox,
      folder: r.folder,
      uid: r.uid,
      uidValidity: r.uidValidity,
      sesMessageId: r.sesMessageId,
      envelopeRecipients: r.envelopeRecipients,
      verdicts: r.verdicts,
      subject: r.subject,
    }))
    .sort((a, b) => `${a.mailbox} ${a.folder} ${a.uid}`.localeCompare(`${b.mailbox} ${b.folder} ${b.uid}`));
}

const hasSidecar = async (id: string) =>
  (await readEnvelope(services.store, services.bucket, id)) !== undefined;

describe('the envelope in the delivery log (DynamoDB Local, s3rver)', () => {
  const ids: string[] = [];

  it('ingest on the ordinary path writes no sidecar, one PUT fewer per message, and logs the receipt', async () => {
    const before = await counted(() => arrive('with a sidecar', { envelopeInLog: false }));
    ids.push(before.result);
    const after = await counted(() => arrive('in the log'));
    ids.push(after.result);
    ids.push(await arrive('junk', { spam: 'FAIL' }));
    ids.push(await arrive('third'));
    const puts = (r: Record<string, number>) =>
      Object.entries(r)
        .filter(([k]) => k.startsWith('PutObject '))
        .reduce((sum, [, n]) => sum + n, 0);
    expect(before.requests['PutObject envelopes/']).toBe(1);
    expect(after.requests['PutObject envelopes/']).toBeUndefined();
    expect(puts(after.requests)).toBe(puts(before.requests) - 1);
    expect(await hasSidecar(before.result)).toBe(true);
    for (const id of ids.slice(1)) expect(await hasSidecar(id)).toBe(false);
    const records = [];
    for await (const object of services.deliveryLog.read())
      records.push(...object.records.filter((r) => r.objectKey === rawMailKey(after.result)));
    // Each names the recipients that reached its own mailbox: alice's (a leaf of her bundle) not bob's Bcc.
    expect(records.map((r) => [r.v, r.mailbox, r.receipt?.recipients, r.receipt?.source])).toEqual([
      [2, 'alice@example.com', ['alice@example.com'], 'ann@sender.example.org'],
      [2, 'bob@example.com', ['bob@example.com'], 'ann@sender.example.org'],
    ]);
  });

  it('a redelivery, an import and a content duplicate still write the sidecar', async () => {
    const { notification } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'redelivered' }),
      { recipients: ['alice@example.com'] },
    );
    const event = redelivered(notification, 'm');
    await handler(true)(event, {} as Context);
    expect(await hasSidecar(notification.mail.messageId)).toBe(true);

    // An import (its id says so) keeps what its source knew in the sidecar.
    const imported = makeMessage({ subject: 'imported' });
    const importId = importMessageId(createHash('sha256').update(imported).digest('hex'));
    await services.store.write({ bucket: services.bucket, key: rawMailKey(importId) }, imported);
    await deliverThrough(handler(true))(
      buildReceivedNotification({
        messageId: importId,
        timestamp: new Date('2024-05-06T07:08:09Z'),
        source: '',
        recipients: ['alice@example.com'],
        bucket: services.bucket,
        objectKey: rawMailKey(importId),
        imported: { folder: 'Archive', flags: ['\\Seen'], keywords: [] },
      }),
    );
    expect(await hasSidecar(importId)).toBe(true);

    // The same content under another SES id (another copy of one message): no row, `sameAs` in the sidecar.
    const raw = makeMessage({ subject: 'twice', messageId: '<twice@example.org>' });
    const first = await receiveLikeSes(services.store, services.bucket, raw, {
      recipients: ['bob@example.com'],
      trace: false,
    });
    await deliverThrough(handler(true))(first.notification);
    const second = await receiveLikeSes(
      services.store,
      services.bucket,
      Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'),
      { recipients: ['bob@example.com'], trace: false },
    );
    await deliverThrough(handler(true))(second.notification);
    expect(await hasSidecar(first.notification.mail.messageId)).toBe(false);
    const duplicate = await readEnvelope(services.store, services.bucket, second.notification.mail.messageId);
    expect(duplicate?.deliveries[0]?.sameAs).toBeDefined();
  });

  it('reconcile: a healthy archive without sidecars has no finding; a row deleted from one of two mailboxes is found (full and incremental), and reindex brings it back with its UID', async () => {
    const since = new Date(Date.now() - 60 * 60 * 1000).toISOString();
    const deps = {
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
      deliveryLog: services.deliveryLog,
    };
    const incremental = async () => {
      let progress = await startReconcile(deps, { since, reason: 'test' });
      while (progress.phase !== 'done') progress = await continueReconcile(deps, progress, { units: 2 });
      return progress.report;
    };
    expect(await reconcile(deps)).toMatchObject({ ok: true, notIndexed: [], unrecorded: [] });
    expect(await incremental()).toMatchObject({ ok: true, since });
    // New messages write no sidecar, so the bound counts the objects compared too: 4 sidecars were written since
    // (not over the bound of 4), 8 raw objects arrived; past the bound, a full walk from the start.
    let bounded = await startReconcile({ ...deps, changedLimit: 4 }, { since, reason: 'test' });
    let kept = 0;
    while (bounded.phase !== 'done') {
      bounded = await continueReconcile({ ...deps, changedLimit: 4 }, bounded, { units: 1 });
      kept = Math.max(kept, new Set(bounded.changedRows?.map((r) => r.messageKey)).size);
    }
    expect(kept).toBeLessThanOrEqual(4);
    expect(bounded.report).toMatchObject({
      ok: true,
      reason: `more than 4 messages changed since ${since}: a full walk keeps no list of them`,
    });
    expect(bounded.report.since).toBeUndefined();
    expect(bounded.report.examined?.objects).toBeGreaterThanOrEqual(bounded.report.rawMessages);

    const id = ids[1] as string;
    expect(await hasSidecar(id)).toBe(false);
    const [bob] = (await rowsOf(services.index, [id])).filter((r) => r.mailbox === 'bob@example.com');
    const row = await services.index.getDelivery(
      'bob@example.com',
      (await fullRow('bob@example.com', id)).messageKey,
    );
    await services.clients.dynamodb.send(
      new DeleteItemCommand({
        TableName: services.tableName,
        Key: {
          pk: { S: indexKeys.mailboxPk('bob@example.com') },
          sk: { S: indexKeys.messageSk(row?.messageKey as string) },
        },
      }),
    );
    expect((await reconcile(deps)).notIndexed).toEqual([rawMailKey(id)]);
    expect((await incremental()).notIndexed).toEqual([rawMailKey(id)]);
    const repaired = await reindex(deps, async () => []);
    expect(repaired).toMatchObject({ restored: 1, withoutEnvelope: 0, failed: [] });
    expect((await rowsOf(services.index, [id])).find((r) => r.mailbox === 'bob@example.com')).toEqual(bob);
    expect(await reconcile(deps)).toMatchObject({ ok: true });
  });

  it('a legal hold on a message without a sidecar holds the log objects of its records, and its release releases them', async () => {
    const id = ids[3] as string;
    expect(await hasSidecar(id)).toBe(false);
    const row = await fullRow('alice@example.com', id);
    const deps = holdDeps();
    const logKeys: string[] = [];
    for await (const object of services.deliveryLog.read())
      if (object.records.some((r) => r.objectKey === rawMailKey(id) && r.receipt)) logKeys.push(object.key);
    // The ingest's object (reindex's repair above logged only the message it restored).
    expect(logKeys.length).toBe(1);
    const heldLog = async () => {
      const flags: boolean[] = [];
      for await (const v of deps.locks.versions(services.bucket, DELIVERY_LOG_PREFIX))
        if (logKeys.includes(v.key)) flags.push(await deps.locks.legalHold(v));
      return flags;
    };
    const window = {
      mailbox: 'alice@example.com',
      since: row.receivedAt,
      until: new Date(Date.parse(row.receivedAt) + 1).toISOString(),
    };
    const hold = await placeHold(deps, window, 'case 7', 'lawyer@example.com');
    expect(hold.messages).toBe(1);
    // The raw object's version and the log object's: no sidecar to hold.
    expect(hold.versions).toBe(1 + logKeys.length);
    expect(await heldLog()).toEqual(logKeys.map(() => true));
    const released = await releaseHold(deps, hold.holdId, 'lawyer@example.com');
    expect(released.releasedVersions).toBe(1 + logKeys.length);
    expect(await heldLog()).toEqual(logKeys.map(() => false));

    // Two holds on one message; a redelivery then writes its sidecar: releasing one hold keeps the log object held
    // for the other (what a hold covers does not change with a sidecar written after it).
    const first = await placeHold(deps, window, 'case 8', 'lawyer@example.com');
    const second = await placeHold(deps, window, 'case 9', 'lawyer@example.com');
    const notification = buildReceivedNotification({
      messageId: id,
      timestamp: new Date(row.receivedAt),
      source: 'ann@sender.example.org',
      recipients: ['alice@example.com', 'bob@example.com'],
      bucket: services.bucket,
      objectKey: rawMailKey(id),
      verdicts: row.verdicts,
    });
    const redelivery = redelivered(notification, 'again');
    await handler(true)(redelivery, {} as Context);
    expect(await hasSidecar(id)).toBe(true);
    await releaseHold(deps, first.holdId, 'lawyer@example.com');
    expect(await heldLog()).toEqual(logKeys.map(() => true));
    await releaseHold(deps, second.holdId, 'lawyer@example.com');
    expect(await heldLog()).toEqual(logKeys.map(() => false));
  });

  it("a hold's release frees every version it placed after reindex rebuilt the row (a new archivedAt) and a log object got a delete marker; a version another active hold placed stays held", async () => {
    const id = ids[1] as string;
    const row = await fullRow('alice@example.com', id);
    const deps = holdDeps();
    /** Every version in the bucket with a legal hold on, as `key versionId`. */
    const heldNow = async () => {
      const held: string[] = [];
      for await (const v of deps.locks.versions(services.bucket, ''))
        if (!v.deleteMarker && (await deps.locks.legalHold(v))) held.push(`${v.key} ${v.versionId}`);
      return held.sort();
    };
    expect(await heldNow()).toEqual([]);
    const window = {
      mailbox: 'alice@example.com',
      since: row.receivedAt,
      until: new Date(Date.parse(row.receivedAt) + 1).toISOString(),
    };
    const placing = await counted(() => placeHold(deps, window, 'case 10', 'lawyer@example.com'));
    const first = placing.result;
    // The log objects in the message's window are read several at a time, not one by one.
    expect(placing.requests['GetObject delivery-log/']).toBeGreaterThan(1);
    expect(placing.peaks['GetObject delivery-log/']).toBeGreaterThan(1);
    const second = await placeHold(deps, window, 'case 11', 'lawyer@example.com');
    const placed = await heldNow();
    const logKeys = placed
      .filter((v) => v.startsWith(DELIVERY_LOG_PREFIX))
      .map((v) => v.split(' ')[0] as string);
    expect(logKeys.length).toBeGreaterThan(0);
    expect(placed.length).toBe(second.versions);
    expect(first.versions).toBe(second.versions);

    // The row is lost and reindex rebuilds it, archived anew; a log object the hold placed gets a delete marker.
    await services.clients.dynamodb.send(
      new DeleteItemCommand({
        TableName: services.tableName,
        Key: {
          pk: { S: indexKeys.mailboxPk('alice@example.com') },
          sk: { S: indexKeys.messageSk(row.messageKey) },
        },
      }),
    );
    const reindexDeps = {
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
      deliveryLog: services.deliveryLog,
    };
    expect(await reindex(reindexDeps, async () => [])).toMatchObject({ restored: 1, failed: [] });
    expect((await fullRow('alice@example.com', id)).archivedAt).not.toBe(row.archivedAt);
    await services.clients.s3.send(new DeleteObjectCommand({ Bucket: services.bucket, Key: logKeys[0] }));

    // The other hold placed every version: the first release frees none, and says so.
    expect((await releaseHold(deps, first.holdId, 'lawyer@example.com')).releasedVersions).toBe(0);
    expect(await heldNow()).toEqual(placed);
    // The last release frees every version placed, and counts only those.
    expect((await releaseHold(deps, second.holdId, 'lawyer@example.com')).releasedVersions).toBe(
      placed.length,
    );
    expect(await heldNow()).toEqual([]);
  });

  it('from S3 alone (a wiped table) reindex restores every row with its UID, folder, Bcc recipient and verdicts; a second run does nothing', async () => {
    ids.push(await arrive('fifth'), await arrive('sixth'));
    // ids[1] got a sidecar from the repair above, ids[3] from the redelivery; the others have none.
    expect(await Promise.all(ids.map(hasSidecar))).toEqual([true, true, false, true, false, false]);
    const kept = await rowsOf(services.index, ids);
    expect(kept.filter((r) => r.mailbox === 'bob@example.com').length).toBe(6);
    expect(kept.some((r) => r.folder === 'Junk' && r.verdicts.spam === 'FAIL')).toBe(true);
    const table = 'wiped-index';
    await ensureIndexTable(services.clients.dynamodb, table);
    const wiped = archiveStorage(services.clients, services.bucket, table);
    const deps = {
      config,
      store: services.store,
      index: wiped.index,
      bucket: services.bucket,
      deliveryLog: services.deliveryLog,
    };
    const headersAsked: string[] = [];
    const derive = async () => {
      headersAsked.push('asked');
      return ['alice@example.com'];
    };
    const first = await reindex(deps, derive);
    expect(first.failed).toEqual([]);
    expect(await rowsOf(wiped.index, ids)).toEqual(kept);
    // Every message had an envelope (a sidecar, or its log records): no recipient was guessed from the headers.
    expect(headersAsked).toEqual([]);
    // The rebuild wrote their sidecars (ingest's, from what the log said), each once.
    const again = await counted(() => reindex(deps, derive));
    expect(again.result).toMatchObject({ restored: 0, recorded: 0, contentMarked: 0, logged: 0, failed: [] });
    // No write of any kind, and no message read (the sidecars that exist are read, as always).
    expect(Object.keys(again.requests).filter((k) => /^PutObject|^GetObject incoming\//.test(k))).toEqual([]);
    expect(await reconcile(deps)).toMatchObject({ ok: true });
  });
});

describe("the local stack's SMTP deliveries (what BENCH_ONLY=cost counts)", () => {
  it('store like SES, deliver through the ingest handler, and write one PutObject fewer: no sidecar, one log object', async () => {
    await ensureBucket(services.clients.s3, LOCAL_BUCKET);
    await ensureIndexTable(services.clients.dynamodb, LOCAL_TABLE);
    const archive = await openArchive(config, services.endpoints);
    const requests = new Map<string, number>();
    watchS3(archive.clients.s3, (name, next) => {
      requests.set(name, (requests.get(name) ?? 0) + 1);
      return next();
    });
    try {
      for (const subject of ['warm-up', 'counted']) {
        const notification = await receiveRawMessage(archive, {
          raw: makeMessage({ subject, to: 'alice@example.com' }),
          envelopeFrom: 'ann@sender.example.org',
          recipients: ['alice@example.com', 'bob@example.com'],
        });
        requests.clear();
        await archive.deliver(notification);
        expect(
          await readEnvelope(archive.store, archive.bucket, notification.mail.messageId),
        ).toBeUndefined();
      }
      // The raw message read once, the sidecar looked for once (none), one log object written, nothing else put.
      expect(Object.fromEntries([...requests].filter(([k]) => k.startsWith('PutObject ')))).toEqual({
        'PutObject delivery-log/': 1,
      });
    } finally {
      destroyClients(archive.clients);
    }
  });
});

async function fullRow(mailbox: string, sesMessageId: string): Promise<DeliveryRow> {
  for await (const row of services.index.listDeliveries(mailbox))
    if (row.sesMessageId === sesMessageId) return row;
  throw new Error(`no row of ${sesMessageId} in ${mailbox}`);
}
