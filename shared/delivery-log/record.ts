// One record of the delivery log: a message filed into a mailbox folder under a UID. Its one definition, its
// canonical bytes, its identity, and the check every reader applies before using one. Written by every path that
// files a message (ingest, the Gmail Sent collection, import, reindex); read by `mail-archiver sync`, and sealed
// as the leaves of the transparency log.
//
// Canonical form: JSON (RFC 8259) in UTF-8, the fields in the order of DeliveryRecord below, optional fields left
// out when absent, no whitespace outside strings, strings and numbers as ECMAScript's JSON.stringify writes them
// (ECMA-262 SerializeJSONString: `"` `\` and U+0000..U+001F escaped, lone surrogates as \uXXXX, everything else
// as itself; integers without exponent or fraction). A log object holds one canonical record per line, each line
// ended by one LF (0x0A). One record gives exactly one byte string: canonicalRecord(parseRecordLine(line)) ===
// line for every line a writer of ours wrote, and readers refuse a line that is not canonical.
//
// Versions: `v: 1` records (the first layout) hold the delivery only; `v: 2` records may also carry `receipt`,
// last, after `messageKey`: the receipt ingest archived the message from (the envelope recipients that reached
// the record's mailbox, exactly as SES gave them, Bcc included, which exist nowhere else: the message's records
// together name every recipient that reached a mailbox, and no record names another mailbox's Bcc recipient,
// since a record is a leaf a mailbox's bundle carries; the MAIL FROM; the verdicts) and the content identity. Its keys are in the order of RecordReceipt below (`dmarcPolicy` only when present). Writers write
// v2; every reader accepts both, and a v1 record never carries `receipt`. Ingest writes `receipt` on its
// ordinary path, where it writes no envelope sidecar: the log is then where the envelope is kept (readers rebuild
// it with shared/archive/logged-envelope.ts). A record's identity and fingerprint ignore `v` and `receipt`.
import { z } from 'zod';
import { fileBaseName, keywordAtoms, messageStorage } from '../bundle/layout';
import type { DeliveryRow } from '../index/schema';
import type { Verdicts } from '../receiving/routing';

/** The record layout's version (`v`) writers write; a reader refuses a version it does not know. */
export const DELIVERY_RECORD_VERSION = 2;

/** Every record layout a reader accepts (a v1 line is a sealed leaf: it stays valid forever). */
export const DELIVERY_RECORD_VERSIONS: readonly number[] = [1, DELIVERY_RECORD_VERSION];

/** Whether `v` is a record layout version readers know ({@link DELIVERY_RECORD_VERSIONS}). */
export const isKnownRecordVersion = (v: unknown): v is 1 | 2 => v === 1 || v === 2;

/**
 * The receipt a v2 record may carry (see the top of this file): what the envelope sidecar kept of the SES
 * notification, and the message's content identity (shared/mail/content-identity.ts).
 */
export interface RecordReceipt {
  /** The receipt's envelope recipients that reached this record's mailbox, as SES gave them, in its order. */
  recipients: string[];
  /** The envelope sender (MAIL FROM); empty for a null reverse path. */
  source: string;
  /** SES's verdicts (shared/receiving/ses-notification.ts verdictsOf), `dmarcPolicy` only when SES gave one. */
  verdicts: Verdicts;
  /** sha256 (lower-case hex) of the content identity (ContentHasher). */
  contentSha256: string;
  /** The content rule that made it (CONTENT_RULE). */
  contentRule: number;
}

/**
 * One delivery: which message a mailbox folder holds under which UID, and everything a replica needs to write
 * its maildir file as `export` would. Units: sizes in bytes; times ISO 8601 UTC with milliseconds; UIDs and
 * UIDVALIDITY as IMAP has them (RFC 3501 2.3.1.1).
 */
export interface DeliveryRecord {
  /** Layout version: 2 when written now ({@link DELIVERY_RECORD_VERSION}); 1 in logs written before it. */
  v: 1 | 2;
  /** The archive mailbox (a configured address, or `unrouted`). */
  mailbox: string;
  /** The folder, levels separated by `/` (`INBOX`, `Sent`, `Archive/2023`). */
  folder: string;
  uidValidity: number;
  uid: number;
  /** IMAP system flags (`\Seen`, ...), sorted (UTF-16 code units), each once. */
  flags: string[];
  /** IMAP keywords as the index row names them (Gmail labels, maildir keywords), in the row's order. */
  keywords: string[];
  /** The raw object's key in the archive's bucket (`incoming/<SES message id>`). */
  objectKey: string;
  /** The raw object's S3 version id, when the bucket is versioned (on AWS; absent locally). */
  versionId?: string;
  /** sha256 (lower-case hex) of the raw object's bytes. */
  sha256: string;
  /** Size of the raw object in bytes. */
  size: number;
  /** How the maildir file holds the bytes: every CRLF written as LF (`crlf-to-lf`), or exactly (`as-is`). */
  storage: 'crlf-to-lf' | 'as-is';
  /** The bytes hold a NUL (Dovecot serves it as 0x80): set only when true. */
  nul?: true;
  /** The IMAP INTERNALDATE: when SES (or the import) received it; the maildir file's mtime. */
  receivedAt: string;
  /** The maildir base name the exporter gives it (`<secs>.<messageKey>.mail-archiver,S=<n>,W=<n>`). */
  file: string;
  /** The index's message key (sha256 prefix + SES message id). */
  messageKey: string;
  /** v2 only: the receipt the message was archived from, written by ingest (see the top of this file). */
  receipt?: RecordReceipt;
}

/** A line of a log object that is not a record this reader can use, and why. */
export class DeliveryRecordError extends Error {
  override name = 'DeliveryRecordError';
}

const sorted = (values: readonly string[]) => [...new Set(values)].sort();

/**
 * The record of an index row, as the delivery log keeps it. `versionId` is the S3 version of the raw object the
 * row was indexed from (a GetObject's VersionId), when the bucket is versioned; `receipt`, the receipt ingest
 * archived it from (ingest gives it; a record rebuilt from the row alone has none).
 */
export function deliveryRecordOf(
  row: DeliveryRow,
  versionId?: string,
  receipt?: RecordReceipt,
): DeliveryRecord {
  return {
    v: DELIVERY_RECORD_VERSION,
    mailbox: row.mailbox,
    folder: row.folder,
    uidValidity: row.uidValidity,
    uid: row.uid,
    flags: sorted(row.flags),
    keywords: [...(row.keywords ?? [])],
    objectKey: row.location.key,
    ...(versionId ? { versionId } : {}),
    sha256: row.sha256,
    size: row.size,
    storage: messageStorage(row),
    ...(row.lineEndings.nul ? { nul: true as const } : {}),
    receivedAt: new Date(row.receivedAt).toISOString(),
    file: fileBaseName(row),
    messageKey: row.messageKey,
    ...(receipt ? { receipt } : {}),
  };
}

/** The canonical form of a receipt: its keys in the order of RecordReceipt, `dmarcPolicy` only when present. */
function canonicalReceipt(receipt: RecordReceipt): RecordReceipt {
  const { verdicts } = receipt;
  return {
    recipients: [...receipt.recipients],
    source: receipt.source,
    verdicts: {
      spam: verdicts.spam,
      virus: verdicts.virus,
      spf: verdicts.spf,
      dkim: verdicts.dkim,
      dmarc: verdicts.dmarc,
      ...(verdicts.dmarcPolicy !== undefined ? { dmarcPolicy: verdicts.dmarcPolicy } : {}),
    },
    contentSha256: receipt.contentSha256,
    contentRule: receipt.contentRule,
  };
}

/** The canonical bytes of a record as a string, without the line's LF (see the top of this file). */
export function canonicalRecord(record: DeliveryRecord): string {
  // Built field by field: the order of the keys is the order written, whatever object came in.
  const ordered: Record<string, unknown> = {
    v: record.v,
    mailbox: record.mailbox,
    folder: record.folder,
    uidValidity: record.uidValidity,
    uid: record.uid,
    flags: sorted(record.flags),
    keywords: [...record.keywords],
    objectKey: record.objectKey,
  };
  if (record.versionId !== undefined) ordered.versionId = record.versionId;
  ordered.sha256 = record.sha256;
  ordered.size = record.size;
  ordered.storage = record.storage;
  if (record.nul) ordered.nul = true;
  ordered.receivedAt = record.receivedAt;
  ordered.file = record.file;
  ordered.messageKey = record.messageKey;
  if (record.receipt !== undefined) ordered.receipt = canonicalReceipt(record.receipt);
  return JSON.stringify(ordered);
}

/** The bytes of a log object holding `records`: one canonical record per line, each ended by LF. */
export function logObjectBody(records: readonly DeliveryRecord[]): Buffer {
  return Buffer.from(records.map((r) => `${canonicalRecord(r)}\n`).join(''), 'utf8');
}

/**
 * The identity of a delivery: (mailbox, folder, UIDVALIDITY, UID). Two records with one identity are one
 * delivery (a retried Lambda, reindex writing the log again), whatever else they say; a reader that finds them
 * naming different files has found a conflict, never a second message.
 */
export function deliveryIdentity(record: Pick<DeliveryRecord, 'mailbox' | 'folder' | 'uidValidity' | 'uid'>) {
  return JSON.stringify([record.mailbox, record.folder, record.uidValidity, record.uid]);
}

/** A record's `file`: the exporter's names only (no separator, no `:2,` info, nothing a path could climb out with). */
export const RECORD_FILE_NAME = /^-?\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+,S=\d+,W=\d+$/;

const uint32 = z.number().int().min(1).max(0xffffffff);
const verdictSchema = z.enum(['PASS', 'FAIL', 'GRAY', 'PROCESSING_FAILED', 'DISABLED']);
const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'not a lower-case hex sha256');
const receiptSchema = z.strictObject({
  recipients: z.array(z.string().min(1)).min(1),
  source: z.string(),
  verdicts: z.strictObject({
    spam: verdictSchema,
    virus: verdictSchema,
    spf: verdictSchema,
    dkim: verdictSchema,
    dmarc: verdictSchema,
    dmarcPolicy: z.enum(['none', 'quarantine', 'reject']).optional(),
  }),
  contentSha256: sha256Schema,
  contentRule: z.number().int().min(1),
});
/**
 * `receipt` when a reader will accept it in a record (the record schema below), else undefined: a writer leaves
 * out a receipt it could not read back (no recipient, a verdict SES added after this layout), since a line readers
 * refuse is a delivery the replica and the seal never see. The caller keeps that envelope elsewhere (the sidecar).
 */
export function recordableReceipt(receipt: RecordReceipt): RecordReceipt | undefined {
  return receiptSchema.safeParse(canonicalReceipt(receipt)).success ? receipt : undefined;
}

const recordSchema = z.strictObject({
  v: z.union([z.literal(1), z.literal(2)]),
  mailbox: z.string().min(1),
  folder: z.string().min(1),
  uidValidity: uint32,
  uid: uint32,
  flags: z.array(z.string()),
  keywords: z.array(z.string()),
  objectKey: z.string().min(1),
  versionId: z.string().min(1).optional(),
  sha256: sha256Schema,
  size: z.number().int().min(0),
  storage: z.enum(['crlf-to-lf', 'as-is']),
  nul: z.literal(true).optional(),
  receivedAt: z.string().refine((s) => new Date(s).toISOString() === s, 'not an ISO 8601 UTC time'),
  file: z.string().regex(RECORD_FILE_NAME, 'not a maildir base name'),
  messageKey: z.string().regex(/^[A-Za-z0-9_-]+$/, 'not a message key'),
  receipt: receiptSchema.optional(),
});

/**
 * One line of a log object (without its LF) as a record (v1 or v2). Throws DeliveryRecordError when it is not
 * JSON, not a record of a known version (each bad field named; a v1 record with a receipt), or not in canonical
 * form.
 */
export function parseRecordLine(line: string): DeliveryRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new DeliveryRecordError(`not JSON (${error instanceof Error ? error.message : String(error)})`, {
      cause: error,
    });
  }
  const parsed = recordSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new DeliveryRecordError(`not a delivery record (${problems.join('; ')})`);
  }
  const record = parsed.data as DeliveryRecord;
  if (record.v === 1 && record.receipt !== undefined) {
    throw new DeliveryRecordError('not a delivery record (receipt: a v1 record has no receipt)');
  }
  if (canonicalRecord(record) !== line) throw new DeliveryRecordError('not in canonical form');
  return record;
}

/** What a verifier compares of a record: the delivery and its message, and when it was received. */
export type DeliveryFacts = Pick<
  DeliveryRecord,
  'mailbox' | 'folder' | 'uidValidity' | 'uid' | 'sha256' | 'size' | 'receivedAt'
>;

/**
 * The fields a verifier compares, read from a line without the record's full schema (one leaf per message of
 * a bundle: the schema is most of the cost). Enough for a verifier: the line's bytes are bound by their hash,
 * and each field read is compared with what the bundle or replica holds. Throws DeliveryRecordError when the
 * line is not JSON, not of a version readers know (v1 or v2), or a field read has the wrong type.
 */
export function readDeliveryFacts(line: string): DeliveryFacts {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new DeliveryRecordError(`not JSON (${error instanceof Error ? error.message : String(error)})`, {
      cause: error,
    });
  }
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const wrong = [
    !isKnownRecordVersion(v.v) && 'v',
    ...(['mailbox', 'folder', 'sha256', 'receivedAt'] as const).filter((k) => typeof v[k] !== 'string'),
    ...(['uidValidity', 'uid', 'size'] as const).filter((k) => !Number.isSafeInteger(v[k])),
  ].filter(Boolean);
  if (wrong.length > 0) throw new DeliveryRecordError(`not a delivery record (${wrong.join(', ')})`);
  return {
    mailbox: v.mailbox as string,
    folder: v.folder as string,
    uidValidity: v.uidValidity as number,
    uid: v.uid as number,
    sha256: v.sha256 as string,
    size: v.size as number,
    receivedAt: v.receivedAt as string,
  };
}

/** Every line of a log object: the records, and each line that is not one (1-based line numbers). */
export function parseLogObject(body: Buffer | string): {
  records: DeliveryRecord[];
  errors: { line: number; reason: string }[];
} {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const lines = text.split('\n');
  // A well-formed object ends with LF: the split leaves one empty string after it.
  if (lines[lines.length - 1] === '') lines.pop();
  const records: DeliveryRecord[] = [];
  const errors: { line: number; reason: string }[] = [];
  for (const [i, line] of lines.entries()) {
    try {
      records.push(parseRecordLine(line));
    } catch (error) {
      errors.push({ line: i + 1, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return { records, errors };
}

/** The sorting key of a record: its mailbox, folder and UID (a replica applies records in this order). */
export function compareRecords(a: DeliveryRecord, b: DeliveryRecord): number {
  if (a.mailbox !== b.mailbox) return a.mailbox < b.mailbox ? -1 : 1;
  if (a.folder !== b.folder) return a.folder < b.folder ? -1 : 1;
  return a.uid - b.uid;
}

/** The keywords of a record as the maildir writes them (IMAP atoms, each once). */
export const recordKeywordAtoms = (record: Pick<DeliveryRecord, 'keywords'>) =>
  keywordAtoms(record.keywords) ?? [];
