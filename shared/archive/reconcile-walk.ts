// The ordered walks reconcile and reindex compare the archive with: the bucket's listing beside every mailbox's
// rows in raw-key order (the byRawObject index), and a mailbox's rows beside its forwarding ledger in message-key
// order. Each holds one page of each side, never the archive: memory does not grow with it. Each resumes after
// a key, so a walk can stop at a budget and continue in another invocation.

import { createHash } from 'node:crypto';
import type { ArchiverConfig } from '../config';
import { type LoggedPrints, receiptPrint } from '../delivery-log/audit';
import type { DeliveryLog } from '../delivery-log/log';
import type { ForwardEntry } from '../forwarding/ledger';
import { canaryAddress, canaryExpiresAt } from '../health/config';
import { compareUtf8 } from '../index/key-order';
import { type DeliveryRow, isNotMailObject, RAW_MAIL_PREFIX, type RawObjectRow } from '../index/schema';
import type { ForwardLedger, ForwardQueue, MailIndex, RawMailStore } from '../ports';
import { type EnvelopeRecord, readEnvelope } from './envelope';
import type { IngestDeps } from './ingest';

export interface ReconcileDeps {
  config: ArchiverConfig;
  store: RawMailStore;
  index: MailIndex & ForwardLedger;
  bucket: string;
  now?: () => Date;
  /**
   * Reindex: where messages whose ingest never finished are queued for forwarding (ingest queues them only at
   * its end). Rows lost from a finished ingest are not forwarded again.
   */
  forwards?: ForwardQueue;
  /** Locks the raw version reindex reads (shared/retention); sidecar writes are locked by the store itself. */
  locker?: IngestDeps['locker'];
  /**
   * The delivery log: reconcile reports the rows it does not record, reindex logs them (and the rows it
   * rebuilds). Without it neither looks at the log.
   */
  deliveryLog?: DeliveryLog;
  /**
   * A run since a cut-off that finds more sidecars written since than this becomes a full walk, which keeps no
   * list of them (reconcile.ts). @default MAX_CHANGED_SINCE (20,000)
   */
  changedLimit?: number;
}

/** Every mailbox the walks cover: each that has a folder in the index, and each configured one. */
export async function walkedMailboxes(deps: Pick<ReconcileDeps, 'config' | 'index'>): Promise<string[]> {
  const all = new Set([...(await deps.index.mailboxes()), ...Object.keys(deps.config.mailboxes)]);
  return [...all].sort(compareUtf8);
}

/**
 * A fingerprint of what the comparison reads of the config, and of nothing else: every configured mailbox with
 * its forward targets (walkedMailboxes; compareRow and forwardRequestsFor, which decide "never forwarded"), the
 * canary's address and its days (isCanaryRow, isExpiredCanary, which excuse a canary's missing side). A run
 * records it (ReconcileReport.configPrint): old messages' verdicts may differ under another one, so a different
 * one makes the next scheduled run a full walk (reconcile-scope.ts). What only reindex reads (the journal address,
 * plus-addressing) decides how a finding is repaired, not whether there is one. Order does not count: mailboxes
 * and targets are sorted. The first 16 hex digits of a sha256.
 */
export function comparisonConfigPrint(config: ArchiverConfig): string {
  const mailboxes = Object.keys(config.mailboxes)
    .sort(compareUtf8)
    .map((m) => [m, [...(config.mailboxes[m]?.forwardTo ?? [])].sort(compareUtf8)]);
  const canary = { address: canaryAddress(config), keepDays: config.health.canary.keepDays };
  return createHash('sha256').update(JSON.stringify({ mailboxes, canary })).digest('hex').slice(0, 16);
}

/** An async iterator whose next item can be looked at before it is taken. */
class Peekable<T> {
  private next: IteratorResult<T> | undefined;
  private readonly iterator: AsyncIterator<T>;

  constructor(items: AsyncIterable<T>) {
    this.iterator = items[Symbol.asyncIterator]();
  }

  async peek(): Promise<T | undefined> {
    this.next ??= await this.iterator.next();
    return this.next.done ? undefined : this.next.value;
  }

  take(): void {
    this.next = undefined;
  }

  /** Takes items while `when` holds for the next one. */
  async takeWhile(when: (item: T) => boolean): Promise<T[]> {
    const out: T[] = [];
    for (let item = await this.peek(); item !== undefined && when(item); item = await this.peek()) {
      out.push(item);
      this.take();
    }
    return out;
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

/** One raw object with the rows that name it, and the rows before it that name no object (in raw-key order). */
export interface RawObjectGroup {
  key: string;
  /** When the object was written (the listing's LastModified, ISO 8601 UTC), where the store keeps it. */
  lastModified?: string;
  present: RawObjectRow[];
  /** Rows between the previous object and this one: their raw object is gone. */
  orphans: RawObjectRow[];
}

/**
 * The raw objects (not-mail objects skipped) after `afterKey`, each with its rows, walking the listing beside
 * each mailbox's rows in raw-key order (ports.ts DeliveryIndex.rawObjectRows). The last group has key
 * `undefined` and holds the rows after the last object. Throws what the store and the index throw.
 */
export async function* walkRawObjects(
  deps: { store: RawMailStore; index: MailIndex; bucket: string },
  mailboxes: readonly string[],
  afterKey?: string,
): AsyncGenerator<RawObjectGroup | { key: undefined; present: []; orphans: RawObjectRow[] }> {
  const afterId = afterKey?.slice(RAW_MAIL_PREFIX.length);
  const sides = mailboxes.map((m) => new Peekable(deps.index.rawObjectRows(m, afterId)));
  try {
    for await (const object of deps.store.list(deps.bucket, RAW_MAIL_PREFIX, afterKey)) {
      if (isNotMailObject(object.key)) continue;
      const id = object.key.slice(RAW_MAIL_PREFIX.length);
      const orphans: RawObjectRow[] = [];
      const present: RawObjectRow[] = [];
      for (const side of sides) {
        orphans.push(...(await side.takeWhile((r) => compareUtf8(r.sesMessageId, id) < 0)));
        present.push(...(await side.takeWhile((r) => r.sesMessageId === id)));
      }
      yield {
        key: object.key,
        ...(object.lastModified !== undefined ? { lastModified: object.lastModified } : {}),
        present,
        orphans,
      };
    }
    const rest: RawObjectRow[] = [];
    for (const side of sides) rest.push(...(await side.takeWhile(() => true)));
    yield { key: undefined, present: [], orphans: rest };
  } finally {
    await Promise.all(sides.map((s) => s.close()));
  }
}

/** A row of a mailbox with the ledger entries of its message (none when the mailbox forwards nowhere). */
export interface MailboxRowGroup {
  row?: DeliveryRow;
  /** The ledger entries of `row`'s message; without `row`: entries of messages that have no row. */
  entries: ForwardEntry[];
}

/**
 * A mailbox's rows after `afterMessageKey`, each with its ledger entries, walking the rows and the ledger side by
 * side in message-key order; entries of messages with no row come in groups without `row`. `ledger` false: the
 * ledger is not read. Throws what the index throws.
 */
export async function* walkMailboxRows(
  index: MailIndex & ForwardLedger,
  mailbox: string,
  ledger: boolean,
  afterMessageKey?: string,
): AsyncGenerator<MailboxRowGroup> {
  const entries = ledger ? new Peekable(index.listForwards(mailbox, undefined, afterMessageKey)) : undefined;
  try {
    for await (const row of index.mailboxRows(mailbox, afterMessageKey)) {
      if (entries) {
        const before = await entries.takeWhile((e) => compareUtf8(e.messageKey, row.messageKey) < 0);
        if (before.length > 0) yield { entries: before };
      }
      yield { row, entries: (await entries?.takeWhile((e) => e.messageKey === row.messageKey)) ?? [] };
    }
    const rest = (await entries?.takeWhile(() => true)) ?? [];
    if (rest.length > 0) yield { entries: rest };
  } finally {
    await entries?.close();
  }
}

/** A row's mailbox and message key: all the object walk knows of it. */
export type RowRef = Pick<RawObjectRow, 'mailbox' | 'messageKey'>;

/**
 * What the delivery log says of messages without a sidecar: the receipt prints of its records that carry a
 * receipt (delivery-log/audit.ts receiptPrint, sealed), and the mailboxes a walk covers (each is asked whether
 * the log records a delivery of the message there).
 */
export interface LoggedReceipts {
  prints: LoggedPrints;
  mailboxes: readonly string[];
}

/**
 * Does a raw object lack rows, and which of its rows (`present`) does its envelope not record? The envelope is
 * its sidecar (returned, so callers need not read it again), which says which rows it had (or, for a delivery it
 * records as the same content as another message, that message's row, looked up in the index) and whether every
 * envelope was indexed to the end. Without a sidecar, the delivery log's records with a receipt (`receipts`)
 * stand in: a mailbox the log records the message in must have its row, and a row it records is recorded
 * (`logged` says the log knows the message); without either, any row will do and every row is unrecorded.
 * Throws EnvelopeFormatError for a sidecar that cannot be read, and what the store and the index throw.
 */
export async function indexState(
  deps: { store: RawMailStore; bucket: string; index: MailIndex },
  present: readonly RowRef[],
  key: string,
  receipts?: LoggedReceipts,
): Promise<{ missing: boolean; unrecorded: RowRef[]; envelope?: EnvelopeRecord; logged?: boolean }> {
  const envelope = await readEnvelope(deps.store, deps.bucket, key.slice(RAW_MAIL_PREFIX.length));
  if (!envelope) {
    const messageKey = present[0]?.messageKey;
    if (!receipts || messageKey === undefined)
      return { missing: present.length === 0, unrecorded: [...present] };
    const recorded = loggedIn(receipts, messageKey);
    const unrecorded = present.filter((r) => !recorded(r.mailbox));
    const missing = lacksLoggedRow(receipts, recorded, (m) => present.some((r) => r.mailbox === m));
    return { missing, unrecorded, logged: missing || unrecorded.length < present.length };
  }
  let missing =
    (present.length === 0 && envelope.deliveries.length === 0) || envelope.receipts.some((r) => !r.indexedAt);
  for (const d of envelope.deliveries) {
    if (missing) break;
    // A duplicate of another message with the same content is served by that message's row.
    missing = d.sameAs
      ? (await deps.index.getDelivery(d.mailbox, d.sameAs)) === undefined
      : !present.some((r) => r.mailbox === d.mailbox && r.messageKey === envelope.messageKey);
  }
  // A sidecar written after ingest put the envelope in the log (a failed second delivery of the notification)
  // may know less than the log: a mailbox either records must have its row, and a row either records is recorded.
  const messageKey = envelope.messageKey ?? present[0]?.messageKey;
  const logged = receipts && messageKey !== undefined ? loggedIn(receipts, messageKey) : () => false;
  if (!missing && receipts && messageKey !== undefined)
    missing = lacksLoggedRow(receipts, logged, (m) =>
      present.some((r) => r.mailbox === m && r.messageKey === messageKey),
    );
  const unrecorded = present.filter(
    (r) => !envelope.deliveries.some((d) => d.mailbox === r.mailbox) && !logged(r.mailbox),
  );
  return { missing, unrecorded, envelope };
}

/** Whether the log records a delivery of `messageKey` with its receipt in a mailbox. */
const loggedIn = (receipts: LoggedReceipts, messageKey: string) => (mailbox: string) =>
  receipts.prints.hasPrint(receiptPrint(mailbox, messageKey));

/** Whether a walked mailbox the log records the message in (`logged`) has no row of it (`hasRow`). */
const lacksLoggedRow = (
  receipts: LoggedReceipts,
  logged: (mailbox: string) => boolean,
  hasRow: (mailbox: string) => boolean,
) => receipts.mailboxes.some((m) => logged(m) && !hasRow(m));

/**
 * Whether a raw object is a canary past its days (health.canary.keepDays): every delivery its sidecar records is
 * in the canary's mailbox, and it was received at least that many days before `now`. Its row's DynamoDB TTL and
 * the S3 lifecycle rule on its tag remove the two sides at their own pace, so neither side gone is a finding.
 */
export function isExpiredCanary(
  config: ArchiverConfig,
  envelope: EnvelopeRecord | undefined,
  now: Date,
): boolean {
  const mailbox = canaryAddress(config);
  const received = envelope?.receipts[0]?.notification.mail.timestamp;
  if (!envelope || !received || envelope.deliveries.length === 0) return false;
  if (!envelope.deliveries.every((d) => d.mailbox === mailbox)) return false;
  return canaryExpiresAt(config, new Date(received).toISOString()) * 1000 <= now.getTime();
}

/** Whether a row is the canary's (its raw object expires by lifecycle: a row left without it is no finding). */
export const isCanaryRow = (config: ArchiverConfig, row: Pick<RawObjectRow, 'mailbox'>) =>
  row.mailbox === canaryAddress(config);

/**
 * Whether something last written at `lastModified` (ISO 8601; absent: unknown) may have changed at or after
 * `since`. S3's listings give LastModified to the second: a time within the second before `since` counts.
 */
export function changedSince(lastModified: string | undefined, since: string): boolean {
  return lastModified === undefined || Date.parse(lastModified) + 1000 > Date.parse(since);
}
