// A record's receipt is written only when every reader can read it back: a line the record schema refuses is a
// delivery the replica and the seal never see, and, where no sidecar was written, an envelope lost.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../../shared/archive/ingest';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import { envelopeKey } from '../../../shared/index/schema';
import type { SesReceivedNotification } from '../../../shared/receiving/ses-notification';
import { exampleConfig } from '../../support/config';
import { receiveLikeSes } from '../../support/ses';

const message = Buffer.from('From: a@example.org\r\nTo: alice@example.com\r\nSubject: s\r\n\r\nbody\r\n');

describe('the receipt a delivery record carries', () => {
  let dir: string;
  let store: FileRawMailStore;
  let log: DeliveryLog;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'receipt-record-'));
    store = new FileRawMailStore(dir);
    log = new DeliveryLog(store, 'raw');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function ingest(notification: SesReceivedNotification) {
    const batch = log.batch('ingest');
    await archiveReceivedMail(notification, {
      config: exampleConfig(),
      store,
      index: new MemoryMailIndex(),
      logBatch: batch,
      envelopeInLog: true,
    });
    await batch.flush();
    const objects = [];
    for await (const object of log.read()) objects.push(object);
    return objects;
  }

  it('a message with no envelope recipient (reindex files it unrouted) is logged in a line readers accept', async () => {
    const { notification } = await receiveLikeSes(store, 'raw', message, {
      recipients: ['alice@example.com'],
    });
    notification.receipt.recipients = [];
    const objects = await ingest(notification);
    expect(objects.flatMap((o) => o.errors)).toEqual([]);
    expect(objects.flatMap((o) => o.records).map((r) => r.mailbox)).toEqual(['unrouted']);
    expect(await store.exists({ bucket: 'raw', key: envelopeKey(notification.mail.messageId) })).toBe(true);
  });

  it('a verdict SES may add later is no reason to lose the line: the envelope goes to the sidecar', async () => {
    const { notification } = await receiveLikeSes(store, 'raw', message, {
      recipients: ['alice@example.com'],
    });
    (notification.receipt.spamVerdict as { status: string }).status = 'NOT_CHECKED';
    const objects = await ingest(notification);
    expect(objects.flatMap((o) => o.errors)).toEqual([]);
    const records = objects.flatMap((o) => o.records);
    expect(records.map((r) => r.mailbox)).toEqual(['alice@example.com']);
    expect(records[0]?.receipt).toBeUndefined();
    expect(await store.exists({ bucket: 'raw', key: envelopeKey(notification.mail.messageId) })).toBe(true);
  });

  it('an ordinary message keeps its receipt in the log and writes no sidecar', async () => {
    const { notification } = await receiveLikeSes(store, 'raw', message, {
      recipients: ['alice@example.com'],
    });
    const objects = await ingest(notification);
    expect(objects.flatMap((o) => o.errors)).toEqual([]);
    expect(objects.flatMap((o) => o.records)[0]?.receipt?.recipients).toEqual(['alice@example.com']);
    expect(await store.exists({ bucket: 'raw', key: envelopeKey(notification.mail.messageId) })).toBe(false);
  });
});
