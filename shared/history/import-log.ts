// The delivery log as an import writes it: one object per batch of records (docs/delivery-log.md), and the
// records of messages a run finds already present that the log may lack.
//
// Why the second part: an import run cut off between ingest indexing a message (rows, then the sidecar listing
// them) and the write of its batch of log records leaves rows the log does not record. The next run finds the
// message present by its sidecar and, rightly, does not deliver it again, so nothing else would ever log them
// (reconcile reports them, reindex logs them). So a run logs the rows of every message it finds present, unless
// the log already records them.
//
// Checked cheaply, not by reading the whole log: a row's record, when its indexing run logged it, is in an object
// whose key time is at or after the row's archivedAt (the key's time is taken right before the put, after the
// row was written) and, bounded by the writers' own limits, within LOOK_BACK_MS of it (layout.ts). So only the
// log objects of those windows are read, each 15-minute slot once per run. A record logged later than that (by
// reindex, or by an earlier run's repair) is not found, and the row is logged once more: a repeat of the same
// delivery, which every reader takes as one (record.ts deliveryIdentity, docs/delivery-log.md "Identity").
import { LoggedPrints } from '../delivery-log/audit';
import { DELIVERY_LOG_PREFIX, LOOK_BACK_MS, parseLogObjectKey, startAfterTime } from '../delivery-log/layout';
import type { DeliveryLog, DeliveryLogBatch } from '../delivery-log/log';
import { deliveryRecordOf } from '../delivery-log/record';
import type { DeliveryRow } from '../index/schema';
import type { DeliveryIndex } from '../ports';

/** An import writes its delivery log records at least every 1,000 records or 10 seconds. */
export const IMPORT_LOG_BATCH = { records: 1000, ms: 10_000 };

/** The windows read are whole slots of this length, each read once per run. */
const SLOT_MS = LOOK_BACK_MS;
/** How far before a row's archivedAt its record's key may be: another machine's clock a little behind (AWS). */
const CLOCK_SKEW_MS = 60 * 1000;

/** The delivery log of one import run: its batch, and what the run has read of the log around present rows. */
export class ImportLog {
  /** Fingerprints of the records read (or added) in this run; sealed empty, so every addition is looked up. */
  private readonly logged = new LoggedPrints().seal();
  private readonly slots = new Map<number, Promise<void>>();

  constructor(
    private readonly log: DeliveryLog,
    readonly batch: DeliveryLogBatch,
    private readonly index: Pick<DeliveryIndex, 'getDelivery'>,
  ) {}

  /** Writes the batch when it holds {@link IMPORT_LOG_BATCH} records or is as old. Throws what the store throws. */
  flushIfDue(): Promise<string | undefined> {
    return this.batch.flushIfDue(IMPORT_LOG_BATCH);
  }

  /**
   * For a message found present by its sidecar: adds to the batch the records of its rows (`messageKey` in each
   * of `mailboxes`) that the log does not record, and flushes when due. A row the index does not have is left
   * (reconcile reports it, reindex restores it). Returns how many records were added. Throws what the index or
   * the store throws.
   */
  async logPresent(messageKey: string, mailboxes: readonly string[]): Promise<number> {
    const found = await Promise.all(mailboxes.map((m) => this.index.getDelivery(m, messageKey)));
    const rows = found.filter((row): row is DeliveryRow => row !== undefined);
    await Promise.all(rows.map((row) => this.readAround(Date.parse(row.archivedAt))));
    const missing = rows.filter((row) => !this.logged.has(row)).map((row) => deliveryRecordOf(row));
    this.logged.add(missing);
    this.batch.add(missing);
    await this.flushIfDue();
    return missing.length;
  }

  /** Reads the log objects whose keys fall where the record of a row archived at `at` would be. */
  private async readAround(at: number): Promise<void> {
    if (Number.isNaN(at)) return;
    const first = Math.floor((at - CLOCK_SKEW_MS) / SLOT_MS);
    const last = Math.floor((at + LOOK_BACK_MS) / SLOT_MS);
    const reads: Promise<void>[] = [];
    for (let slot = first; slot <= last; slot++) {
      let read = this.slots.get(slot);
      if (!read) {
        read = this.readSlot(slot);
        this.slots.set(slot, read);
        // A failed read is tried again by the next message that needs the slot.
        read.catch(() => this.slots.delete(slot));
      }
      reads.push(read);
    }
    await Promise.all(reads);
  }

  private async readSlot(slot: number): Promise<void> {
    const end = (slot + 1) * SLOT_MS;
    const { store, bucket } = this.log;
    async function* keys() {
      const listed = store.list(bucket, DELIVERY_LOG_PREFIX, startAfterTime(new Date(slot * SLOT_MS)));
      for await (const { key } of listed) {
        const parsed = parseLogObjectKey(key);
        if (!parsed) continue;
        if (parsed.at.getTime() >= end) return;
        yield key;
      }
    }
    for await (const object of this.log.readObjects(keys())) this.logged.add(object.records);
  }
}
