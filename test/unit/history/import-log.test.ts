// What an import logs for a message it finds present (on a directory store): the rows whose records the log
// lacks near their archivedAt, never one it records there (whoever wrote it, with or without a version id), each
// window of the log read once per run; a record written much later is not looked for, so its row is logged again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { logObjectKey } from '../../../shared/delivery-log/layout';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import { deliveryRecordOf, logObjectBody } from '../../../shared/delivery-log/record';
import { ImportLog } from '../../../shared/history/import-log';
import type { DeliveryRow } from '../../../shared/index/schema';
import type { RawMailStore } from '../../../shared/ports';
import { testDeliveryRow } from '../../support/delivery-row';

const bucket = 'archive';
const archivedAt = '2026-01-02T00:00:00.000Z';
const at = (offsetMs: number) => new Date(Date.parse(archivedAt) + offsetMs);

describe('ImportLog.logPresent', () => {
  let dir: string;
  let store: RawMailStore;
  let listings: number;
  const rows = new Map<string, DeliveryRow>();
  const index = { getDelivery: async (mailbox: string, key: string) => rows.get(`${mailbox} ${key}`) };
  const row = (mailbox: string, key: string, uid: number) => {
    const made = testDeliveryRow(mailbox, key, uid, { archivedAt });
    rows.set(`${mailbox} ${key}`, made);
    return made;
  };
  const put = (
    when: Date,
    writer: 'import' | 'ingest' | 'reindex',
    records: DeliveryRow[],
    versionId?: string,
  ) =>
    store.write(
      { bucket, key: logObjectKey(when, writer, `u${when.getTime()}`) },
      logObjectBody(records.map((r) => deliveryRecordOf(r, versionId))),
    );

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'import-log-'));
    const files = new FileRawMailStore(dir);
    listings = 0;
    const list = files.list.bind(files);
    files.list = (b, p, s) => {
      listings += 1;
      return list(b, p, s);
    };
    store = files;
    rows.clear();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('adds only the rows the log lacks near their archivedAt, reading each window once', async () => {
    const logged = row('alice@example.com', 'k1', 1);
    const byIngest = row('alice@example.com', 'k2', 2);
    const missing = row('bob@example.com', 'k1', 1);
    const late = row('alice@example.com', 'k3', 3);
    await put(at(5_000), 'import', [logged]);
    await put(at(-30_000), 'ingest', [byIngest], 'v123');
    await put(at(90 * 24 * 3600 * 1000), 'reindex', [late]);
    const log = new DeliveryLog(store, bucket);
    const batch = log.batch('import');
    const importLog = new ImportLog(log, batch, index);

    expect(await importLog.logPresent('k1', ['alice@example.com', 'bob@example.com'])).toBe(1);
    expect(await importLog.logPresent('k2', ['alice@example.com'])).toBe(0);
    // Logged only three months later (reindex): not looked for there, so logged again (a repeat, one delivery).
    expect(await importLog.logPresent('k3', ['alice@example.com'])).toBe(1);
    // Added once in a run, and a row the index lacks is left to reconcile.
    expect(await importLog.logPresent('k1', ['bob@example.com', 'carol@example.com'])).toBe(0);
    // The slots around archivedAt: 23:45, 00:00 and 00:15, one listing each for every message.
    expect(listings).toBe(3);

    const key = await batch.flush();
    if (!key) throw new Error('nothing written');
    const written = (await log.readObjects([key]).next()).value;
    expect(written?.errors).toEqual([]);
    expect(written?.records).toEqual([deliveryRecordOf(missing), deliveryRecordOf(late)]);
  });
});
