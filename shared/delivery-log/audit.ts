// The delivery log against the index: which rows the log does not record (reconcile reports them, reindex logs
// them). The log is derived from the rows, so it can always be written again from them.
//
// The log is in time order and the index in key order, so one side has to be held: the log, as a 64-bit
// fingerprint of each record (8 bytes a record, in one typed array), not its text. A row whose record is missing
// passes for logged only if its fingerprint equals one of the log's n: about n / 2^64 (5e-14 at a million).
import { createHash } from 'node:crypto';
import type { DeliveryRow } from '../index/schema';
import type { DeliveryLogBatch } from './log';
import { canonicalRecord, type DeliveryRecord, deliveryRecordOf } from './record';

/**
 * A record's fingerprint: the first 8 bytes of the sha256 of its canonical line as a v1 record without the
 * version id. The delivery alone: a v2 record ingest wrote with its receipt and the record rebuilt from the row
 * print alike, and a v1 record prints as it always did (reconcile's progress keeps prints across invocations).
 */
function fingerprint(record: DeliveryRecord): bigint {
  const { versionId: _versionId, receipt: _receipt, ...delivery } = record;
  return createHash('sha256')
    .update(canonicalRecord({ ...delivery, v: 1 }))
    .digest()
    .readBigUInt64BE(0);
}

/**
 * The records of the log as fingerprints: add while reading, `seal` once the whole log is read, then ask `has`.
 * A row is logged when a record with exactly its record's bytes (version id aside) is in the log: one that names
 * another file or other bytes (a record of ours never does; a log written by hand might) leaves it unlogged.
 */
export class LoggedPrints {
  private prints: BigUint64Array;
  private count: number;
  private sealed = false;
  /** Added after sealing (rows reindex logs while it runs). */
  private late = new Set<bigint>();

  constructor(prints = new BigUint64Array(1024), count = 0) {
    this.prints = prints;
    this.count = count;
  }

  /** How many records were added. */
  get size(): number {
    return this.count + this.late.size;
  }

  add(records: readonly DeliveryRecord[]): void {
    for (const record of records) this.addPrint(fingerprint(record));
  }

  /** Adds one fingerprint (a print of another kind: {@link receiptPrint}). */
  addPrint(print: bigint): void {
    if (this.sealed) {
      this.late.add(print);
      return;
    }
    if (this.count === this.prints.length) {
      const grown = new BigUint64Array(this.prints.length * 2);
      grown.set(this.prints);
      this.prints = grown;
    }
    this.prints[this.count++] = print;
  }

  /** Sorts the fingerprints for lookups; later additions go to a small set. */
  seal(): this {
    if (!this.sealed) {
      this.prints = this.prints.slice(0, this.count).sort();
      this.sealed = true;
    }
    return this;
  }

  /** Whether the log records `row` as it is. Throws when called before {@link seal}. */
  has(row: DeliveryRow): boolean {
    return this.hasPrint(fingerprint(deliveryRecordOf(row)));
  }

  /** Whether `print` was added. Throws when called before {@link seal}. */
  hasPrint(print: bigint): boolean {
    if (!this.sealed) throw new Error('LoggedPrints.has before seal');
    if (this.late.has(print)) return true;
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = this.prints[mid] as bigint;
      if (value === print) return true;
      if (value < print) low = mid + 1;
      else high = mid - 1;
    }
    return false;
  }

  /** The fingerprints as base64 (8 bytes each, big-endian), for a checkpoint. */
  toBase64(): string {
    const out = Buffer.alloc(this.size * 8);
    let at = 0;
    for (let i = 0; i < this.count; i++, at += 8) out.writeBigUInt64BE(this.prints[i] as bigint, at);
    for (const print of this.late) {
      out.writeBigUInt64BE(print, at);
      at += 8;
    }
    return out.toString('base64');
  }

  /** The prints a checkpoint kept ({@link toBase64}), sealed when `sealed`. */
  static fromBase64(text: string, sealed: boolean): LoggedPrints {
    const bytes = Buffer.from(text, 'base64');
    const count = Math.floor(bytes.length / 8);
    const prints = new BigUint64Array(Math.max(count, 1024));
    for (let i = 0; i < count; i++) prints[i] = bytes.readBigUInt64BE(i * 8);
    const out = new LoggedPrints(prints, count);
    return sealed ? out.seal() : out;
  }
}

/**
 * The print of "the log records a delivery of this message to this mailbox, with its receipt" (a v2 record that
 * carries `receipt`): what a message without an envelope sidecar has in place of the sidecar's deliveries.
 */
export function receiptPrint(mailbox: string, messageKey: string): bigint {
  return createHash('sha256')
    .update(JSON.stringify(['receipt', mailbox, messageKey]))
    .digest()
    .readBigUInt64BE(0);
}

/** Adds the receipt prints ({@link receiptPrint}) of the records that carry a receipt. */
export function addReceiptPrints(prints: LoggedPrints, records: readonly DeliveryRecord[]): void {
  for (const record of records)
    if (record.receipt) prints.addPrint(receiptPrint(record.mailbox, record.messageKey));
}

/**
 * A batch that also adds what it is given to `prints`: rows reindex logs while it runs are not logged a second
 * time by its final pass.
 */
export function recordingBatch(batch: DeliveryLogBatch, prints: LoggedPrints): DeliveryLogBatch {
  const add = batch.add.bind(batch);
  batch.add = (records) => {
    prints.add(records);
    add(records);
  };
  return batch;
}

/** Adds the records of `rows` to `batch`, flushing every 1,000 records. Returns how many were added. */
export async function logRows(
  batch: DeliveryLogBatch,
  rows: Iterable<DeliveryRow> | AsyncIterable<DeliveryRow>,
): Promise<number> {
  let count = 0;
  for await (const row of rows) {
    batch.add([deliveryRecordOf(row)]);
    count += 1;
    await batch.flushIfDue({ records: 1000, ms: Number.POSITIVE_INFINITY });
  }
  return count;
}
