// Failure paths (issue 11), one case per path, against DynamoDB Local and s3rver. Each case injects its fault,
// lets the archiver recover (retries, the minimal row, redrive, reindex), and ends the same way: every message
// archived exactly once per mailbox, forwarded at most once, in its mailbox's export, and `reconcile` clean.
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportMailbox } from '../../shared/bundle/export';
import { verifyBundle } from '../../shared/bundle/verify';
import { forwardMessage } from '../../shared/forwarding/forward';
import { archiveReceivedMail, type IngestDeps } from '../../shared/ingest';
import type { MailSender } from '../../shared/ports';
import { reconcile } from '../../shared/reconcile';
import { defaultRowBudget, utf8Bytes } from '../../shared/row-budget';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
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
});
