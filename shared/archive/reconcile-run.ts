// The record of a reconcile run: one shape for the scheduled reconcile's report in S3 (reports/reconcile.json,
// written by lambdas/reconcile) and the CLI's `reconcile` record in the data directory (last-reconcile.<target>.
// json), read by `status` and `doctor`. Each run keeps when a run last ended clean, so a run that found
// differences still says since when the archive has not been clean.
import { z } from 'zod';
import { RECONCILE_REPORT_KEY } from '../index/schema';
import { parseJsonAs } from '../json';
import type { RawMailStore } from '../ports';
import { readObject } from './raw-object';
import type { ReconcileReport, ReindexReport } from './reconcile';

/** The layout of the stored record and progress: a record from before it (no `layout`) makes the next run full. */
export const RECONCILE_LAYOUT = 2;

const count = z.number().int().min(0);
const timestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a date');

export const reconcileRunSchema = z.object({
  /** ISO 8601 UTC: when the run ended. */
  at: timestamp,
  /** Whether it found nothing to repair, or repaired all it found. */
  ok: z.boolean(),
  /** When a run last ended clean, possibly before `at`. */
  lastCleanAt: timestamp.optional(),
  rawMessages: count,
  notIndexed: count,
  unrecorded: count,
  rawMissing: count,
  notForwarded: count,
  forwardsUnsettled: count,
  /** Index rows the delivery log did not record (absent in records from before the log). */
  notLogged: count.optional(),
  /** Messages this run reindexed, and those it could not. */
  reindexed: count.optional(),
  reindexFailed: count.optional(),
  /** Envelope sidecars that could not be read (left after the run's repairs). */
  unreadableEnvelopes: count.optional(),
  /** How many invocations the run's comparison took (absent in records from before runs could continue). */
  steps: count.optional(),
  /** ISO 8601 UTC: when the run started (its first invocation). */
  startedAt: timestamp.optional(),
  /** The lock sweep (shared/retention/sweep.ts): versions it locked, and messages it left with an unlocked one. */
  lockedBySweep: count.optional(),
  unlockedMessages: count.optional(),
  /** ISO 8601 UTC: every version created before this instant is locked; where the next sweep starts. */
  lockedThrough: timestamp.optional(),
  /** The record's layout (reconcile-scope.ts RECONCILE_LAYOUT); absent in records from before runs since a cut-off. */
  layout: count.optional(),
  /** ISO 8601 UTC: the run compared what changed from then on; absent: a full walk. */
  since: timestamp.optional(),
  /** ISO 8601 UTC: when the last full walk started (this run's start, when it was one). */
  lastFullAt: timestamp.optional(),
  /** Why the run compared what it did: the scope's reason, or why it became a full walk. */
  reason: z.string().optional(),
  /**
   * What the comparison read of the config when the run started (reconcile-walk.ts comparisonConfigPrint); absent
   * in records from before it was kept. Another one makes the next scheduled run a full walk.
   */
  configPrint: z.string().optional(),
  /** What the run read one by one: raw objects compared (their sidecars read), delivery-log objects, rows. */
  examined: z.object({ objects: count, logObjects: count, rows: count }).optional(),
});

/** What a run keeps of its lock sweep (shared/retention/sweep.ts SweepReport). */
export interface SweepSummary {
  locked: number;
  unlockedMessages: number;
  lockedThrough?: string;
}

export type ReconcileRun = z.output<typeof reconcileRunSchema>;

/**
 * The record of a run that ended at `at` with `report`, after `previous` (the last record, if any), with what it
 * reindexed and what its lock sweep did when it ran them, and (a scheduled run that went on across invocations)
 * when it started and in how many steps. What reindex repairs (rows missing, unrecorded or unlogged, damaged
 * sidecars) counts as resolved when reindex ran without failures (the next run checks it again); rows whose raw
 * object is gone, forwards never recorded and forwards unsettled are for the operator. One rule for the CLI's
 * record and the scheduled reconcile's report.
 */
export function reconcileRunOf(
  report: ReconcileReport,
  at: Date,
  previous: Pick<ReconcileRun, 'lastCleanAt' | 'lastFullAt'> | undefined,
  reindexed?: ReindexReport,
  sweep?: SweepSummary,
  continued?: { startedAt: string; steps: number },
): ReconcileRun {
  const iso = at.toISOString();
  const repaired = reindexed !== undefined && reindexed.failed.length === 0;
  const ok =
    report.ok ||
    (repaired &&
      report.rawMissing.length === 0 &&
      report.notForwarded.length === 0 &&
      report.forwardsUnsettled.length === 0);
  const left = (n: number) => (repaired ? 0 : n);
  const lastCleanAt = ok ? iso : previous?.lastCleanAt;
  const lastFullAt = report.since === undefined ? (continued?.startedAt ?? iso) : previous?.lastFullAt;
  return {
    at: iso,
    ...(continued ? { startedAt: continued.startedAt } : {}),
    ok,
    ...(lastCleanAt ? { lastCleanAt } : {}),
    layout: RECONCILE_LAYOUT,
    ...(report.since !== undefined ? { since: report.since } : {}),
    ...(lastFullAt ? { lastFullAt } : {}),
    ...(report.reason !== undefined ? { reason: report.reason } : {}),
    ...(report.configPrint !== undefined ? { configPrint: report.configPrint } : {}),
    ...(report.examined ? { examined: { ...report.examined } } : {}),
    rawMessages: report.rawMessages,
    notIndexed: left(report.notIndexed.length),
    unrecorded: left(report.unrecorded.length),
    unreadableEnvelopes: left(report.unreadableEnvelopes.length),
    rawMissing: report.rawMissing.length,
    notForwarded: report.notForwarded.length,
    forwardsUnsettled: report.forwardsUnsettled.length,
    notLogged: left(report.notLogged.length),
    ...(continued ? { steps: continued.steps } : {}),
    ...(reindexed ? { reindexed: reindexed.restored, reindexFailed: reindexed.failed.length } : {}),
    ...(sweep
      ? {
          lockedBySweep: sweep.locked,
          unlockedMessages: sweep.unlockedMessages,
          ...(sweep.lockedThrough ? { lockedThrough: sweep.lockedThrough } : {}),
        }
      : {}),
  };
}

/** A record read back from `where`. Throws JsonShapeError when it is not JSON or not a record. */
export function parseReconcileRun(text: string, where: string): ReconcileRun {
  return parseJsonAs(reconcileRunSchema, text, where);
}

/** The later of two records (by `at`), either of which may be missing. */
export function latestReconcileRun(
  a: ReconcileRun | undefined,
  b: ReconcileRun | undefined,
): ReconcileRun | undefined {
  if (!a || !b) return a ?? b;
  return Date.parse(b.at) > Date.parse(a.at) ? b : a;
}

/**
 * The scheduled reconcile's record in `bucket` (RECONCILE_REPORT_KEY), or undefined when none was written yet.
 * Throws JsonShapeError when the object is not a record, and what the store throws.
 */
export async function readStoredReconcileRun(
  store: RawMailStore,
  bucket: string,
): Promise<ReconcileRun | undefined> {
  const location = { bucket, key: RECONCILE_REPORT_KEY };
  if (!(await store.exists(location))) return undefined;
  return parseReconcileRun(
    (await readObject(store, location)).toString('utf8'),
    `s3://${bucket}/${location.key}`,
  );
}

/** Writes `run` as the scheduled reconcile's record in `bucket`, replacing the last one. */
export async function writeStoredReconcileRun(
  store: RawMailStore,
  bucket: string,
  run: ReconcileRun,
): Promise<void> {
  await store.write({ bucket, key: RECONCILE_REPORT_KEY }, Buffer.from(JSON.stringify(run)));
}

/**
 * What kind of run a record is, for a person: "full walk" or "changes since <ISO>", with what it read one by one
 * when recorded ("42 objects, 3 log objects, 40 rows examined").
 */
export function describeRunKind(run: Pick<ReconcileRun, 'since' | 'examined'>): string {
  const kind = run.since ? `changes since ${run.since}` : 'full walk';
  const e = run.examined;
  return e ? `${kind}, ${e.objects} objects, ${e.logObjects} log objects, ${e.rows} rows examined` : kind;
}
