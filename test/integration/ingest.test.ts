// The ingest path with the real AWS SDK against DynamoDB Local and s3rver.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveReceivedMail, type IngestDeps } from '../../shared/archive/ingest';
import { UNROUTED_MAILBOX } from '../../shared/receiving/routing';
import { exampleConfig } from '../support/config';
import { makeMessage, makeMessageWithAttachment } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

let services: TestServices;
let deps: IngestDeps;

beforeAll(async () => {
  services = await startTestServices();
  deps = { config: exampleConfig(), store: services.store, index: services.index };
});
afterAll(async () => services?.stop());

async function collect<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

async function streamSha256(iterable: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of iterable) hash.update(chunk);
  return hash.digest('hex');
}

describe('ingest against DynamoDB Local and s3rver', () => {
  it('indexes one row per envelope mailbox, including a Bcc recipient, with the headers decoded', async () => {
    const message = makeMessage({
      from: '=?utf-8?Q?Ann_S=C3=A9nder?= <ann@sender.example.org>',
      to: 'alice@example.com',
      subject: '=?utf-8?B?UmU6IGNhZsOp?=',
      messageId: '<bcc-test@sender.example.org>',
    });
    // bob is a Bcc recipient: only the envelope names him.
    const { notification, sha256 } = await receiveLikeSes(services.store, services.bucket, message, {
      recipients: ['alice@example.com', 'bob@example.com'],
    });
    const outcome = await archiveReceivedMail(notification, deps);
    expect(outcome.sha256).toBe(sha256);
    expect(outcome.deliveries.map((d) => [d.mailbox, d.folder, d.status]).sort()).toEqual([
      ['alice@example.com', 'INBOX', 'archived'],
      ['bob@example.com', 'INBOX', 'archived'],
    ]);
    const row = await services.index.getDelivery('bob@example.com', outcome.messageKey);
    expect(row).toMatchObject({
      folder: 'INBOX',
      subject: 'Re: café',
      from: ['Ann Sénder <ann@sender.example.org>'],
      fromAddress: 'ann@sender.example.org',
      to: ['alice@example.com'],
      messageId: '<bcc-test@sender.example.org>',
      sha256,
      sesMessageId: notification.mail.messageId,
      location: { bucket: services.bucket, key: `incoming/${notification.mail.messageId}` },
      verdicts: { spam: 'PASS', virus: 'PASS' },
      envelopeRecipients: ['bob@example.com'],
      date: '2026-09-01T10:00:00.000Z',
    });
    expect(row?.uid).toBeGreaterThan(0);
    expect(row?.uidValidity).toBeGreaterThan(0);
  });

  it('stores the exact bytes: the sha256 of the object read back equals the original', async () => {
    const message = makeMessageWithAttachment('report.pdf', 600_000);
    const { notification, stored } = await receiveLikeSes(services.store, services.bucket, message, {
      recipients: ['alice@example.com'],
    });
    const readBack = await streamSha256(
      await services.store.read({ bucket: services.bucket, key: notification.receipt.action.objectKey }),
    );
    expect(readBack).toBe(createHash('sha256').update(stored).digest('hex'));
    const outcome = await archiveReceivedMail(notification, deps);
    const row = await services.index.getDelivery('alice@example.com', outcome.messageKey);
    expect(row?.size).toBe(stored.length);
    expect(row?.attachments).toEqual([
      { filename: 'report.pdf', contentType: 'application/octet-stream', size: 600_000 },
    ]);
  });

  it('routes plus-addressing, journal copies to Sent (seen) and FAIL verdicts to Junk', async () => {
    const plus = await receiveLikeSes(services.store, services.bucket, makeMessage(), {
      recipients: ['Alice+News@Example.com'],
    });
    const journal = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ from: 'Alice <alice@example.com>', to: 'friend@elsewhere.example.net' }),
      { recipients: ['sent@journal.example.com'] },
    );
    const spam = await receiveLikeSes(services.store, services.bucket, makeMessage(), {
      recipients: ['bob@example.com'],
      verdicts: { spam: 'FAIL' },
    });
    const [p, j, s] = await Promise.all(
      [plus, journal, spam].map((m) => archiveReceivedMail(m.notification, deps)),
    );
    expect(p?.deliveries).toMatchObject([{ mailbox: 'alice@example.com', folder: 'INBOX' }]);
    expect(j?.deliveries).toMatchObject([{ mailbox: 'alice@example.com', folder: 'Sent' }]);
    expect(s?.deliveries).toMatchObject([{ mailbox: 'bob@example.com', folder: 'Junk' }]);
    const sentRow = await services.index.getDelivery('alice@example.com', j?.messageKey ?? '');
    expect(sentRow?.flags).toEqual(['\\Seen']);
  });

  it('is idempotent: the same notification three times in a row leaves the rows of one processing', async () => {
    const { notification } = await receiveLikeSes(services.store, services.bucket, makeMessage(), {
      recipients: ['alice@example.com', 'bob@example.com'],
    });
    const first = await archiveReceivedMail(notification, deps);
    const second = await archiveReceivedMail(notification, deps);
    const third = await archiveReceivedMail(notification, deps);
    expect(second.deliveries.every((d) => d.status === 'duplicate')).toBe(true);
    expect(third.deliveries.map((d) => d.uid)).toEqual(first.deliveries.map((d) => d.uid));
    const rows = (await collect(services.index.listDeliveries('alice@example.com'))).filter(
      (r) => r.messageKey === first.messageKey,
    );
    expect(rows).toHaveLength(1);
  });

  it('is idempotent under concurrency: five workers on one message give one row per mailbox', async () => {
    const { notification } = await receiveLikeSes(services.store, services.bucket, makeMessage(), {
      recipients: ['bob@example.com'],
    });
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () => archiveReceivedMail(notification, deps)),
    );
    const archived = outcomes.flatMap((o) => o.deliveries).filter((d) => d.status === 'archived');
    expect(archived).toHaveLength(1);
    // Every worker reports the UID that was kept, even those that lost the race.
    expect(new Set(outcomes.map((o) => o.deliveries[0]?.uid)).size).toBe(1);
    const rows = (await collect(services.index.listDeliveries('bob@example.com'))).filter(
      (r) => r.messageKey === outcomes[0]?.messageKey,
    );
    expect(rows).toHaveLength(1);
  });

  it('allocates UIDs per folder in arrival order, strictly increasing, under one UIDVALIDITY', async () => {
    const uids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const { notification } = await receiveLikeSes(
        services.store,
        services.bucket,
        makeMessage({ subject: `n${i}` }),
        {
          recipients: ['bob@example.com'],
        },
      );
      const outcome = await archiveReceivedMail(notification, deps);
      uids.push(outcome.deliveries[0]?.uid ?? 0);
    }
    expect(uids).toEqual([...uids].sort((a, b) => a - b));
    expect(new Set(uids).size).toBe(4);
    const rows = await collect(services.index.folderDeliveries('bob@example.com', 'INBOX'));
    const folderUids = rows.map((r) => r.uid);
    expect(folderUids).toEqual([...folderUids].sort((a, b) => a - b));
    expect(new Set(rows.map((r) => r.uidValidity)).size).toBe(1);
    const folders = await services.index.folders('bob@example.com');
    const inbox = folders.find((f) => f.folder === 'INBOX');
    expect(inbox?.lastUid).toBeGreaterThanOrEqual(Math.max(...folderUids));
  });

  it('keeps two different messages that share a Message-ID', async () => {
    const a = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ messageId: '<same@x>', body: 'one\n' }),
      { recipients: ['alice@example.com'] },
    );
    const b = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ messageId: '<same@x>', body: 'two\n' }),
      { recipients: ['alice@example.com'] },
    );
    const [oa, ob] = [
      await archiveReceivedMail(a.notification, deps),
      await archiveReceivedMail(b.notification, deps),
    ];
    expect(oa.messageKey).not.toBe(ob.messageKey);
    expect(oa.deliveries[0]?.status).toBe('archived');
    expect(ob.deliveries[0]?.status).toBe('archived');
  });

  it('indexes a message the parser gives up on, records why, and loses no byte', async () => {
    // 1,500 sibling parts: beyond the MIME part limit.
    const parts = Array.from({ length: 1500 }, (_, i) => `--b\nContent-Type: text/plain\n\npart ${i}\n`).join(
      '',
    );
    const message = makeMessage({
      subject: 'many parts',
      extraHeaders: ['Content-Type: multipart/mixed; boundary="b"'],
      body: `${parts}--b--\n`,
    });
    const { notification, sha256, stored } = await receiveLikeSes(services.store, services.bucket, message, {
      recipients: ['alice@example.com'],
    });
    const outcome = await archiveReceivedMail(notification, deps);
    expect(outcome.sha256).toBe(sha256);
    const row = await services.index.getDelivery('alice@example.com', outcome.messageKey);
    expect(row?.subject).toBe('many parts');
    expect(row?.parseError).toMatch(/^more than 1000 MIME parts/);
    expect(row?.size).toBe(stored.length);
  });

  it('reads the headers of bare-CR, LF and CRLF messages alike', async () => {
    for (const eol of ['\r', '\n', '\r\n'] as const) {
      const { notification } = await receiveLikeSes(
        services.store,
        services.bucket,
        makeMessage({
          eol,
          subject: `eol ${JSON.stringify(eol)}`,
          messageId: `<eol-${eol.length}-${eol.charCodeAt(0)}@x>`,
        }),
        { recipients: ['alice@example.com'] },
      );
      const outcome = await archiveReceivedMail(notification, deps);
      const row = await services.index.getDelivery('alice@example.com', outcome.messageKey);
      expect(row?.subject).toBe(`eol ${JSON.stringify(eol)}`);
      expect(row?.fromAddress).toBe('ann@sender.example.org');
      expect(row?.parseError).toBeUndefined();
    }
  });

  it('keeps a journal copy from a sender who is not a mailbox, unrouted rather than dropped', async () => {
    const { notification } = await receiveLikeSes(
      services.store,
      services.bucket,
      makeMessage({ from: 'carol@example.com' }),
      { recipients: ['sent@journal.example.com'] },
    );
    const outcome = await archiveReceivedMail(notification, deps);
    expect(outcome.deliveries).toMatchObject([{ mailbox: UNROUTED_MAILBOX, status: 'archived' }]);
    expect(outcome.rejected[0]?.reason).toMatch(/not a mailbox/);
  });
});
