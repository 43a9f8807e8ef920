// The index layout: the one place that knows how keys are built. Every reader and writer goes through it.
//
//   pk = MAILBOX#<mailbox>   sk = MESSAGE#<messageKey>   one delivery row per (mailbox, message)
//   pk = MAILBOX#<mailbox>   sk = FOLDER#<folder>        the folder's UIDVALIDITY and last UID given out
//   pk = MAILBOX#<mailbox>   sk = EXPORT#<exportId>      an export: its state, progress and result
//   pk = MAILBOX#<mailbox>   sk = FORWARD#<messageKey>#<target>   the forwarding ledger
//   pk = MAILBOX#<mailbox>   sk = CONTENT#<contentSha256>    which message holds this content in the mailbox
//   pk = MAILBOX#<mailbox>   sk = COUNTED#<messageKey>   the row is in its folder's kept count
//   pk = SESMSG#<SES id of a forwarded copy>   sk = FORWARD       finds the ledger entry for bounce feedback
//   pk = HOLDS   sk = HOLD#<holdId>                  a legal hold: criteria, who, when, why, how many (holds are few)
//   pk = HELD#<holdId>   sk = PART#<n>               the versions a hold placed, in parts (dynamo-hold-log.ts)
//   pk = MAILBOXES   sk = MAILBOX#<mailbox>          the mailbox registry (sk = COMPLETE: every mailbox is in it)
//   GSI byFolderUid: gsi1pk = MAILBOX#<mailbox>#FOLDER#<folder>, gsi1sk = uid      (export, IMAP order)
//   GSI byReceived:  pk, gsi2sk = <receivedAt ISO>#<messageKey>                     (listing, newest first)
//   GSI byRawObject: mailbox, sesMessageId (keys only)          (reconcile: a mailbox's rows in raw-key order)
//   GSI bySender:    fromAddress, pk (keys and gsi2sk)          (search by one sender, in the mailboxes asked)
import type { ForwardEntry } from '../forwarding/ledger';
import type { AttachmentSummary, LineEndings } from '../mail/mime';
import type { Flag, Folder, Verdicts } from '../receiving/routing';

export const INDEX_SCHEMA_VERSION = 1;
export const GSI_BY_FOLDER_UID = 'byFolderUid';
export const GSI_BY_RECEIVED = 'byReceived';
/**
 * A mailbox's delivery rows in the order of their raw objects' keys (`incoming/<sesMessageId>`, as S3 lists
 * them), so reconcile can walk the bucket's listing and the index side by side. Built on attributes every row has
 * had since the first schema (`mailbox`, `sesMessageId`), so DynamoDB backfills it for rows written before it
 * existed. Keys only (each entry has pk, and sk = MESSAGE#<messageKey>); FORWARD_SENT_SES_ID keeps the ledger out.
 */
export const GSI_BY_RAW_OBJECT = 'byRawObject';
/** Rows by sender and mailbox (`search --from`), with gsi2sk to order them; dates filter the entries (one key
 * attribute each: DynamoDB Local has no multi-attribute keys). On attributes rows always had (backfilled). */
export const GSI_BY_SENDER = 'bySender';

export interface RawLocation {
  bucket: string;
  key: string;
  /**
   * The S3 version to read; absent: the current one. Index rows never carry it (the delivery log does: a replica
   * reads the version a record names).
   */
  versionId?: string;
}

/**
 * One message in one mailbox: the index's row. Units: sizes in bytes; times as ISO 8601 UTC strings; UIDs and
 * UIDVALIDITY as IMAP has them (RFC 3501 2.3.1.1: UIDVALIDITY is the epoch seconds of the folder's first use,
 * fixed afterwards; UIDs ascend within it).
 */
export interface DeliveryRow {
  mailbox: string;
  folder: Folder;
  uid: number;
  uidValidity: number;
  flags: Flag[];
  /** Identity of the stored message: sha256 of its bytes plus the SES message id. */
  messageKey: string;
  sha256: string;
  /**
   * The content identity (shared/mail/content-identity.ts ContentHasher: sha256 of the message as every copy of it
   * says it); absent on rows written before it was kept.
   */
  contentSha256?: string;
  sesMessageId: string;
  /** Where the raw bytes are (bucket and key of the object SES stored). */
  location: RawLocation;
  size: number;
  /** Line endings of the raw bytes: lets the exporter size maildir files without reading them twice. */
  lineEndings: LineEndings;
  /** When SES (or the importer) received it: the IMAP INTERNALDATE. */
  receivedAt: string;
  /** Where receivedAt came from (shared/mail/dates.ts ReceivedTimeSource); absent on rows before it was kept. */
  receivedAtSource?: string;
  /** IMAP keywords (Gmail labels, Dovecot keywords of an imported maildir), as the source named them. */
  keywords?: string[];
  date?: string;
  dateHeader?: string;
  from: string[];
  fromAddress?: string;
  to: string[];
  cc: string[];
  subject?: string;
  messageId?: string;
  inReplyTo?: string;
  references: string[];
  attachments: AttachmentSummary[];
  verdicts: Verdicts;
  /** Cut to the row's byte budget when too many (all of them are in the envelope sidecar). */
  envelopeRecipients: string[];
  /** How many envelope recipients there were, when `envelopeRecipients` was cut. */
  envelopeRecipientCount?: number;
  parseError?: string;
  /** Fields cut to the row's byte budget (shared/index/row-budget.ts); the raw message has them whole. */
  truncated?: string[];
  /** Why the full row was refused, when this is the minimal row written in its place. */
  minimal?: string;
  archivedAt: string;
  schemaVersion: number;
  /** A canary's row only: when DynamoDB's TTL deletes it (epoch seconds; shared/health/config.ts canaryExpiresAt). */
  expiresAt?: number;
}

/** A delivery row as the byRawObject index gives it: which mailbox holds which message of which raw object. */
export interface RawObjectRow {
  mailbox: string;
  messageKey: string;
  sesMessageId: string;
}

/** The RawObjectRow of a byRawObject index entry (keys only: the message key is in the base table's sk). */
export function rawObjectRowFromItem(item: Record<string, unknown>): RawObjectRow | undefined {
  const sk = String(item.sk);
  // Ledger entries from before FORWARD_SENT_SES_ID: deployed indexes still hold them (under `sesMessageId`).
  if (!sk.startsWith(indexKeys.MESSAGE_PREFIX)) return undefined;
  return {
    mailbox: String(item.mailbox),
    messageKey: sk.slice(indexKeys.MESSAGE_PREFIX.length),
    sesMessageId: String(item.sesMessageId),
  };
}

/**
 * The smallest ledger sort key after every entry of `messageKey`: `FORWARD#<messageKey>#<target>` sorts below
 * `FORWARD#<messageKey>$`, which sorts below every longer message key (message keys are [A-Za-z0-9_-], above `$`).
 */
export const forwardSkAfter = (messageKey: string) => `${indexKeys.FORWARD_PREFIX}${messageKey}$`;

export interface FolderState {
  mailbox: string;
  folder: string;
  uidValidity: number;
  /** The last UID handed out; the next message gets a larger one. */
  lastUid: number;
  /**
   * How many delivery rows the folder holds, kept as each row is written (in the same transaction); absent for a
   * folder made before counts were kept (its rows are counted by reading them).
   */
  messages?: number;
}

export interface ExportRecord {
  mailbox: string;
  /** Starts with the creation time, so ids sort by time. */
  exportId: string;
  createdAt: string;
  updatedAt: string;
  state: 'running' | 'done' | 'failed';
  format: 'maildir' | 'mboxrd';
  incremental: boolean;
  /** The UIDs this export started after (incremental), per folder. */
  after?: Record<string, number>;
  /** The highest UID per folder it covered: the next incremental starts after these. */
  lastUids?: Record<string, number>;
  messagesDone: number;
  messagesTotal: number;
  /** How many bundles the work was split into (each built by its own invocation, in parallel). */
  partCount?: number;
  /** Parts finished so far, by index; `parts` lists them in order once all are done. */
  partResults?: Record<string, ExportPart>;
  /** Messages written so far, by part index. */
  partProgress?: Record<string, number>;
  /** The bundle, or its parts in order, with their sizes and sha256. */
  parts: ExportPart[];
  /**
   * age X25519 recipients (public keys, `age1...`) every part is encrypted to; absent for a plain tar.gz. A
   * passphrase is never recorded: passphrase exports run only where the passphrase was typed.
   */
  recipients?: string[];
  error?: string;
}

export interface ExportPart {
  key: string;
  bytes: number;
  sha256: string;
  messages: number;
  rawBytes: number;
}

/** A new export id: sortable by time, unique. */
export function newExportId(now: Date, random: string): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${random}`;
}

/** A message's identity, also safe as a maildir file-name component ([A-Za-z0-9_-]). */
export function messageKeyOf(sha256: string, sesMessageId: string): string {
  return `${sha256.slice(0, MESSAGE_KEY_HASH_CHARS)}-${keySafeId(sesMessageId)}`;
}

/** Whether a message key ({@link messageKeyOf}) is that of the object stored under `sesMessageId`. */
export function isMessageKeyOf(messageKey: string, sesMessageId: string): boolean {
  return messageKey.slice(MESSAGE_KEY_HASH_CHARS + 1) === keySafeId(sesMessageId);
}

/** How much of the sha256 (hex) a message key starts with. */
const MESSAGE_KEY_HASH_CHARS = 32;
const keySafeId = (sesMessageId: string) => sesMessageId.replace(/[^A-Za-z0-9_-]/g, '_');

export const indexKeys = {
  mailboxPk: (mailbox: string) => `MAILBOX#${mailbox}`,
  messageSk: (messageKey: string) => `MESSAGE#${messageKey}`,
  folderSk: (folder: string) => `FOLDER#${folder}`,
  exportSk: (exportId: string) => `EXPORT#${exportId}`,
  forwardSk: (messageKey: string, target: string) => `FORWARD#${messageKey}#${target}`,
  FORWARD_PREFIX: 'FORWARD#',
  sentCopyPk: (sesMessageId: string) => `SESMSG#${sesMessageId}`,
  SENT_COPY_SK: 'FORWARD',
  EXPORT_PREFIX: 'EXPORT#',
  folderUidPk: (mailbox: string, folder: string) => `MAILBOX#${mailbox}#FOLDER#${folder}`,
  receivedSk: (receivedAt: string, messageKey: string) => `${receivedAt}#${messageKey}`,
  contentSk: (contentSha256: string) => `CONTENT#${contentSha256}`,
  countTokenSk: (messageKey: string) => `COUNTED#${messageKey}`,
  MESSAGE_PREFIX: 'MESSAGE#',
  FOLDER_PREFIX: 'FOLDER#',
  CONTENT_PREFIX: 'CONTENT#',
  HOLDS_PK: 'HOLDS',
  holdSk: (holdId: string) => `HOLD#${holdId}`,
  MAILBOXES_PK: 'MAILBOXES',
  MAILBOX_PREFIX: 'MAILBOX#',
  mailboxEntrySk: (mailbox: string) => `MAILBOX#${mailbox}`,
  MAILBOXES_COMPLETE_SK: 'COMPLETE',
} as const;

/** The primary key ({ pk, sk }) of each kind of item: the one place that assembles them. */
export const itemKeys = {
  delivery: (mailbox: string, messageKey: string) => ({
    pk: indexKeys.mailboxPk(mailbox),
    sk: indexKeys.messageSk(messageKey),
  }),
  folder: (mailbox: string, folder: string) => ({
    pk: indexKeys.mailboxPk(mailbox),
    sk: indexKeys.folderSk(folder),
  }),
  export: (mailbox: string, exportId: string) => ({
    pk: indexKeys.mailboxPk(mailbox),
    sk: indexKeys.exportSk(exportId),
  }),
  forward: (entry: { mailbox: string; messageKey: string; target: string }) => ({
    pk: indexKeys.mailboxPk(entry.mailbox),
    sk: indexKeys.forwardSk(entry.messageKey, entry.target),
  }),
  /**
   * The content marker: the one message of a mailbox that holds a content identity (first writer wins), so a
   * copy that differs only in its line endings is not a second message there. Not in either GSI (no gsi keys).
   */
  content: (mailbox: string, contentSha256: string) => ({
    pk: indexKeys.mailboxPk(mailbox),
    sk: indexKeys.contentSk(contentSha256),
  }),
  /** A row is in its folder's count (dynamo-folders.ts countRow): written once with it, never removed; in no GSI. */
  countToken: (mailbox: string, messageKey: string) => ({
    pk: indexKeys.mailboxPk(mailbox),
    sk: indexKeys.countTokenSk(messageKey),
  }),
  /** Finds the ledger entry of a forwarded copy by the id SES gave it (bounce and complaint feedback). */
  sentCopy: (sesMessageId: string) => ({
    pk: indexKeys.sentCopyPk(sesMessageId),
    sk: indexKeys.SENT_COPY_SK,
  }),
  /** A legal hold (shared/retention/holds.ts): all in one partition, listed by hold id (time-sortable). */
  hold: (holdId: string) => ({ pk: indexKeys.HOLDS_PK, sk: indexKeys.holdSk(holdId) }),
  heldPart: (holdId: string, part: number) => ({ pk: `HELD#${holdId}`, sk: `PART#${part}` }),
  /** A mailbox in the registry (one small partition: `mailboxes()` reads it, no scan); made before its first folder. */
  mailboxEntry: (mailbox: string) => ({ pk: indexKeys.MAILBOXES_PK, sk: indexKeys.mailboxEntrySk(mailbox) }),
  /** The registry holds every mailbox: written once, after a scan registered older ones (until then, scans). */
  mailboxesComplete: () => ({ pk: indexKeys.MAILBOXES_PK, sk: indexKeys.MAILBOXES_COMPLETE_SK }),
} as const;

/** The content marker item: its keys and the message key of the row that holds the content. */
export function contentItem(mailbox: string, contentSha256: string, messageKey: string) {
  return { ...itemKeys.content(mailbox, contentSha256), mailbox, contentSha256, messageKey };
}

/** The stored item for a row: the row itself plus its keys. */
export function deliveryItem(row: DeliveryRow): Record<string, unknown> {
  return {
    pk: indexKeys.mailboxPk(row.mailbox),
    sk: indexKeys.messageSk(row.messageKey),
    gsi1pk: indexKeys.folderUidPk(row.mailbox, row.folder),
    gsi1sk: row.uid,
    gsi2sk: indexKeys.receivedSk(row.receivedAt, row.messageKey),
    ...row,
  };
}

/**
 * A delivery row from its stored item. Rows written before the stored location was named `location` (commit
 * 885be91) hold it as `raw`; tables persist (DynamoDB Local's data directory, the deployed table), so every
 * reader of a row gets it under the one name here, whichever name the item has.
 */
export function rowFromItem(item: Record<string, unknown>): DeliveryRow {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g1s, gsi2sk: _g2s, raw, ...row } = item;
  if (row.location === undefined && raw !== undefined) row.location = raw;
  return row as unknown as DeliveryRow;
}

/** An export record from its stored item. */
export function exportFromItem(item: Record<string, unknown>): ExportRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as ExportRecord;
}

/** Where a ledger entry keeps its sent copy's SES id (ForwardEntry.sesMessageId): with `mailbox`, `sesMessageId`
 * would put the entry in byRawObject (a write unit more per copy). Older entries have it as `sesMessageId`. */
export const FORWARD_SENT_SES_ID = 'sentSesMessageId';

/** A ledger entry from its stored item, its copy's SES id under either name (FORWARD_SENT_SES_ID). */
export function forwardFromItem(item: Record<string, unknown>): ForwardEntry {
  const { pk: _pk, sk: _sk, [FORWARD_SENT_SES_ID]: sent, ...entry } = item;
  return (sent === undefined ? entry : { ...entry, sesMessageId: sent }) as unknown as ForwardEntry;
}

/** A global secondary index: its keys and what it projects (`nonKeyAttributes` with INCLUDE). */
export interface IndexDefinition {
  indexName: string;
  partitionKey: { name: string; type: 'S' | 'N' };
  sortKey: { name: string; type: 'S' | 'N' };
  projection: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  nonKeyAttributes?: readonly string[];
}

/** The table's key schema, used by the CDK stack and by the local stack alike. */
export const indexTableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  timeToLiveAttribute: 'expiresAt', // DynamoDB TTL: DeliveryRow.expiresAt, canary rows only
  globalSecondaryIndexes: [
    {
      indexName: GSI_BY_FOLDER_UID,
      partitionKey: { name: 'gsi1pk', type: 'S' },
      sortKey: { name: 'gsi1sk', type: 'N' },
      projection: 'ALL',
    },
    {
      indexName: GSI_BY_RECEIVED,
      partitionKey: { name: 'pk', type: 'S' },
      sortKey: { name: 'gsi2sk', type: 'S' },
      projection: 'ALL',
    },
    {
      indexName: GSI_BY_RAW_OBJECT,
      partitionKey: { name: 'mailbox', type: 'S' },
      sortKey: { name: 'sesMessageId', type: 'S' },
      projection: 'KEYS_ONLY',
    },
    // One index created or deleted per stack update, keys never changed in place (docs/operations.md, Upgrading).
    {
      indexName: GSI_BY_SENDER,
      partitionKey: { name: 'fromAddress', type: 'S' },
      sortKey: { name: 'pk', type: 'S' },
      projection: 'INCLUDE',
      nonKeyAttributes: ['gsi2sk'],
    },
  ] satisfies readonly IndexDefinition[] as readonly IndexDefinition[],
} as const;

/** Where raw mail lives in the bucket: SES's S3 action writes `<prefix><SES message id>`. */
export const RAW_MAIL_PREFIX = 'incoming/';
/** The envelope and UIDs of each message, written by ingest next to the raw mail (reindex reads them). */
export const ENVELOPE_PREFIX = 'envelopes/';
export const envelopeKey = (sesMessageId: string) => `${ENVELOPE_PREFIX}${sesMessageId}.json`;
/**
 * Where `reindex` keeps a damaged sidecar's bytes before it rebuilds the sidecar (`at`: ISO time, made key-safe).
 * Under ENVELOPE_PREFIX, so the same grants cover it; never read back by the archiver.
 */
export const damagedEnvelopeKey = (sesMessageId: string, at: string) =>
  `${ENVELOPE_PREFIX}damaged/${sesMessageId}.${at.replace(/[^0-9A-Za-z]/g, '')}.json`;
/** Where bundles are written; they expire (the raw mail they are built from stays). */
export const EXPORT_PREFIX = 'exports/';
/**
 * What tells the parts of a split export apart, added to the bundle's name: nothing when there is one part,
 * else `.part-<n>-of-<count>` with n counted from 1 (`part` counts from 0). The export Lambda's S3 keys and the
 * CLI's files use it.
 */
export function partSuffix(part: number, count: number): string {
  return count === 1 ? '' : `.part-${part + 1}-of-${count}`;
}
/**
 * The S3 key of part `part` (from 0) of `count` of export `id` of `mailbox`, under EXPORT_PREFIX; `.age` follows
 * `.tar.gz` when the bundle is age-encrypted (shared/bundle/age.ts).
 */
export const exportBundleKey = (
  mailbox: string,
  id: string,
  part: number,
  count: number,
  encrypted = false,
) =>
  `${EXPORT_PREFIX}${encodeURIComponent(mailbox)}/${id}${partSuffix(part, count)}.tar.gz${encrypted ? '.age' : ''}`;
export const rawMailKey = (sesMessageId: string) => `${RAW_MAIL_PREFIX}${sesMessageId}`;
/**
 * SES writes `incoming/AMAZON_SES_SETUP_NOTIFICATION` when the receipt rule is created (a test object, not
 * mail; https://docs.aws.amazon.com/ses/latest/dg/receiving-email-permissions.html): reconcile and reindex skip
 * it, and ingest ignores a notification for it.
 */
export const SES_SETUP_NOTIFICATION_KEY = `${RAW_MAIL_PREFIX}AMAZON_SES_SETUP_NOTIFICATION`;
export const isSetupNotification = (key: string) => key === SES_SETUP_NOTIFICATION_KEY;
/**
 * Objects under RAW_MAIL_PREFIX that are not mail: SES's setup notification, and a "folder" (a key ending in `/`,
 * as the S3 console's "Create folder" makes: `incoming/` itself). Reconcile and reindex skip them.
 */
export const isNotMailObject = (key: string) => isSetupNotification(key) || key.endsWith('/');

/** The last scheduled reconcile's outcome (shape: shared/archive/reconcile-run.ts), read by `status`, `doctor`. */
export const RECONCILE_REPORT_KEY = 'reports/reconcile.json';
export const REPORTS_PREFIX = 'reports/';
/**
 * Where the scheduled reconcile keeps a run that outlives one invocation (lambdas/reconcile): its progress and
 * which invocation holds it. Absent between runs.
 */
export const RECONCILE_PROGRESS_KEY = 'reports/reconcile-progress.json';
/** The last canary sent and the verdict on the one before it (shared/health/canary-run.ts). */
export const CANARY_RECORD_KEY = 'reports/canary.json';

/** The prefix of every delivery-log object (the key layout under it: shared/delivery-log/layout.ts). */
export const DELIVERY_LOG_PREFIX = 'delivery-log/';

/** The transparency log's files in the raw-mail bucket (shared/transparency/log-files.ts lays them out). */
export const TRANSPARENCY_PREFIX = 'transparency/';
/**
 * The prefixes whose every version is locked with S3 Object Lock (shared/retention/lock-policy.ts): raw mail, the
 * envelope sidecars, the delivery log and the transparency log. The grants, the sweep and the replica read this
 * one list. Append only: the replica's rules are named after it (cdk/constructs/replication.ts).
 */
export const LOCKED_PREFIXES: readonly string[] = [
  RAW_MAIL_PREFIX,
  ENVELOPE_PREFIX,
  DELIVERY_LOG_PREFIX,
  TRANSPARENCY_PREFIX,
];
/** A canary's versions (its raw message and sidecar): the only keys tagged as one (shared/health/config.ts). */
export const CANARY_TAGGED_PREFIXES: readonly string[] = [RAW_MAIL_PREFIX, ENVELOPE_PREFIX];

/** doctor --target aws's replica canary: its x-amz-replication-status proves account B's replica takes writes. */
export const REPLICA_CANARY_PREFIX = 'replica-canary/';
/** Where `replica backfill` jobs' completion reports go (S3's job-<id>/ under it): unlocked, not replicated. */
export const BATCH_REPLICATION_REPORT_PREFIX = `${REPORTS_PREFIX}batch-replication/`;

/** History imports get a content-derived id in place of SES's, so a second import finds the first. */
export const importMessageId = (sha256: string) => `import-${sha256.slice(0, 40)}`;
/** Imported history is archived, never forwarded: the hosted mailbox has it already. */
export const isImportedMessage = (sesMessageId: string) => sesMessageId.startsWith('import-');

/** Where the Gmail Sent collection keeps each target's state, in the raw-mail bucket. */
export const SENT_COLLECTION_STATE_PREFIX = 'state/gmail-sent/';
export const sentCollectionStateKey = (target: string) =>
  `${SENT_COLLECTION_STATE_PREFIX}${encodeURIComponent(target)}.json`;

/** The Secrets Manager secret holding a Gmail API target's credential: `<stack>/gmail/<address>`. */
export const gmailSecretName = (stackName: string, target: string) => `${stackName}/gmail/${target}`;
