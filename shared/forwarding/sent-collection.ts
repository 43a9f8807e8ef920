// The Sent collection: what a Gmail user sends reaches the archive without journaling. Each run lists the
// messages added to the SENT label since the history id the last run ended at, fetches each one raw and archives
// it through the normal ingest path into the mailbox's Sent folder. Archiving is idempotent (the message's
// identity is its content), so a run that dies half-way is simply repeated from the same history id.
import { createHash } from 'node:crypto';
import { archiveReceivedMail, type IngestOutcome } from '../archive/ingest';
import { type ArchiverConfig, gmailApiTargets } from '../config';
import type { DeliveryLog, DeliveryLogBatch } from '../delivery-log/log';
import { errorMessage } from '../errors';
import { importMessageId, rawMailKey } from '../index/schema';
import type { GmailMailboxReader, MailIndex, RawMailStore, SentCollectionStateStore } from '../ports';
import { buildReceivedNotification } from '../receiving/ses-notification';

export interface SentCollectionDeps {
  config: ArchiverConfig;
  reader: GmailMailboxReader;
  state: SentCollectionStateStore;
  store: RawMailStore;
  index: MailIndex;
  /** The bucket raw mail is kept in. */
  bucket: string;
  /** Where the Sent folder's new rows are logged: one object per target and run, written before its state moves. */
  deliveryLog?: DeliveryLog;
  now?: () => Date;
}

export interface SentCollectionReport {
  target: string;
  mailbox: string;
  /** 'started': the first run only records where the next one starts (older mail: `mail-archiver import`). */
  mode: 'started' | 'history' | 'listing';
  archived: number;
  duplicates: number;
  /** Messages deleted from Gmail between the listing and the fetch. */
  vanished: number;
  historyId: string;
}

export class SentCollectionError extends Error {
  override name = 'SentCollectionError';
}

/**
 * One run for one `via: "gmail-api"` target with `collectSent`. Throws what the reader throws (GmailAuthError
 * when the credential is refused); the state only moves once every listed message is archived.
 */
export async function collectSentMail(
  target: { address: string; mailbox: string },
  deps: SentCollectionDeps,
): Promise<SentCollectionReport> {
  const now = deps.now ?? (() => new Date());
  const journal = deps.config.journalAddress;
  if (!journal) {
    throw new SentCollectionError(
      'collecting Sent mail needs "journalAddress": it names the route into Sent',
    );
  }
  const report: SentCollectionReport = {
    target: target.address,
    mailbox: target.mailbox,
    mode: 'history',
    archived: 0,
    duplicates: 0,
    vanished: 0,
    historyId: '',
  };
  const previous = await deps.state.get(target.address);
  if (!previous) {
    report.mode = 'started';
    report.historyId = await deps.reader.historyId(target.address);
    await deps.state.put(target.address, { historyId: report.historyId, collectedAt: now().toISOString() });
    return report;
  }

  const seen = new Set<string>();
  const logBatch = deps.deliveryLog?.batch('gmail-sent');
  const archive = async (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    const message = await deps.reader.rawMessage(target.address, id);
    if (!message) {
      report.vanished += 1;
      return;
    }
    const outcome = await archiveSentCopy(message.raw, message.internalDate ?? now(), journal, {
      ...deps,
      ...(logBatch ? { logBatch } : {}),
    });
    if (outcome.deliveries.some((d) => d.status === 'archived')) report.archived += 1;
    else report.duplicates += 1;
  };

  let historyId = previous.historyId;
  let pageToken: string | undefined;
  let expired = false;
  do {
    const page = await deps.reader.sentHistory(target.address, previous.historyId, pageToken);
    if (page === 'expired') {
      expired = true;
      break;
    }
    for (const id of page.messageIds) await archive(id);
    historyId = page.historyId;
    pageToken = page.nextPageToken;
  } while (pageToken);

  if (expired) {
    // Google keeps history for about a week: list SENT from a day before the last run instead. The history id
    // is read first, so nothing sent during the listing is missed by the next run.
    report.mode = 'listing';
    historyId = await deps.reader.historyId(target.address);
    const after = new Date(new Date(previous.collectedAt).getTime() - 24 * 3600 * 1000);
    pageToken = undefined;
    do {
      const page = await deps.reader.sentSince(target.address, after, pageToken);
      for (const id of page.messageIds) await archive(id);
      pageToken = page.nextPageToken;
    } while (pageToken);
  }
  report.historyId = historyId;
  // Logged before the state moves: should the log fail, the next run collects (and logs) these again.
  await logBatch?.flush();
  await deps.state.put(target.address, { historyId, collectedAt: now().toISOString() });
  return report;
}

/**
 * Archives one collected message the way history import does: stored under its content-derived id, then ingested
 * as mail to the journal address (which files it into the sender's Sent folder, already read).
 */
export async function archiveSentCopy(
  raw: Buffer,
  sentAt: Date,
  journalAddress: string,
  deps: Pick<SentCollectionDeps, 'config' | 'store' | 'index' | 'bucket'> & { logBatch?: DeliveryLogBatch },
): Promise<IngestOutcome> {
  const sha256 = createHash('sha256').update(raw).digest('hex');
  const messageId = importMessageId(sha256);
  const location = { bucket: deps.bucket, key: rawMailKey(messageId) };
  if (!(await deps.store.exists(location))) await deps.store.write(location, raw);
  return archiveReceivedMail(
    buildReceivedNotification({
      messageId,
      timestamp: sentAt,
      source: '',
      recipients: [journalAddress],
      bucket: deps.bucket,
      objectKey: location.key,
    }),
    {
      config: deps.config,
      store: deps.store,
      index: deps.index,
      ...(deps.logBatch ? { logBatch: deps.logBatch } : {}),
    },
  );
}

/** A target whose run failed, and why (GmailAuthError when Google refused the credential). */
export interface SentCollectionFailure {
  target: string;
  error: string;
  reauthorise: boolean;
}

/**
 * One run for every `via: "gmail-api"` target with `collectSent`; one target's failure does not stop the
 * others. `deps.state` is where each target's collection stands (shared/adapters/raw-store-sent-state.ts).
 */
export async function collectSentForAll(
  deps: SentCollectionDeps,
): Promise<(SentCollectionReport | SentCollectionFailure)[]> {
  const out: (SentCollectionReport | SentCollectionFailure)[] = [];
  for (const t of gmailApiTargets(deps.config).filter((x) => x.collectSent)) {
    try {
      out.push(await collectSentMail({ address: t.address, mailbox: t.mailbox }, deps));
    } catch (error) {
      out.push({
        target: t.address,
        error: errorMessage(error),
        reauthorise: error instanceof Error && error.name === 'GmailAuthError',
      });
    }
  }
  return out;
}
