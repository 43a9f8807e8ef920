// Two receipts of one message (two receipt rules, one time): the log of the first must not mark the second,
// which never got indexed, as done (review-31c 1).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../../shared/archive/ingest';
import { reindex } from '../../../shared/archive/reconcile';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import type { ForwardQueue, MailIndex } from '../../../shared/ports';
import type { SesReceivedNotification } from '../../../shared/receiving/ses-notification';
import { exampleConfig } from '../../support/config';
import { receiveLikeSes } from '../../support/ses';

const config = exampleConfig({
  mailboxes: {
    'alice@example.com': { forwardTo: ['alice@gmail.example'] },
    'bob@example.com': { forwardTo: ['bob@gmail.example'] },
  },
});
const message = Buffer.from('From: a@example.org\r\nTo: alice@example.com\r\nSubject: s\r\n\r\nbody\r\n');
const T0 = new Date('2026-12-01T10:00:00Z');

describe('a sidecar receipt and the log', () => {
  let dir: string;
  let store: FileRawMailStore;
  let log: DeliveryLog;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'r31c-'));
    store = new FileRawMailStore(dir);
    log = new DeliveryLog(store, 'raw');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  async function ingest(n: SesReceivedNotification, index: MailIndex, forwards?: ForwardQueue) {
    const batch = log.batch('ingest');
    try {
      return await archiveReceivedMail(n, {
        config,
        store,
        index,
        logBatch: batch,
        envelopeInLog: true,
        now: () => T0,
        ...(forwards ? { forwards } : {}),
      });
    } finally {
      await batch.flush();
    }
  }
  const throttled = (index: MemoryMailIndex): MailIndex =>
    new Proxy(index, {
      get(target, prop, receiver) {
        if (prop === 'getDelivery')
          return async () => {
            throw new Error('ProvisionedThroughputExceededException');
          };
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });

  it('a second receipt that never got indexed is not taken as done because the first is logged: its forwards go out', async () => {
    const index = new MemoryMailIndex(() => T0);
    const { notification: r1 } = await receiveLikeSes(store, 'raw', message, {
      recipients: ['alice@example.com'],
    });
    await ingest(r1, index);
    const r2 = structuredClone(r1);
    r2.receipt.recipients = ['alice@example.com', 'bob@example.com'];
    await expect(ingest(r2, throttled(index))).rejects.toThrow(/Throughput/);
    const sent: { mailbox: string }[] = [];
    const forwards: ForwardQueue = {
      enqueue: async (requests) => {
        sent.push(...requests);
      },
    };
    await reindex({ config, store, index, bucket: 'raw', deliveryLog: log, forwards }, async () => []);
    const rows: string[] = [];
    for await (const r of index.listDeliveries('bob@example.com')) rows.push(r.messageKey);
    expect(rows).toHaveLength(1);
    expect(sent.map((r) => r.mailbox)).toContain('bob@example.com');
  });
});
