// What a sync run reports (shared/replica/sync.ts): what it wrote, what it found in place, and each problem.
import type { MirrorResult } from '../transparency/replica-log';

/** What a run could not do; the others were done. Each makes the run end with exit status 1. */
export interface SyncProblem {
  kind: 'missing-upstream' | 'bytes-mismatch' | 'bad-log-line' | 'transparency';
  message: string;
}

/**
 * What a run found and repaired itself, or changed on request: told, but the run still succeeds (exit status 0, its
 * last successful sync), since the replica it leaves is whole and current. `progress-rebuilt`: a damaged progress
 * file or journal, kept aside and rebuilt from the tree and the log. `selection-changed`: the run's mailboxes
 * (`--mailbox`, or none: every mailbox) differ from what the replica followed, and it follows these from now on.
 * `unparsed-accepted`: log objects holding lines that do not parse, no longer reported (`--accept-unparsed`).
 */
export interface SyncNotice {
  kind: 'progress-rebuilt' | 'selection-changed' | 'unparsed-accepted';
  message: string;
}

export interface SyncReport {
  dir: string;
  startedAt: string;
  endedAt: string;
  /** No problem was found (the exit status is 0). */
  ok: boolean;
  /** New messages written into the replica. */
  added: number;
  /**
   * Messages the replica held (its folder's uidlist names them) whose file was missing or did not hold their bytes,
   * downloaded again under the same name (`--repair`, a rebuilt progress file).
   */
  restored: number;
  /** Records read that the replica held already (repeats, a resumed run). */
  present: number;
  /** Log objects read. */
  logObjects: number;
  /**
   * Records taken from the transparency log's entry bundles (256 a read) instead of the delivery log's objects:
   * a first sync's records up to the latest seal (0 when the log is not sealed yet, or the replica had a cursor).
   */
  leaves: number;
  /** Raw bytes written (new and restored messages). */
  bytes: number;
  problems: SyncProblem[];
  /** What the run repaired itself (a damaged progress file rebuilt). */
  notices: SyncNotice[];
  /** Records waiting to be tried again. */
  pending: number;
  /** The process whose stale lock (it is gone) this run took over. */
  tookOverFrom?: { pid: number; host: string };
  mailboxes: string[];
  /** The replica's copy of the transparency log after this run (absent when the source has no log). */
  transparency?: MirrorResult;
}

/** The report of a run that has done nothing yet. */
export function newReport(
  dir: string,
  startedAt: Date,
  tookOver: { pid: number; host: string } | undefined,
): SyncReport {
  return {
    dir,
    startedAt: startedAt.toISOString(),
    endedAt: '',
    ok: true,
    added: 0,
    restored: 0,
    present: 0,
    logObjects: 0,
    leaves: 0,
    bytes: 0,
    problems: [],
    notices: [],
    pending: 0,
    mailboxes: [],
    ...(tookOver ? { tookOverFrom: tookOver } : {}),
  };
}
