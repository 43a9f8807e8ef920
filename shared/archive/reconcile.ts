// The raw store is the truth; the index and the forwarding ledger are derived. `reconcile` compares the three
// (and the delivery log) and reports anything missing from one of them; `reindex` (reindex.ts) rebuilds missing
// rows from S3 alone (the raw mail and its envelope: a sidecar, or the delivery log's records with the receipt),
// giving every message back its UIDs.
//
// A run walks the archive in order (reconcile-walk.ts) and keeps only what differs, so its memory does not grow
// with the archive (the delivery log aside: 8 bytes a record and 8 more a record with a receipt, see
// delivery-log/audit.ts). It can stop at a budget
// and go on from its progress (a JSON-safe checkpoint) in another invocation: the scheduled function does that
// (lambdas/reconcile), the CLI runs it to the end in one go.
//
// A run either walks the whole archive or compares only what changed since a cut-off (reconcile-scope.ts says
// what that is and why it is enough): every raw object is still listed, but only those written, or whose sidecar
// was written, since the cut-off are read and their rows compared. Such a run keeps the ids of the sidecars written
// since, and the rows of the objects it compares, in its progress: when more than `changedLimit` sidecars were
// written since (a history import), or it compares more objects than that, it becomes a full walk, which keeps
// neither, so the progress stays small.
import { addReceiptPrints, LoggedPrints } from '../delivery-log/audit';
import { LOG_START, startAfterTime } from '../delivery-log/layout';
import { type ForwardEntry, isRedrivable } from '../forwarding/ledger';
import { forwardRequestsFor } from '../forwarding/policy';
import {
  type DeliveryRow,
  ENVELOPE_PREFIX,
  envelopeKey,
  isImportedMessage,
  RAW_MAIL_PREFIX,
  rawMailKey,
} from '../index/schema';
import { addressKey } from '../mail/address';
import { EnvelopeFormatError } from './envelope';
import {
  BAD_LINES_NAMED,
  becomeFullWalk,
  MAX_CHANGED_SINCE,
  type ReconcileBudget,
  type ReconcileProgress,
  type ReconcileReport,
  restartAsFullWalk,
} from './reconcile-progress';
import {
  changedSince,
  comparisonConfigPrint,
  indexState,
  isCanaryRow,
  isExpiredCanary,
  type ReconcileDeps,
  type RowRef,
  walkedMailboxes,
  walkMailboxRows,
  walkRawObjects,
} from './reconcile-walk';

export { ACCEPTED_UNFORWARDED_REASON, acceptUnforwarded } from './reconcile-accept';
export {
  BAD_LINES_NAMED,
  MAX_CHANGED_SINCE,
  type ReconcileBudget,
  type ReconcileProgress,
  type ReconcileReport,
} from './reconcile-progress';
export type { ReconcileDeps } from './reconcile-walk';
export { type ReindexReport, reindex } from './reindex';

/**
 * A new run: nothing compared yet; with `since` (ISO 8601 UTC), one that compares what changed from then on
 * (reconcile-scope.ts), and `reason` why. Throws what the index throws (listing the mailboxes).
 */
export async function startReconcile(
  deps: ReconcileDeps,
  scope: { since?: string; reason?: string } = {},
): Promise<ReconcileProgress> {
  const { since, reason } = scope;
  return {
    version: 1,
    startedAt: (deps.now ?? (() => new Date()))().toISOString(),
    ...(since !== undefined
      ? {
          since,
          // The log from the cut-off: a row's records are put after the row, under a key taken from the same clock.
          logAfter: startAfterTime(new Date(since)),
          changedIds: [],
          changedRows: [],
          rowIndex: 0,
        }
      : {}),
    phase: since !== undefined ? 'envelopes' : deps.deliveryLog ? 'log' : 'objects',
    steps: 0,
    mailboxes: await walkedMailboxes(deps),
    mailboxIndex: 0,
    report: {
      rawMessages: 0,
      indexRows: 0,
      ledgerEntries: 0,
      notIndexed: [],
      unreadableEnvelopes: [],
      unrecorded: [],
      rawMissing: [],
      notForwarded: [],
      forwardsUnsettled: [],
      notLogged: [],
      badLogLines: 0,
      ...(since !== undefined ? { since } : {}),
      ...(reason !== undefined ? { reason } : {}),
      configPrint: comparisonConfigPrint(deps.config),
      examined: { objects: 0, logObjects: 0, rows: 0 },
      ok: false,
    },
  };
}

/**
 * Compares until the run is done or the budget is spent, and returns where it stands (a new object; `phase`
 * 'done' and `report` complete at the end). Throws what the store and the index throw (the progress given is
 * then still a valid place to go on from).
 */
export async function continueReconcile(
  deps: ReconcileDeps,
  from: ReconcileProgress,
  budget: ReconcileBudget = {},
): Promise<ReconcileProgress> {
  const progress: ReconcileProgress = structuredClone(from);
  progress.steps += 1;
  const report = progress.report;
  report.examined ??= { objects: 0, logObjects: 0, rows: 0 };
  const examined = report.examined;
  let since = progress.since;
  const now = (deps.now ?? (() => new Date()))();
  let units = 0;
  const spent = () =>
    (budget.units !== undefined && units >= budget.units) ||
    (budget.deadline !== undefined && Date.now() >= budget.deadline);

  if (progress.phase === 'envelopes') {
    progress.changedIds ??= [];
    const changed = progress.changedIds;
    const limit = deps.changedLimit ?? MAX_CHANGED_SINCE;
    if (since !== undefined) {
      for await (const object of deps.store.list(deps.bucket, ENVELOPE_PREFIX, progress.envelopesAfter)) {
        const id = object.key.slice(ENVELOPE_PREFIX.length, -'.json'.length);
        // Damaged sidecars kept aside (reindex) are not sidecars.
        if (envelopeKey(id) === object.key && changedSince(object.lastModified, since)) changed.push(id);
        progress.envelopesAfter = object.key;
        units += 1;
        if (changed.length > limit) {
          // The list (and the rows of those objects, later) would be written with the progress at every step and
          // grow with the change; a full walk holds neither and reads about as much when most of it changed.
          report.reason = `more than ${limit} sidecars were written since ${since}: a full walk keeps no list of them`;
          becomeFullWalk(progress);
          since = undefined;
          break;
        }
        if (spent()) return progress;
      }
    }
    // A progress saved before the log came after this phase has its log read already (from the cut-off).
    progress.phase = deps.deliveryLog && progress.logPrints === undefined ? 'log' : 'objects';
  }

  if (progress.phase === 'log') {
    const prints = progress.logPrints
      ? LoggedPrints.fromBase64(progress.logPrints, false)
      : new LoggedPrints();
    // A progress saved before receipt prints were kept (its log half read) goes on without them.
    const fresh = progress.logPrints === undefined ? new LoggedPrints() : undefined;
    const kept = progress.receiptPrints;
    const receiptPrints = kept !== undefined ? LoggedPrints.fromBase64(kept, false) : fresh;
    const log = deps.deliveryLog;
    if (log) {
      const cursor = { after: progress.logAfter ?? LOG_START.after, seen: [] };
      for await (const object of log.read(cursor)) {
        report.badLogLines += object.errors.length;
        for (const { line, reason } of object.errors) {
          report.badLogLinesAt ??= [];
          if (report.badLogLinesAt.length < BAD_LINES_NAMED)
            report.badLogLinesAt.push({ key: object.key, line, reason });
        }
        prints.add(object.records);
        if (receiptPrints) addReceiptPrints(receiptPrints, object.records);
        progress.logAfter = object.key;
        examined.logObjects += 1;
        units += 1;
        if (spent()) {
          progress.logPrints = prints.toBase64();
          if (receiptPrints) progress.receiptPrints = receiptPrints.toBase64();
          return progress;
        }
      }
    }
    progress.logPrints = prints.seal().toBase64();
    if (receiptPrints) progress.receiptPrints = receiptPrints.seal().toBase64();
    progress.phase = 'objects';
  }
  const logged = progress.logPrints ? LoggedPrints.fromBase64(progress.logPrints, true) : undefined;
  const receiptPrints = progress.receiptPrints;
  const prints = receiptPrints !== undefined ? LoggedPrints.fromBase64(receiptPrints, true) : undefined;
  const receipts = prints ? { prints, mailboxes: progress.mailboxes } : undefined;

  const changedIds = new Set(progress.changedIds ?? []);

  const compareObject = async (key: string, present: RowRef[]) => {
    examined.objects += 1;
    if (since !== undefined) {
      progress.changedRows ??= [];
      for (const { mailbox, messageKey } of present) progress.changedRows.push({ mailbox, messageKey });
    }
    try {
      const state = await indexState(deps, present, key, receipts);
      if (state.missing && !isExpiredCanary(deps.config, state.envelope, now)) report.notIndexed.push(key);
      for (const row of state.unrecorded)
        report.unrecorded.push({ mailbox: row.mailbox, messageKey: row.messageKey, key });
    } catch (error) {
      // One damaged sidecar must not hide every other finding: it is a finding of its own.
      if (!(error instanceof EnvelopeFormatError)) throw error;
      report.unreadableEnvelopes.push({
        key,
        envelope: envelopeKey(key.slice(RAW_MAIL_PREFIX.length)),
        reason: error.message,
      });
    }
  };

  if (progress.phase === 'objects') {
    for await (const group of walkRawObjects(deps, progress.mailboxes, progress.objectsAfter)) {
      for (const r of group.orphans) {
        if (!isCanaryRow(deps.config, r)) report.rawMissing.push({ ...r, key: rawMailKey(r.sesMessageId) });
      }
      if (group.key === undefined) break;
      report.rawMessages += 1;
      const id = group.key.slice(RAW_MAIL_PREFIX.length);
      if (since === undefined || changedSince(group.lastModified, since) || changedIds.has(id)) {
        const limit = deps.changedLimit ?? MAX_CHANGED_SINCE;
        if (since !== undefined && examined.objects >= limit) {
          // Messages ingest wrote no sidecar for are new raw objects, not sidecars: the rows kept grow with them
          // too. Past the bound the run starts again as a full walk, which keeps none (what it compared so far
          // is compared again).
          report.reason = `more than ${limit} messages changed since ${since}: a full walk keeps no list of them`;
          restartAsFullWalk(progress, deps);
          return continueReconcile(deps, progress, budget);
        }
        await compareObject(group.key, group.present);
      }
      progress.objectsAfter = group.key;
      units += 1;
      if (spent()) return progress;
    }
    progress.phase = 'mailboxes';
  }
  const compareRow = (mailbox: string, row: DeliveryRow, entries: ForwardEntry[], checkLog: boolean) => {
    const targets = deps.config.mailboxes[mailbox]?.forwardTo ?? [];
    report.indexRows += 1;
    examined.rows += 1;
    if (
      targets.length > 0 &&
      !isImportedMessage(row.sesMessageId) &&
      forwardRequestsFor(deps.config, row.messageKey, [row]).length > 0
    ) {
      // A target is one address in either spelling of its domain (shared/mail/address.ts): a config that
      // respells one still has the ledger's entries for it.
      const recorded = new Set(entries.map((e) => addressKey(e.target)));
      for (const target of targets) {
        if (!recorded.has(addressKey(target)))
          report.notForwarded.push({ mailbox, messageKey: row.messageKey, target });
      }
    }
    if (checkLog && logged && !logged.has(row)) {
      const { folder, uid, messageKey } = row;
      report.notLogged.push({ mailbox, folder, uid, messageKey });
    }
  };
  const countEntries = (mailbox: string, entries: ForwardEntry[]) => {
    report.ledgerEntries += entries.length;
    for (const entry of entries) {
      if (isRedrivable(entry, now)) {
        const { messageKey, target, state } = entry;
        report.forwardsUnsettled.push({ mailbox, messageKey, target, state });
      }
    }
  };

  if (progress.phase === 'mailboxes' && since !== undefined) {
    // Only the rows of the objects compared; the log was read from the cut-off, so it is asked only about rows
    // archived since (an older row was asked by an earlier run).
    const rows = progress.changedRows ?? [];
    for (let i = progress.rowIndex ?? 0; i < rows.length; i++) {
      const { mailbox, messageKey } = rows[i] as RowRef;
      const forwards = (deps.config.mailboxes[mailbox]?.forwardTo ?? []).length > 0;
      const row = await deps.index.getDelivery(mailbox, messageKey);
      const entries = forwards ? await deps.index.messageForwards(mailbox, messageKey) : [];
      countEntries(mailbox, entries);
      // A row gone since the object walk saw its key was deleted by hand: a full walk reports its object.
      if (row) compareRow(mailbox, row, entries, changedSince(row.archivedAt, since));
      progress.rowIndex = i + 1;
      units += 1;
      if (spent()) return progress;
    }
    progress.changedRows = undefined;
    progress.changedIds = undefined;
    progress.phase = 'done';
  }

  if (progress.phase === 'mailboxes') {
    for (; progress.mailboxIndex < progress.mailboxes.length; progress.mailboxIndex++) {
      const mailbox = progress.mailboxes[progress.mailboxIndex] as string;
      const targets = deps.config.mailboxes[mailbox]?.forwardTo ?? [];
      const walk = walkMailboxRows(deps.index, mailbox, targets.length > 0, progress.rowsAfter);
      for await (const { row, entries } of walk) {
        countEntries(mailbox, entries);
        if (!row) continue;
        compareRow(mailbox, row, entries, true);
        progress.rowsAfter = row.messageKey;
        units += 1;
        if (spent()) return progress;
      }
      progress.rowsAfter = undefined;
    }
    progress.phase = 'done';
  }
  progress.logPrints = undefined;
  progress.receiptPrints = undefined;
  report.ok =
    report.notIndexed.length === 0 &&
    report.unreadableEnvelopes.length === 0 &&
    report.unrecorded.length === 0 &&
    report.rawMissing.length === 0 &&
    report.notForwarded.length === 0 &&
    report.forwardsUnsettled.length === 0 &&
    report.notLogged.length === 0;
  return progress;
}

/**
 * Compares the raw store (the truth) with the index, the forwarding ledger and the delivery log, to the end in
 * one go. Returns counts and, per problem, the keys: raw objects without their rows, rows whose object is gone,
 * rows never forwarded to a target, ledger entries failed or abandoned (ledger.ts), rows the log lacks, and
 * receipts whose ingest never finished; `ok` when all are empty. Throws what the store and the index throw.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  let progress = await startReconcile(deps);
  while (progress.phase !== 'done') progress = await continueReconcile(deps, progress);
  return progress.report;
}
