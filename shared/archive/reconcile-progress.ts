// What a reconcile run carries between its steps: the report it builds (what differs, with the keys) and its
// progress (a JSON-safe checkpoint the scheduled function saves between invocations), and how a run since a
// cut-off becomes a full walk. The run itself is reconcile.ts.
import type { ForwardState } from '../forwarding/ledger';
import type { ReconcileDeps, RowRef } from './reconcile-walk';

/**
 * How many sidecars written since its cut-off a run since a cut-off lists before it becomes a full walk: 20,000
 * (its progress then holds their ids and their objects' rows; the size measured is in docs/reconcile.md).
 */
export const MAX_CHANGED_SINCE = 20_000;

export interface ReconcileReport {
  rawMessages: number;
  indexRows: number;
  ledgerEntries: number;
  /**
   * Raw objects missing a row their envelope says they had (the sidecar, or for a message without one the
   * delivery log's records with a receipt), with an envelope whose ingest never finished (a message in the
   * ingest dead-letter queue), or with no row at all.
   */
  notIndexed: string[];
  /**
   * Raw objects whose envelope sidecar cannot be read (not JSON, not a sidecar): their other checks were skipped.
   * `reindex` keeps the damaged bytes aside and rebuilds the sidecar from the index rows (or the headers).
   */
  unreadableEnvelopes: { key: string; envelope: string; reason: string }[];
  /**
   * Index rows that neither an envelope sidecar nor a delivery-log record with a receipt records: `reindex`
   * would not bring them back (it records them in a sidecar).
   */
  unrecorded: { mailbox: string; messageKey: string; key: string }[];
  /** Index rows whose raw object is gone. */
  rawMissing: { mailbox: string; messageKey: string; key: string }[];
  /** Rows that should have been forwarded but have no ledger entry for a target. */
  notForwarded: { mailbox: string; messageKey: string; target: string }[];
  /** Ledger entries still failed, or claimed by a worker that died. */
  forwardsUnsettled: { mailbox: string; messageKey: string; target: string; state: ForwardState }[];
  /** Index rows the delivery log does not record (a process killed between its rows and its log batch). */
  notLogged: { mailbox: string; folder: string; uid: number; messageKey: string }[];
  /** Lines of the delivery log that are not records (reported; the log is append-only, reindex logs the rows). */
  badLogLines: number;
  /**
   * The first BAD_LINES_NAMED of them: the log object's key, the line (1-based) and why it is not a record. A line a
   * newer version wrote reads as a version this one does not know; a damaged one may have been the only record of
   * the mailboxes its message reached that no row shows any more (docs/delivery-log.md).
   */
  badLogLinesAt?: { key: string; line: number; reason: string }[];
  /** ISO 8601 UTC: the run compared only what changed from then on (reconcile-scope.ts); absent: a full walk. */
  since?: string;
  /** Why the run compared what it did (reconcile-scope.ts), when it was told or it became a full walk. */
  reason?: string;
  /** What the comparison read of the config (reconcile-walk.ts comparisonConfigPrint), when the run started. */
  configPrint?: string;
  /**
   * What the run read one by one: raw objects compared (each sidecar read), delivery-log objects read, rows
   * compared (`rawMessages` counts every object listed). Absent in a report continued from an older progress.
   */
  examined?: { objects: number; logObjects: number; rows: number };
  ok: boolean;
}

/**
 * Where a reconcile run stands, JSON-safe (a checkpoint between invocations). Phases in order: `log` (the
 * delivery log read into fingerprints), `objects` (the bucket's listing beside the rows in raw-key order),
 * `mailboxes` (each mailbox's rows beside its ledger), `done`. Each cursor is the last key fully compared.
 */
export interface ReconcileProgress {
  version: 1;
  /** When the run started (ISO 8601 UTC). */
  startedAt: string;
  /**
   * A run since a cut-off (ISO 8601 UTC) starts with an `envelopes` phase (the sidecars written since, listed
   * into `changedIds`; more than `changedLimit` make it a full walk from the start), and its `mailboxes` phase
   * compares only `changedRows` (the rows of the objects it compared).
   */
  since?: string;
  phase: 'log' | 'envelopes' | 'objects' | 'mailboxes' | 'done';
  /** How many times the run was continued (1 after its first step). */
  steps: number;
  /** The last delivery-log object read. */
  logAfter?: string;
  /** The log's fingerprints so far (delivery-log/audit.ts LoggedPrints, base64). */
  logPrints?: string;
  /**
   * The receipt prints (delivery-log/audit.ts receiptPrint) of the log's records that carry a receipt, as
   * `logPrints`: what stands in for the sidecar of a message ingest wrote none for. Absent in a progress saved
   * before they were kept (such a run reads sidecar-less messages as before: every row unrecorded).
   */
  receiptPrints?: string;
  /** The last raw object compared. */
  objectsAfter?: string;
  /** The mailboxes the run walks, fixed when it starts. */
  mailboxes: string[];
  /** Which of them is being walked, and its last row compared. */
  mailboxIndex: number;
  rowsAfter?: string;
  /** A run since a cut-off: the last sidecar listed, the raw objects whose sidecar changed (their ids). */
  envelopesAfter?: string;
  changedIds?: string[];
  /** A run since a cut-off: the rows of the objects it compared, and how many of them are compared. */
  changedRows?: RowRef[];
  rowIndex?: number;
  report: ReconcileReport;
}

/** How much one step may do: stop once `units` (log objects, raw objects, rows) are done or at `deadline`. */
export interface ReconcileBudget {
  units?: number;
  /** Epoch milliseconds. */
  deadline?: number;
}

/** How many bad delivery-log lines a report names (it counts them all). */
export const BAD_LINES_NAMED = 20;

/**
 * Makes a run since a cut-off that is comparing objects a full walk from the start: the log is read again from
 * its beginning, and what the objects compared so far found is forgotten (the full walk compares them again).
 */
export function restartAsFullWalk(progress: ReconcileProgress, deps: ReconcileDeps): void {
  becomeFullWalk(progress);
  progress.objectsAfter = undefined;
  progress.phase = deps.deliveryLog ? 'log' : 'objects';
  const found = { notIndexed: [], unreadableEnvelopes: [], unrecorded: [], rawMissing: [] };
  // What the log phase and the walk counted so far is counted again by the full walk.
  Object.assign(progress.report, {
    rawMessages: 0,
    badLogLines: 0,
    badLogLinesAt: [],
    examined: { objects: 0, logObjects: 0, rows: 0 },
    ...found,
  });
}

/**
 * Makes a run since a cut-off a full walk from the start (nothing was compared yet, the log not read): the
 * cut-off, the lists and the cursors of the phases before the objects are dropped.
 */
export function becomeFullWalk(progress: ReconcileProgress): void {
  progress.since = undefined;
  progress.report.since = undefined;
  progress.changedIds = undefined;
  progress.changedRows = undefined;
  progress.rowIndex = undefined;
  progress.envelopesAfter = undefined;
  progress.logAfter = undefined;
  progress.logPrints = undefined;
  progress.receiptPrints = undefined;
}
