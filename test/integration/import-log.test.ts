// An import cut off after ingest indexed its messages and before its batch of delivery log records was written
// (the local stack stopped: S3 refuses the connection), against DynamoDB Local and s3rver. The next run finds
// those messages present and logs their rows, and only the rows the log lacks: reconcile ends clean, and a run
// after that writes nothing. Ingest's own window (a Lambda whose log object fails) is closed by SQS delivering
// the message again: the retry finds its rows and logs them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverThrough } from '../../cli/local/archive';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { reconcile } from '../../shared/archive/reconcile';
import { parseLogObjectKey } from '../../shared/delivery-log/layout';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { importMessages } from '../../shared/history/import';
import { ImportLog } from '../../shared/history/import-log';
import type { RawMailStore } from '../../shared/ports';
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

/** The store with S3 gone for the delivery log's objects only: what a stopped stack does to the batch's put. */
function logRefused(store: RawMailStore): RawMailStore {
  return {
    read: (location) => store.read(location),
    exists: (location) => store.exists(location),
    list: (bucket, prefix, startAfter) => store.list(bucket, prefix, startAfter),
    upload: (location, body, contentType) => store.upload(location, body, contentType),
    write: (location, body, options) =>
      location.key.startsWith('delivery-log/')
        ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:4569'))
        : store.write(location, body, options),
  };
}

describe('an import cut off before its delivery log batch', () => {
  let services: TestServices;
  let dir: string;
  beforeAll(async () => {
    services = await startTestServices();
    dir = mkdtempSync(join(tmpdir(), 'mail-archiver-import-log-'));
  });
  afterAll(async () => {
    await services?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const reconcileDeps = () => ({
    config,
    store: services.store,
    index: services.index,
    bucket: services.bucket,
    deliveryLog: services.deliveryLog,
  });
  const logKeys = async (writer: string) => {
    const keys: string[] = [];
    for await (const key of services.deliveryLog.keysAfter())
      if (parseLogObjectKey(key)?.writer === writer) keys.push(key);
    return keys;
  };
  /** One import run as `mail-archiver import` runs it: a batch, flushed when due and at the end. */
  const importRun = async (deliveryLog: DeliveryLog, paths: string[]) => {
    const deliver = deliverThrough(createIngestHandler({ ...services, config, logger: quiet }));
    const batch = deliveryLog.batch('import');
    const log = new ImportLog(deliveryLog, batch, services.index);
    const report = await importMessages(
      config,
      {
        ...services,
        deliver: async (n) => {
          await deliver(n, { logBatch: batch });
          await log.flushIfDue();
        },
        log,
      },
      paths,
      { concurrency: 3 },
    );
    return { report, flush: () => batch.flush() };
  };
  const writeMessages = (folder: string, count: number) => {
    mkdirSync(join(dir, folder));
    for (let i = 0; i < count; i++)
      writeFileSync(
        join(dir, folder, `${i}.eml`),
        makeMessage({ subject: `${folder} ${i}`, to: 'bob@example.com, alice@example.com' }),
      );
    return join(dir, folder);
  };

  it('logs on the next run the rows of the messages whose batch was never written, and only those', async () => {
    // Four messages imported and logged; then eight more whose batch the stopped stack refused.
    const logged = writeMessages('logged', 4);
    const first = await importRun(services.deliveryLog, [logged]);
    expect(first.report.archived).toBe(4);
    expect(await first.flush()).toBeDefined();
    const cut = writeMessages('cut', 8);
    const refused = await importRun(new DeliveryLog(logRefused(services.store), services.bucket), [
      logged,
      cut,
    ]);
    expect(refused.report).toMatchObject({ archived: 8, duplicates: 4, failed: [] });
    await expect(refused.flush()).rejects.toThrow(/ECONNREFUSED/);
    const before = await reconcile(reconcileDeps());
    expect(before.notLogged.length).toBe(16); // eight messages, two mailboxes each

    const resumed = await importRun(services.deliveryLog, [logged, cut]);
    expect(resumed.report).toMatchObject({ archived: 0, duplicates: 12, failed: [] });
    await resumed.flush();
    expect(await reconcile(reconcileDeps())).toMatchObject({ ok: true, notLogged: [], badLogLines: 0 });
    const written = await logKeys('import');
    expect(written.length).toBe(2);
    let records = 0;
    for await (const object of services.deliveryLog.readObjects(written.slice(1)))
      records += object.records.length;
    expect(records).toBe(16); // the rows the log lacked; the four logged messages' rows not again

    // Run again: everything present and logged, nothing written.
    const again = await importRun(services.deliveryLog, [logged, cut]);
    expect(again.report).toMatchObject({ archived: 0, duplicates: 12 });
    expect(await again.flush()).toBeUndefined();
    expect((await logKeys('import')).length).toBe(2);
  });

  it("ingest: a log object that cannot be written fails the invocation, and SQS's redelivery logs the rows", async () => {
    const base = (await reconcile(reconcileDeps())).notLogged.length;
    const message = makeMessage({ subject: 'live', to: 'alice@example.com' });
    const { notification } = await receiveLikeSes(services.store, services.bucket, message, {
      recipients: ['alice@example.com'],
    });
    const refusing = deliverThrough(
      createIngestHandler({
        ...services,
        config,
        deliveryLog: new DeliveryLog(logRefused(services.store), services.bucket),
        logger: quiet,
      }),
    );
    await expect(refusing(notification)).rejects.toThrow(/ECONNREFUSED/);
    const cut = await reconcile(reconcileDeps());
    expect(cut.notLogged.length).toBe(base + 1);

    const redelivered = deliverThrough(
      createIngestHandler({ ...services, config, deliveryLog: services.deliveryLog, logger: quiet }),
    );
    await redelivered(notification);
    expect((await reconcile(reconcileDeps())).notLogged.length).toBe(base);
  });
});
