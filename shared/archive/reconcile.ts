// The raw store is the truth; the index and the forwarding ledger are derived. `reconcile` compares the three
// and reports anything missing from one of them; `reindex` rebuilds missing rows from S3 alone (the raw mail
// and the envelope sidecars ingest writes), giving every message back the UIDs it had.
import type { ArchiverConfig } from '../config';
import { loggedDeliveries, logRows, unloggedRows } from '../delivery-log/audit';
import type { DeliveryLog } from '../delivery-log/log';
import { errorMessage } from '../errors';
import { type ForwardState, isRedrivable } from '../forwarding/ledger';
import { forwardRequestsFor } from '../forwarding/policy';
import {
  type DeliveryRow,
  envelopeKey,
  isImportedMessage,
  isNotMailObject,
  RAW_MAIL_PREFIX,
} from '../index/schema';
import { CONTENT_RULE, contentSha256 } from '../mail/content-identity';
import type { ForwardLedger, ForwardQueue, MailIndex, RawMailStore } from '../ports';
import { buildReceivedNotification, type SesReceivedNotification } from '../receiving/ses-notification';
import {
  EnvelopeFormatError,
  type EnvelopeRecord,
  readEnvelope,
  recordContentIdentity,
  recordRows,
  setAsideDamagedEnvelope,
} from './envelope';
import { archiveReceivedMail, type IngestDeps } from './ingest';
import { readObject } from './raw-object';

export interface ReconcileDeps {
  config: ArchiverConfig;
  store: RawMailStore;
  index: MailIndex & ForwardLedger;
  bucket: string;
  now?: () => Date;
  /**
   * Reindex: where messages whose ingest never finished are queued for forwarding (ingest queues them only at
   * its end). Rows lost from a finished ingest are not forwarded again.
   */
  forwards?: ForwardQueue;
  /**
   * The delivery log: reconcile reports the rows it does not record, reindex logs them (and the rows it
   * rebuilds). Without it neither looks at the log.
   */
  deliveryLog?: DeliveryLog;
}

export interface ReconcileReport {
  rawMessages: number;
  indexRows: number;
  ledgerEntries: number;
  /**
   * Raw objects missing a row the envelope sidecar says they had, with an envelope whose ingest never finished
   * (a message in the ingest dead-letter queue), or with no row at all.
   */
  notIndexed: string[];
  /**
   * Raw objects whose envelope sidecar cannot be read (not JSON, not a sidecar): their other checks were skipped.
   * `reindex` keeps the damaged bytes aside and rebuilds the sidecar from the index rows (or the headers).
   */
  unreadableEnvelopes: { key: string; envelope: string; reason: string }[];
  /** Index rows no envelope sidecar records: `reindex` would not bring them back (it records them). */
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
  ok: boolean;
}

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
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
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

export interface ReindexReport {
  examined: number;
  restored: number;
  /** Restored without an envelope sidecar: recipients taken from the message's headers, new UIDs. */
  withoutEnvelope: number;
  /** Rows written into their message's sidecar because it did not record them. */
  recorded: number;
  /**
   * Indexed messages given their content markers (indexed before markers existed): read once, their content
   * identity then kept in the sidecar, so a later run does not read them again.
   */
  contentMarked: number;
  /**
   * Raw objects with no sidecar whose headers name no configured mailbox (a Bcc, a lost notification, not mail at
   * all): filed under the `unrouted` pseudo-mailbox, as ingest files mail that reaches no mailbox.
   */
  unrouted: string[];
  /** Damaged sidecars rebuilt: the sidecar's key and where its damaged bytes were kept. */
  repairedEnvelopes: { envelope: string; keptAs: string }[];
  /** Rows that were there and the delivery log did not record, logged now (rows rebuilt are logged too). */
  logged: number;
  failed: { key: string; reason: string }[];
}

/**
 * Re-indexes every raw message that lacks rows. The ingest use case itself does the work, fed the envelope
 * the sidecar kept and asked to give the recorded UIDs back; forwarding is not repeated (the ledger is intact,
 * and `reconcile` reports what is not), except for messages whose ingest never finished or never ran (no
 * sidecar), which go to `forwards` (the ledger still decides, so an entry already there is not sent twice).
 */
export async function reindex(
  deps: ReconcileDeps & Pick<IngestDeps, 'limits'>,
  deriveRecipients: (raw: Buffer) => Promise<string[]>,
): Promise<ReindexReport> {
  const report: ReindexReport = {
    examined: 0,
    restored: 0,
    withoutEnvelope: 0,
    recorded: 0,
    contentMarked: 0,
    repairedEnvelopes: [],
    unrouted: [],
    logged: 0,
    failed: [],
  };
  const now = (deps.now ?? (() => new Date()))().toISOString();
  const rows = await collect(deps.index.allDeliveries());
  const logged = deps.deliveryLog ? await loggedDeliveries(deps.deliveryLog) : undefined;
  const logBatch = deps.deliveryLog?.batch('reindex');
  const rowsByKey = groupByRawKey(rows);
  const rowIds = new Set(rows.map(rowId));
  for await (const object of deps.store.list(deps.bucket, RAW_MAIL_PREFIX)) {
    if (isNotMailObject(object.key)) continue;
    report.examined += 1;
    const sesMessageId = object.key.slice(RAW_MAIL_PREFIX.length);
    try {
      let state: Awaited<ReturnType<typeof indexState>>;
      try {
        state = await indexState(deps, rowsByKey, rowIds, object.key);
      } catch (error) {
        if (!(error instanceof EnvelopeFormatError)) throw error;
        // Damaged (a partial write, a hand edit): keep its bytes aside, start an empty one, and record below what
        // the index rows still know (or, without rows, what the headers say, as for a message with no sidecar).
        const keptAs = await setAsideDamagedEnvelope(deps.store, deps.bucket, sesMessageId, now);
        report.repairedEnvelopes.push({ envelope: envelopeKey(sesMessageId), keptAs });
        state = await indexState(deps, rowsByKey, rowIds, object.key);
      }
      let envelope = state.envelope;
      if (state.unrecorded.length > 0) {
        envelope = await recordRows(deps.store, deps.bucket, state.unrecorded, now);
        report.recorded += state.unrecorded.length;
      }
      if (!state.missing) {
        // Ingest claims the markers of what it indexes; these rows are from before it did, or before the content
        // rule they were made by changed (shared/mail/content-identity.ts CONTENT_RULE).
        const present = rowsByKey.get(object.key) ?? [];
        if (envelope && !hasCurrentIdentity(envelope) && present.length > 0) {
          await markContent(deps, envelope, present, object.key);
          report.contentMarked += 1;
        }
        continue;
      }
      let notifications: SesReceivedNotification[];
      if (envelope && envelope.receipts.length > 0) {
        notifications = envelope.receipts.map((r) => r.notification);
      } else {
        const raw = await readObject(deps.store, { bucket: deps.bucket, key: object.key });
        const recipients = await deriveRecipients(raw);
        // Nothing says whose it is: kept where `list unrouted` and an export see it (it was never "no mail").
        if (recipients.length === 0) report.unrouted.push(object.key);
        notifications = [
          buildReceivedNotification({
            messageId: sesMessageId,
            timestamp: new Date(),
            source: '',
            recipients,
            bucket: deps.bucket,
            objectKey: object.key,
          }),
        ];
        report.withoutEnvelope += 1;
      }
      // Every envelope the message ever arrived with: each routes to its own mailboxes. One whose ingest never
      // finished was never forwarded either: that happens now.
      const unfinished = new Set(envelope?.receipts.filter((r) => !r.indexedAt).map((r) => r.notification));
      for (const notification of notifications) {
        await archiveReceivedMail(notification, {
          config: deps.config,
          store: deps.store,
          index: deps.index,
          ...(deps.limits ? { limits: deps.limits } : {}),
          ...(envelope ? { restore: envelope.deliveries } : {}),
          ...(logBatch ? { logBatch } : {}),
          // Without a sidecar (or one that records no envelope) no ingest is known to have run (SES could not
          // publish, SNS could not deliver): never forwarded, unless the ledger says otherwise.
          ...(deps.forwards && (!envelope || envelope.receipts.length === 0 || unfinished.has(notification))
            ? { forwards: deps.forwards }
            : {}),
        });
      }
      report.restored += 1;
      await logBatch?.flushIfDue({ records: 1000, ms: Number.POSITIVE_INFINITY });
    } catch (error) {
      report.failed.push({ key: object.key, reason: errorMessage(error) });
    }
  }
  if (logBatch && logged) {
    // The log is derived from the rows: what it lacks is written again (a process killed before its batch).
    report.logged = await logRows(logBatch, unloggedRows(rows, logged));
    await logBatch.flush();
  }
  return report;
}

const hasCurrentIdentity = (envelope: EnvelopeRecord) =>
  envelope.contentSha256 !== undefined && (envelope.contentRule ?? 1) >= CONTENT_RULE;

/**
 * Content markers for the rows of a message indexed before markers existed, or by an older content rule: its
 * content identity from its bytes, a marker claimed for each row (first writer wins: where another copy of the
 * message was indexed too, both rows stay, as they were), and the identity kept in the sidecar.
 */
async function markContent(
  deps: Pick<ReconcileDeps, 'store' | 'bucket' | 'index'>,
  envelope: EnvelopeRecord,
  rows: DeliveryRow[],
  key: string,
): Promise<EnvelopeRecord> {
  const content = contentSha256(await readObject(deps.store, { bucket: deps.bucket, key }));
  for (const row of rows) await deps.index.claimContent(row.mailbox, content, row.messageKey);
  return recordContentIdentity(deps.store, deps.bucket, envelope, content);
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

/** What `reconcile --accept-unforwarded` records in the ledger for each entry it accepts. */
export const ACCEPTED_UNFORWARDED_REASON =
  'accepted by "reconcile --accept-unforwarded": no ledger entry, so whether it was forwarded is unknown';

/**
 * After an index loss the forwarding ledger, which lived in the lost table, is gone: every message reindexed
 * since has no ledger entry, so `reconcile` reports it "never forwarded" although most were. Nothing in the
 * archive can tell which; the operator decides. This records each of `entries` as skipped (so it is neither
 * forwarded again nor reported again); an entry that exists by now is left as it is. Returns how many it wrote.
 */
export async function acceptUnforwarded(
  deps: Pick<ReconcileDeps, 'index' | 'now'>,
  entries: ReconcileReport['notForwarded'],
): Promise<number> {
  const now = (deps.now ?? (() => new Date()))();
  for (const entry of entries) await deps.index.skipForward(entry, ACCEPTED_UNFORWARDED_REASON, now);
  return entries.length;
}
