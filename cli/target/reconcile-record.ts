// The CLI's record of its last `reconcile` of a target, kept in the data directory (last-reconcile.<target>.json)
// in the scheduled reconcile's shape (shared/archive/reconcile-run.ts), read by `status` and `doctor`.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReconcileReport } from '../../shared/archive/reconcile';
import {
  parseReconcileRun,
  type ReconcileRun,
  reconcileRunOf,
  type SweepSummary,
} from '../../shared/archive/reconcile-run';
import { JsonShapeError } from '../../shared/json';

const recordPath = (home: string, target: string) => join(home, `last-reconcile.${target}.json`);

/**
 * The last `reconcile` of `target` recorded under `home`, or undefined when there is none. A record damaged by
 * hand or cut short reads as none (doctor then says "no reconcile recorded", never "found differences at
 * undefined"); the next `reconcile` replaces it.
 */
export function readReconcileRecord(home: string, target: string): ReconcileRun | undefined {
  const path = recordPath(home, target);
  if (!existsSync(path)) return undefined;
  try {
    return parseReconcileRun(readFileSync(path, 'utf8'), path);
  } catch (error) {
    if (error instanceof JsonShapeError) return undefined;
    throw error;
  }
}

/**
 * Records a `reconcile` of `target` that ended at `now` with `report` (and `sweep`, its lock sweep when the archive
 * locks), keeping when it last ran clean.
 */
export function recordReconcileRun(
  home: string,
  target: string,
  report: ReconcileReport,
  now = new Date(),
  sweep?: SweepSummary,
): ReconcileRun {
  const run = reconcileRunOf(report, now, readReconcileRecord(home, target), undefined, sweep);
  mkdirSync(home, { recursive: true });
  writeFileSync(recordPath(home, target), `${JSON.stringify(run)}\n`);
  return run;
}
