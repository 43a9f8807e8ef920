// `reindex`: rebuilds the rows a raw object lacks from S3 alone (the raw mail and its envelope: the sidecar ingest
// wrote, or for a message ingest wrote none for, the delivery log's records with the receipt), giving every
// message back the UIDs it had; records rows neither records; logs rows the delivery log lacks. It walks the
// archive in order as reconcile does (reconcile-walk.ts); only what it holds of the delivery log grows with the
// log (fingerprints and where each message's receipt records are: docs/reconcile.md), nothing else.
import { addReceiptPrints, LoggedPrints, logRows, recordingBatch } from '../delivery-log/audit';
import { errorMessage } from '../errors';
import { type DeliveryRow, envelopeKey, isNotMailObject, RAW_MAIL_PREFIX } from '../index/schema';
import { CONTENT_RULE, contentSha256 } from '../mail/content-identity';
import { buildReceivedNotification, type SesReceivedNotification } from '../receiving/ses-notification';
import {
  EnvelopeFormatError,
  type EnvelopeRecord,
  recordContentIdentity,
  recordRows,
  setAsideDamagedEnvelope,
} from './envelope';
import { archiveReceivedMail, type IngestDeps } from './ingest';
import { LoggedEnvelopes, mergeEnvelopes } from './logged-envelope';
import { readObject } from './raw-object';
import {
  indexState,
  isExpiredCanary,
  type LoggedReceipts,
  type ReconcileDeps,
  type RowRef,
  walkedMailboxes,
  walkMailboxRows,
  walkRawObjects,
} from './reconcile-walk';

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
  // The whole log as fingerprints first: rows this run logs are added as it logs them (recordingBatch).
  // In the same pass, what stands in for the sidecar of a message ingest wrote none for: the prints of the records
  // that carry a receipt, and where they are (read again only for a message that lacks rows).
  let logged: LoggedPrints | undefined;
  let receipts: LoggedReceipts | undefined;
  let envelopes: LoggedEnvelopes | undefined;
  const mailboxes = await walkedMailboxes(deps);
  if (deps.deliveryLog) {
    logged = new LoggedPrints();
    const prints = new LoggedPrints();
    envelopes = new LoggedEnvelopes(deps.deliveryLog, deps.bucket);
    for await (const object of deps.deliveryLog.read()) {
      logged.add(object.records);
      addReceiptPrints(prints, object.records);
      envelopes.add(object.key, object.records);
    }
    logged.seal();
    receipts = { prints: prints.seal(), mailboxes };
    envelopes.seal();
  }
  const logBatch =
    deps.deliveryLog && logged ? recordingBatch(deps.deliveryLog.batch('reindex'), logged) : undefined;
  for await (const group of walkRawObjects(deps, mailboxes)) {
    if (group.key === undefined) break;
    const object = { key: group.key };
    if (isNotMailObject(object.key)) continue;
    report.examined += 1;
    const sesMessageId = object.key.slice(RAW_MAIL_PREFIX.length);
    try {
      let state: Awaited<ReturnType<typeof indexState>>;
      try {
        state = await indexState(deps, group.present, object.key, receipts);
      } catch (error) {
        if (!(error instanceof EnvelopeFormatError)) throw error;
        // Damaged (a partial write, a hand edit): keep its bytes aside, start an empty one, and record below what
        // the index rows still know (or, without rows, what the headers say, as for a message with no sidecar).
        const keptAs = await setAsideDamagedEnvelope(deps.store, deps.bucket, sesMessageId, now);
        report.repairedEnvelopes.push({ envelope: envelopeKey(sesMessageId), keptAs });
        state = await indexState(deps, group.present, object.key, receipts);
      }
      let envelope = state.envelope;
      if (state.unrecorded.length > 0) {
        // A message without a sidecar that the log records too: its sidecar starts from what the log says.
        const base = !envelope && state.logged ? await envelopes?.envelope(sesMessageId) : undefined;
        const rows = await fullRows(deps, state.unrecorded);
        envelope = await recordRows(deps.store, deps.bucket, rows, now, base);
        report.recorded += state.unrecorded.length;
      }
      if (!state.missing || isExpiredCanary(deps.config, envelope, new Date(now))) {
        // Ingest claims the markers of what it indexes; these rows are from before it did, or before the content
        // rule they were made by changed (shared/mail/content-identity.ts CONTENT_RULE).
        const present = group.present;
        if (envelope && !hasCurrentIdentity(envelope) && present.length > 0) {
          await markContent(deps, envelope, present, object.key);
          report.contentMarked += 1;
        }
        continue;
      }
      // No sidecar: what the delivery log recorded with the receipt is the envelope (recipients, verdicts, UIDs). A
      // sidecar written after the log (a failed second delivery of the notification) may know less: both count.
      if (envelopes) {
        // Reads nothing when the log holds no receipt record of this message.
        const fromLog = await envelopes.envelope(sesMessageId);
        envelope = envelope ? mergeEnvelopes(envelope, fromLog) : fromLog;
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
          ...(deps.locker ? { locker: deps.locker } : {}),
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
    for (const mailbox of await walkedMailboxes(deps))
      report.logged += await logRows(logBatch, unloggedRows(deps, mailbox, logged));
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
  rows: readonly RowRef[],
  key: string,
): Promise<EnvelopeRecord> {
  const content = contentSha256(await readObject(deps.store, { bucket: deps.bucket, key }));
  for (const row of rows) await deps.index.claimContent(row.mailbox, content, row.messageKey);
  return recordContentIdentity(deps.store, deps.bucket, envelope, content);
}

/** The whole rows of `refs` (the walk knows only their keys). Throws what the index throws. */
async function fullRows(deps: Pick<ReconcileDeps, 'index'>, refs: readonly RowRef[]): Promise<DeliveryRow[]> {
  const out: DeliveryRow[] = [];
  for (const ref of refs) {
    const row = await deps.index.getDelivery(ref.mailbox, ref.messageKey);
    if (row) out.push(row);
  }
  return out;
}

/** A mailbox's rows the log does not record as they are, streamed. */
async function* unloggedRows(
  deps: Pick<ReconcileDeps, 'index'>,
  mailbox: string,
  logged: LoggedPrints,
): AsyncGenerator<DeliveryRow> {
  for await (const { row } of walkMailboxRows(deps.index, mailbox, false))
    if (row && !logged.has(row)) yield row;
}
