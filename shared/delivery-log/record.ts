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
import { z } from 'zod';
import { fileBaseName, keywordAtoms, messageStorage } from '../bundle/layout';
import type { DeliveryRow } from '../index/schema';

/** The record layout's version (`v`); a reader refuses a version it does not know. */
export const DELIVERY_RECORD_VERSION = 1;

/**
 * One delivery: which message a mailbox folder holds under which UID, and everything a replica needs to write
 * its maildir file as `export` would. Units: sizes in bytes; times ISO 8601 UTC with milliseconds; UIDs and
 * UIDVALIDITY as IMAP has them (RFC 3501 2.3.1.1).
 */
export interface DeliveryRecord {
  /** Layout version: {@link DELIVERY_RECORD_VERSION}. */
  v: 1;
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
}

/** A line of a log object that is not a record this reader can use, and why. */
export class DeliveryRecordError extends Error {
  override name = 'DeliveryRecordError';
}

const sorted = (values: readonly string[]) => [...new Set(values)].sort();

/**
 * The record of an index row, as the delivery log keeps it. `versionId` is the S3 version of the raw object the
 * row was indexed from (a GetObject's VersionId), when the bucket is versioned.
 */
export function deliveryRecordOf(row: DeliveryRow, versionId?: string): DeliveryRecord {
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
const recordSchema = z.strictObject({
  v: z.literal(DELIVERY_RECORD_VERSION),
  mailbox: z.string().min(1),
  folder: z.string().min(1),
  uidValidity: uint32,
  uid: uint32,
  flags: z.array(z.string()),
  keywords: z.array(z.string()),
  objectKey: z.string().min(1),
  versionId: z.string().min(1).optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'not a lower-case hex sha256'),
  size: z.number().int().min(0),
  storage: z.enum(['crlf-to-lf', 'as-is']),
  nul: z.literal(true).optional(),
  receivedAt: z.string().refine((s) => new Date(s).toISOString() === s, 'not an ISO 8601 UTC time'),
  file: z.string().regex(RECORD_FILE_NAME, 'not a maildir base name'),
  messageKey: z.string().regex(/^[A-Za-z0-9_-]+$/, 'not a message key'),
});

/**
 * One line of a log object (without its LF) as a record. Throws DeliveryRecordError when it is not JSON, not a
 * record of this version (each bad field named), or not in canonical form.
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
 * line is not JSON, not of this version, or a field read has the wrong type.
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
    v.v !== DELIVERY_RECORD_VERSION && 'v',
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
