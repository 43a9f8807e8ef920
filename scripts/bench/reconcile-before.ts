// The reconcile before issue 30 (main at fea98c5), kept only as the benchmark's baseline: it collects every row,
// every raw key and the whole delivery log before it compares. Not used by the archiver.

import { EnvelopeFormatError, type EnvelopeRecord, readEnvelope } from '../../shared/archive/envelope';
import type { ReconcileDeps, ReconcileReport } from '../../shared/archive/reconcile';
import type { DeliveryLog } from '../../shared/delivery-log/log';
import { canonicalRecord, deliveryIdentity, deliveryRecordOf } from '../../shared/delivery-log/record';
import { isRedrivable } from '../../shared/forwarding/ledger';
import { forwardRequestsFor } from '../../shared/forwarding/policy';
import {
  type DeliveryRow,
  envelopeKey,
  isImportedMessage,
  isNotMailObject,
  RAW_MAIL_PREFIX,
} from '../../shared/index/schema';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * Compares the raw store (the truth) with the index and the forwarding ledger. Returns counts and, per problem,
 * the keys: raw objects without their rows, rows whose object is gone, rows never forwarded to a target,
 * ledger entries failed or abandoned (ledger.ts), and receipts whose ingest never finished; `ok` when all are
 * empty. Reads everything (a scan of the index, a listing of the bucket): for the CLI, not a Lambda. Throws what
 * the store and the index throw.
 */
export async function reconcileBefore(deps: ReconcileDeps): Promise<ReconcileReport> {
  const now = (deps.now ?? (() => new Date()))();
  const raw = (await collect(deps.store.list(deps.bucket, RAW_MAIL_PREFIX))).filter(
    (o) => !isNotMailObject(o.key),
  );
  const rows = await collect(deps.index.allDeliveries());
  const rawKeys = new Set(raw.map((o) => o.key));
  const rowsByKey = groupByRawKey(rows);
  const rowIds = new Set(rows.map(rowId));
  const notIndexed = [];
  const unrecorded: ReconcileReport['unrecorded'] = [];
  const unreadableEnvelopes: ReconcileReport['unreadableEnvelopes'] = [];
  for (const object of raw) {
    let state: Awaited<ReturnType<typeof indexState>>;
    try {
      state = await indexState(deps, rowsByKey, rowIds, object.key);
    } catch (error) {
      // One damaged sidecar must not hide every other finding: it is a finding of its own.
      if (!(error instanceof EnvelopeFormatError)) throw error;
      unreadableEnvelopes.push({
        key: object.key,
        envelope: envelopeKey(object.key.slice(RAW_MAIL_PREFIX.length)),
        reason: error.message,
      });
      continue;
    }
    if (state.missing) notIndexed.push(object.key);
    for (const row of state.unrecorded)
      unrecorded.push({ mailbox: row.mailbox, messageKey: row.messageKey, key: object.key });
  }
  const report: ReconcileReport = {
    rawMessages: raw.length,
    indexRows: rows.length,
    ledgerEntries: 0,
    notIndexed,
    unreadableEnvelopes,
    unrecorded,
    rawMissing: rows
      .filter((r) => !rawKeys.has(r.location.key))
      .map((r) => ({ mailbox: r.mailbox, messageKey: r.messageKey, key: r.location.key })),
    notForwarded: [],
    forwardsUnsettled: [],
    notLogged: [],
    badLogLines: 0,
    ok: false,
  };
  if (deps.deliveryLog) {
    const logged = await loggedDeliveries(deps.deliveryLog);
    report.badLogLines = logged.badLines;
    report.notLogged = unloggedRows(rows, logged).map((r) => ({
      mailbox: r.mailbox,
      folder: r.folder,
      uid: r.uid,
      messageKey: r.messageKey,
    }));
  }
  for (const mailbox of Object.keys(deps.config.mailboxes)) {
    const targets = deps.config.mailboxes[mailbox]?.forwardTo ?? [];
    if (targets.length === 0) continue;
    const ledger = await collect(deps.index.listForwards(mailbox));
    report.ledgerEntries += ledger.length;
    const recorded = new Set(ledger.map((e) => `${e.messageKey} ${e.target}`));
    for (const row of rows) {
      if (row.mailbox !== mailbox || isImportedMessage(row.sesMessageId)) continue;
      if (forwardRequestsFor(deps.config, row.messageKey, [row]).length === 0) continue;
      for (const target of targets) {
        if (!recorded.has(`${row.messageKey} ${target}`)) {
          report.notForwarded.push({ mailbox, messageKey: row.messageKey, target });
        }
      }
    }
    for (const entry of ledger) {
      if (isRedrivable(entry, now)) {
        report.forwardsUnsettled.push({
          mailbox,
          messageKey: entry.messageKey,
          target: entry.target,
          state: entry.state,
        });
      }
    }
  }
  report.ok =
    report.notIndexed.length === 0 &&
    report.unreadableEnvelopes.length === 0 &&
    report.unrecorded.length === 0 &&
    report.rawMissing.length === 0 &&
    report.notForwarded.length === 0 &&
    report.forwardsUnsettled.length === 0 &&
    report.notLogged.length === 0;
  return report;
}

const rowId = (row: { mailbox: string; messageKey: string }) => `${row.mailbox}\n${row.messageKey}`;

function groupByRawKey(rows: DeliveryRow[]): Map<string, DeliveryRow[]> {
  const byKey = new Map<string, DeliveryRow[]>();
  for (const row of rows) byKey.set(row.location.key, [...(byKey.get(row.location.key) ?? []), row]);
  return byKey;
}

/**
 * Does a raw object lack rows, and which of its rows does its sidecar not record? The sidecar (returned, so
 * callers need not read it again) says which rows it had (or, for a delivery it records as the same content as
 * another message, that message's row) and whether every envelope was indexed to the end;
 * without one, any row will do and every row is unrecorded.
 */
async function indexState(
  deps: Pick<ReconcileDeps, 'store' | 'bucket'>,
  rowsByKey: Map<string, DeliveryRow[]>,
  /** Every row's mailbox and message key ({@link rowId}). */
  rowIds: Set<string>,
  key: string,
): Promise<{ missing: boolean; unrecorded: DeliveryRow[]; envelope?: EnvelopeRecord }> {
  const present = rowsByKey.get(key) ?? [];
  const envelope = await readEnvelope(deps.store, deps.bucket, key.slice(RAW_MAIL_PREFIX.length));
  if (!envelope) return { missing: present.length === 0, unrecorded: present };
  const missing =
    (present.length === 0 && envelope.deliveries.length === 0) ||
    envelope.receipts.some((r) => !r.indexedAt) ||
    envelope.deliveries.some((d) =>
      // A duplicate of another message with the same content is served by that message's row.
      d.sameAs
        ? !rowIds.has(rowId({ mailbox: d.mailbox, messageKey: d.sameAs }))
        : !present.some((r) => r.mailbox === d.mailbox && r.messageKey === envelope.messageKey),
    );
  const unrecorded = present.filter((r) => !envelope.deliveries.some((d) => d.mailbox === r.mailbox));
  return { missing, unrecorded, envelope };
}

/** What the whole log records: each delivery's identity with its canonical record, and how much was read. */
interface LoggedDeliveries {
  records: Map<string, string>;
  objects: number;
  /** Lines that are not records (reconcile reports the count; the objects' other lines are used). */
  badLines: number;
}

/** Reads every log object (for reconcile and reindex: the whole log, once). Throws what the store throws. */
async function loggedDeliveries(log: DeliveryLog): Promise<LoggedDeliveries> {
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
function unloggedRows(rows: Iterable<DeliveryRow>, logged: LoggedDeliveries): DeliveryRow[] {
  const out: DeliveryRow[] = [];
  for (const row of rows) {
    const record = deliveryRecordOf(row);
    const line = logged.records.get(deliveryIdentity(record));
    if (line === undefined || withoutVersion(line) !== canonicalRecord(record)) out.push(row);
  }
  return out;
}

const withoutVersion = (line: string) => line.replace(/,"versionId":"(?:[^"\\]|\\.)*"/, '');
