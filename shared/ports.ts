// Every port of the core: the small interfaces it talks through. Adapters in shared/adapters implement them with
// the AWS SDK (against AWS or the local services), the CLI with local stand-ins, the tests with the in-memory
// index; the core never imports the SDK.
import type { Readable } from 'node:stream';
import type {
  ForwardEntry,
  ForwardEntryKey,
  ForwardRequest,
  ForwardState,
  SendResult,
} from './forwarding/ledger';
import type {
  DeliveryRow,
  ExportPart,
  ExportRecord,
  FolderState,
  RawLocation,
  RawObjectRow,
} from './index/schema';
import type { Folder } from './receiving/routing';
import type { HoldRecord } from './retention/hold-record';

/** The version a write made or a read returned; absent where the store keeps no versions (a directory). */
export interface StoredVersion {
  versionId?: string;
}

/**
 * A stored object's bytes, streamed, with the S3 version id of what was read when the bucket is versioned, and the
 * version's Object Lock retention when the store was told it (S3 sends GetObject's x-amz-object-lock-mode and
 * -retain-until-date only to a caller with s3:GetObjectRetention): absent when the version has none or the
 * caller may not see it.
 */
export type StoredBody = AsyncIterable<Uint8Array> & { versionId?: string; retention?: Retention };

/** Where raw mail and bundles are kept (S3; a directory for benchmarks). */
export interface RawMailStore {
  /** The exact stored bytes, streamed (the version `location.versionId` names, else the current one). */
  read(location: RawLocation): Promise<StoredBody>;
  /**
   * Writes a whole object (content type `message/rfc822` unless named) and returns the version it made. `signal`
   * aborts the request (a writer that bounds how long a put may take).
   */
  write(location: RawLocation, body: Uint8Array, options?: WriteOptions): Promise<StoredVersion>;
  exists(location: RawLocation): Promise<boolean>;
  /** Streams a body into an object (multipart, so any size with flat memory). */
  upload(location: RawLocation, body: Readable, contentType: string): Promise<StoredVersion>;
  /**
   * Every object under a prefix, with its size in bytes and (where the store keeps it) when it was last written
   * (S3 LastModified, ISO 8601 UTC), in key order (UTF-8 binary, as S3 lists); with `startAfter`, only the keys
   * that sort after it (ListObjectsV2 StartAfter).
   */
  list(bucket: string, prefix: string, startAfter?: string): AsyncIterable<ListedObject>;
}

/** How {@link RawMailStore.write} writes: the content type, an abort signal, the new version's S3 object tags. */
export interface WriteOptions {
  contentType?: string;
  signal?: AbortSignal;
  /** Object tags of the version written (S3 PutObject `Tagging`); a store without tags ignores them. */
  tags?: Record<string, string>;
  /**
   * The S3 Object Lock retention the version gets in the same request (PutObject `x-amz-object-lock-mode` and
   * `x-amz-object-lock-retain-until-date`): it exists locked or not at all, and no PutObjectRetention follows.
   * A store that keeps no versions ignores it. Throws what S3 throws (400 InvalidRequest on a bucket without
   * Object Lock).
   */
  retention?: Retention;
}

/** One object as a listing shows it. */
export interface ListedObject {
  key: string;
  /** Bytes. */
  size: number;
  /** When it was last written (S3 LastModified), ISO 8601 UTC; absent where the store keeps no such time. */
  lastModified?: string;
}

/** One version of one object. */
export interface ObjectVersion {
  bucket: string;
  key: string;
  versionId: string;
}

/** S3 Object Lock retention of one version: its mode and the instant (ISO 8601 UTC) it may be removed from. */
export interface Retention {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  retainUntil: string;
}

/** A version as a listing of versions shows it. */
export interface ListedVersion extends ObjectVersion {
  isLatest: boolean;
  deleteMarker: boolean;
  /** ISO 8601 UTC. */
  lastModified: string;
  size: number;
}

/**
 * S3 Object Lock on versions (shared/adapters/s3-object-locks.ts): retention and legal holds, and the listing of
 * versions they are applied over. Throws what S3 throws (AccessDenied when a lock forbids the change).
 */
export interface ObjectLocks {
  /** Places retention on a version, or extends it (S3 refuses to shorten it without a governance bypass). */
  retain(version: ObjectVersion, retention: Retention): Promise<void>;
  /** The version's retention, or undefined when it has none. */
  retention(version: ObjectVersion): Promise<Retention | undefined>;
  setLegalHold(version: ObjectVersion, on: boolean): Promise<void>;
  /** Whether the version's legal hold is on; false for a version that has none or no longer exists. */
  legalHold(version: ObjectVersion): Promise<boolean>;
  /** Every version and delete marker under a prefix, keys in order, newest version first within a key. */
  versions(bucket: string, prefix: string): AsyncIterable<ListedVersion>;
  /** Replaces the version's object tags (S3 PutObjectTagging with its version id). */
  tag(version: ObjectVersion, tags: Record<string, string>): Promise<void>;
  /** The version's object tags (S3 GetObjectTagging with its version id); `{}` when it has none. */
  tags(version: ObjectVersion): Promise<Record<string, string>>;
}

/** The record of legal holds (shared/retention/holds.ts), kept in the index: who, when, why, how many. */
export interface HoldLog {
  /** Writes the record, replacing an earlier one with the same id. */
  putHold(record: HoldRecord): Promise<void>;
  getHold(holdId: string): Promise<HoldRecord | undefined>;
  /** Every hold, active and released, oldest first. */
  listHolds(): Promise<HoldRecord[]>;
  /**
   * Records the versions a hold places a legal hold on (all in one bucket), in as many parts as their size takes,
   * replacing parts written before under that id. Returns the number of parts (the record's `heldParts`).
   */
  putHeldVersions(
    holdId: string,
    bucket: string,
    versions: readonly { key: string; versionId: string }[],
  ): Promise<number>;
  /** The versions putHeldVersions recorded in `parts` parts, in the order given. Throws when a part is missing. */
  heldVersions(holdId: string, parts: number): Promise<ObjectVersion[]>;
}

export interface ListQuery {
  /** Only this folder: read alone, or the mailbox newest first for at most its rows (shared/index/listing.ts). */
  folder?: string;
  /** Received on or after (inclusive): a key condition, rows before it are not read. */
  since?: Date;
  /** Received before (exclusive): a key condition, rows at or after it are not read. */
  until?: Date;
  /** Newest first. */
  limit?: number;
  /** Counts, as the listing reads, what it read from the index (`list --verbose`). */
  reads?: IndexReads;
}

/** What a read of the index went through: what `--verbose` reports and read units pay for. */
export interface IndexReads {
  /** Items DynamoDB read (ScannedCount summed over every page). */
  read: number;
  /** Items it returned after its filter expression (Count). */
  returned: number;
}

/** The delivery rows (one per mailbox and message) and the folders' UID state. */
export interface DeliveryIndex {
  getDelivery(mailbox: string, messageKey: string): Promise<DeliveryRow | undefined>;
  /** Hands out the next UID of a folder, creating the folder (and its UIDVALIDITY) on first use. */
  allocateUid(mailbox: string, folder: Folder): Promise<{ uid: number; uidValidity: number }>;
  /**
   * Reindex: gives a folder's UID back to a message, when the folder still has that UIDVALIDITY (or does not
   * exist yet, and is then created with it); raises the folder's last UID to at least that UID. False otherwise.
   */
  restoreUid(mailbox: string, folder: Folder, uid: number, uidValidity: number): Promise<boolean>;
  /** Every delivery row, all mailboxes (reconcile). */
  allDeliveries(): AsyncIterable<DeliveryRow>;
  /**
   * The rows of a mailbox in the order of their raw objects' keys (by `sesMessageId`, compared as UTF-8 bytes, as
   * S3 lists keys; then by message key), only their keys; with `afterSesMessageId`, only rows whose
   * `sesMessageId` sorts after it. Reconcile walks them beside the bucket's listing.
   */
  rawObjectRows(mailbox: string, afterSesMessageId?: string): AsyncIterable<RawObjectRow>;
  /**
   * The rows of a mailbox in message-key order (the order of the forwarding ledger's entries); with
   * `afterMessageKey`, only the rows after it.
   */
  mailboxRows(mailbox: string, afterMessageKey?: string): AsyncIterable<DeliveryRow>;
  /** Writes a row unless one exists for (mailbox, messageKey): at-least-once delivery makes this the norm. */
  putDelivery(row: DeliveryRow): Promise<'created' | 'exists'>;
  /**
   * The content marker (shared/index/schema.ts itemKeys.content): records `messageKey` as the message of
   * `mailbox` that holds `contentSha256`, unless a marker is there already (first writer wins). Returns the
   * message key the marker holds afterwards: `messageKey`, or the earlier one.
   */
  claimContent(mailbox: string, contentSha256: string, messageKey: string): Promise<string>;
  /** The message key the content marker of `mailbox` holds for `contentSha256`, if any. */
  contentHolder(mailbox: string, contentSha256: string): Promise<string | undefined>;
  /** Rows of a mailbox, newest received first. */
  listDeliveries(mailbox: string, query?: ListQuery): AsyncIterable<DeliveryRow>;
  /** Rows of one folder in UID order. */
  folderDeliveries(mailbox: string, folder: string): AsyncIterable<DeliveryRow>;
  /**
   * How many rows one folder holds, no row sent back (`status`; `reads` counts what it read). On DynamoDB the count
   * its folder item keeps, or for a folder from before counts were kept a Select COUNT query: it still reads
   * (and pays read units for) every row of the folder, but transfers none.
   */
  countDeliveries(mailbox: string, folder: string, reads?: IndexReads): Promise<number>;
  /** The folder items of a mailbox (`reads` counts what was read: `status --verbose`). */
  folders(mailbox: string, reads?: IndexReads): Promise<FolderState[]>;
  /** Every mailbox that has a row, including ones no longer configured (`reads`: as for folders). */
  mailboxes(reads?: IndexReads): Promise<string[]>;
}

/** The export records: state, progress and result of every export, read by the CLI that follows one. */
export interface ExportLog {
  putExport(record: ExportRecord): Promise<void>;
  /** Records a finished part atomically; the call that completes the set marks the export done. */
  recordExportPart(
    mailbox: string,
    exportId: string,
    part: number,
    result: ExportPart,
  ): Promise<ExportRecord>;
  recordExportProgress(mailbox: string, exportId: string, part: number, messages: number): Promise<void>;
  failExport(mailbox: string, exportId: string, error: string): Promise<void>;
  getExport(mailbox: string, exportId: string): Promise<ExportRecord | undefined>;
  /** The newest finished export of a mailbox in a format: the base of an incremental one. */
  latestExport(mailbox: string, format: ExportRecord['format']): Promise<ExportRecord | undefined>;
}

/** The index of the archive: deliveries, folders and exports (one DynamoDB table on AWS). */
export interface MailIndex extends DeliveryIndex, ExportLog {}

/** The forwarding ledger (shared/forwarding/ledger.ts has its rules). */
export interface ForwardLedger {
  /** Claims (mailbox, message, target) for sending; false when it is sent, skipped, being sent or parked. */
  claimForward(entry: ForwardEntryKey, now: Date, redrive: boolean): Promise<boolean>;
  settleForward(entry: ForwardEntryKey, result: SendResult, now: Date): Promise<void>;
  /** Records a decision not to forward, unless something was already recorded. */
  skipForward(entry: ForwardEntryKey, reason: string, now: Date): Promise<void>;
  /**
   * A mailbox's ledger entries in message-key order (then target); with `afterMessageKey`, only the entries of
   * message keys after it.
   */
  listForwards(mailbox: string, state?: ForwardState, afterMessageKey?: string): AsyncIterable<ForwardEntry>;
  /** The ledger entries of one message (one per target recorded), read consistently: reconcile's look at a new row. */
  messageForwards(mailbox: string, messageKey: string): Promise<ForwardEntry[]>;
  /** Bounce and complaint feedback, found by the id SES gave the sent copy; false when no entry has it. */
  recordFeedback(
    sesMessageId: string,
    state: 'bounced' | 'complained',
    feedback: string,
    now: Date,
  ): Promise<boolean>;
}

/** Where archived messages wait to be forwarded (SQS on AWS, in-process locally). */
export interface ForwardQueue {
  enqueue(requests: ForwardRequest[]): Promise<void>;
}

/** Where requests that failed permanently wait for `mail-archiver redrive` (a dead-letter queue, a directory). */
export interface ForwardParking {
  park(request: ForwardRequest, reason: string): Promise<void>;
}

/** Sends one forwarded copy (SES v2 on AWS, SMTP locally); throws SendError. */
export interface MailSender {
  send(input: { from: string; to: string; raw: Buffer }): Promise<{ messageId: string }>;
}

/** Bounces received mail for recipients that do not exist (SES v1 SendBounce). */
export interface Bouncer {
  bounce(input: { sesMessageId: string; bounceSender: string; recipients: string[] }): Promise<void>;
}

/** Where each Gmail target's credential is kept (Secrets Manager on AWS, the data directory locally). */
export interface GmailCredentialStore {
  /** Throws GmailAuthError when the target has no credential. */
  load(target: string): Promise<GmailCredential>;
  save(target: string, credential: GmailCredential): Promise<void>;
}

/** Imports one message into a Gmail mailbox. */
export interface GmailImporter {
  /**
   * `user` is the Gmail address (the forwarding target); `raw` the archived bytes, imported unchanged with
   * labels INBOX and UNREAD, internalDateSource=receivedTime and Gmail's spam classifier left on.
   * Throws SendError (transient ones are retried by the queue), GmailAuthError when Google refuses the
   * credential.
   */
  importMessage(input: { user: string; raw: Buffer }): Promise<{ gmailMessageId: string }>;
}

/** The reading half of the Gmail API the collection needs (implemented by shared/adapters/gmail-api.ts). */
export interface GmailMailboxReader {
  /** The mailbox's current history id (users.getProfile). */
  historyId(user: string): Promise<string>;
  /** users.history.list for label SENT, messageAdded; 'expired' when Google no longer has that history id. */
  sentHistory(user: string, startHistoryId: string, pageToken?: string): Promise<SentHistoryPage | 'expired'>;
  /** users.messages.list of label SENT after a time (the fallback when the history id expired). */
  sentSince(
    user: string,
    after: Date,
    pageToken?: string,
  ): Promise<{ messageIds: string[]; nextPageToken?: string }>;
  /** users.messages.get format=raw: the message's bytes; undefined when it was deleted meanwhile. */
  rawMessage(user: string, id: string): Promise<{ raw: Buffer; internalDate?: Date } | undefined>;
}

/** Where each Gmail target's Sent collection stands (the raw-mail bucket on AWS and locally). */
export interface SentCollectionStateStore {
  get(target: string): Promise<SentCollectionState | undefined>;
  put(target: string, state: SentCollectionState): Promise<void>;
}

/**
 * Google's own credential file formats, kept as they are: a service account key (Workspace, with domain-wide
 * delegation; the library impersonates the target's user) or an authorised user (consumer Gmail: the refresh
 * token from `mail-archiver gmail-auth`). `token_uri` is Google's token endpoint unless a stand-in is named.
 */
export type GmailCredential =
  | {
      type: 'service_account';
      client_email: string;
      private_key: string;
      private_key_id?: string;
      client_id?: string;
      token_uri?: string;
    }
  | {
      type: 'authorized_user';
      client_id: string;
      client_secret: string;
      refresh_token: string;
      token_uri?: string;
    };

export interface SentHistoryPage {
  /** Ids of messages added with the SENT label, oldest first. */
  messageIds: string[];
  /** The mailbox's history id when the page was read: the next run starts here. */
  historyId: string;
  nextPageToken?: string;
}

/** Where a target's collection stands: the history id the next run starts from. */
export interface SentCollectionState {
  historyId: string;
  /** When the last run finished (the fallback listing starts a day before it). */
  collectedAt: string;
}

/**
 * Where the transparency log keeps its files (tiles, checkpoints, seal records): the raw-mail bucket under
 * `transparency/` (shared/adapters/s3-write-once-store.ts), a directory in a replica. Every file is written once.
 */
export interface WriteOnceStore {
  /** A file's bytes; undefined when there is none. */
  get(path: string): Promise<Buffer | undefined>;
  /**
   * Creates a file unless one exists at `path` (a conditional write): 'created'; 'exists' when the file there
   * holds these same bytes (a retried write). Throws LogOverwriteError (shared/transparency/log-files.ts) when it
   * holds other bytes: nothing of the log is ever replaced.
   */
  putOnce(path: string, bytes: Buffer, contentType: string): Promise<'created' | 'exists'>;
  /** The paths under a prefix. */
  list(prefix: string): AsyncIterable<string>;
}
