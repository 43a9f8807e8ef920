// A message's envelope as the delivery log records it: "the message's envelope" is its sidecar
// (envelopes/<id>.json) when it has one, else what the log's v2 records with a receipt say of it
// (shared/delivery-log/record.ts). Ingest writes no sidecar on its ordinary path (a new message, received once,
// every delivery a new row): the records it logs carry the receipt instead. This file is the one place that turns
// such records back into an EnvelopeRecord, and that finds them again in the log (reindex).
import { createHash } from 'node:crypto';
import { parseLogObjectKey } from '../delivery-log/layout';
import type { DeliveryLog } from '../delivery-log/log';
import { type DeliveryRecord, type RecordReceipt, recordableReceipt } from '../delivery-log/record';
import { isImportedMessage, RAW_MAIL_PREFIX, rawMailKey } from '../index/schema';
import { CONTENT_RULE } from '../mail/content-identity';
import { type Delivery, normaliseAddress, type Verdicts } from '../receiving/routing';
import {
  buildReceivedNotification,
  importedStateSchema,
  type SesReceivedNotification,
} from '../receiving/ses-notification';
import { type EnvelopeRecord, receiptIdentity } from './envelope';

/**
 * The receipt a record of `delivery` carries (delivery-log/record.ts v2): only the recipients that reached the
 * delivery's mailbox, as SES gave them (a record is a leaf its mailbox's bundle carries, and another mailbox's Bcc
 * recipient is none of its business; the message's records together name every recipient that reached a
 * mailbox; the delivery's own list when none match), the MAIL FROM, the verdicts and the content identity (by the
 * current CONTENT_RULE). Undefined when a reader would not accept it back (recordableReceipt).
 */
export function recordReceipt(
  notification: SesReceivedNotification,
  delivery: Delivery,
  verdicts: Verdicts,
  contentSha256: string,
): RecordReceipt | undefined {
  const reached = new Set(delivery.envelopeRecipients);
  const mine = notification.receipt.recipients.filter(
    (r) => reached.has(r) || reached.has(normaliseAddress(r)),
  );
  return recordableReceipt({
    recipients: mine.length > 0 ? mine : [...delivery.envelopeRecipients],
    source: notification.mail.source,
    verdicts,
    contentSha256,
    contentRule: CONTENT_RULE,
  });
}

/** A record read from the log, with the time of the log object that held it (its key's time). */
export interface LoggedRecord {
  record: DeliveryRecord;
  /** When the log object was written (parseLogObjectKey); absent: the record's receivedAt stands in. */
  at?: Date;
}

/**
 * The envelope of `sesMessageId` (raw object in `bucket`) rebuilt from its log records that carry a receipt:
 * each record holds the recipients that reached its mailbox, so the records of one receipt (the same received
 * time, sender and verdicts) make one envelope with the recipients of all of them, in the order first seen
 * (indexed at the earliest log object's time, or the record's receivedAt); one delivery per mailbox (its first
 * record: folder, UID, UIDVALIDITY); the message key, sha256 and content identity from the records. Records of
 * other messages, and records without a receipt, are ignored. Undefined when none is left.
 */
export function envelopeFromRecords(
  sesMessageId: string,
  bucket: string,
  logged: readonly LoggedRecord[],
): EnvelopeRecord | undefined {
  const objectKey = rawMailKey(sesMessageId);
  const mine = logged.filter((l) => l.record.receipt !== undefined && l.record.objectKey === objectKey);
  const first = mine[0]?.record;
  if (!first?.receipt) return undefined;
  const envelope: EnvelopeRecord = {
    version: 2,
    sesMessageId,
    messageKey: first.messageKey,
    sha256: first.sha256,
    contentSha256: first.receipt.contentSha256,
    contentRule: first.receipt.contentRule,
    receipts: [],
    deliveries: [],
  };
  const receipts = new Map<string, { first: DeliveryRecord; recipients: string[]; at: Date }>();
  for (const { record, at } of mine) {
    const receipt = record.receipt;
    if (!receipt) continue;
    if (!envelope.deliveries.some((d) => d.mailbox === record.mailbox)) {
      const { mailbox, folder, uid, uidValidity } = record;
      envelope.deliveries.push({ mailbox, folder, uid, uidValidity, status: 'archived' });
    }
    const key = JSON.stringify([record.receivedAt, receipt.source, receipt.verdicts]);
    const when = at ?? new Date(record.receivedAt);
    const same = receipts.get(key) ?? { first: record, recipients: [], at: when };
    for (const r of receipt.recipients) if (!same.recipients.includes(r)) same.recipients.push(r);
    if (when < same.at) same.at = when;
    receipts.set(key, same);
  }
  for (const { first: record, recipients, at } of receipts.values()) {
    const receipt = record.receipt as RecordReceipt;
    const imported = isImportedMessage(sesMessageId)
      ? importedStateSchema.safeParse({
          folder: record.folder,
          flags: record.flags,
          keywords: record.keywords,
        })
      : undefined;
    const notification = buildReceivedNotification({
      messageId: sesMessageId,
      timestamp: new Date(record.receivedAt),
      source: receipt.source,
      recipients,
      bucket,
      objectKey,
      verdicts: receipt.verdicts,
      ...(imported?.success ? { imported: imported.data } : {}),
    });
    const identity = receiptIdentity(notification);
    if (!envelope.receipts.some((r) => receiptIdentity(r.notification) === identity))
      envelope.receipts.push({ notification, indexedAt: at.toISOString() });
  }
  return envelope;
}

/**
 * The sidecar and what the log records of the same message, as one envelope. A sidecar written after ingest filed
 * the message with its envelope in the log alone (a second delivery of the notification that failed, a run that
 * failed after its rows) knows less than the log: readers take both. The sidecar's deliveries and receipts come
 * first; the log adds a delivery for each mailbox the sidecar lacks, and a receipt of its own unless the sidecar
 * has it (the same recipients), which it then marks indexed.
 * Returns a new record; `logged` undefined: the sidecar as it is.
 */
export function mergeEnvelopes(sidecar: EnvelopeRecord, logged: EnvelopeRecord | undefined): EnvelopeRecord {
  if (!logged) return sidecar;
  const merged: EnvelopeRecord = structuredClone(sidecar);
  merged.messageKey ??= logged.messageKey;
  merged.sha256 ??= logged.sha256;
  if (merged.contentSha256 === undefined && logged.contentSha256 !== undefined) {
    merged.contentSha256 = logged.contentSha256;
    if (logged.contentRule !== undefined) merged.contentRule = logged.contentRule;
  }
  for (const delivery of logged.deliveries)
    if (!merged.deliveries.some((d) => d.mailbox === delivery.mailbox)) merged.deliveries.push(delivery);
  for (const receipt of logged.receipts) {
    // Only the same recipients make the same receipt: a sidecar receipt naming more (another receipt rule's, or
    // one with a recipient that reached no mailbox) stays unindexed, and reindex runs it again (its rows are found,
    // the ledger keeps a forward from being sent twice), rather than taking it as done (review-31c 1).
    const identity = receiptIdentity(receipt.notification);
    const same = merged.receipts.find((r) => receiptIdentity(r.notification) === identity);
    if (same) same.indexedAt ??= receipt.indexedAt;
    else merged.receipts.push(receipt);
  }
  return merged;
}

/** The first 8 bytes of the sha256 of an SES message id: where LoggedEnvelopes files its records. */
const idPrint = (sesMessageId: string) =>
  createHash('sha256').update(sesMessageId).digest().readBigUInt64BE(0);

/**
 * Where in the log each message's receipt-bearing records are, without holding them: 12 bytes a record (the
 * print of its SES message id and the ordinal of its log object), 4 more once sealed (the lookup order), and
 * the key of each log object holding one, once, as bytes (about 70 a key). Add while
 * reading the log, `seal`, then ask `envelope`, which reads the objects named again (one GET each, the last one
 * kept). A print shared by two ids only costs a read: the records read are filtered by their raw object's key.
 */
export class LoggedEnvelopes {
  private prints = new BigUint64Array(1024);
  private objects = new Uint32Array(1024);
  private count = 0;
  /** The log objects' keys, UTF-8, one after the other: `keyEnds[i]` is where key i ends (no string per key). */
  private keyBytes = Buffer.alloc(64 * 1024);
  private keyEnds = new Uint32Array(1024);
  private keyCount = 0;
  private order: Uint32Array | undefined;
  private cached: { key: string; records: DeliveryRecord[] } | undefined;

  constructor(
    private readonly log: DeliveryLog,
    private readonly bucket: string,
  ) {}

  /** How many receipt-bearing records were added. */
  get size(): number {
    return this.count;
  }

  /** Notes the receipt-bearing records of the log object `key`. */
  add(key: string, records: readonly DeliveryRecord[]): void {
    let ordinal: number | undefined;
    for (const record of records) {
      if (!record.receipt || !record.objectKey.startsWith(RAW_MAIL_PREFIX)) continue;
      ordinal ??= this.addKey(key);
      if (this.count === this.prints.length) {
        const prints = new BigUint64Array(this.count * 2);
        prints.set(this.prints);
        this.prints = prints;
        const objects = new Uint32Array(this.count * 2);
        objects.set(this.objects);
        this.objects = objects;
      }
      this.prints[this.count] = idPrint(record.objectKey.slice(RAW_MAIL_PREFIX.length));
      this.objects[this.count] = ordinal;
      this.count += 1;
    }
  }

  private addKey(key: string): number {
    const start = this.keyCount === 0 ? 0 : (this.keyEnds[this.keyCount - 1] as number);
    const length = Buffer.byteLength(key);
    if (start + length > this.keyBytes.length) {
      const grown = Buffer.alloc(Math.max(this.keyBytes.length * 2, start + length));
      this.keyBytes.copy(grown, 0, 0, start);
      this.keyBytes = grown;
    }
    if (this.keyCount === this.keyEnds.length) {
      const grown = new Uint32Array(this.keyCount * 2);
      grown.set(this.keyEnds);
      this.keyEnds = grown;
    }
    this.keyBytes.write(key, start);
    this.keyEnds[this.keyCount] = start + length;
    return this.keyCount++;
  }

  private keyAt(ordinal: number): string {
    const start = ordinal === 0 ? 0 : (this.keyEnds[ordinal - 1] as number);
    return this.keyBytes.toString('utf8', start, this.keyEnds[ordinal]);
  }

  /** Orders the prints for lookups; nothing is added after. */
  seal(): this {
    const order = new Uint32Array(this.count);
    for (let i = 0; i < this.count; i++) order[i] = i;
    const prints = this.prints;
    order.sort((a, b) => {
      const pa = prints[a] as bigint;
      const pb = prints[b] as bigint;
      return pa < pb ? -1 : pa > pb ? 1 : 0;
    });
    this.order = order;
    return this;
  }

  /** The keys of the log objects holding receipt-bearing records of `sesMessageId` (or of an id with its print). */
  objectKeys(sesMessageId: string): string[] {
    const order = this.order;
    if (!order) throw new Error('LoggedEnvelopes.objectKeys before seal');
    const print = idPrint(sesMessageId);
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.prints[order[mid] as number] as bigint) < print) low = mid + 1;
      else high = mid;
    }
    const ordinals = new Set<number>();
    for (let i = low; i < this.count && this.prints[order[i] as number] === print; i++)
      ordinals.add(this.objects[order[i] as number] as number);
    return [...ordinals].sort((a, b) => a - b).map((o) => this.keyAt(o));
  }

  /**
   * The envelope the log records of `sesMessageId` ({@link envelopeFromRecords}), reading the log objects that
   * hold its records; undefined when the log has none with a receipt. Throws what the store throws.
   */
  async envelope(sesMessageId: string): Promise<EnvelopeRecord | undefined> {
    const logged: LoggedRecord[] = [];
    for (const key of this.objectKeys(sesMessageId)) {
      let records = this.cached?.key === key ? this.cached.records : undefined;
      if (!records) {
        for await (const object of this.log.readObjects([key])) records = object.records;
        this.cached = { key, records: records ?? [] };
      }
      const at = parseLogObjectKey(key)?.at;
      for (const record of records ?? []) logged.push({ record, ...(at ? { at } : {}) });
    }
    return envelopeFromRecords(sesMessageId, this.bucket, logged);
  }
}
