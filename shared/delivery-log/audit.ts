// The delivery log against the index: which rows the log does not record (reconcile reports them, reindex logs
// them). The log is derived from the rows, so it can always be written again from them.
import type { DeliveryRow } from '../index/schema';
import type { DeliveryLog, DeliveryLogBatch } from './log';
import { canonicalRecord, deliveryIdentity, deliveryRecordOf } from './record';

/** What the whole log records: each delivery's identity with its canonical record, and how much was read. */
export interface LoggedDeliveries {
  records: Map<string, string>;
  objects: number;
  /** Lines that are not records (reconcile reports the count; the objects' other lines are used). */
  badLines: number;
}

/** Reads every log object (for reconcile and reindex: the whole log, once). Throws what the store throws. */
export async function loggedDeliveries(log: DeliveryLog): Promise<LoggedDeliveries> {
  const out: LoggedDeliveries = { records: new Map(), objects: 0, badLines: 0 };
  for await (const object of log.read()) {
    out.objects += 1;
    out.badLines += object.errors.length;
    for (const record of object.records) out.records.set(deliveryIdentity(record), canonicalRecord(record));
  }
  return out;
}

/**
 * The rows the log does not record as they are: no record with the row's identity, or one that names another
 * file or other bytes (a record of ours never does; a log written by hand might). Compared without the version
 * id, which rows do not carry.
 */
export function unloggedRows(rows: Iterable<DeliveryRow>, logged: LoggedDeliveries): DeliveryRow[] {
  const out: DeliveryRow[] = [];
  for (const row of rows) {
    const record = deliveryRecordOf(row);
    const line = logged.records.get(deliveryIdentity(record));
    if (line === undefined || withoutVersion(line) !== canonicalRecord(record)) out.push(row);
  }
  return out;
}

const withoutVersion = (line: string) => line.replace(/,"versionId":"(?:[^"\\]|\\.)*"/, '');

/** Adds the records of `rows` to `batch`, flushing every 1,000 records. Returns how many were added. */
export async function logRows(batch: DeliveryLogBatch, rows: readonly DeliveryRow[]): Promise<number> {
  for (const row of rows) {
    batch.add([deliveryRecordOf(row)]);
    await batch.flushIfDue({ records: 1000, ms: Number.POSITIVE_INFINITY });
  }
  return rows.length;
}
