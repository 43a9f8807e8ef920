// Every path that files a message into a mailbox folder appends to the delivery log (against DynamoDB Local and
// s3rver): SES mail through the ingest handler, journaled Sent mail, the Gmail Sent collection, a history import
// (one object per batch), and reindex when it recreates a row; a row the log lacks is reported by reconcile and
// logged by reindex. The log ends recording exactly the index's rows, each under the exporter's file name.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverThrough } from '../../cli/local/archive';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { reconcile, reindex } from '../../shared/archive/reconcile';
import { fileBaseName } from '../../shared/bundle/layout';
import { parseLogObjectKey } from '../../shared/delivery-log/layout';
import type { LogObject } from '../../shared/delivery-log/log';
import { canonicalRecord, deliveryRecordOf } from '../../shared/delivery-log/record';
import { collectSentMail } from '../../shared/forwarding/sent-collection';
import { importMessages } from '../../shared/history/import';
import { indexKeys } from '../../shared/index/schema';
import type { GmailMailboxReader, SentCollectionState } from '../../shared/ports';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

const config = exampleConfig({
  mailboxes: {
    'alice@example.com': { forwardTo: [] },
    'bob@example.com': { forwardTo: [] },
  },
});
const quiet = { info: () => undefined, warn: () => undefined };

describe('the delivery log', () => {
  let services: TestServices;
  let dir: string;
  beforeAll(async () => {
    services = await startTestServices();
    dir = mkdtempSync(join(tmpdir(), 'mail-archiver-log-it-'));
  });
  afterAll(async () => {
    await services?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const readLog = async () => {
    const objects: LogObject[] = [];
    for await (const object of services.deliveryLog.read()) objects.push(object);
    return objects;
  };
  const allRows = async () => {
    const rows = [];
    for await (const row of services.index.allDeliveries()) rows.push(row);
    return rows;
  };
  /** The log's records, each once, as canonical lines without version ids and receipts (an index row has none). */
  const loggedLines = async () =>
    new Set(
      (await readLog()).flatMap((o) =>
        o.records.map(({ versionId: _v, receipt: _r, ...r }) => canonicalRecord(r)),
      ),
    );
  const rowLines = async () => new Set((await allRows()).map((r) => canonicalRecord(deliveryRecordOf(r))));

  it('logs SES mail and journaled Sent mail, one object per invocation', async () => {
    const handler = createIngestHandler({
      ...services,
      config,
      deliveryLog: services.deliveryLog,
      logger: quiet,
    });
    const deliver = deliverThrough(handler);
    const inbound = await receiveLikeSes(services.store, services.bucket, makeMessage({ subject: 'in' }), {
      recipients: ['alice@example.com', 'bob@example.com'],
    });
    await deliver(inbound.notification);
    const sent = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'sent', from: 'Alice <alice@example.com>', to: 'x@elsewhere.example' }),
      { recipients: [config.journalAddress as string] },
    );
    await deliver(sent.notification);
    const objects = await readLog();
    expect(objects.map((o) => parseLogObjectKey(o.key)?.writer)).toEqual(['ingest', 'ingest']);
    const records = objects.flatMap((o) => o.records);
    expect(records.map((r) => `${r.mailbox} ${r.folder}`).sort()).toEqual([
      'alice@example.com INBOX',
      'alice@example.com Sent',
      'bob@example.com INBOX',
    ]);
    expect(records.find((r) => r.folder === 'Sent')?.flags).toEqual(['\\Seen']);
    // The archive's bucket is versioned (Object Lock): each record names the version of the raw object it read.
    for (const record of records) {
      const body = await services.store.read({
        bucket: services.bucket,
        key: record.objectKey,
        versionId: record.versionId as string,
      });
      expect(body.versionId).toBe(record.versionId);
    }
    expect(await loggedLines()).toEqual(await rowLines());
  });

  it('logs an import as one object per batch, and the Gmail Sent collection before its state moves', async () => {
    const handler = createIngestHandler({ ...services, config, logger: quiet });
    const deliver = deliverThrough(handler);
    const batch = services.deliveryLog.batch('import');
    const files = join(dir, 'history');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(files);
    for (let i = 0; i < 5; i++)
      writeFileSync(join(files, `${i}.eml`), makeMessage({ subject: `old ${i}`, to: 'bob@example.com' }));
    const report = await importMessages(
      config,
      { ...services, deliver: (n) => deliver(n, { logBatch: batch }) },
      [files],
      { concurrency: 3 },
    );
    expect(report.archived).toBe(5);
    expect(await batch.flush()).toMatch(/^delivery-log\/.*-import-/);

    const state = new Map<string, SentCollectionState>();
    const reader: GmailMailboxReader = {
      historyId: async () => '1',
      sentHistory: async () => ({ messageIds: ['g1'], historyId: '2' }),
      sentSince: async () => ({ messageIds: [] }),
      rawMessage: async () => ({
        raw: makeMessage({ subject: 'from gmail', from: 'alice@example.com', to: 'z@elsewhere.example' }),
        internalDate: new Date('2026-02-03T04:05:06Z'),
      }),
    };
    const deps = {
      config,
      reader,
      state: {
        get: async (t: string) => state.get(t),
        put: async (t: string, s: SentCollectionState) => void state.set(t, s),
      },
      store: services.store,
      index: services.index,
      bucket: services.bucket,
      deliveryLog: services.deliveryLog,
    };
    const target = { address: 'alice.gmail@gmail.com', mailbox: 'alice@example.com' };
    await collectSentMail(target, deps); // the first run only records where to start
    expect((await collectSentMail(target, deps)).archived).toBe(1);

    const writers = (await readLog()).map((o) => parseLogObjectKey(o.key)?.writer);
    expect(writers).toEqual(['ingest', 'ingest', 'import', 'gmail-sent']);
    expect((await readLog())[2]?.records.length).toBe(5);
    expect(await loggedLines()).toEqual(await rowLines());
  });

  it('reindex logs the row it recreates; a row the log lost is reported by reconcile and logged by reindex', async () => {
    const rows = await allRows();
    const victim = rows.find((r) => r.mailbox === 'bob@example.com' && r.subject === 'old 0');
    if (!victim) throw new Error('no row');
    await services.clients.dynamodb.send(
      new DeleteItemCommand({
        TableName: services.tableName,
        Key: {
          pk: { S: indexKeys.mailboxPk(victim.mailbox) },
          sk: { S: indexKeys.messageSk(victim.messageKey) },
        },
      }),
    );
    // And the import's log object is lost (a process killed before its batch was written).
    const importKey = (await readLog()).find((o) => parseLogObjectKey(o.key)?.writer === 'import')?.key;
    await services.clients.s3.send(new DeleteObjectCommand({ Bucket: services.bucket, Key: importKey }));

    const deps = {
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
      deliveryLog: services.deliveryLog,
    };
    const before = await reconcile(deps);
    expect(before.ok).toBe(false);
    expect(before.notLogged.length).toBe(4); // the import's five, less the row that is gone
    const report = await reindex(deps, async () => []);
    expect(report).toMatchObject({ restored: 1, logged: 4, failed: [] });
    const after = await reconcile(deps);
    expect(after).toMatchObject({ ok: true, notLogged: [], badLogLines: 0 });
    const reindexed = (await readLog()).filter((o) => parseLogObjectKey(o.key)?.writer === 'reindex');
    expect(reindexed.length).toBe(1);
    expect(reindexed[0]?.records.length).toBe(5);
    const restored = reindexed[0]?.records.find((r) => r.messageKey === victim.messageKey);
    expect(restored).toMatchObject({
      uid: victim.uid,
      uidValidity: victim.uidValidity,
      file: fileBaseName(victim),
    });
    expect(await loggedLines()).toEqual(await rowLines());
  });
});
