// The envelope sidecar, `envelopes/<SES message id>.json` next to the raw message: every envelope the message
// arrived with (recipients and verdicts, Bcc included, which exist nowhere else) and every delivery it got (the
// mailbox, folder and UID of each index row). With it the index can be rebuilt from S3 alone, UIDs included.
//
// Not every message has one: on ingest's ordinary path (a new message received once, every delivery a new row,
// its log batch flushed before the message counts as done) the delivery log's records carry the same facts
// (shared/delivery-log/record.ts, v2 `receipt`) and no sidecar is written (IngestDeps.envelopeInLog). A message's
// envelope is its sidecar when it has one (an archive from before keeps them, and they are preferred), else what
// the log records (logged-envelope.ts). Redeliveries, imports, canaries, content duplicates and failures write one.
//
// A message that fails ingest still gets its envelope in S3, not only in a queue that expires: ingest writes the
// sidecar once, with the deliveries, when it succeeds; before it throws, when it fails; and before it reads the
// message, on a redelivery (the run before may have died without throwing). It accumulates: a second receipt of
// the same message (a history import again with other recipients) adds its envelope and deliveries, never
// replaces the earlier ones.
import { z } from 'zod';
import { errorMessage } from '../errors';
import type { DeliveryRow } from '../index/schema';
import { damagedEnvelopeKey, envelopeKey, isImportedMessage } from '../index/schema';
import { CONTENT_RULE } from '../mail/content-identity';
import type { RawMailStore } from '../ports';
import {
  buildReceivedNotification,
  type ImportedState,
  importedStateSchema,
  type SesReceivedNotification,
} from '../receiving/ses-notification';
import { readObject } from './raw-object';

export interface DeliveryOutcome {
  mailbox: string;
  folder: string;
  uid: number;
  uidValidity: number;
  status: 'archived' | 'duplicate';
  /**
   * Set when the mailbox already had this content under another message (the same message with other line
   * endings: shared/mail/content-identity.ts ContentHasher): that message's key. No row was written for this one; the folder
   * and UID are that message's, when its row was there to read.
   */
  sameAs?: string;
}

export interface EnvelopeReceipt {
  notification: SesReceivedNotification;
  /** When ingest finished indexing this receipt; absent while it has not (yet) succeeded. */
  indexedAt?: string;
}

export interface EnvelopeRecord {
  version: 2;
  sesMessageId: string;
  /** Known once the message was read (sha256 of its bytes + SES id). */
  messageKey?: string;
  sha256?: string;
  /** The content identity (shared/mail/content-identity.ts ContentHasher); absent in sidecars written before it was kept. */
  contentSha256?: string;
  /** The content rule that made `contentSha256` (shared/mail/content-identity.ts CONTENT_RULE); absent: rule 1. */
  contentRule?: number;
  /** Every distinct envelope (by recipient set) the message arrived with, first one first. */
  receipts: EnvelopeReceipt[];
  /** One per mailbox the message was delivered to: the row's folder and UID. */
  deliveries: DeliveryOutcome[];
}

/** The first sidecar layout (until issue 11): one envelope, replaced by each ingest. */
interface EnvelopeRecordV1 {
  notification: SesReceivedNotification;
  messageKey: string;
  sha256: string;
  deliveries: DeliveryOutcome[];
}

export class EnvelopeFormatError extends Error {
  override name = 'EnvelopeFormatError';
}

/**
 * What the readers of a sidecar rely on (reconcile, reindex, ingest): checked, so a sidecar that is JSON but not
 * a sidecar (a hand edit, a foreign object) is an EnvelopeFormatError, which reconcile reports and reindex
 * repairs, not a TypeError that stops them. Only checked: the record read is the stored one, every field kept.
 */
const notificationShape = z.object({
  mail: z.object({ messageId: z.string(), timestamp: z.string() }),
  receipt: z.object({
    recipients: z.array(z.string()),
    action: z.object({ bucketName: z.string(), objectKey: z.string() }),
  }),
});
const deliveryShape = z.object({
  mailbox: z.string(),
  folder: z.string(),
  uid: z.number().int(),
  uidValidity: z.number().int(),
});
const sidecarShape = z.object({
  version: z.literal(2),
  messageKey: z.string().optional(),
  sha256: z.string().optional(),
  receipts: z.array(z.object({ notification: notificationShape, indexedAt: z.string().optional() })),
  deliveries: z.array(deliveryShape),
});
/** The first layout (until issue 11), without a version. */
const sidecarV1Shape = z.object({ notification: notificationShape, deliveries: z.array(deliveryShape) });

/**
 * The message's sidecar, in the current layout (a first-layout sidecar reads as one indexed receipt), or
 * undefined when there is none. Throws EnvelopeFormatError when it is not one.
 */
export async function readEnvelope(
  store: RawMailStore,
  bucket: string,
  sesMessageId: string,
): Promise<EnvelopeRecord | undefined> {
  const location = { bucket, key: envelopeKey(sesMessageId) };
  if (!(await store.exists(location))) return undefined;
  const text = (await readObject(store, location)).toString('utf8');
  let parsed: Partial<EnvelopeRecord & EnvelopeRecordV1>;
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (error) {
    throw new EnvelopeFormatError(`${location.key} is not JSON (${errorMessage(error)})`, { cause: error });
  }
  const versioned = typeof parsed === 'object' && parsed !== null && 'version' in parsed;
  const shape = (versioned ? sidecarShape : sidecarV1Shape).safeParse(parsed);
  if (!shape.success) {
    const problems = shape.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new EnvelopeFormatError(`${location.key} is not an envelope sidecar (${problems.join('; ')})`);
  }
  // The shape was checked above; the stored record is returned with every field it has.
  if (versioned) return parsed as EnvelopeRecord;
  const first = parsed as EnvelopeRecordV1;
  return {
    version: 2,
    sesMessageId,
    ...(first.messageKey ? { messageKey: first.messageKey } : {}),
    ...(first.sha256 ? { sha256: first.sha256 } : {}),
    receipts: [{ notification: first.notification, indexedAt: first.notification.mail.timestamp }],
    deliveries: first.deliveries,
  };
}

/**
 * Replaces a sidecar that readEnvelope refused (EnvelopeFormatError) with an empty one, after copying its bytes
 * to `damagedEnvelopeKey(sesMessageId, at)` (nothing is thrown away: the copy is what a person can still read).
 * The caller then records what the index still knows (recordRows) or what the message's headers say. Returns the
 * key of the copy. Throws what the store throws.
 */
export async function setAsideDamagedEnvelope(
  store: RawMailStore,
  bucket: string,
  sesMessageId: string,
  at: string,
): Promise<string> {
  const damaged = await readObject(store, { bucket, key: envelopeKey(sesMessageId) });
  const keptAs = damagedEnvelopeKey(sesMessageId, at);
  await store.write({ bucket, key: keptAs }, damaged);
  await saveEnvelope(store, bucket, { version: 2, sesMessageId, receipts: [], deliveries: [] });
  return keptAs;
}

/** Writes the sidecar `envelopes/<SES message id>.json`, replacing what is there. Throws what the store throws. */
export async function saveEnvelope(
  store: RawMailStore,
  bucket: string,
  record: EnvelopeRecord,
): Promise<void> {
  await store.write({ bucket, key: envelopeKey(record.sesMessageId) }, Buffer.from(JSON.stringify(record)));
}

/** A receipt's identity: its recipient set (case aside); one envelope per identity is kept. */
export const receiptIdentity = (notification: SesReceivedNotification) =>
  [...notification.receipt.recipients]
    .map((r) => r.toLowerCase())
    .sort()
    .join('\n');

/**
 * The message's sidecar (a new one when there is none) with this receipt's envelope added, in memory: `added` says
 * whether it was new (an envelope with the same recipients is there already otherwise), and so whether the
 * sidecar needs writing ({@link saveEnvelope}); `existed`, whether a sidecar was there. Read-modify-write: two different envelopes of one message stored
 * at the same instant could lose one (SES sends one per message id; imports of one file run one after the other).
 * Throws EnvelopeFormatError (see {@link readEnvelope}) and what the store throws.
 */
export async function addReceipt(
  store: RawMailStore,
  bucket: string,
  notification: SesReceivedNotification,
): Promise<{ record: EnvelopeRecord; added: boolean; existed: boolean }> {
  const sesMessageId = notification.mail.messageId;
  const existing = await readEnvelope(store, bucket, sesMessageId);
  const existed = existing !== undefined;
  const record: EnvelopeRecord = existing ?? { version: 2, sesMessageId, receipts: [], deliveries: [] };
  const identity = receiptIdentity(notification);
  if (record.receipts.some((r) => receiptIdentity(r.notification) === identity))
    return { record, added: false, existed };
  record.receipts.push({ notification });
  return { record, added: true, existed };
}

/** Adds the deliveries of an indexed receipt (a mailbox keeps its first recorded one) and marks it indexed. */
export async function recordDeliveries(
  store: RawMailStore,
  bucket: string,
  notification: SesReceivedNotification,
  indexed: {
    messageKey: string;
    sha256: string;
    contentSha256: string;
    deliveries: DeliveryOutcome[];
    at: string;
  },
  /** The sidecar as `addReceipt` returned it moments ago (saves reading it again). */
  current?: EnvelopeRecord,
): Promise<EnvelopeRecord> {
  const sesMessageId = notification.mail.messageId;
  const record: EnvelopeRecord = current ??
    (await readEnvelope(store, bucket, sesMessageId)) ?? {
      version: 2,
      sesMessageId,
      receipts: [],
      deliveries: [],
    };
  record.messageKey = indexed.messageKey;
  record.sha256 = indexed.sha256;
  record.contentSha256 = indexed.contentSha256;
  record.contentRule = CONTENT_RULE;
  for (const delivery of indexed.deliveries) {
    if (!record.deliveries.some((d) => d.mailbox === delivery.mailbox)) record.deliveries.push(delivery);
  }
  const identity = receiptIdentity(notification);
  const receipt = record.receipts.find((r) => receiptIdentity(r.notification) === identity);
  if (receipt) receipt.indexedAt ??= indexed.at;
  else record.receipts.push({ notification, indexedAt: indexed.at });
  await saveEnvelope(store, bucket, record);
  return record;
}

/**
 * Records the message's content identity, made by the current content rule, in its sidecar (reindex, for
 * sidecars written before it was kept or by an older rule).
 */
export async function recordContentIdentity(
  store: RawMailStore,
  bucket: string,
  record: EnvelopeRecord,
  contentSha256: string,
): Promise<EnvelopeRecord> {
  const updated = { ...record, contentSha256, contentRule: CONTENT_RULE };
  await saveEnvelope(store, bucket, updated);
  return updated;
}

/**
 * Records index rows the sidecar does not know (an archive from before sidecars accumulated): each becomes a
 * delivery, with an envelope rebuilt from the row (its envelope recipients, verdicts and received time).
 */
export async function recordRows(
  store: RawMailStore,
  bucket: string,
  rows: DeliveryRow[],
  at: string,
  /** Where a message without a sidecar starts from (what the delivery log records of it). */
  base?: EnvelopeRecord,
): Promise<EnvelopeRecord | undefined> {
  const first = rows[0];
  if (!first) return undefined;
  const record: EnvelopeRecord = (await readEnvelope(store, bucket, first.sesMessageId)) ??
    (base ? structuredClone(base) : undefined) ?? {
      version: 2,
      sesMessageId: first.sesMessageId,
      messageKey: first.messageKey,
      sha256: first.sha256,
      receipts: [],
      deliveries: [],
    };
  // A sidecar that never saw its message read (ingest failed early, or a damaged one set aside) lacks these.
  record.messageKey ??= first.messageKey;
  record.sha256 ??= first.sha256;
  for (const row of rows) {
    if (record.deliveries.some((d) => d.mailbox === row.mailbox)) continue;
    record.deliveries.push({
      mailbox: row.mailbox,
      folder: row.folder,
      uid: row.uid,
      uidValidity: row.uidValidity,
      status: 'archived',
    });
    const notification = buildReceivedNotification({
      messageId: row.sesMessageId,
      timestamp: new Date(row.receivedAt),
      source: '',
      recipients: row.envelopeRecipients.length ? row.envelopeRecipients : [row.mailbox],
      bucket: row.location.bucket,
      objectKey: row.location.key,
      verdicts: row.verdicts,
      // What a history import knew is in the row alone now: without it the message would come back in INBOX,
      // under a new UID, without its flags and keywords.
      ...(isImportedMessage(row.sesMessageId) ? { imported: importedStateOf(row) } : {}),
    });
    const identity = receiptIdentity(notification);
    if (!record.receipts.some((r) => receiptIdentity(r.notification) === identity)) {
      record.receipts.push({ notification, indexedAt: at });
    }
  }
  await saveEnvelope(store, bucket, record);
  return record;
}

/** The import's state as an imported row keeps it (folder, flags, keywords, where its received time came from). */
function importedStateOf(row: DeliveryRow): ImportedState {
  const parsed = importedStateSchema.safeParse({
    folder: row.folder,
    flags: row.flags,
    keywords: row.keywords ?? [],
    ...(row.receivedAtSource ? { receivedAtSource: row.receivedAtSource } : {}),
  });
  // A row is written from a state that passed this schema; a hand-edited one keeps at least its folder.
  return parsed.success ? parsed.data : { folder: row.folder, flags: [], keywords: [] };
}
