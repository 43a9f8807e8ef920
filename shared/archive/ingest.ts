// The archive use case: one stored message in, one index row per (mailbox, message) out. Safe to run any
// number of times, concurrently: rows are keyed by the message's identity and written conditionally.
import type { ArchiverConfig } from '../config';
import type { DeliveryLogBatch } from '../delivery-log/log';
import { type DeliveryRecord, deliveryRecordOf } from '../delivery-log/record';
import { forwardRequestsFor } from '../forwarding/policy';
import { CANARY_OBJECT_TAG, canaryExpiresAt } from '../health/config';
import {
  defaultRowBudget,
  fitRowToBudget,
  itemSizeBytes,
  minimalRow,
  type RowBudget,
  RowTooLargeError,
} from '../index/row-budget';
import {
  type DeliveryRow,
  deliveryItem,
  INDEX_SCHEMA_VERSION,
  isImportedMessage,
  messageKeyOf,
} from '../index/schema';
import {
  defaultParseLimits,
  formatAddress,
  type MessageSummary,
  type ParseLimits,
  readMessage,
} from '../mail/mime';
import type { ForwardQueue, MailIndex, RawMailStore } from '../ports';
import {
  type Delivery,
  isCanaryOnly,
  type RejectedRecipient,
  routeMessage,
  UNROUTED_MAILBOX,
} from '../receiving/routing';
import { type ImportedState, type SesReceivedNotification, verdictsOf } from '../receiving/ses-notification';
import type { ArchiveLocker } from '../retention/lock-policy';
import {
  addReceipt,
  type DeliveryOutcome,
  type EnvelopeRecord,
  recordDeliveries,
  saveEnvelope,
} from './envelope';
import { recordReceipt } from './logged-envelope';

export interface IngestDeps {
  config: ArchiverConfig;
  store: RawMailStore;
  index: MailIndex;
  now?: () => Date;
  limits?: ParseLimits;
  /** Byte limits of an index row (DynamoDB's 400 KB); tests raise them to make DynamoDB refuse a row. */
  rowBudget?: RowBudget;
  /** Forwarding runs after archiving, from this queue; duplicates are harmless (the ledger decides). */
  forwards?: ForwardQueue;
  /** Reindex: the UIDs an earlier indexing gave, to be given again rather than new ones. */
  restore?: DeliveryOutcome[];
  /**
   * Locks the version of the raw object that was read (S3 Object Lock; shared/retention). Writes are locked by
   * the store itself (shared/retention/locking-store.ts). Absent: nothing is locked (lock `off`, or a test).
   */
  locker?: ArchiveLocker;
  /**
   * Where the delivery log records of this message's rows go (shared/delivery-log): one per row, new or found
   * (a retry after a crash between the row and the log must still log it). The caller flushes the batch.
   */
  logBatch?: DeliveryLogBatch;
  /**
   * Write the envelope sidecar before the message is read as well as after it is indexed (a second PUT): the
   * ingest handler asks for it on an SQS redelivery, since the run before may have died without throwing (a
   * Lambda timeout) and this one may too. Otherwise the sidecar is written once, after the rows (unless the log
   * holds the envelope: {@link envelopeInLog}), or before the error is thrown when this run fails.
   */
  receiptFirst?: boolean;
  /**
   * Keep the envelope in the delivery log alone when this run can: the records ingest logs carry the receipt
   * (shared/delivery-log/record.ts v2), and no sidecar is written when all of these hold: no sidecar existed, not
   * `receiptFirst`, not an import, not a canary (its sidecar is tagged and expires), and every delivery was
   * archived as a new row of its own (no duplicate, no `sameAs`). Set it only where `logBatch` is flushed before
   * the message counts as done, and a failed flush has the message delivered again (then `receiptFirst`, or a
   * found row, writes the sidecar): the ingest Lambda's handler and the local stack's SMTP deliveries. Absent: the
   * sidecar is written as always.
   */
  envelopeInLog?: boolean;
}

export type { DeliveryOutcome, EnvelopeRecord } from './envelope';

export interface IngestOutcome {
  messageKey: string;
  sha256: string;
  /** The content identity (shared/mail/content-identity.ts ContentHasher). */
  contentSha256: string;
  size: number;
  deliveries: DeliveryOutcome[];
  rejected: RejectedRecipient[];
  parseError?: string;
}

/**
 * The archive use case: one message SES stored (or an import stored like SES) in, one index row per (mailbox,
 * message) out. Records the receipt and the deliveries in the envelope sidecar (`envelopes/<SES id>.json`; see
 * {@link IngestDeps.receiptFirst} for when it is written), or on the ordinary path with
 * {@link IngestDeps.envelopeInLog} in the delivery log's records alone, reads the stored object once (streamed, hashed,
 * parsed within `limits`), routes by the envelope recipients, gives each new row the folder's next UID and writes
 * it conditionally, then queues the forward requests. One message per content
 * in a mailbox: a delivery whose content (shared/mail/content-identity.ts ContentHasher) the mailbox holds under another message
 * gets no row and is not forwarded; the sidecar records it with `sameAs` (see {@link sameContent}).
 *
 * Idempotent: a second run finds its rows (`status: 'duplicate'`, same UIDs) and queues the requests again (the
 * ledger decides). Returns the message key, its sha256 (hex) and size (bytes), one outcome per delivery (UIDs;
 * UIDVALIDITY in epoch seconds of the folder's first use) and the refused recipients. Throws when the object
 * cannot be read or the index or the sidecar cannot be written: the ingest handler lets that fail the SQS record,
 * which SQS retries and finally dead-letters. A message that does not parse is still archived (`parseError`).
 * Sources: SES's receipt notification (Amazon SES Developer Guide, "Notification contents"); RFC 3501 2.3.1.1.
 */
export async function archiveReceivedMail(
  notification: SesReceivedNotification,
  deps: IngestDeps,
): Promise<IngestOutcome> {
  const { store } = deps;
  const location = {
    bucket: notification.receipt.action.bucketName,
    key: notification.receipt.action.objectKey,
  };
  // A message only to the canary address is not locked but tagged, and expires (health.canary.keepDays); only
  // where the archive locks at all (with the lock off, every version is kept, canaries too).
  const canary = deps.locker !== undefined && isCanaryOnly(deps.config, notification.receipt.recipients);
  const sidecars = canary ? canaryTagged(store) : store;
  // If this message never gets indexed, its envelope (Bcc recipients included) must still reach S3, not only a
  // queue that expires: written first on a redelivery, before the error when this run throws, else with the rows.
  const { record: envelope, added, existed } = await addReceipt(sidecars, location.bucket, notification);
  if (added && deps.receiptFirst) await saveEnvelope(sidecars, location.bucket, envelope);
  const inLog =
    deps.envelopeInLog === true &&
    deps.logBatch !== undefined &&
    !existed &&
    !deps.receiptFirst &&
    !canary &&
    !isImportedMessage(notification.mail.messageId);
  try {
    return await indexMessage(notification, deps, { location, envelope, canary, sidecars, inLog });
  } catch (error) {
    if (added && !deps.receiptFirst) {
      await saveEnvelope(sidecars, location.bucket, envelope).catch(() => undefined);
    }
    throw error;
  }
}

/** archiveReceivedMail after the receipt: read, route, write the rows, record them in the sidecar, forward. */
async function indexMessage(
  notification: SesReceivedNotification,
  deps: IngestDeps,
  run: {
    location: { bucket: string; key: string };
    envelope: EnvelopeRecord;
    canary: boolean;
    /** Where the sidecar is written (tagged as a canary's, for a canary). */
    sidecars: RawMailStore;
    /** The sidecar may be left out when every delivery is a new row of its own (IngestDeps.envelopeInLog). */
    inLog: boolean;
  },
): Promise<IngestOutcome> {
  const { config, store, index } = deps;
  const { location, envelope, canary, sidecars, inLog } = run;
  const body = await store.read(location);
  const summary = await readMessage(body, deps.limits ?? defaultParseLimits);
  // The version SES wrote and this run read, by its id: a later write to the key cannot take its place. The read
  // carries the retention the version has, if S3 told it (an import's, the Sent collection's, a redelivery's):
  // nothing is asked for when it lasts as long, so a lowered retainDays never asks S3 to shorten one (refused).
  if (canary) await deps.locker?.markCanary(location, body);
  else await deps.locker?.lockVersion(location, body);
  const verdicts = verdictsOf(notification.receipt);
  const routing = routeMessage(
    config,
    notification.receipt.recipients,
    summary.headers.from[0]?.address,
    verdicts,
  );
  // Nothing is dropped: a message that reached no mailbox is kept where `reconcile` and `list` can see it.
  const deliveries: Delivery[] = routing.deliveries.length
    ? routing.deliveries
    : [
        {
          mailbox: UNROUTED_MAILBOX,
          folder: 'INBOX',
          flags: [],
          envelopeRecipients: notification.receipt.recipients,
        },
      ];
  const imported = isImportedMessage(notification.mail.messageId) ? notification.imported : undefined;
  if (imported) for (const delivery of deliveries) applyImportedState(delivery, imported);
  const messageKey = messageKeyOf(summary.sha256, notification.mail.messageId);
  const archivedAt = (deps.now ?? (() => new Date()))().toISOString();

  const outcomes: DeliveryOutcome[] = [];
  const logged: DeliveryRecord[] = [];
  // Every record carries the receipt (logged-envelope.ts recordReceipt); one readers could not read back is left
  // out, and then the sidecar keeps the envelope.
  let receiptsLogged = true;
  const receiptFor = (delivery: Delivery) => {
    const receipt = recordReceipt(notification, delivery, verdicts, summary.contentSha256);
    if (!receipt) receiptsLogged = false;
    return receipt;
  };
  const log = (row: DeliveryRow, delivery: Delivery) =>
    logged.push(deliveryRecordOf(row, body.versionId, receiptFor(delivery)));
  for (const delivery of deliveries) {
    const existing = await index.getDelivery(delivery.mailbox, messageKey);
    if (existing) {
      // A row from before content markers gets its marker now (first writer wins: otherwise nothing changes).
      await index.claimContent(delivery.mailbox, summary.contentSha256, messageKey);
      outcomes.push(outcomeOf(existing, 'duplicate'));
      log(existing, delivery);
      continue;
    }
    const same = await sameContent(deps, envelope.deliveries, delivery, summary.contentSha256, messageKey);
    if (same) {
      outcomes.push(same);
      continue;
    }
    const earlier = deps.restore?.find(
      (d) => d.mailbox === delivery.mailbox && d.folder === delivery.folder && !d.sameAs,
    );
    // A UID given out here and then lost to a crash or a concurrent winner is a gap, which IMAP allows.
    const { uid, uidValidity } =
      earlier && (await index.restoreUid(delivery.mailbox, delivery.folder, earlier.uid, earlier.uidValidity))
        ? earlier
        : await index.allocateUid(delivery.mailbox, delivery.folder);
    const budget = deps.rowBudget ?? defaultRowBudget;
    const fitted = fitRowToBudget(
      deliveryRow({
        imported,
        summary,
        notification,
        delivery,
        messageKey,
        uid,
        uidValidity,
        archivedAt,
        location,
      }),
      budget,
    );
    const row = {
      ...fitted,
      verdicts,
      ...(canary ? { expiresAt: canaryExpiresAt(config, fitted.receivedAt) } : {}),
    };
    const put = await putWithinLimit(index, row, budget);
    if (put.status === 'created') {
      outcomes.push({ mailbox: row.mailbox, folder: row.folder, uid, uidValidity, status: 'archived' });
      log(put.row, delivery);
    } else {
      const winner = await index.getDelivery(delivery.mailbox, messageKey);
      outcomes.push(
        winner ? outcomeOf(winner, 'duplicate') : { ...delivery, uid, uidValidity, status: 'duplicate' },
      );
      if (winner) log(winner, delivery);
    }
  }
  // Before the sidecar says these deliveries were made: a run that dies between the two is retried, and the
  // retry finds the rows and logs them again.
  deps.logBatch?.add(logged);
  // Every delivery a new row, each logged with the receipt: the log records all the sidecar would (no sameAs).
  const logHoldsAll =
    inLog &&
    receiptsLogged &&
    outcomes.length > 0 &&
    outcomes.every((o) => o.status === 'archived' && !o.sameAs);
  const recordEnvelope = () =>
    recordDeliveries(
      sidecars,
      location.bucket,
      notification,
      {
        messageKey,
        sha256: summary.sha256,
        contentSha256: summary.contentSha256,
        deliveries: outcomes,
        at: archivedAt,
      },
      envelope,
    );
  if (!logHoldsAll) await recordEnvelope();
  // Also for duplicates: a retry after a crash between the row and the enqueue must still forward.
  // A delivery the mailbox already had under another message has no row to forward, and was the mailbox's before.
  const requests = isImportedMessage(notification.mail.messageId)
    ? []
    : forwardRequestsFor(
        config,
        messageKey,
        outcomes.filter((o) => !o.sameAs),
      );
  if (requests.length > 0) {
    try {
      await deps.forwards?.enqueue(requests);
    } catch (error) {
      // The run fails and its sidecar is written (archiveReceivedMail): with the deliveries, not the bare receipt.
      if (logHoldsAll) await recordEnvelope().catch(() => undefined);
      throw error;
    }
  }
  return {
    messageKey,
    sha256: summary.sha256,
    contentSha256: summary.contentSha256,
    size: summary.size,
    deliveries: outcomes,
    rejected: routing.rejected,
    ...(summary.parseError ? { parseError: summary.parseError } : {}),
  };
}

/** The store with every write tagged as a canary's (the locking store then leaves it unlocked). */
function canaryTagged(store: RawMailStore): RawMailStore {
  const tags = { [CANARY_OBJECT_TAG.key]: CANARY_OBJECT_TAG.value };
  return {
    read: (location) => store.read(location),
    exists: (location) => store.exists(location),
    list: (bucket, prefix, startAfter) => store.list(bucket, prefix, startAfter),
    upload: (location, body, contentType) => store.upload(location, body, contentType),
    write: (location, body, options) => store.write(location, body, { ...options, tags }),
  };
}

/**
 * Writes the row, or its minimal form when it is estimated over the item budget or DynamoDB still refuses it
 * for its size: a message is always listed and exported, whatever its headers hold.
 */
async function putWithinLimit(
  index: MailIndex,
  row: DeliveryRow,
  budget: RowBudget,
): Promise<{ status: 'created' | 'exists'; row: DeliveryRow }> {
  const put = async (written: DeliveryRow) => ({ status: await index.putDelivery(written), row: written });
  const estimate = itemSizeBytes(deliveryItem(row));
  if (estimate > budget.itemBytes) {
    return put(minimalRow(row, `row estimated at ${estimate} bytes, over ${budget.itemBytes}`));
  }
  try {
    return await put(row);
  } catch (error) {
    if (!(error instanceof RowTooLargeError)) throw error;
    return put(minimalRow(row, error.message));
  }
}

/**
 * One message per content in a mailbox: when the mailbox holds this content under another message (the same
 * message with other line endings, archived first), this delivery is that message's duplicate and gets no row
 * (the bytes archived first are kept). An earlier run's decision, recorded in the sidecar, stands (so reindex
 * does not turn a duplicate into a second row); a delivery the sidecar records as a row of its own (reindex
 * restoring it) keeps its row. Otherwise the content marker decides, claimed here before the row is written.
 * Returns the duplicate's outcome, or undefined when this delivery gets its row.
 */
async function sameContent(
  deps: IngestDeps,
  recorded: DeliveryOutcome[],
  delivery: Delivery,
  contentSha256: string,
  messageKey: string,
): Promise<DeliveryOutcome | undefined> {
  const before = recorded.find((d) => d.mailbox === delivery.mailbox);
  if (before?.sameAs) return before;
  const holder = await deps.index.claimContent(delivery.mailbox, contentSha256, messageKey);
  if (holder === messageKey) return undefined;
  if (deps.restore?.some((d) => d.mailbox === delivery.mailbox && !d.sameAs)) return undefined;
  const held = await deps.index.getDelivery(delivery.mailbox, holder);
  return {
    ...(held
      ? outcomeOf(held, 'duplicate')
      : { mailbox: delivery.mailbox, folder: delivery.folder, uid: 0, uidValidity: 0, status: 'duplicate' }),
    sameAs: holder,
  };
}

function outcomeOf(row: DeliveryRow, status: DeliveryOutcome['status']): DeliveryOutcome {
  return { mailbox: row.mailbox, folder: row.folder, uid: row.uid, uidValidity: row.uidValidity, status };
}

/**
 * A history import files a message where its source had it, with the source's flags and keywords; a copy the
 * journal address routed to Sent stays in Sent.
 */
function applyImportedState(delivery: Delivery, imported: ImportedState): void {
  if (imported.folder && delivery.folder !== 'Sent') delivery.folder = imported.folder;
  delivery.flags = [...new Set([...delivery.flags, ...imported.flags])].sort() as Delivery['flags'];
}

function deliveryRow(input: {
  imported: ImportedState | undefined;
  summary: MessageSummary;
  notification: SesReceivedNotification;
  delivery: Delivery;
  messageKey: string;
  uid: number;
  uidValidity: number;
  archivedAt: string;
  location: { bucket: string; key: string };
}): Omit<DeliveryRow, 'verdicts'> {
  const { summary, notification, delivery, messageKey, uid, uidValidity, archivedAt, location, imported } =
    input;
  const h = summary.headers;
  const receivedAt = new Date(notification.mail.timestamp);
  return {
    mailbox: delivery.mailbox,
    folder: delivery.folder,
    uid,
    uidValidity,
    flags: delivery.flags,
    messageKey,
    sha256: summary.sha256,
    contentSha256: summary.contentSha256,
    sesMessageId: notification.mail.messageId,
    location,
    size: summary.size,
    lineEndings: summary.lineEndings,
    receivedAt: Number.isNaN(receivedAt.getTime()) ? archivedAt : receivedAt.toISOString(),
    ...(imported ? { receivedAtSource: imported.receivedAtSource ?? 'import' } : {}),
    ...(imported?.keywords.length ? { keywords: imported.keywords } : {}),
    ...(h.date ? { date: h.date } : {}),
    ...(h.dateHeader ? { dateHeader: h.dateHeader } : {}),
    from: h.from.map(formatAddress),
    ...(h.from[0]?.address ? { fromAddress: h.from[0].address.toLowerCase() } : {}),
    to: h.to.map(formatAddress),
    cc: h.cc.map(formatAddress),
    ...(h.subject !== undefined ? { subject: h.subject } : {}),
    ...(h.messageId ? { messageId: h.messageId } : {}),
    ...(h.inReplyTo ? { inReplyTo: h.inReplyTo } : {}),
    references: h.references,
    attachments: summary.attachments,
    envelopeRecipients: delivery.envelopeRecipients,
    ...(summary.parseError ? { parseError: summary.parseError } : {}),
    archivedAt,
    schemaVersion: INDEX_SCHEMA_VERSION,
  };
}
