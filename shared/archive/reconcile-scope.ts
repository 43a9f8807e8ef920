// What a scheduled reconcile run compares: the whole archive (a full walk), or only what changed since the last
// run that ended clean (a run "since" a cut-off), so that its per-object reads grow with the mail that arrived,
// not with all the mail ever kept.
//
// What a run since a cut-off knows without reading each object, and why that is enough:
// - A raw object's listing gives its LastModified (S3's clock, the start of the upload). One written after the
//   cut-off is compared in full (its sidecar read, its rows looked at). The listing itself is still walked whole
//   (1 LIST per 1,000 keys), beside the byRawObject index's keys, so a row whose raw object is gone is still found.
// - A sidecar (envelopes/) is written by every re-delivered notification, failed ingest and reindex that touches
//   its message (an ingest on its ordinary path writes none: its message is a new raw object, above, and its
//   envelope is in the log records after the cut-off): the envelopes/ listing's LastModified names the raw
//   objects whose state changed although their bytes are old (an ingest that finished late, a receipt delivered
//   again). Those are compared in full too.
// - The delivery log's keys carry the writer's time (shared/delivery-log/layout.ts): the log is read from the
//   cut-off on, and a row is checked against the log when it was archived after the cut-off (DeliveryRow.archivedAt;
//   its records are put after it, under a key taken from the same clock); an older row was checked by an earlier
//   run.
// - A row's forwarding ledger entries are read for the rows of the objects compared (one Query per row of a
//   mailbox that forwards), not by walking the whole ledger.
// A raw object whose listing time and sidecar time are both before the cut-off was in the listing of the run the
// cut-off comes from, and that run found it fully indexed, recorded, logged and forwarded (it ended clean, having
// found nothing); nothing in the normal flow changes such a message again without writing its sidecar.
//
// The cut-off is that clean run's start less CUT_OFF_MARGIN_MS (24 hours), which covers: an object whose upload
// began before the run (LastModified is the start of a multipart upload) but became visible after the run's
// listing passed its key; the clock skew between S3 and the Lambda that took the run's start; an ingest in flight
// while the run compared its message; and forwards still retrying when the run looked (the forward queue gives a
// message 6 receives before its dead-letter queue: hours, not a day), so every message is looked at again by the
// runs of its first day and its ledger entries are settled by the last of them.
//
// What a run since a cut-off cannot see, a full walk finds: a row or sidecar deleted by hand from an old message,
// damage to old bytes. A full walk runs every `fullEveryMs` (a week by default), and whenever no run ended clean
// having found nothing (no record, findings left, or findings repaired by reindex, whose rows the next run checks
// again), when the record is from before this layout, and:
// - when what the comparison reads of the config (reconcile-walk.ts comparisonConfigPrint: the mailboxes, their
//   forward targets, the canary) is not what the last run compared with, or the record does not say: old messages'
//   verdicts change with it (a mailbox given a forward target has old messages never forwarded to it), and nothing
//   writes their sidecars;
// - when more than MAX_CHANGED_SINCE sidecars were written since the cut-off (a history import), or it compares
//   more raw objects than that (new mail, which mostly writes no sidecar): the run then becomes a full walk from
//   the start (reconcile.ts), which keeps no list of what changed.
import { RECONCILE_LAYOUT, type ReconcileRun } from './reconcile-run';

/** How far before the last clean run's start a run since a cut-off begins: 24 hours (see above). */
export const CUT_OFF_MARGIN_MS = 24 * 60 * 60 * 1000;

/** How often a full walk runs at the latest: 7 days. */
export const DEFAULT_FULL_EVERY_MS = 7 * 24 * 60 * 60 * 1000;

/** A run's scope: `since` (ISO 8601 UTC) compares what changed from then on; absent, a full walk. And why. */
export interface ReconcileScope {
  since?: string;
  reason: string;
}

/**
 * The scope of a scheduled run starting at `now` after the stored record `previous`, with `configPrint` (what the
 * comparison reads of the config now, reconcile-walk.ts comparisonConfigPrint): a full walk when there is no
 * record, it is from an older layout, it left findings or repaired any, it was not a run that started at a known
 * time, it names no config print or another one, or the last full walk started `fullEveryMs` or longer ago;
 * otherwise the changes since `previous`'s start less `marginMs`.
 */
export function reconcileScope(
  previous: ReconcileRun | undefined,
  now: Date,
  configPrint: string,
  fullEveryMs = DEFAULT_FULL_EVERY_MS,
  marginMs = CUT_OFF_MARGIN_MS,
): ReconcileScope {
  if (!previous) return { reason: 'no run on record' };
  if (previous.layout !== RECONCILE_LAYOUT) return { reason: 'the last record is from an older layout' };
  if (!previous.ok) return { reason: 'the last run left findings' };
  if (previous.reindexed !== undefined || previous.reindexFailed !== undefined)
    return { reason: 'the last run repaired findings' };
  if (!previous.startedAt) return { reason: 'the last run has no start time' };
  if (previous.configPrint === undefined)
    return { reason: 'the last record does not say what config it compared with' };
  if (previous.configPrint !== configPrint) return { reason: 'the config changed' };
  if (!previous.lastFullAt || now.getTime() - Date.parse(previous.lastFullAt) >= fullEveryMs)
    return { reason: 'a full walk is due' };
  const since = new Date(Date.parse(previous.startedAt) - marginMs).toISOString();
  return { since, reason: `changes since the run of ${previous.startedAt}` };
}
