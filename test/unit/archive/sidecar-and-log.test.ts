// A message ingest filed with its envelope in the delivery log alone can get a sidecar later (a second delivery of
// its notification that fails, a forward enqueue that fails): that sidecar knows less than the log. Readers take
// both, so the index is still rebuilt from S3 alone with every UID (review-31b 1).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { readEnvelope } from '../../../shared/archive/envelope';
import { archiveReceivedMail } from '../../../shared/archive/ingest';
import { reconcile, reindex } from '../../../shared/archive/reconcile';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import { envelopeKey } from '../../../shared/index/schema';
import type { ForwardQueue, MailIndex } from '../../../shared/ports';
import type { SesReceivedNotification } from '../../../shared/receiving/ses-notification';
import { exampleConfig } from '../../support/config';
import { receiveLikeSes } from '../../support/ses';

const config = exampleConfig({
  mailboxes: {
    'alice@example.com': { forwardTo: ['alice@gmail.example'] },
    'bob@example.com': { forwardTo: ['bob@gmail.example'] },
    'carol@example.com': { forwardTo: [] },
  },
});
const message = Buffer.from('From: a@example.org\r\nTo: alice@example.com\r\nSubject: s\r\n\r\nbody\r\n');
const T0 = new Date('2026-12-01T10:00:00Z');
const DAY = 86_400_000;
const id = (n: number) => `${n}`.padStart(40, '0');

describe('a sidecar written after the envelope went to the log', () => {
  let dir: string;
  let store: FileRawMailStore;
  let log: DeliveryLog;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sidecar-and-log-'));
    store = new FileRawMailStore(dir);
    log = new DeliveryLog(store, 'raw');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function ingest(notification: SesReceivedNotification, index: MailIndex, forwards?: ForwardQueue) {
    const batch = log.batch('ingest');
    try {
      return await archiveReceivedMail(notification, {
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
  const rows = async (index: MailIndex) => {
    const out: string[] = [];
    for (const m of Object.keys(config.mailboxes))
      for await (const r of index.listDeliveries(m))
        out.push(`${r.mailbox} ${r.folder} ${r.uid} ${r.uidValidity} ${r.messageKey}`);
    return out.sort();
  };
  /** The index as a throttled DynamoDB answers it: every read of a row fails. */
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
  async function arrive(
    index: MemoryMailIndex,
    n: number,
    recipients = ['alice@example.com', 'bob@example.com'],
  ) {
    const { notification } = await receiveLikeSes(store, 'raw', message, { recipients, messageId: id(n) });
    await ingest(notification, index);
    return notification;
  }
  const lost = () => new MemoryMailIndex(() => new Date(T0.getTime() + DAY));
  const rebuild = (index: MemoryMailIndex) =>
    reindex({ config, store, index, bucket: 'raw', deliveryLog: log }, async () => []);

  it('a second delivery of the notification that fails leaves the log in charge of the UIDs', async () => {
    const index = new MemoryMailIndex(() => T0);
    const first = await arrive(index, 1);
    for (const n of [7, 8, 9]) await arrive(index, n);
    expect(await store.exists({ bucket: 'raw', key: envelopeKey(first.mail.messageId) })).toBe(false);
    const before = await rows(index);
    await expect(ingest(structuredClone(first), throttled(index))).rejects.toThrow(/Throughput/);
    const fresh = lost();
    const report = await rebuild(fresh);
    expect(report.failed).toEqual([]);
    expect(await rows(fresh)).toEqual(before);
  });

  it("a second receipt with other recipients keeps the first receipt's mailboxes", async () => {
    const index = new MemoryMailIndex(() => T0);
    const first = await arrive(index, 1);
    const second = structuredClone(first);
    second.receipt.recipients = ['alice@example.com', 'carol@example.com'];
    await ingest(second, index);
    const before = await rows(index);
    expect(before.map((r) => r.split(' ')[0])).toEqual([
      'alice@example.com',
      'bob@example.com',
      'carol@example.com',
    ]);
    // Bob's row is the log's alone (the second receipt's sidecar does not name it): recorded all the same.
    const healthy = await reconcile({ config, store, index, bucket: 'raw', deliveryLog: log });
    expect(healthy.unrecorded).toEqual([]);
    const fresh = lost();
    await rebuild(fresh);
    expect(await rows(fresh)).toEqual(before);
    const report = await reconcile({ config, store, index: fresh, bucket: 'raw', deliveryLog: log });
    expect({ ...report, notForwarded: [] }).toMatchObject({ notIndexed: [], unrecorded: [], notLogged: [] });
  });

  it('a second receipt that never got indexed is not taken as done because the first is logged: its forwards go out', async () => {
    // Two receipts of one message at one time (two receipt rules): the log of the first must not mark the
    // second, never indexed, as done (review-31c 1).
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

  it('a forward that cannot be queued after the rows leaves a sidecar with every delivery', async () => {
    const index = new MemoryMailIndex(() => T0);
    const { notification } = await receiveLikeSes(store, 'raw', message, {
      recipients: ['alice@example.com', 'bob@example.com'],
    });
    const failing: ForwardQueue = {
      enqueue: async () => {
        throw new Error('SQS unavailable');
      },
    };
    await expect(ingest(notification, index, failing)).rejects.toThrow(/SQS/);
    const sidecar = await readEnvelope(store, 'raw', notification.mail.messageId);
    expect(sidecar?.deliveries.map((d) => d.mailbox).sort()).toEqual([
      'alice@example.com',
      'bob@example.com',
    ]);
    expect(sidecar?.receipts.every((r) => r.indexedAt !== undefined)).toBe(true);
  });
});
