// One message per content in a mailbox, whatever its line endings (issue 13, "The same message twice"): a message
// SES received (CRLF) and a copy of it imported later (LF from a maildir, bare CR from a classic Mac mbox) are one
// message, and so are an imported message and the same mail arriving through SES afterwards. Against DynamoDB
// Local and s3rver, delivered through the ingest Lambda handler as SES's notification would be.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverThrough } from '../../cli/local/archive';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { readEnvelope } from '../../shared/archive/envelope';
import { reconcile, reindex } from '../../shared/archive/reconcile';
import type { ForwardRequest } from '../../shared/forwarding/ledger';
import { type ImportTarget, importMessages } from '../../shared/history/import';
import { envelopeKey, importMessageId, itemKeys, rawMailKey } from '../../shared/index/schema';
import { CONTENT_RULE, contentSha256 } from '../../shared/mail/content-identity';
import type { SesReceivedNotification } from '../../shared/receiving/ses-notification';
import { exampleConfig } from '../support/config';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

// Neither mailbox forwards, so `reconcile` has nothing to report about forwarding: its `ok` is about the index.
const config = exampleConfig({
  mailboxes: { 'alice@example.com': { forwardTo: [] }, 'bob@example.com': { forwardTo: [] } },
});
let services: TestServices;
let ingest: (notification: SesReceivedNotification) => Promise<void>;
let target: ImportTarget;
let dir: string;

beforeAll(async () => {
  services = await startTestServices();
  ingest = deliverThrough(
    createIngestHandler({
      config,
      store: services.store,
      index: services.index,
      logger: { info: () => undefined, warn: () => undefined },
    }),
  );
  target = { store: services.store, bucket: services.bucket, index: services.index, deliver: ingest };
});
afterAll(async () => services?.stop());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'same-content-'));
  return () => rmSync(dir, { recursive: true, force: true });
});

let serial = 0;
/** A CRLF message (as SES stores mail) with a unique subject. */
function crlfMessage(to: string): { subject: string; raw: Buffer } {
  serial += 1;
  const subject = `same content ${serial} ${Date.now()}`;
  const text = [
    'From: Ann <ann@sender.example.org>',
    `To: ${to}`,
    `Subject: ${subject}`,
    `Message-ID: <same.${serial}.${Date.now()}@sender.example.org>`,
    'Date: Mon, 3 Mar 2025 10:00:00 +0000',
    '',
    'Hello,',
    '',
    'the same words, whatever the line ends.',
    '',
  ].join('\r\n');
  return { subject, raw: Buffer.from(text) };
}

const asLf = (raw: Buffer) => Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
const asCr = (raw: Buffer) => Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\r'), 'latin1');

async function listed(mailbox: string, subject: string) {
  const rows = [];
  for await (const row of services.index.listDeliveries(mailbox)) if (row.subject === subject) rows.push(row);
  return rows;
}

function file(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

const reconcileDeps = () => ({
  config,
  store: services.store,
  index: services.index,
  bucket: services.bucket,
});

async function expectCleanAndStable(): Promise<void> {
  const report = await reconcile(reconcileDeps());
  expect(report).toMatchObject({ notIndexed: [], unrecorded: [], rawMissing: [], ok: true });
  const rebuilt = await reindex(reconcileDeps(), async () => []);
  expect(rebuilt).toMatchObject({ restored: 0, failed: [] });
  expect((await reconcile(reconcileDeps())).indexRows).toBe(report.indexRows);
}

describe('the same message twice, whatever its line endings', () => {
  it('received through SES (CRLF), then imported as an LF copy and a bare-CR copy: one message', async () => {
    const { subject, raw } = crlfMessage('bob@example.com');
    const { notification, stored } = await receiveLikeSes(services.store, services.bucket, raw, {
      recipients: ['bob@example.com'],
    });
    await ingest(notification);

    for (const [name, copy] of [
      ['lf.eml', asLf(stored)],
      ['cr.eml', asCr(stored)],
    ] as const) {
      const report = await importMessages(config, target, [file(name, copy)]);
      expect(report, name).toMatchObject({
        archived: 0,
        duplicates: 1,
        failed: [],
        mailboxes: { 'bob@example.com': { archived: 0, duplicates: 1, failed: 0 } },
      });
      // Nothing stored for the copy: no second raw object for reconcile to find.
      const copyKey = rawMailKey(importMessageId(contentSha256(copy)));
      expect(await services.store.exists({ bucket: services.bucket, key: copyKey }), name).toBe(false);
    }
    const rows = await listed('bob@example.com', subject);
    expect(rows.map((r) => r.sesMessageId)).toEqual([notification.mail.messageId]);
    expect(rows[0]?.contentSha256).toBe(contentSha256(stored));
    await expectCleanAndStable();
    expect(await listed('bob@example.com', subject)).toHaveLength(1);
  });

  // Reindex walks raw objects in key order, and SES message ids are random: both orders are run. Whichever comes
  // first is restored; the SES copy walked second is already the duplicate its sidecar records, so it needs nothing.
  it.each([
    { order: 'the SES copy walked first', sesKeyStart: '0', restored: 2 },
    { order: 'the imported copy walked first', sesKeyStart: 'z', restored: 1 },
  ])(
    'imported first (LF), then received through SES (CRLF): one message, the imported bytes kept ($order)',
    async ({ sesKeyStart, restored }) => {
      const { subject, raw } = crlfMessage('bob@example.com');
      const report = await importMessages(config, target, [file('first.eml', asLf(raw))]);
      expect(report).toMatchObject({ archived: 1, duplicates: 0, failed: [] });
      const [imported] = await listed('bob@example.com', subject);
      expect(imported?.lineEndings).toMatchObject({ crlf: 0 });

      // The same bytes arriving by SMTP (SES adds no trace header here, so only the line endings differ).
      const { notification } = await receiveLikeSes(services.store, services.bucket, raw, {
        recipients: ['bob@example.com'],
        trace: false,
        messageId: `${sesKeyStart}${randomBytes(12).toString('hex')}`,
      });
      await ingest(notification);
      const rows = await listed('bob@example.com', subject);
      expect(rows.map((r) => r.messageKey)).toEqual([imported?.messageKey]);
      // The SES object stays (it is the raw store's truth); its sidecar says which message holds its content.
      const envelope = await readEnvelope(services.store, services.bucket, notification.mail.messageId);
      expect(envelope?.deliveries).toEqual([
        {
          mailbox: 'bob@example.com',
          folder: 'INBOX',
          uid: imported?.uid,
          uidValidity: imported?.uidValidity,
          status: 'duplicate',
          sameAs: imported?.messageKey,
        },
      ]);
      // Delivered again (SQS delivers at least once): still one.
      await ingest(notification);
      expect(await listed('bob@example.com', subject)).toHaveLength(1);
      await expectCleanAndStable();
      expect(await listed('bob@example.com', subject)).toHaveLength(1);

      // The index loses the row and the marker (an older backup restored): reindex brings the imported message back
      // with its UID, and the SES copy stays its duplicate (its sidecar says so), whichever of the two comes first.
      const doc = DynamoDBDocumentClient.from(services.clients.dynamodb);
      for (const Key of [
        itemKeys.delivery('bob@example.com', imported?.messageKey as string),
        itemKeys.content('bob@example.com', contentSha256(raw)),
      ])
        await doc.send(new DeleteCommand({ TableName: services.tableName, Key }));
      expect(await listed('bob@example.com', subject)).toHaveLength(0);
      expect((await reconcile(reconcileDeps())).notIndexed).toEqual(
        expect.arrayContaining([imported?.location.key, notification.receipt.action.objectKey]),
      );
      expect(await reindex(reconcileDeps(), async () => [])).toMatchObject({ restored, failed: [] });
      const back = await listed('bob@example.com', subject);
      expect(back.map((r) => [r.messageKey, r.uid])).toEqual([[imported?.messageKey, imported?.uid]]);
      await expectCleanAndStable();
    },
  );

  it('mail a forwarding mailbox already had (imported) arriving through SES is not forwarded again', async () => {
    const forwarding = exampleConfig();
    const requests: ForwardRequest[] = [];
    const forwardingIngest = deliverThrough(
      createIngestHandler({
        config: forwarding,
        store: services.store,
        index: services.index,
        forwards: { enqueue: async (batch) => void requests.push(...batch) },
        logger: { info: () => undefined, warn: () => undefined },
      }),
    );
    const { subject, raw } = crlfMessage('alice@example.com, bob@example.com');
    const report = await importMessages(forwarding, { ...target, deliver: forwardingIngest }, [
      file('had.eml', asLf(raw)),
    ]);
    expect(report).toMatchObject({ archived: 1, failed: [] });
    const [had] = await listed('alice@example.com', subject);
    const { notification } = await receiveLikeSes(services.store, services.bucket, raw, {
      recipients: ['alice@example.com'],
      trace: false,
    });
    await forwardingIngest(notification);
    expect(requests).toEqual([]);
    expect((await listed('alice@example.com', subject)).map((r) => r.messageKey)).toEqual([had?.messageKey]);
    // The same SES delivery of new content is forwarded: the filter is about the content, not the path.
    const fresh = crlfMessage('alice@example.com');
    const received = await receiveLikeSes(services.store, services.bucket, fresh.raw, {
      recipients: ['alice@example.com'],
      trace: false,
    });
    await forwardingIngest(received.notification);
    expect(requests.map((r) => r.mailbox)).toEqual(['alice@example.com']);
  });

  it('a copy that differs by one byte beyond its line endings is another message', async () => {
    const { subject, raw } = crlfMessage('bob@example.com');
    const { notification, stored } = await receiveLikeSes(services.store, services.bucket, raw, {
      recipients: ['bob@example.com'],
    });
    await ingest(notification);
    const other = asLf(stored);
    other[other.length - 2] = '?'.charCodeAt(0); // the body's last '.'
    const report = await importMessages(config, target, [file('other.eml', other)]);
    expect(report).toMatchObject({ archived: 1, duplicates: 0, failed: [] });
    expect(await listed('bob@example.com', subject)).toHaveLength(2);
    await expectCleanAndStable();
  });

  it('two mailboxes, only one of which has the message: delivered to the other only', async () => {
    const { subject, raw } = crlfMessage('alice@example.com, bob@example.com');
    const { notification, stored } = await receiveLikeSes(services.store, services.bucket, raw, {
      recipients: ['bob@example.com'],
    });
    await ingest(notification);
    const report = await importMessages(config, target, [file('both.eml', asLf(stored))]);
    expect(report).toMatchObject({
      archived: 1,
      duplicates: 0,
      failed: [],
      mailboxes: {
        'alice@example.com': { archived: 1, duplicates: 0, failed: 0 },
        'bob@example.com': { archived: 0, duplicates: 1, failed: 0 },
      },
    });
    expect((await listed('bob@example.com', subject)).map((r) => r.sesMessageId)).toEqual([
      notification.mail.messageId,
    ]);
    const alice = await listed('alice@example.com', subject);
    expect(alice.map((r) => r.sesMessageId)).toEqual([importMessageId(contentSha256(stored))]);
    expect(alice[0]?.lineEndings).toMatchObject({ crlf: 0 });
    await expectCleanAndStable();
    // Imported again: already present in both.
    const again = await importMessages(config, target, [file('both.eml', asLf(stored))]);
    expect(again).toMatchObject({ archived: 0, duplicates: 1, failed: [] });
    expect(await listed('alice@example.com', subject)).toHaveLength(1);
    expect(await listed('bob@example.com', subject)).toHaveLength(1);
  });

  it('a message indexed before content markers gets its marker from reindex, then an LF copy is present', async () => {
    const { subject, raw } = crlfMessage('bob@example.com');
    const { notification, stored } = await receiveLikeSes(services.store, services.bucket, raw, {
      recipients: ['bob@example.com'],
    });
    await ingest(notification);
    // As an archive from before markers has it: no marker, no content identity in the sidecar.
    await DynamoDBDocumentClient.from(services.clients.dynamodb).send(
      new DeleteCommand({
        TableName: services.tableName,
        Key: itemKeys.content('bob@example.com', contentSha256(stored)),
      }),
    );
    const sesId = notification.mail.messageId;
    const envelope = await readEnvelope(services.store, services.bucket, sesId);
    delete envelope?.contentSha256;
    await services.store.write(
      { bucket: services.bucket, key: envelopeKey(sesId) },
      Buffer.from(JSON.stringify(envelope)),
    );
    expect(await services.index.contentHolder('bob@example.com', contentSha256(stored))).toBeUndefined();

    const rebuilt = await reindex(reconcileDeps(), async () => []);
    expect(rebuilt).toMatchObject({ restored: 0, contentMarked: 1, failed: [] });
    expect((await reindex(reconcileDeps(), async () => [])).contentMarked).toBe(0);

    const report = await importMessages(config, target, [file('late.eml', asLf(stored))]);
    expect(report).toMatchObject({ archived: 0, duplicates: 1, failed: [] });
    expect(await listed('bob@example.com', subject)).toHaveLength(1);
    await expectCleanAndStable();
  });

  it('an identity made by an older content rule is made again by reindex; then an mbsync copy is present', async () => {
    const { subject, raw } = crlfMessage('bob@example.com');
    const { notification, stored } = await receiveLikeSes(services.store, services.bucket, raw, {
      recipients: ['bob@example.com'],
    });
    await ingest(notification);
    // As an archive indexed by content rule 1 has it: the marker under the old identity, the sidecar without a rule.
    await DynamoDBDocumentClient.from(services.clients.dynamodb).send(
      new DeleteCommand({
        TableName: services.tableName,
        Key: itemKeys.content('bob@example.com', contentSha256(stored)),
      }),
    );
    const sesId = notification.mail.messageId;
    const envelope = await readEnvelope(services.store, services.bucket, sesId);
    if (envelope) {
      envelope.contentSha256 = 'f'.repeat(64);
      delete envelope.contentRule;
    }
    await services.store.write(
      { bucket: services.bucket, key: envelopeKey(sesId) },
      Buffer.from(JSON.stringify(envelope)),
    );
    expect((await reindex(reconcileDeps(), async () => [])).contentMarked).toBe(1);
    expect((await readEnvelope(services.store, services.bucket, sesId))?.contentRule).toBe(CONTENT_RULE);
    expect((await reindex(reconcileDeps(), async () => [])).contentMarked).toBe(0);

    // mbsync's copy: LF, with the X-TUID it writes into every message it stores.
    const mbsync = asLf(stored).toString('latin1').replace('\n\n', '\nX-TUID: d7lM0qfSzGRi\n\n');
    const report = await importMessages(config, target, [file('mbsync.eml', Buffer.from(mbsync, 'latin1'))]);
    expect(report).toMatchObject({ archived: 0, duplicates: 1, failed: [] });
    expect(await listed('bob@example.com', subject)).toHaveLength(1);
    await expectCleanAndStable();
  });
});
