// Robustness: the whole SpamAssassin corpus through ingest, the forwarding rewrite and export; faults injected at
// every boundary (S3 reads, DynamoDB throttling, a worker killed mid-message and mid-send) ending in exactly one
// row and one forwarded copy each; reconcile finding a deleted row and reindex rebuilding the index from S3.
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../shared/adapters/memory-index';
import { archiveReceivedMail, type IngestDeps } from '../../shared/archive/ingest';
import { reconcile, reindex } from '../../shared/archive/reconcile';
import { exportMailbox } from '../../shared/bundle/export';
import { verifyBundle } from '../../shared/bundle/verify';
import { SendError } from '../../shared/forwarding/errors';
import { type ForwardDeps, forwardMessage } from '../../shared/forwarding/forward';
import { LONG_LINE_CHANGE, longestLine } from '../../shared/forwarding/long-lines';
import { rewriteForForwarding } from '../../shared/forwarding/rewrite';
import { indexKeys } from '../../shared/index/schema';
import { MAX_LINE_OCTETS, splitHeaderBlock } from '../../shared/mail/header-block';
import type { MailIndex, MailSender } from '../../shared/ports';
import type { SesReceivedNotification } from '../../shared/receiving/ses-notification';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';
import { spamAssassinFiles } from '../support/spam-assassin';

const config = exampleConfig();

describe('the SpamAssassin corpus end to end (local disk, in-memory index)', () => {
  const files = spamAssassinFiles();
  it.skipIf(files.length === 0)(
    'ingests, rewrites and exports all 6,046 messages; the bundle holds their exact bytes',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mail-archiver-sa-'));
      try {
        const store = new FileRawMailStore(dir);
        const index = new MemoryMailIndex();
        const deps: IngestDeps = { config, store, index };
        let clock = Date.parse('2002-01-01T00:00:00Z');
        for (const file of files) {
          const raw = readFileSync(file);
          clock += 1000;
          const { notification } = await receiveLikeSes(store, 'raw', raw, {
            recipients: ['bob@example.com'],
            timestamp: new Date(clock),
            trace: false,
          });
          await archiveReceivedMail(notification, deps);
          const rewritten = await rewriteForForwarding({
            raw,
            fromAddress: 'forwarder@example.com',
            envelopeRecipient: 'bob@example.com',
            trace: 't',
          });
          // Only a body with a line over 998 octets is re-encoded (recorded; decoded parts are checked in
          // test/integration/forward-check.test.ts).
          if (!rewritten.changes?.some((c) => c.startsWith(LONG_LINE_CHANGE)))
            expect(splitHeaderBlock(rewritten.raw).body.equals(splitHeaderBlock(raw).body)).toBe(true);
          expect(longestLine(rewritten.raw)).toBeLessThanOrEqual(MAX_LINE_OCTETS);
        }
        expect(index.rows.size).toBe(files.length);
        const bundle = join(dir, 'bob.tar.gz');
        const result = await exportMailbox(
          { index, store },
          { mailbox: 'bob@example.com', format: 'maildir' },
          createWriteStream(bundle),
        );
        expect(result.messages).toBe(files.length);
        const report = await verifyBundle(createReadStream(bundle));
        expect(report.errors.slice(0, 5)).toEqual([]);
        expect(report.messages).toBe(files.length);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    // 6,046 messages, each with its envelope sidecar written and locked, on 2 shared cores.
    300_000,
  );
});

describe('faults at the boundaries (DynamoDB Local, s3rver)', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await startTestServices();
  });
  afterAll(async () => services?.stop());

  /** What SQS does with a failing record: deliver it again, up to maxReceiveCount times. */
  async function withRedelivery<T>(attempt: () => Promise<T>, maxReceiveCount = 5): Promise<T> {
    for (let receive = 1; ; receive++) {
      try {
        return await attempt();
      } catch (error) {
        if (receive >= maxReceiveCount) throw error;
      }
    }
  }

  const sent: { to: string; raw: Buffer }[] = [];
  const sink: MailSender = {
    async send(input) {
      sent.push(input);
      return { messageId: `sink-${sent.length}` };
    },
  };

  it('archives and forwards every message exactly once despite flaky reads, throttling, and workers killed mid-message and mid-send', async () => {
    let clock = Date.now();
    const now = () => new Date(clock);
    // S3: the first read of every object fails (a reset connection).
    const readFailures = new Set<string>();
    const store = {
      ...services.store,
      read: async (location: { bucket: string; key: string }) => {
        if (!readFailures.has(location.key)) {
          readFailures.add(location.key);
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        }
        return services.store.read(location);
      },
      write: services.store.write.bind(services.store),
      exists: services.store.exists.bind(services.store),
      list: services.store.list.bind(services.store),
      upload: services.store.upload.bind(services.store),
    };
    // DynamoDB: every third write is throttled beyond the SDK's own retries; every fifth message's worker dies
    // right after it was given a UID.
    let writes = 0;
    let allocations = 0;
    let claims = 0;
    const index = new Proxy(services.index, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === 'putDelivery') {
          return async (...args: Parameters<MailIndex['putDelivery']>) => {
            writes++;
            if (writes % 3 === 0)
              throw Object.assign(new Error('Throughput exceeds the current capacity'), {
                name: 'ProvisionedThroughputExceededException',
              });
            return target.putDelivery(...args);
          };
        }
        if (property === 'allocateUid') {
          return async (...args: Parameters<MailIndex['allocateUid']>) => {
            const result = await target.allocateUid(...args);
            if (++allocations % 5 === 0) throw new Error('worker killed');
            return result;
          };
        }
        if (property === 'claimForward') {
          // The worker forwarding the 4th message dies right after its claim, before sending.
          return async (...args: Parameters<typeof target.claimForward>) => {
            const claimed = await target.claimForward(...args);
            if (claimed && ++claims === 4 && !args[2]) throw new Error('worker killed mid-send');
            return claimed;
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as typeof services.index;

    // SES: throttled twice, then a rejection, then fine.
    const faults: SendError[] = [
      new SendError('Throttling', false),
      new SendError('Throttling', false),
      new SendError('MessageRejected', true),
    ];
    const sender: MailSender = {
      async send(input) {
        const fault = faults.shift();
        if (fault) throw fault;
        return sink.send(input);
      },
    };
    const forwardDeps: ForwardDeps = { config, index, store, sender, now };
    const queued: { mailbox: string; messageKey: string }[] = [];
    const deps: IngestDeps = {
      config,
      store,
      index,
      now,
      forwards: { enqueue: async (r) => void queued.push(...r) },
    };

    const notifications: SesReceivedNotification[] = [];
    for (let i = 0; i < 10; i++) {
      const { notification } = await receiveLikeSes(
        services.store,
        services.bucket,
        makeMessage({ subject: `fault ${i}` }),
        {
          recipients: ['alice@example.com'],
        },
      );
      notifications.push(notification);
      await withRedelivery(() => archiveReceivedMail(notification, deps));
    }
    // Forward requests, delivered as SQS would (transient failures redelivered).
    for (const request of queued) {
      await withRedelivery(async () => {
        const outcomes = await forwardMessage(request, forwardDeps);
        if (outcomes.some((o) => o.status === 'failed' && !o.permanent)) throw new Error('retry later');
      }).catch(() => undefined);
    }
    const copies = () => sent.filter((s) => s.to === 'alice.example@gmail.com').length;
    expect(copies()).toBe(8); // one parked (rejected), one stuck with the dead worker

    // Nothing sits unaccounted: reconcile (after the dead worker's lease ran out) names both.
    clock += 10 * 60 * 1000;
    const before = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
      now,
    });
    expect(before.notIndexed).toEqual([]);
    expect(before.forwardsUnsettled.map((f) => f.state).sort()).toEqual(['failed', 'sending']);

    // Redrive both.
    for (const f of before.forwardsUnsettled) {
      await forwardMessage(
        { mailbox: f.mailbox, messageKey: f.messageKey },
        { ...forwardDeps, index: services.index },
        { redrive: true },
      );
    }
    expect(copies()).toBe(10);
    const after = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
      now,
    });
    expect(after.ok).toBe(true);

    // Exactly one row per message, and a second round of every event changes nothing.
    const rows = [];
    for await (const row of services.index.listDeliveries('alice@example.com')) rows.push(row);
    const ours = rows.filter((r) => notifications.some((n) => n.mail.messageId === r.sesMessageId));
    expect(ours).toHaveLength(10);
    for (const n of notifications)
      await archiveReceivedMail(n, { config, store: services.store, index: services.index });
    for (const request of queued) await forwardMessage(request, { ...forwardDeps, index: services.index });
    expect(copies()).toBe(10);
  });

  it('reconcile finds a deliberately deleted row, and reindex rebuilds the index from S3 alone with the same UIDs', async () => {
    const deps: IngestDeps = { config, store: services.store, index: services.index };
    const { notification } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'to be deleted' }),
      {
        recipients: ['bob@example.com', 'alice@example.com'],
      },
    );
    const outcome = await archiveReceivedMail(notification, deps);
    const bobUid = outcome.deliveries.find((d) => d.mailbox === 'bob@example.com')?.uid;
    await services.clients.dynamodb.send(
      new DeleteItemCommand({
        TableName: services.tableName,
        Key: {
          pk: { S: indexKeys.mailboxPk('bob@example.com') },
          sk: { S: indexKeys.messageSk(outcome.messageKey) },
        },
      }),
    );
    const found = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
    });
    expect(found.ok).toBe(false);
    expect(found.notIndexed).toContain(notification.receipt.action.objectKey);

    const rebuilt = await reindex(
      { config, store: services.store, index: services.index, bucket: services.bucket },
      async () => [],
    );
    expect(rebuilt.failed).toEqual([]);
    expect(rebuilt.restored).toBe(1);
    const row = await services.index.getDelivery('bob@example.com', outcome.messageKey);
    expect(row?.uid).toBe(bobUid);
    expect(row?.subject).toBe('to be deleted');

    // Now lose every row and folder of the index: S3 alone brings all of them back, UIDs included.
    const before = new Map<string, number>();
    for await (const r of services.index.allDeliveries()) before.set(`${r.mailbox} ${r.messageKey}`, r.uid);
    const { Items } = await services.clients.dynamodb.send(
      new ScanCommand({ TableName: services.tableName }),
    );
    for (const item of Items ?? []) {
      if (/^(MESSAGE|FOLDER)#/.test(item.sk?.S ?? '')) {
        await services.clients.dynamodb.send(
          new DeleteItemCommand({
            TableName: services.tableName,
            Key: { pk: item.pk as never, sk: item.sk as never },
          }),
        );
      }
    }
    const all = await reindex(
      { config, store: services.store, index: services.index, bucket: services.bucket },
      async () => [],
    );
    expect(all.failed).toEqual([]);
    const afterRows = new Map<string, number>();
    for await (const r of services.index.allDeliveries())
      afterRows.set(`${r.mailbox} ${r.messageKey}`, r.uid);
    expect(afterRows).toEqual(before);
  });
});
