// A first sync from the transparency log (docs/replica.md, "A first sync starts from the transparency log"). The
// log's leaves are the delivery log's records (shared/transparency/leaf.ts), 256 to an entry bundle, where the
// delivery log holds one object per ingest invocation: a replica that has read nothing of the delivery log yet (a
// new one, another choice of mailboxes, a rebuilt progress file) copies the transparency log first (checked
// against its signed checkpoint, replica-log.ts mirrorLog), applies the records of the copy's entry bundles in
// steps, and only then moves its cursor to where the latest seal stopped reading the delivery log (its seal
// record), from which the delivery log is read as usual, with the look-back. Nothing is recorded as read before
// every leaf was applied: a run stopped half-way applies the leaves again and finds what it wrote in place.
import { LOG_START, type LogCursor } from '../delivery-log/layout';
import type { DeliveryRecord } from '../delivery-log/record';
import type { WriteOnceStore } from '../ports';
import { sealedRecords } from '../transparency/leaf';

/** The cursor of a reader that has read nothing of the delivery log (a first sync). */
export const readsNothingYet = (cursor: LogCursor): boolean =>
  cursor.after === LOG_START.after && cursor.seen.length === 0;

export interface ApplyLeavesOptions {
  /** The replica's copy of the transparency log, checked against the checkpoint of `size` leaves. */
  mirror: WriteOnceStore;
  size: number;
  /** Records per step (the last step may be smaller). */
  stepRecords: number;
  /** Records that go with the first step (the ones a run before could not apply). */
  first: DeliveryRecord[];
  /** Applies one step (sync.ts applyStep); what it throws stops the run. */
  apply: (records: DeliveryRecord[]) => Promise<void>;
  /** A leaf that is not a delivery record (the others are applied). */
  onBadLeaf: (message: string) => void;
}

/**
 * Applies the records of the copy's first `size` leaves in steps. Returns how many records the leaves held.
 * Throws what `apply` throws, and LogDamageError for an entry bundle missing from the copy.
 */
export async function applyLeaves(options: ApplyLeavesOptions): Promise<number> {
  let leaves = 0;
  let step: DeliveryRecord[] = [...options.first];
  for await (const bundle of sealedRecords(options.mirror, options.size)) {
    for (const error of bundle.errors)
      options.onBadLeaf(`the transparency log's ${error} (the other records are applied)`);
    leaves += bundle.records.length;
    step.push(...bundle.records);
    if (step.length >= options.stepRecords) {
      await options.apply(step);
      step = [];
    }
  }
  if (step.length > 0) await options.apply(step);
  return leaves;
}
