// History import: every message goes through the same path as SES-received mail (stored under incoming/,
// then an SES notification to the ingest handler), stored byte for byte, with what its source knew (folder,
// flags, labels, received time and where that time came from) carried in the notification's `imported` part.
//
// Identity: a message's import id comes from its content identity (shared/mail/content-identity.ts ContentHasher: its bytes
// with every line ending made LF, header folding and the fields mail programs and sync tools write into every copy
// left out), so the LF copy of a message (a maildir), its CRLF copy (an mbox, an .eml), its bare-CR copy, mbsync's
// copy with its X-TUID and neomutt's with its Status fields are one message; the bytes stored first are kept. A mailbox that already holds the content
// under another message (SES received it, or an earlier import stored it) has it: its content marker says so
// (shared/index/schema.ts itemKeys.content), and the message is not delivered there again. Importing the same
// files again stores nothing twice, and an interrupted import resumes: messages already indexed for every mailbox
// they belong to are counted "already present" without being delivered again (their rows are logged when the
// delivery log lacks them: import-log.ts).
import pLimit from 'p-limit';
import { EnvelopeFormatError, type EnvelopeRecord, readEnvelope } from '../archive/envelope';
import type { ArchiverConfig } from '../config';
import { errorMessage } from '../errors';
import { canaryAddress } from '../health/config';
import { importMessageId, isMessageKeyOf, rawMailKey } from '../index/schema';
import { contentSha256 } from '../mail/content-identity';
import { chooseReceivedTime, type ReceivedTimeSource } from '../mail/dates';
import { findHeaderEnd } from '../mail/lines';
import { defaultParseLimits, type MessageHeaders, readMessageBytes } from '../mail/mime';
import type { DeliveryIndex, RawMailStore } from '../ports';
import { headerRecipients, isSentByMailbox, sendingMailbox } from '../receiving/header-recipients';
import { checkEnvelopeRecipient, envelopeRecipient } from '../receiving/recipient-check';
import {
  baseAddress,
  configuredMailbox,
  isCanaryOnly,
  routeMessage,
  UNROUTED_MAILBOX,
} from '../receiving/routing';
import {
  buildReceivedNotification,
  type ImportedState,
  type SesReceivedNotification,
} from '../receiving/ses-notification';
import type { ImportLog } from './import-log';
import type { SourceItem, SourceMessage } from './source-items';
import { readSources } from './sources';

export interface ImportTarget {
  store: RawMailStore;
  bucket: string;
  /** Where the content markers are read: a mailbox whose marker names another message has this one already. */
  index: Pick<DeliveryIndex, 'contentHolder'>;
  /** Delivers through the ingest handler; when it returns, local targets have indexed the message. */
  deliver(notification: SesReceivedNotification): Promise<void>;
  /**
   * Where this run's delivery log records go, when the import writes them (locally; on AWS the ingest Lambda
   * logs what it indexes, and SQS delivers again what it did not log): the rows of a message found present are
   * logged here unless the log records them (import-log.ts).
   */
  log?: ImportLog;
}

export interface MailboxCounts {
  archived: number;
  duplicates: number;
  failed: number;
}

export interface ImportReport {
  /** Messages newly archived in at least one mailbox. */
  archived: number;
  /** Messages every mailbox already had. */
  duplicates: number;
  failed: { origin: string; reason: string }[];
  /** Inputs that are not mail (reported, never archived). */
  skipped: { origin: string; reason: string }[];
  /** What the user should know that lost nothing: `From ` lines of an mbox not taken as separators. */
  notices: { origin: string; reason: string }[];
  /** The same counts per mailbox, as `list <mailbox>` shows them afterwards. */
  mailboxes: Record<string, MailboxCounts>;
  /** How many messages took their received time from each source. */
  receivedTimeSources: Partial<Record<ReceivedTimeSource, number>>;
  /** Set when `signal` stopped the import before the end (the messages in flight were finished first). */
  interrupted?: boolean;
}

export interface ImportOptions {
  /** Envelope recipients for every message (checked as SMTP checks them); default: derived from each message. */
  to?: string[];
  /** The archive mailbox the files belong to (a Takeout of alice@...): its sent mail goes to its Sent folder. */
  mailbox?: string;
  /** Messages imported at once; default {@link DEFAULT_IMPORT_CONCURRENCY}. */
  concurrency?: number;
  /** Stops reading new input and starting messages read ahead; messages in flight finish. */
  signal?: AbortSignal;
  onProgress?: (sourceBytes: number, report: ImportReport) => void;
  now?: () => Date;
}

export const DEFAULT_IMPORT_CONCURRENCY = 16;

/** The report of an import that has done nothing yet. */
export function emptyImportReport(): ImportReport {
  return {
    archived: 0,
    duplicates: 0,
    failed: [],
    skipped: [],
    notices: [],
    mailboxes: {},
    receivedTimeSources: {},
  };
}

/** A `--to` or `--mailbox` value the archive refuses, with the SMTP reply it would give. */
export class ImportRecipientError extends Error {
  override name = 'ImportRecipientError';
}

const canaryReason = (config: ArchiverConfig) =>
  `a canary (every recipient is ${canaryAddress(config)}): not mail, never imported`;

/**
 * Why a message with these envelope recipients is skipped, or undefined when it is imported. A canary is not mail:
 * ingest leaves it unlocked and lets it expire (docs/object-lock.md), where an import would store it locked for
 * the full retention, so none is imported; which message is a canary is ingest's own rule (routing.ts isCanaryOnly).
 */
export function importSkipReason(config: ArchiverConfig, recipients: readonly string[]): string | undefined {
  return isCanaryOnly(config, recipients) ? canaryReason(config) : undefined;
}

/**
 * Checks `--to` and `--mailbox` before anything is stored: every `--to` address as the SMTP side checks it, not
 * the canary address alone (every message would be a canary), and `--mailbox` must be a configured mailbox.
 * Throws ImportRecipientError with the reason.
 */
export function checkImportOptions(
  config: ArchiverConfig,
  options: Pick<ImportOptions, 'to' | 'mailbox'>,
): void {
  for (const address of options.to ?? []) {
    const check = checkEnvelopeRecipient(config, address);
    if (!check.accepted)
      throw new ImportRecipientError(
        `--to ${address}: refused as SMTP would refuse it: ${check.code} ${check.reply}`,
      );
  }
  if (options.to?.length && isCanaryOnly(config, options.to))
    throw new ImportRecipientError(
      `--to ${options.to.join(', ')}: the canary address only, so every message would be ${canaryReason(config)}`,
    );
  if (options.mailbox !== undefined && importMailbox(config, options.mailbox) === undefined)
    throw new ImportRecipientError(`--mailbox ${options.mailbox}: not a configured mailbox`);
}

/** The configured mailbox `--mailbox` names (plus-addressing applied, its domain in either spelling), or undefined. */
function importMailbox(config: ArchiverConfig, mailbox: string): string | undefined {
  return configuredMailbox(config.mailboxes, baseAddress(mailbox, config.plusAddressing));
}

export interface ImportRouting {
  recipients: string[];
  /** The folder the source (or the sending mailbox) says, applied by ingest. */
  folder?: string;
}

/**
 * Who a historical message is for and where it goes. `--to`: those recipients, the source's folder. `--mailbox`:
 * that mailbox; its Sent folder when the source says sent or the mailbox is the From. Otherwise: mail a mailbox
 * sent (the source says sent, or no To/Cc is a mailbox) goes to the sender's Sent folder; the rest to the To/Cc
 * addresses that are configured mailboxes, in the source's folder.
 */
export function routeImport(
  config: ArchiverConfig,
  message: Pick<SourceMessage, 'placement'>,
  headers: MessageHeaders,
  options: Pick<ImportOptions, 'to' | 'mailbox'> = {},
): ImportRouting {
  const placement = message.placement;
  const sourceFolder = placement?.folder;
  if (options.to?.length)
    return {
      recipients: options.to.map(envelopeRecipient),
      ...(sourceFolder ? { folder: sourceFolder } : {}),
    };
  const sender = sendingMailbox(config, headers);
  if (options.mailbox !== undefined) {
    const mailbox =
      importMailbox(config, options.mailbox) ?? baseAddress(options.mailbox, config.plusAddressing);
    const sent = placement?.sent === true || sender === mailbox;
    const folder = sent && !keepsItsFolder(sourceFolder) ? 'Sent' : sourceFolder;
    return { recipients: [mailbox], ...(folder ? { folder } : {}) };
  }
  return {
    recipients: headerRecipients(config, headers, message.placement),
    ...folderFor(sender, message, headers, config),
  };
}

/** Mail the account sent is filed in Sent, unless the source had it in Drafts, Trash or Junk. */
function keepsItsFolder(folder: string | undefined): boolean {
  return folder === 'Drafts' || folder === 'Trash' || folder === 'Junk';
}

function folderFor(
  sender: string | undefined,
  message: Pick<SourceMessage, 'placement'>,
  headers: MessageHeaders,
  config: ArchiverConfig,
): { folder?: string } {
  if (
    sender &&
    isSentByMailbox(config, message.placement, headers) &&
    !keepsItsFolder(message.placement?.folder)
  )
    return { folder: 'Sent' };
  return message.placement?.folder ? { folder: message.placement.folder } : {};
}

export async function importMessages(
  config: ArchiverConfig,
  target: ImportTarget,
  paths: string[],
  options: ImportOptions = {},
): Promise<ImportReport> {
  checkImportOptions(config, options);
  const report = emptyImportReport();
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_IMPORT_CONCURRENCY);
  const limit = pLimit(concurrency);
  const inFlight = new Set<Promise<void>>();
  /** One message id at a time: the LF and CRLF copies of a message must not race to be stored first. */
  const sameMessage = new Map<string, Promise<unknown>>();
  const counts = (mailbox: string) => {
    report.mailboxes[mailbox] ??= { archived: 0, duplicates: 0, failed: 0 };
    return report.mailboxes[mailbox];
  };

  const handle = async (item: SourceItem) => {
    // Read ahead but not started when the signal came: left for the next run (only what is in flight finishes).
    if (options.signal?.aborted) return;
    if (item.kind === 'failure') report.failed.push({ origin: item.origin, reason: item.reason });
    else if (item.kind === 'skipped') report.skipped.push({ origin: item.origin, reason: item.reason });
    else if (item.kind === 'notice') report.notices.push({ origin: item.origin, reason: item.reason });
    else {
      let mailboxes: string[] = [];
      try {
        const prepared = await prepare(config, item, options);
        if ('skipped' in prepared) {
          report.skipped.push({ origin: item.origin, reason: prepared.skipped });
          options.onProgress?.(item.sourceBytes, report);
          return;
        }
        mailboxes = prepared.mailboxes;
        const previous = sameMessage.get(prepared.sesMessageId) ?? Promise.resolve();
        const run = previous.catch(() => undefined).then(() => importOne(target, item, prepared));
        sameMessage.set(prepared.sesMessageId, run);
        const outcome = await run.finally(() => {
          if (sameMessage.get(prepared.sesMessageId) === run) sameMessage.delete(prepared.sesMessageId);
        });
        for (const [mailbox, status] of outcome) {
          if (status === 'archived') counts(mailbox).archived += 1;
          else counts(mailbox).duplicates += 1;
        }
        if ([...outcome.values()].includes('archived')) report.archived += 1;
        else report.duplicates += 1;
        report.receivedTimeSources[prepared.receivedAtSource] =
          (report.receivedTimeSources[prepared.receivedAtSource] ?? 0) + 1;
      } catch (error) {
        report.failed.push({ origin: item.origin, reason: errorMessage(error) });
        for (const mailbox of mailboxes) counts(mailbox).failed += 1;
      }
    }
    options.onProgress?.(item.sourceBytes, report);
  };

  for await (const item of readSources(paths)) {
    if (options.signal?.aborted) {
      report.interrupted = true;
      break;
    }
    const task = limit(() => handle(item));
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
    // Bounded read-ahead: messages are held in memory only while they wait for a slot.
    if (inFlight.size >= concurrency * 2) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return report;
}

interface PreparedImport {
  sesMessageId: string;
  /** The content identity (shared/mail/content-identity.ts ContentHasher); the import id is made from it. */
  contentSha256: string;
  recipients: string[];
  mailboxes: string[];
  receivedAt: Date;
  receivedAtSource: ReceivedTimeSource;
  imported: ImportedState;
}

async function prepare(
  config: ArchiverConfig,
  message: SourceMessage,
  options: ImportOptions,
): Promise<PreparedImport | { skipped: string }> {
  // Only the header block is parsed here (ingest parses the whole message once more).
  const headerEnd = findHeaderEnd(message.raw);
  const { headers } = await readMessageBytes(
    headerEnd ? message.raw.subarray(0, headerEnd.bodyStart) : message.raw,
  );
  const routing = routeImport(config, message, headers, options);
  if (routing.recipients.length === 0) {
    const headerBytes = headerEnd ? headerEnd.bodyStart : message.raw.length;
    // The MIME reader reads no address from a header block over its limit: say that, not "no address".
    if (headerBytes > defaultParseLimits.maxHeadBytes)
      throw new Error(
        `its header is ${headerBytes} bytes, over the ${defaultParseLimits.maxHeadBytes} read for addresses: say whose it is with --mailbox or --to`,
      );
    throw new Error(
      'no To/Cc address is a configured mailbox and it was not sent by one: say whose it is with --mailbox or --to',
    );
  }
  const skipped = importSkipReason(config, routing.recipients);
  if (skipped !== undefined) return { skipped };
  const routed = routeMessage(config, routing.recipients, headers.from[0]?.address, {
    spam: 'GRAY',
    virus: 'GRAY',
  });
  const mailboxes = routed.deliveries.length
    ? [...new Set(routed.deliveries.map((d) => d.mailbox))]
    : [UNROUTED_MAILBOX];
  const now = (options.now ?? (() => new Date()))();
  const envelope = envelopeEvidence(message, headers);
  const { receivedAt, source } = chooseReceivedTime(
    {
      ...(message.internalDate ? { internalDate: message.internalDate } : {}),
      ...(envelope ? { envelope } : {}),
      received: (headers.receivedStamps ?? []).map((s) => new Date(s)),
      ...(headers.date ? { date: new Date(headers.date) } : {}),
      ...(message.fileTime ? { file: message.fileTime } : {}),
    },
    now,
  );
  const content = contentSha256(message.raw);
  const placement = message.placement;
  const flags = new Set(placement?.flags ?? []);
  if (routing.folder === 'Sent') flags.add('\\Seen');
  return {
    sesMessageId: importMessageId(content),
    contentSha256: content,
    recipients: routing.recipients,
    mailboxes,
    receivedAt,
    receivedAtSource: source,
    imported: {
      ...(routing.folder ? { folder: routing.folder } : {}),
      flags: [...flags].sort() as ImportedState['flags'],
      keywords: placement?.keywords ?? [],
      receivedAtSource: source,
    },
  };
}

/** A fetcher writes its envelope line in its local time when it fetches: within this of its Received stamp. */
const FETCH_WINDOW_MS = 26 * 3600 * 1000;

/**
 * The envelope line's date as received-time evidence: not when it is the 1970 placeholder, and not when a
 * fetching program wrote it (getmail and fetchmail's MDA write the envelope line as they fetch, beside their own
 * Received field: the date is the fetch, within a day of that field's stamp whatever the fetcher's time zone).
 */
function envelopeEvidence(message: SourceMessage, headers: MessageHeaders): Date | undefined {
  const date = message.envelope?.date;
  if (!date || message.envelope?.placeholder) return undefined;
  const fetchedAt = headers.fetchedAt ? new Date(headers.fetchedAt).getTime() : undefined;
  if (fetchedAt !== undefined && Math.abs(date.getTime() - fetchedAt) <= FETCH_WINDOW_MS) return undefined;
  return date;
}

/** Stores (unless stored) and delivers one message; returns each mailbox's outcome. */
async function importOne(
  target: ImportTarget,
  message: SourceMessage,
  prepared: PreparedImport,
): Promise<Map<string, 'archived' | 'duplicate'>> {
  const location = { bucket: target.bucket, key: rawMailKey(prepared.sesMessageId) };
  // A message not stored yet has no sidecar either: one request decides a new message (most of an import).
  const stored = await target.store.exists(location);
  const before = stored ? await knownEnvelope(target, prepared.sesMessageId) : undefined;
  const indexed = new Set(before?.deliveries.map((d) => d.mailbox) ?? []);
  // A mailbox whose content marker names another message holds this content already (SES received it, or a copy
  // with other line endings was imported): ingest would not give it a second row, and it counts as present.
  const holders = await Promise.all(
    prepared.mailboxes
      .filter((m) => !indexed.has(m))
      .map(async (m) => [m, await target.index.contentHolder(m, prepared.contentSha256)] as const),
  );
  for (const [mailbox, holder] of holders) {
    if (holder !== undefined && !isMessageKeyOf(holder, prepared.sesMessageId)) indexed.add(mailbox);
  }
  if (prepared.mailboxes.every((m) => indexed.has(m))) {
    // Not delivered again, so ingest does not log its rows: a run cut off before its log batch was written
    // left them unlogged (the rows of the same content under another message are that message's).
    const own = before?.deliveries.filter((d) => !d.sameAs).map((d) => d.mailbox) ?? [];
    if (before?.messageKey && own.length > 0)
      await target.log?.logPresent(before.messageKey, [...new Set(own)]);
    return new Map(prepared.mailboxes.map((m) => [m, 'duplicate']));
  }
  // The bytes stored first are kept: a later copy with other line endings is the same message.
  if (!stored) await target.store.write(location, message.raw);
  await target.deliver(
    buildReceivedNotification({
      messageId: prepared.sesMessageId,
      timestamp: prepared.receivedAt,
      source: '',
      recipients: prepared.recipients,
      bucket: target.bucket,
      objectKey: location.key,
      imported: prepared.imported,
    }),
  );
  // A mailbox the envelope sidecar did not list before is newly archived: ingest writes the sidecar after the
  // rows, so a row it calls a duplicate was already listed (or the earlier run crashed between the two).
  const outcome = new Map<string, 'archived' | 'duplicate'>();
  for (const mailbox of prepared.mailboxes)
    outcome.set(mailbox, indexed.has(mailbox) ? 'duplicate' : 'archived');
  return outcome;
}

/** The message's sidecar; a damaged one counts as none, so the message is delivered again (ingest reports it). */
async function knownEnvelope(
  target: ImportTarget,
  sesMessageId: string,
): Promise<EnvelopeRecord | undefined> {
  try {
    return await readEnvelope(target.store, target.bucket, sesMessageId);
  } catch (error) {
    if (error instanceof EnvelopeFormatError) return undefined;
    throw error;
  }
}
