// A delivery-log line that is not a record is named where reconcile reports it: which object, which line, why.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../../shared/archive/ingest';
import { readObject } from '../../../shared/archive/raw-object';
import { reconcile } from '../../../shared/archive/reconcile';
import { logObjectKey } from '../../../shared/delivery-log/layout';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import { exampleConfig } from '../../support/config';
import { receiveLikeSes } from '../../support/ses';

const message = Buffer.from('From: a@example.org\r\nTo: alice@example.com\r\nSubject: s\r\n\r\nbody\r\n');

describe('bad delivery-log lines', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bad-log-lines-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reconcile names the object and the line of each, with why', async () => {
    const config = exampleConfig();
    const store = new FileRawMailStore(dir);
    const log = new DeliveryLog(store, 'raw');
    const index = new MemoryMailIndex();
    const { notification } = await receiveLikeSes(store, 'raw', message, {
      recipients: ['alice@example.com'],
    });
    const batch = log.batch('ingest');
    await archiveReceivedMail(notification, { config, store, index, logBatch: batch, envelopeInLog: true });
    const key = (await batch.flush()) as string;
    const text = (await readObject(store, { bucket: 'raw', key })).toString('utf8');
    const newer = text.replace('{"v":2,', '{"v":3,');
    const damagedKey = logObjectKey(new Date(), 'ingest', 'damaged00001');
    await store.write({ bucket: 'raw', key: damagedKey }, Buffer.from(`${text}${newer}`));
    const report = await reconcile({ config, store, index, bucket: 'raw', deliveryLog: log });
    expect(report.badLogLines).toBe(1);
    expect(report.badLogLinesAt).toEqual([
      { key: damagedKey, line: 2, reason: expect.stringMatching(/^not a delivery record \(v:/) },
    ]);
  });
});
