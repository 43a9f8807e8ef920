// A simulated archive of n messages for the reconcile benchmark: the raw store (listing, envelope sidecars, the
// delivery log) and the index (rows, ledger) computed from each message's number when asked, never held, so the
// process's memory is what reconcile itself keeps. Every third message is delivered to a second mailbox; the
// first mailbox forwards to one target and the ledger records every forward as sent; the log holds every row,
// 1,000 records an object (as import and reindex write it). Rows carry realistic header fields (about 1 KB each).
import { createHash } from 'node:crypto';
import type { ArchiverConfig } from '../../shared/config';
import { deliveryRecordOf, logObjectBody } from '../../shared/delivery-log/record';
import type { ForwardEntry } from '../../shared/forwarding/ledger';
import {
  type DeliveryRow,
  deliveryItem,
  envelopeKey,
  messageKeyOf,
  RAW_MAIL_PREFIX,
  rawMailKey,
  rowFromItem,
} from '../../shared/index/schema';
import { CONTENT_RULE } from '../../shared/mail/content-identity';
import type { ForwardLedger, MailIndex, RawMailStore } from '../../shared/ports';
import { exampleConfig } from '../../test/support/config';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const TARGET = 'alice@gmail.example';
const BUCKET = 'bench';
const LOG_BATCH = 1000;

/** The archiver's config of the simulated archive. */
export const syntheticConfig = (): ArchiverConfig =>
  exampleConfig({ mailboxes: { [ALICE]: { forwardTo: [TARGET] }, [BOB]: { forwardTo: [] } } });

const id = (i: number) => `synthetic${String(i).padStart(9, '0')}`;
const sha = (i: number) => createHash('sha256').update(`message ${i}`).digest('hex');
const mailboxesOf = (i: number) => (i % 3 === 0 ? [ALICE, BOB] : [ALICE]);
const uidOf = (i: number, mailbox: string) => (mailbox === ALICE ? i + 1 : Math.floor(i / 3) + 1);

function row(i: number, mailbox: string): DeliveryRow {
  const at = new Date(Date.UTC(2010, 0, 1) + i * 3_600_000).toISOString();
  return {
    mailbox,
    folder: 'INBOX',
    uid: uidOf(i, mailbox),
    uidValidity: 1_262_304_000,
    flags: [],
    messageKey: messageKeyOf(sha(i), id(i)),
    sha256: sha(i),
    sesMessageId: id(i),
    location: { bucket: BUCKET, key: rawMailKey(id(i)) },
    size: 4000 + (i % 5000),
    lineEndings: { crlf: 80, lf: 0, cr: 0, nul: false },
    receivedAt: at,
    date: at,
    from: [`"Sender ${i % 997}" <sender${i % 997}@lists.example.org>`],
    fromAddress: `sender${i % 997}@lists.example.org`,
    to: [mailbox],
    cc: [`list-${i % 13}@lists.example.org`],
    subject: `Re: [list-${i % 13}] a subject line of ordinary length, message number ${i}`,
    messageId: `<${sha(i).slice(0, 24)}@mail.example.org>`,
    references: [
      `<${sha(i + 1).slice(0, 24)}@mail.example.org>`,
      `<${sha(i + 2).slice(0, 24)}@mail.example.org>`,
    ],
    attachments:
      i % 4 === 0 ? [{ filename: `report-${i}.pdf`, contentType: 'application/pdf', size: 52_000 }] : [],
    verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
    envelopeRecipients: [mailbox],
    archivedAt: at,
    schemaVersion: 1,
  } as DeliveryRow;
}

function sidecar(i: number): Buffer {
  const messageKey = messageKeyOf(sha(i), id(i));
  return Buffer.from(
    JSON.stringify({
      version: 2,
      sesMessageId: id(i),
      messageKey,
      sha256: sha(i),
      // Indexed under the current content rule: reindex has nothing to mark.
      contentSha256: sha(i),
      contentRule: CONTENT_RULE,
      receipts: [
        {
          notification: {
            mail: { messageId: id(i), timestamp: '2010-01-01T00:00:00.000Z' },
            receipt: {
              recipients: mailboxesOf(i),
              action: { bucketName: BUCKET, objectKey: rawMailKey(id(i)) },
            },
          },
          indexedAt: '2010-01-01T00:00:01.000Z',
        },
      ],
      deliveries: mailboxesOf(i).map((mailbox) => ({
        mailbox,
        folder: 'INBOX',
        uid: uidOf(i, mailbox),
        uidValidity: 1_262_304_000,
      })),
    }),
  );
}

const body = (bytes: Buffer) =>
  (async function* () {
    yield bytes;
  })();

const logKey = (n: number) =>
  `delivery-log/2010-01-01/000000.000Z-import-${String(n).padStart(9, '0')}.jsonl`;

/** The simulated archive of `count` messages: a RawMailStore and a MailIndex & ForwardLedger over it. */
export function syntheticArchive(count: number): {
  store: RawMailStore;
  index: MailIndex & ForwardLedger;
  bucket: string;
} {
  // Each mailbox's messages in message-key order (sha256 first): a permutation sorted by the key's first 52 bits
  // (12 bytes a message while built, 4 kept; a tie among 200,000 has odds of about 1 in 200,000).
  const byKey = (mailbox: string) => {
    const numbers = Uint32Array.from({ length: count }, (_, i) => i).filter((i) =>
      mailboxesOf(i).includes(mailbox),
    );
    const prefix = new Float64Array(count);
    for (const i of numbers) prefix[i] = Number.parseInt(sha(i).slice(0, 13), 16);
    return numbers.sort((a, b) => (prefix[a] as number) - (prefix[b] as number));
  };
  const order = new Map([
    [ALICE, byKey(ALICE)],
    [BOB, byKey(BOB)],
  ]);
  const rowsInLog = count + Math.ceil(count / 3);
  const logObjects = Math.ceil(rowsInLog / LOG_BATCH);
  // The log: every alice row in message order, then every bob row.
  const logBody = (n: number) => {
    const records = [];
    for (let k = n * LOG_BATCH; k < Math.min((n + 1) * LOG_BATCH, rowsInLog); k++)
      records.push(deliveryRecordOf(k < count ? row(k, ALICE) : row(3 * (k - count), BOB)));
    return logObjectBody(records);
  };
  const numberOf = (key: string, prefix: string) => Number(key.slice(prefix.length).replace(/\D/g, ''));
  const entry = (i: number): ForwardEntry =>
    ({
      mailbox: ALICE,
      messageKey: messageKeyOf(sha(i), id(i)),
      target: TARGET,
      state: 'sent',
      sesMessageId: `copy-${i}`,
      attempts: 1,
      updatedAt: '2010-01-01T00:00:02.000Z',
    }) as unknown as ForwardEntry;
  const unsupported = () => {
    throw new Error('not simulated');
  };

  const store: RawMailStore = {
    async read(location) {
      if (location.key.startsWith('envelopes/')) return body(sidecar(numberOf(location.key, 'envelopes/')));
      if (location.key.startsWith('delivery-log/'))
        return body(logBody(numberOf(location.key.slice(-19), '')));
      throw new Error(`not simulated: ${location.key}`);
    },
    async exists(location) {
      return (
        location.key.startsWith('envelopes/') &&
        location.key === envelopeKey(id(numberOf(location.key, 'envelopes/')))
      );
    },
    write: unsupported,
    upload: unsupported,
    async *list(_bucket, prefix, startAfter) {
      if (prefix === RAW_MAIL_PREFIX) {
        for (let i = 0; i < count; i++) {
          const key = rawMailKey(id(i));
          if (startAfter === undefined || key > startAfter) yield { key, size: 4000 };
        }
      } else if (prefix === 'delivery-log/') {
        for (let n = 0; n < logObjects; n++) {
          const key = logKey(n);
          if (startAfter === undefined || key > startAfter) yield { key, size: 1 };
        }
      }
    },
  };
  const index = {
    async mailboxes() {
      return [ALICE, BOB];
    },
    async getDelivery(mailbox: string, messageKey: string) {
      const i = Number(messageKey.replace(/^.*synthetic/, ''));
      return mailboxesOf(i).includes(mailbox) ? row(i, mailbox) : undefined;
    },
    async *allDeliveries() {
      // As the DynamoDB adapter gives them: each item read back through rowFromItem.
      for (let i = 0; i < count; i++)
        for (const m of mailboxesOf(i)) yield rowFromItem(deliveryItem(row(i, m)));
    },
    async *rawObjectRows(mailbox: string, after?: string) {
      for (let i = 0; i < count; i++) {
        if (!mailboxesOf(i).includes(mailbox) || (after !== undefined && id(i) <= after)) continue;
        yield { mailbox, messageKey: messageKeyOf(sha(i), id(i)), sesMessageId: id(i) };
      }
    },
    async *mailboxRows(mailbox: string, after?: string) {
      for (const i of order.get(mailbox) ?? []) {
        const r = row(i, mailbox);
        if (after === undefined || r.messageKey > after) yield rowFromItem(deliveryItem(r));
      }
    },
    async *listForwards(mailbox: string, _state?: unknown, after?: string) {
      if (mailbox !== ALICE) return;
      for (const i of order.get(ALICE) ?? []) {
        const e = entry(i);
        if (after === undefined || e.messageKey > after) yield e;
      }
    },
  } as unknown as MailIndex & ForwardLedger;
  return { store, index, bucket: BUCKET };
}
