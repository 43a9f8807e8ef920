// Failure paths (issue 11), one case per path, against DynamoDB Local and s3rver. Each case injects its fault,
// lets the archiver recover (retries, the minimal row, redrive, reindex), and ends the same way: every message
// archived exactly once per mailbox, forwarded at most once, in its mailbox's export, and `reconcile` clean.
import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverThrough } from '../../cli/local/archive';
import { LocalDeadLetters } from '../../cli/local/dead-letters';
import { describeError } from '../../cli/process/describe-error';
import { createExportHandler } from '../../lambdas/export/handler';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { createReconcileHandler } from '../../lambdas/reconcile/handler';
import { readEnvelope } from '../../shared/archive/envelope';
import { archiveReceivedMail, type IngestDeps } from '../../shared/archive/ingest';
import { reconcile, reindex } from '../../shared/archive/reconcile';
import type { ReconcileRun } from '../../shared/archive/reconcile-run';
import { exportMailbox } from '../../shared/bundle/export';
import { verifyBundle } from '../../shared/bundle/verify';
import { forwardMessage } from '../../shared/forwarding/forward';
import { defaultRowBudget, utf8Bytes } from '../../shared/index/row-budget';
import {
  envelopeKey,
  importMessageId,
  indexKeys,
  messageKeyOf,
  RECONCILE_REPORT_KEY,
  rawMailKey,
  SES_SETUP_NOTIFICATION_KEY,
} from '../../shared/index/schema';
import { SCHEDULED_RUN_SUCCEEDED_METRIC } from '../../shared/metrics';
import type { MailIndex, MailSender } from '../../shared/ports';
import { buildReceivedNotification } from '../../shared/receiving/ses-notification';
import { waitUntil } from '../../shared/retry/poll';
import { exampleConfig } from '../support/config';
import { makeMessage, makeMessageWithAttachment } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

const config = exampleConfig();

/** A run of CJK, Hangul and emoji (3 UTF-8 bytes per UTF-16 unit, 4 per emoji), never ASCII. */
function hostileText(chars: number, seed = 0): string {
  const alphabet = ['漢', '字', '郵', '便', '國', '語', '한', '글', '😀'];
  let out = '';
  for (let i = 0; i < chars; i++) out += alphabet[(i + seed) % alphabet.length];
  return out;
}

/**
 * The message of issue 11, path 1: every indexed header as long as the parse limits let it be (16,384
 * characters each, 3-4 bytes apiece), 100 addresses with CJK names per address header, 50 long references and 200
 * attachments with 255-byte emoji names. Unbudgeted, its row is well over DynamoDB's 400 KB.
 */
function hostileMessage(): Buffer {
  const names = (header: string) =>
    Array.from({ length: 100 }, (_, i) => `${hostileText(160, i)} <${header}${i}@sender.example.org>`).join(
      ', ',
    );
  const ids = Array.from({ length: 50 }, (_, i) => `<${hostileText(330, i)}@${i}.example.org>`).join(' ');
  const parts = Array.from({ length: 200 }, (_, i) =>
    [
      '--b1',
      `Content-Type: application/octet-stream; name="${hostileText(60, i)}.bin"`,
      `Content-Disposition: attachment; filename="${hostileText(60, i)}.bin"`,
      'Content-Transfer-Encoding: base64',
      '',
      'eHh4',
    ].join('\n'),
  );
  return makeMessage({
    from: names('from'),
    to: names('to'),
    cc: names('cc'),
    subject: hostileText(16_384),
    date: `Tue, 01 Sep 2026 10:00:00 +0000 (${hostileText(16_000)})`,
    messageId: `<${hostileText(16_000)}>`,
    extraHeaders: [
      `In-Reply-To: <${hostileText(990)}@x>`,
      `References: ${ids}`,
      'Content-Type: multipart/mixed; boundary="b1"',
    ],
    body: `${parts.join('\n')}\n--b1--\n`,
  });
}

describe('failure paths end with nothing lost (DynamoDB Local, s3rver)', () => {
  let services: TestServices;
  let work: string;
  beforeAll(async () => {
    services = await startTestServices();
    work = mkdtempSync(join(tmpdir(), 'mail-archiver-failure-paths-'));
  });
  afterAll(async () => {
    await services?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** Forwarded copies by message key: "at most once" is checked on these. */
  const copies = new Map<string, number>();
  const sinkFor = (messageKey: string): MailSender => ({
    async send() {
      copies.set(messageKey, (copies.get(messageKey) ?? 0) + 1);
      return { messageId: `sink-${messageKey}-${copies.get(messageKey)}` };
    },
  });

  /** Runs reindex over the test archive; `recipients` is what it derives from any raw message without a sidecar. */
  const reindexArchive = (recipients: string[], forwards?: IngestDeps['forwards']) =>
    reindex(
      {
        config,
        store: services.store,
        index: services.index,
        bucket: services.bucket,
        ...(forwards ? { forwards } : {}),
      },
      async () => recipients,
    );

  /** Ingest deps whose forward queue forwards at once, as the forward Lambda would, into the counting sink. */
  function ingestDeps(overrides: Partial<IngestDeps> = {}): IngestDeps {
    return {
      config,
      store: services.store,
      index: services.index,
      forwards: {
        enqueue: async (requests) => {
          for (const request of requests) {
            await forwardMessage(request, {
              config,
              store: services.store,
              index: services.index,
              sender: sinkFor(request.messageKey),
            });
          }
        },
      },
      ...overrides,
    };
  }

  /** The common ending: archived exactly once per mailbox, forwarded at most once, exported, reconcile clean. */
  async function expectNothingLost(
    messages: { sesMessageId: string; sha256: string; mailboxes: string[] }[],
  ) {
    const rows = [];
    for await (const row of services.index.allDeliveries()) rows.push(row);
    for (const message of messages) {
      const mine = rows.filter((r) => r.sesMessageId === message.sesMessageId);
      expect(mine.map((r) => r.mailbox).sort()).toEqual([...message.mailboxes].sort());
      for (const row of mine) {
        expect(row.sha256).toBe(message.sha256);
        expect(copies.get(row.messageKey) ?? 0).toBeLessThanOrEqual(1);
      }
    }
    for (const mailbox of new Set(messages.flatMap((m) => m.mailboxes))) {
      const bundle = join(work, `${mailbox}-${Date.now()}.tar.gz`);
      await exportMailbox(
        { index: services.index, store: services.store },
        { mailbox, format: 'maildir' },
        createWriteStream(bundle),
      );
      const report = await verifyBundle(createReadStream(bundle));
      expect(report.errors).toEqual([]);
      const exported = new Set(report.manifest?.messages.map((m) => m.sha256));
      for (const message of messages.filter((m) => m.mailboxes.includes(mailbox))) {
        expect(exported.has(message.sha256)).toBe(true);
      }
    }
    const report = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
    });
    expect(report).toMatchObject({ notIndexed: [], rawMissing: [], notForwarded: [], forwardsUnsettled: [] });
    expect(report.ok).toBe(true);
  }

  it('path 1: hostile multi-byte headers and 12,000 envelope recipients are indexed within the byte budget', async () => {
    const hostile = await receiveLikeSes(services.store, services.bucket, hostileMessage(), {
      recipients: ['alice@example.com', 'bob@example.com'],
    });
    const crowd = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: `一斉送信 ${hostileText(40)}` }),
      { recipients: Array.from({ length: 12_000 }, (_, i) => `alice+${hostileText(4, i)}${i}@example.com`) },
    );
    const deps = ingestDeps();
    const first = await archiveReceivedMail(hostile.notification, deps);
    const second = await archiveReceivedMail(crowd.notification, deps);
    expect(first.deliveries.map((d) => d.status)).toEqual(['archived', 'archived']);
    expect(second.deliveries.map((d) => d.status)).toEqual(['archived']);

    const row = await services.index.getDelivery('alice@example.com', first.messageKey);
    expect(row?.minimal).toBeUndefined();
    expect(row?.truncated).toEqual(
      expect.arrayContaining(['subject', 'dateHeader', 'messageId', 'from', 'to', 'cc', 'references']),
    );
    expect(utf8Bytes(row?.subject ?? '')).toBeLessThanOrEqual(defaultRowBudget.subjectBytes);
    expect(row?.subject?.startsWith(hostileText(100))).toBe(true);
    expect(row?.subject?.endsWith('…')).toBe(true);
    expect(row?.subject).not.toContain('\uFFFD'); // cut between characters, never inside one
    expect(row?.attachments.length).toBeGreaterThan(0);

    const crowdRow = await services.index.getDelivery('alice@example.com', second.messageKey);
    expect(crowdRow?.envelopeRecipientCount).toBe(12_000);
    expect(crowdRow?.truncated).toContain('envelopeRecipients');
    expect(crowdRow?.envelopeRecipients[0]).toBe(crowd.notification.receipt.recipients[0]);

    await expectNothingLost([
      {
        sesMessageId: hostile.notification.mail.messageId,
        sha256: hostile.sha256,
        mailboxes: ['alice@example.com', 'bob@example.com'],
      },
      {
        sesMessageId: crowd.notification.mail.messageId,
        sha256: crowd.sha256,
        mailboxes: ['alice@example.com'],
      },
    ]);
    expect(copies.get(first.messageKey)).toBe(1);
  });

  it('path 1: a row DynamoDB still refuses is written minimal, and the message is listed, forwarded and exported', async () => {
    // 3,000 recipients, all of them alice's (plus addressing): their list alone is 70 KB of the row.
    const recipients = [
      'alice@example.com',
      ...Array.from({ length: 3000 }, (_, i) => `alice+${i}@example.com`),
    ];
    const hostile = await receiveLikeSes(services.store, services.bucket, hostileMessage(), { recipients });
    // A budget above DynamoDB's limit: the full row reaches DynamoDB Local, which refuses it for its size.
    const unlimited = {
      subjectBytes: 1e9,
      valueBytes: 1e9,
      listBytes: 1e9,
      parseErrorBytes: 1e9,
      itemBytes: 1e9,
    };
    const outcome = await archiveReceivedMail(hostile.notification, ingestDeps({ rowBudget: unlimited }));
    const row = await services.index.getDelivery('alice@example.com', outcome.messageKey);
    expect(row?.minimal).toMatch(/size/i);
    expect(row?.truncated).toEqual(expect.arrayContaining(['subject', 'from', 'attachments']));
    expect(row?.envelopeRecipients).toEqual(['alice@example.com']);
    const listed = [];
    for await (const r of services.index.listDeliveries('alice@example.com')) listed.push(r.messageKey);
    expect(listed).toContain(outcome.messageKey);
    await expectNothingLost([
      {
        sesMessageId: hostile.notification.mail.messageId,
        sha256: hostile.sha256,
        mailboxes: ['alice@example.com'],
      },
    ]);
    expect(copies.get(outcome.messageKey)).toBe(1);
  });

  const quiet = { info: () => undefined, warn: () => undefined };

  /** The index, with every row write of one message refused (a throttled table, a bug in its row). */
  function refusingRowsOf(sesMessageId: string): typeof services.index {
    return new Proxy(services.index, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === 'putDelivery') {
          return async (...args: Parameters<MailIndex['putDelivery']>) => {
            if (args[0].sesMessageId === sesMessageId)
              throw Object.assign(new Error('Throughput exceeds the current capacity of your table'), {
                name: 'ProvisionedThroughputExceededException',
              });
            return target.putDelivery(...args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as typeof services.index;
  }

  async function deleteRows(sesMessageId: string) {
    for await (const row of services.index.allDeliveries()) {
      if (row.sesMessageId !== sesMessageId) continue;
      await services.clients.dynamodb.send(
        new DeleteItemCommand({
          TableName: services.tableName,
          Key: {
            pk: { S: indexKeys.mailboxPk(row.mailbox) },
            sk: { S: indexKeys.messageSk(row.messageKey) },
          },
        }),
      );
    }
  }

  it('path 2 and 6: a message that fails ingest five times keeps its envelope in S3, names its cause, and redrive archives it', async () => {
    const dead = new LocalDeadLetters(join(work, 'dead-letters'));
    // bob is a Bcc recipient: only the envelope knows him.
    const { notification, sha256 } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'fails five times', to: 'alice@example.com' }),
      { recipients: ['alice@example.com', 'bob@example.com'] },
    );
    const failing = deliverThrough(
      createIngestHandler({
        ...ingestDeps({ index: refusingRowsOf(notification.mail.messageId) }),
        logger: quiet,
      }),
    );
    let last: unknown;
    for (let receive = 1; receive <= 5; receive++) await failing(notification).catch((e) => (last = e));
    // Path 6: the CLI's report names the record's own error, not only "All records failed processing".
    expect((last as Error).message).toMatch(/ProvisionedThroughputExceededException: Throughput exceeds/);
    expect(describeError(last)).toMatch(/All records failed processing[\s\S]*Throughput exceeds/);
    dead.park(notification, describeError(last));
    expect(dead.count()).toBe(1);

    // Path 2: the envelope (bob included) is in S3 although nothing was indexed, and reconcile names the message.
    const envelope = await readEnvelope(services.store, services.bucket, notification.mail.messageId);
    expect(envelope?.receipts.map((r) => [r.notification.receipt.recipients, r.indexedAt])).toEqual([
      [['alice@example.com', 'bob@example.com'], undefined],
    ]);
    const found = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
    });
    expect(found.notIndexed).toEqual([notification.receipt.action.objectKey]);

    // A stray file in the folder (a hand edit, a partial write) is named, left alone, and hides nothing.
    const stray = join(dead.dir, 'stray.json');
    writeFileSync(stray, 'not json{');
    expect(dead.count()).toBe(1);
    expect(dead.unreadable()).toEqual([{ file: stray, reason: expect.stringMatching(/^not JSON \(/) }]);
    const healthy = deliverThrough(createIngestHandler({ ...ingestDeps(), logger: quiet }));
    expect(await dead.redrive(healthy)).toEqual({
      redriven: 1,
      failed: [{ id: stray, reason: expect.stringMatching(/^not JSON/) }],
    });
    expect(dead.count()).toBe(0);
    expect(existsSync(stray)).toBe(true);
    rmSync(stray);
    await expectNothingLost([
      {
        sesMessageId: notification.mail.messageId,
        sha256,
        mailboxes: ['alice@example.com', 'bob@example.com'],
      },
    ]);
  });

  it('path 6: concurrent deliveries through one ingest handler each report their own outcome (the local stack runs them so)', async () => {
    // The SMTP listener and `import --concurrency` call one handler concurrently; a failure of one message must
    // not be reported as another's (nor wiped before its own report).
    const failed = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'fails while another is archived', to: 'alice@example.com' }),
      { recipients: ['alice@example.com'] },
    );
    const slow = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'archived after another failed', to: 'bob@example.com' }),
      { recipients: ['bob@example.com'] },
    );
    let failedNow: () => void = () => undefined;
    const failedFirst = new Promise<void>((resolve) => {
      failedNow = resolve;
    });
    const refusing = refusingRowsOf(failed.notification.mail.messageId);
    const index = new Proxy(refusing, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === 'putDelivery') {
          return async (...args: Parameters<MailIndex['putDelivery']>) => {
            // The slow message writes its row only once the other one has failed and been reported.
            if (args[0].sesMessageId === slow.notification.mail.messageId) await failedFirst;
            return target.putDelivery(...args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const deliver = deliverThrough(createIngestHandler({ ...ingestDeps({ index }), logger: quiet }));
    const slowOutcome = deliver(slow.notification).then(
      () => 'archived',
      (error: unknown) => describeError(error),
    );
    const failedOutcome = await deliver(failed.notification).then(
      () => 'archived',
      (error: unknown) => describeError(error),
    );
    failedNow();
    expect(failedOutcome).toMatch(/Throughput exceeds/);
    expect(await slowOutcome).toBe('archived');

    await deliverThrough(createIngestHandler({ ...ingestDeps(), logger: quiet }))(failed.notification);
    await expectNothingLost([
      {
        sesMessageId: failed.notification.mail.messageId,
        sha256: failed.sha256,
        mailboxes: ['alice@example.com'],
      },
      { sesMessageId: slow.notification.mail.messageId, sha256: slow.sha256, mailboxes: ['bob@example.com'] },
    ]);
  });

  it('path 2: when the dead letter itself is lost (14 days, a deleted stack), reindex rebuilds the Bcc delivery from the sidecar', async () => {
    const { notification, sha256 } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'dead letter expired', to: 'alice@example.com' }),
      { recipients: ['alice@example.com', 'bob@example.com'] },
    );
    const failing = ingestDeps({ index: refusingRowsOf(notification.mail.messageId) });
    for (let receive = 1; receive <= 5; receive++)
      await archiveReceivedMail(notification, failing).catch(() => undefined);
    // The headers name alice only: rebuilding from them would lose bob.
    const rebuilt = await reindexArchive(['alice@example.com'], ingestDeps().forwards);
    expect(rebuilt).toMatchObject({ restored: 1, withoutEnvelope: 0, failed: [] });
    await expectNothingLost([
      {
        sesMessageId: notification.mail.messageId,
        sha256,
        mailboxes: ['alice@example.com', 'bob@example.com'],
      },
    ]);
  });

  it('path 2, runs that die without throwing (Lambda timeouts): the redelivery writes the envelope first', async () => {
    const { notification, sha256 } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'timed out twice', to: 'alice@example.com' }),
      { recipients: ['alice@example.com', 'bob@example.com'] },
    );
    const sidecar = { bucket: services.bucket, key: envelopeKey(notification.mail.messageId) };
    // The row's write never answers: the run neither finishes nor throws, as when Lambda's timeout ends it.
    let stuck = 0;
    const hanging = new Proxy(services.index, {
      get(target, property, receiver) {
        if (property === 'putDelivery')
          return () => {
            stuck += 1;
            return new Promise<never>(() => undefined);
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as typeof services.index;
    const handler = createIngestHandler({ ...ingestDeps({ index: hanging }), logger: quiet });
    const receive = (count: number) =>
      void handler(
        {
          Records: [
            {
              messageId: `sqs-${count}`,
              body: JSON.stringify(notification),
              eventSource: 'aws:sqs',
              attributes: { ApproximateReceiveCount: String(count) },
            },
          ],
        } as unknown as SQSEvent,
        {} as Context,
      );
    receive(1);
    await waitUntil(async () => stuck === 1, {
      intervalMs: 20,
      timeoutMs: 10_000,
      what: "the first run's row write",
    });
    // A first delivery writes the sidecar once, with its rows: none yet.
    expect(await services.store.exists(sidecar)).toBe(false);
    receive(2);
    await waitUntil(async () => stuck === 2, {
      intervalMs: 20,
      timeoutMs: 10_000,
      what: "the second run's row write",
    });
    expect(await services.store.exists(sidecar)).toBe(true);
    // The headers name alice only: bob is in the envelope the redelivery wrote.
    const rebuilt = await reindexArchive(['alice@example.com'], ingestDeps().forwards);
    expect(rebuilt).toMatchObject({ restored: 1, withoutEnvelope: 0, failed: [] });
    await expectNothingLost([
      {
        sesMessageId: notification.mail.messageId,
        sha256,
        mailboxes: ['alice@example.com', 'bob@example.com'],
      },
    ]);
  });

  it('path 7: a second import with other recipients adds to the sidecar; reindex brings every delivery back', async () => {
    const raw = makeMessage({ subject: 'imported twice', to: 'carol@elsewhere.example' });
    const sha256 = (await import('node:crypto')).createHash('sha256').update(raw).digest('hex');
    const sesMessageId = importMessageId(sha256);
    await services.store.write({ bucket: services.bucket, key: rawMailKey(sesMessageId) }, raw);
    const imported = (recipients: string[]) =>
      buildReceivedNotification({
        messageId: sesMessageId,
        timestamp: new Date('2020-05-01T10:00:00Z'),
        source: '',
        recipients,
        bucket: services.bucket,
        objectKey: rawMailKey(sesMessageId),
      });
    const deps = ingestDeps();
    const first = await archiveReceivedMail(imported(['alice@example.com']), deps);
    await archiveReceivedMail(imported(['bob@example.com']), deps);
    await archiveReceivedMail(imported(['alice@example.com']), deps); // the first import again: nothing new
    const envelope = await readEnvelope(services.store, services.bucket, sesMessageId);
    expect(envelope?.receipts).toHaveLength(2);
    expect(envelope?.deliveries.map((d) => d.mailbox).sort()).toEqual([
      'alice@example.com',
      'bob@example.com',
    ]);
    const uids = new Map<string, number>();
    for await (const row of services.index.allDeliveries())
      if (row.sesMessageId === sesMessageId) uids.set(row.mailbox, row.uid);

    await deleteRows(sesMessageId);
    const lost = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
    });
    expect(lost.notIndexed).toEqual([rawMailKey(sesMessageId)]);
    const rebuilt = await reindexArchive([]);
    expect(rebuilt).toMatchObject({ restored: 1, failed: [] });
    for await (const row of services.index.allDeliveries())
      if (row.sesMessageId === sesMessageId) expect(row.uid).toBe(uids.get(row.mailbox));

    // An archive from before: its sidecar was overwritten by the second import and records bob only.
    await services.store.write(
      { bucket: services.bucket, key: envelopeKey(sesMessageId) },
      Buffer.from(
        JSON.stringify({
          notification: imported(['bob@example.com']),
          messageKey: first.messageKey,
          sha256,
          deliveries: envelope?.deliveries.filter((d) => d.mailbox === 'bob@example.com'),
        }),
      ),
    );
    const unrecorded = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
    });
    expect(unrecorded.ok).toBe(false);
    expect(unrecorded.unrecorded).toEqual([
      { mailbox: 'alice@example.com', messageKey: first.messageKey, key: rawMailKey(sesMessageId) },
    ]);
    expect(await reindexArchive([])).toMatchObject({ restored: 0, recorded: 1, failed: [] });
    await deleteRows(sesMessageId);
    await reindexArchive([]);
    await expectNothingLost([{ sesMessageId, sha256, mailboxes: ['alice@example.com', 'bob@example.com'] }]);
    for await (const row of services.index.allDeliveries())
      if (row.sesMessageId === sesMessageId) expect(row.uid).toBe(uids.get(row.mailbox));
  });

  it('a damaged envelope sidecar is a reconcile finding among the others; reindex keeps its bytes and rebuilds it', async () => {
    const deps = ingestDeps();
    // Indexed, with bob a Bcc recipient, then its sidecar damaged (a partial write, a hand edit).
    const indexed = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'sidecar damaged after ingest', to: 'alice@example.com' }),
      { recipients: ['alice@example.com', 'bob@example.com'] },
    );
    await archiveReceivedMail(indexed.notification, deps);
    const uids = new Map<string, number>();
    for await (const row of services.index.allDeliveries())
      if (row.sesMessageId === indexed.notification.mail.messageId) uids.set(row.mailbox, row.uid);
    // Stored, its sidecar damaged before any row was written.
    const unindexed = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'sidecar damaged before ingest', to: 'alice@example.com' }),
      { recipients: ['alice@example.com'] },
    );
    // And one no notification announced: reconcile must still report it.
    const unannounced = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'unannounced next to a damaged sidecar', to: 'alice@example.com' }),
      { recipients: ['alice@example.com'] },
    );
    // One cut short (not JSON), one JSON that is not a sidecar (a hand edit).
    const damage = new Map([
      [envelopeKey(indexed.notification.mail.messageId), Buffer.from('{"version":2,"receipts":[{"notifica')],
      [
        envelopeKey(unindexed.notification.mail.messageId),
        Buffer.from('{"version":2,"receipts":[{}],"deliveries":"x"}'),
      ],
    ]);
    for (const [key, bytes] of damage) await services.store.write({ bucket: services.bucket, key }, bytes);

    // Delivered again meanwhile (a redrive, an import again): the failure names the sidecar, not only JSON's error.
    const again = await deliverThrough(createIngestHandler({ ...ingestDeps(), logger: quiet }))(
      indexed.notification,
    ).then(
      () => 'archived',
      (error: unknown) => (error as Error).message,
    );
    expect(again).toContain(
      `: EnvelopeFormatError: ${envelopeKey(indexed.notification.mail.messageId)} is not JSON (`,
    );
    const found = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
    });
    expect(found.ok).toBe(false);
    expect(found.unreadableEnvelopes.map((u) => [u.key, u.envelope]).sort()).toEqual(
      [indexed, unindexed]
        .map(({ notification }) => [
          notification.receipt.action.objectKey,
          envelopeKey(notification.mail.messageId),
        ])
        .sort(),
    );
    expect(
      Object.fromEntries(
        found.unreadableEnvelopes.map((u) => [u.envelope, u.reason.slice(u.envelope.length)]),
      ),
    ).toEqual({
      [envelopeKey(indexed.notification.mail.messageId)]: expect.stringMatching(/^ is not JSON \(.+\)$/),
      [envelopeKey(unindexed.notification.mail.messageId)]: expect.stringMatching(
        /^ is not an envelope sidecar \(receipts\.0\.notification: .+; deliveries: .+\)$/,
      ),
    });
    expect(found.notIndexed).toEqual([unannounced.notification.receipt.action.objectKey]);

    const rebuilt = await reindexArchive(['alice@example.com'], deps.forwards);
    expect(rebuilt).toMatchObject({ restored: 2, failed: [] });
    expect(rebuilt.repairedEnvelopes.map((r) => r.envelope).sort()).toEqual(
      [indexed, unindexed].map(({ notification }) => envelopeKey(notification.mail.messageId)).sort(),
    );
    for (const { envelope, keptAs } of rebuilt.repairedEnvelopes) {
      const chunks: Uint8Array[] = [];
      for await (const c of await services.store.read({ bucket: services.bucket, key: keptAs }))
        chunks.push(c);
      expect(Buffer.concat(chunks)).toEqual(damage.get(envelope));
    }
    // The rebuilt sidecar records both deliveries (bob from the row's envelope recipients), UIDs kept.
    const envelope = await readEnvelope(services.store, services.bucket, indexed.notification.mail.messageId);
    expect(new Map(envelope?.deliveries.map((d) => [d.mailbox, d.uid]))).toEqual(uids);
    expect(envelope?.receipts.flatMap((r) => r.notification.receipt.recipients).sort()).toEqual([
      'alice@example.com',
      'bob@example.com',
    ]);
    await expectNothingLost([
      {
        ...indexed,
        sesMessageId: indexed.notification.mail.messageId,
        mailboxes: ['alice@example.com', 'bob@example.com'],
      },
      { ...unindexed, sesMessageId: unindexed.notification.mail.messageId, mailboxes: ['alice@example.com'] },
      {
        ...unannounced,
        sesMessageId: unannounced.notification.mail.messageId,
        mailboxes: ['alice@example.com'],
      },
    ]);
    // The message whose ingest never got past its damaged sidecar was never forwarded: it is, once.
    for await (const row of services.index.allDeliveries())
      if (row.sesMessageId === unindexed.notification.mail.messageId)
        expect(copies.get(row.messageKey)).toBe(1);
  });

  it('rows a sidecar did not record come back from reindex in their imported folder, with their UID, flags and keywords', async () => {
    const raw = makeMessage({ subject: 'imported into a folder', to: 'alice@example.com' });
    const sha256 = (await import('node:crypto')).createHash('sha256').update(raw).digest('hex');
    const sesMessageId = importMessageId(sha256);
    await services.store.write({ bucket: services.bucket, key: rawMailKey(sesMessageId) }, raw);
    await archiveReceivedMail(
      buildReceivedNotification({
        messageId: sesMessageId,
        timestamp: new Date('2021-03-01T10:00:00Z'),
        source: '',
        recipients: ['alice@example.com'],
        bucket: services.bucket,
        objectKey: rawMailKey(sesMessageId),
        imported: {
          folder: 'Archive/2021',
          flags: ['\\Flagged', '\\Seen'],
          keywords: ['Work/Clients'],
          receivedAtSource: 'date',
        },
      }),
      ingestDeps(),
    );
    const before = await services.index.getDelivery('alice@example.com', messageKeyOf(sha256, sesMessageId));
    expect(before).toMatchObject({ folder: 'Archive/2021', keywords: ['Work/Clients'] });
    // Its sidecar lost what the import knew (damaged, or from before sidecars accumulated): the row is all there is.
    await services.store.write(
      { bucket: services.bucket, key: envelopeKey(sesMessageId) },
      Buffer.from('{"version":2,"recei'),
    );
    expect(await reindexArchive([])).toMatchObject({ restored: 0, recorded: 1, failed: [] });
    await deleteRows(sesMessageId);
    expect(await reindexArchive([])).toMatchObject({ restored: 1, failed: [] });
    const after = await services.index.getDelivery('alice@example.com', messageKeyOf(sha256, sesMessageId));
    expect(after).toMatchObject({
      folder: 'Archive/2021',
      uid: before?.uid,
      uidValidity: before?.uidValidity,
      flags: before?.flags,
      keywords: ['Work/Clients'],
      receivedAtSource: 'date',
      receivedAt: before?.receivedAt,
    });
    await expectNothingLost([{ sesMessageId, sha256, mailboxes: ['alice@example.com'] }]);
  });

  it('an export that meets a row whose raw object is gone names the object, small or streamed', async () => {
    const deps = ingestDeps();
    const small = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'raw object deleted', to: 'bob@example.com' }),
      { recipients: ['bob@example.com'] },
    );
    const large = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessageWithAttachment('big.bin', 1_500_000, {
        subject: 'large raw object deleted',
        to: 'bob@example.com',
      }),
      { recipients: ['bob@example.com'] },
    );
    for (const { notification } of [small, large]) await archiveReceivedMail(notification, deps);
    for (const { notification, stored } of [small, large]) {
      const key = notification.receipt.action.objectKey;
      await services.clients.s3.send(new DeleteObjectCommand({ Bucket: services.bucket, Key: key }));
      const failed = await exportMailbox(
        { index: services.index, store: services.store },
        { mailbox: 'bob@example.com', format: 'maildir' },
        createWriteStream(join(work, `bob-missing-${Date.now()}.tar.gz`)),
      ).then(
        () => 'exported',
        (error: unknown) => describeError(error),
      );
      expect(failed).toContain(
        `RawMessageUnreadableError: ${key}: the archived message cannot be read (NoSuchKey: `,
      );
      await services.store.write({ bucket: services.bucket, key }, stored);
    }
    await expectNothingLost(
      [small, large].map(({ notification, sha256 }) => ({
        sesMessageId: notification.mail.messageId,
        sha256,
        mailboxes: ['bob@example.com'],
      })),
    );
  });

  it('path 3: an unannounced message whose headers name no mailbox is filed under unrouted; a folder marker is not mail', async () => {
    // The S3 console's "Create folder" makes a 0-byte `incoming/`; a Bcc copy names no mailbox in its headers.
    await services.store.write({ bucket: services.bucket, key: 'incoming/' }, Buffer.alloc(0));
    const { notification, sha256 } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'bcc, never announced', to: 'someone@elsewhere.example' }),
      { recipients: ['bob@example.com'] },
    );
    const key = notification.receipt.action.objectKey;
    const found = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
    });
    expect(found.notIndexed).toEqual([key]);
    const rebuilt = await reindexArchive([]);
    expect(rebuilt).toMatchObject({ restored: 1, withoutEnvelope: 1, unrouted: [key], failed: [] });
    await expectNothingLost([{ sesMessageId: notification.mail.messageId, sha256, mailboxes: ['unrouted'] }]);
  });

  it('path 5: an export whose part cannot start, or whose part dies at 15 minutes, is failed with its cause at once', async () => {
    const messages = [];
    for (let i = 0; i < 4; i++) {
      const { notification, sha256 } = await receiveLikeSes(
        services.store,
        services.bucket,
        makeMessage({ subject: `export ${i}`, body: `${'x'.repeat(2000)}\n` }),
        { recipients: ['bob@example.com'] },
      );
      await archiveReceivedMail(notification, ingestDeps());
      messages.push({ sesMessageId: notification.mail.messageId, sha256, mailboxes: ['bob@example.com'] });
    }
    const handlerWith = (dispatch: Parameters<typeof createExportHandler>[0]['dispatch']) =>
      createExportHandler({
        index: services.index,
        store: services.store,
        bucket: services.bucket,
        logger: quiet,
        dispatch,
        maxRawBytesPerPart: 3000,
      });

    // The dispatch of the second part is refused (throttled, a permission gone).
    const refused = handlerWith(async () => {
      throw Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });
    });
    const first = '20260201T000000000Z-0000a1';
    await expect(refused({ mailbox: 'bob@example.com', exportId: first })).rejects.toThrow('Rate exceeded');
    const refusedRecord = await services.index.getExport('bob@example.com', first);
    expect(refusedRecord?.state).toBe('failed');
    expect(refusedRecord?.error).toMatch(
      /could not start part 2\/\d+: TooManyRequestsException: Rate exceeded/,
    );

    // The second part's invocation dies at Lambda's timeout: its on-failure destination (this function) hears of it.
    const lost = handlerWith(async () => undefined);
    const second = '20260201T000000000Z-0000a2';
    await lost({ mailbox: 'bob@example.com', exportId: second });
    expect((await services.index.getExport('bob@example.com', second))?.state).toBe('running');
    const outcome = await lost({
      version: '1.0',
      timestamp: '2026-02-01T00:15:00.000Z',
      requestContext: {
        requestId: 'r-1',
        functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:mail-archiver-export:$LATEST',
        condition: 'RetriesExhausted',
        approximateInvokeCount: 1,
      },
      requestPayload: { mailbox: 'bob@example.com', exportId: second, part: 1 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 900.00 seconds' },
    });
    expect(outcome.state).toBe('failed');
    expect((await services.index.getExport('bob@example.com', second))?.error).toMatch(
      /^part 2\/\d+ died \(RetriesExhausted\): Sandbox\.Timedout: Task timed out after 900\.00 seconds$/,
    );

    // A new export of the same mailbox goes through; nothing was lost.
    await expectNothingLost(messages);
  });

  it('path 3: a message no notification announced is found and indexed by the scheduled reconcile; SES setup object skipped', async () => {
    // SES writes this when the receipt rule is created; it is not mail, and a notification for it is ignored.
    await services.store.write(
      { bucket: services.bucket, key: SES_SETUP_NOTIFICATION_KEY },
      Buffer.from('Amazon SES setup notification'),
    );
    const setup = buildReceivedNotification({
      messageId: 'AMAZON_SES_SETUP_NOTIFICATION',
      timestamp: new Date(),
      source: '',
      recipients: ['alice@example.com'],
      bucket: services.bucket,
      objectKey: SES_SETUP_NOTIFICATION_KEY,
    });
    await deliverThrough(createIngestHandler({ ...ingestDeps(), logger: quiet }))(setup);

    // SES stored the message but could not publish (a disabled key): nothing else will ever index it.
    const { notification, sha256 } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ subject: 'never announced', to: 'alice@example.com' }),
      { recipients: ['alice@example.com'] },
    );
    const found = await reconcile({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
    });
    expect(found.notIndexed).toEqual([notification.receipt.action.objectKey]);

    const scheduled = createReconcileHandler({
      config,
      store: services.store,
      index: services.index,
      bucket: services.bucket,
      forwards: ingestDeps().forwards ?? { enqueue: async () => undefined },
      logger: quiet,
      metrics: {
        addMetric: (name: string, _unit: unknown, value: number) => void heartbeats.push([name, value]),
        publishStoredMetrics: () => undefined,
      } as never,
    });
    const heartbeats: [string, number][] = [];
    // Without a Lambda context the run goes to its end in one call.
    const run = (await scheduled()) as ReconcileRun;
    expect(run).toMatchObject({ ok: true, notIndexed: 0, reindexed: 1, reindexFailed: 0 });
    // A clean run is the heartbeat whose absence alarms (ReconcileHeartbeatAlarm).
    expect(heartbeats).toEqual([[SCHEDULED_RUN_SUCCEEDED_METRIC, 1]]);
    const kept = JSON.parse(
      (
        await (async () => {
          const chunks: Uint8Array[] = [];
          for await (const c of await services.store.read({
            bucket: services.bucket,
            key: RECONCILE_REPORT_KEY,
          }))
            chunks.push(c);
          return Buffer.concat(chunks);
        })()
      ).toString('utf8'),
    );
    expect(kept).toMatchObject({ ok: true, lastCleanAt: run.at });
    await expectNothingLost([
      { sesMessageId: notification.mail.messageId, sha256, mailboxes: ['alice@example.com'] },
    ]);
    const rows = [];
    for await (const row of services.index.allDeliveries()) rows.push(row);
    expect(rows.filter((r) => r.location.key === SES_SETUP_NOTIFICATION_KEY)).toEqual([]);
    expect(
      rows.filter((r) => r.sesMessageId === notification.mail.messageId).map((r) => copies.get(r.messageKey)),
    ).toEqual([1]);
  });
});
