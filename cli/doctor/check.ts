// `mail-archiver doctor` is a list of named checks (the shape of aws-cdk's `ValidationRule[]` in
// aws-sqs/lib/validate-queue-props.ts): each looks at one thing and says ok, warn or fail, what it found, and
// the one thing to do about it. The lists are in aws-checks.ts and local-checks.ts; this is the shape, the
// runner and what both lists share.
import { describeRunKind, type ReconcileRun } from '../../shared/archive/reconcile-run';
import { errorMessage, errorName } from '../../shared/errors';

export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One line of the report. */
export interface Check {
  /** What is checked, e.g. `mx example.com`. */
  name: string;
  status: CheckStatus;
  /** What was found, one line. */
  detail: string;
  /** What to do about it, one line; absent when the check is ok. */
  fix?: string;
}

/** A check by name: looks at one thing of the run `R` and reports it (sometimes with a related second line). */
export interface NamedCheck<R> {
  /** The check's name (the report's name for a call that failed). */
  readonly name: string;
  /** Looks and says. Throws when a call fails; the runner reports that as a failed check. */
  run(run: R): Promise<Check | Check[]>;
}

export const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail });
export const warn = (name: string, detail: string, fix: string): Check => ({
  name,
  status: 'warn',
  detail,
  fix,
});
export const fail = (name: string, detail: string, fix: string): Check => ({
  name,
  status: 'fail',
  detail,
  fix,
});

/**
 * Runs `checks` in order over `run`. Never throws: a check that throws is reported as failed under its name,
 * with `fixForError` as what to do.
 */
export async function runChecks<R>(
  checks: readonly NamedCheck<R>[],
  run: R,
  fixForError: string,
): Promise<Check[]> {
  const report: Check[] = [];
  for (const check of checks) {
    try {
      report.push(...([] as Check[]).concat(await check.run(run)));
    } catch (error) {
      report.push(fail(check.name, `${errorName(error)}: ${errorMessage(error)}`, fixForError));
    }
  }
  return report;
}

/** When reconcile last ran clean: a week without one is a warning, a run that found problems a failure. */
export function reconcileCheck(last: ReconcileRun | undefined, now: Date): Check {
  const name = 'reconcile';
  if (!last) return warn(name, 'no reconcile recorded for this target', 'mail-archiver reconcile');
  if (!last.ok)
    return fail(
      name,
      `the last reconcile (${last.at}, ${describeRunKind(last)}) found differences`,
      'mail-archiver reconcile (it lists them, with the command for each)',
    );
  const days = (now.getTime() - Date.parse(last.lastCleanAt ?? last.at)) / 86_400_000;
  if (days > 7) return warn(name, `last ran clean ${Math.floor(days)} days ago`, 'mail-archiver reconcile');
  return ok(name, `ran clean at ${last.lastCleanAt ?? last.at} (last run: ${describeRunKind(last)})`);
}

/** The report for people: one line per check, the fix under it. */
export function formatChecks(checks: Check[]): string[] {
  const width = Math.max(...checks.map((c) => c.name.length));
  return checks.flatMap((c) => [
    `${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`,
    ...(c.fix ? [`${' '.repeat(6 + width)}  fix: ${c.fix}`] : []),
  ]);
}
