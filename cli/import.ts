// History import: every message goes through the same path as SES-received mail (stored under incoming/,
// then an SES notification to the ingest handler), stored byte for byte without trace headers. Its identity
// comes from its content, so importing the same file twice reports duplicates instead of copies.

import { createHash } from 'node:crypto';
import type { ArchiverConfig } from '../shared/config';
import { importMessageId, rawMailKey } from '../shared/index-schema';
import { type MessageHeaders, readMessageBytes } from '../shared/mime';
import type { RawMailStore } from '../shared/ports';
import { baseAddress, isJournalAddress, normaliseAddress } from '../shared/routing';
import { buildReceivedNotification, type SesReceivedNotification } from '../shared/ses-notification';
import { describeError } from './describe-error';
import { readSources, type SourceMessage } from './message-sources';

export interface ImportTarget {
  store: RawMailStore;
  bucket: string;
  deliver(notification: SesReceivedNotification): Promise<void>;
}

export interface ImportReport {
  archived: number;
  duplicates: number;
  failed: { origin: string; reason: string }[];
}

export interface ImportOptions {
  /** Envelope recipients for every message; by default derived from each message. */
  to?: string[];
  onProgress?: (sourceBytes: number, report: ImportReport) => void;
}

const SENT_HINT = /^(sent|sent items|sent messages|sent mail|gesendet|envoy[ée]s|\[gmail\]\/sent mail)$/i;

/**
 * Who a historical message is for, when the user did not say: the To/Cc addresses that are configured
 * mailboxes; mail a mailbox sent (it is the From, or the source filed it as sent) goes to the journal
 * address, so that it lands in that mailbox's Sent folder.
 */
export function deriveRecipients(
  config: ArchiverConfig,
  message: SourceMessage,
  headers: MessageHeaders,
): string[] {
  const isMailbox = (address: string) =>
    Object.hasOwn(config.mailboxes, baseAddress(address, config.plusAddressing));
  const from = headers.from[0]?.address;
  const sent = from !== undefined && isMailbox(from) && config.journalAddress !== undefined;
  if (
    sent &&
    (message.folderHints.some((h) => SENT_HINT.test(h)) ||
      !headers.to.concat(headers.cc).some((a) => isMailbox(a.address)))
  ) {
    return [config.journalAddress as string];
  }
  const recipients = new Set<string>();
  for (const address of [...headers.to, ...headers.cc]) {
    if (address.address && isMailbox(address.address) && !isJournalAddress(config, address.address)) {
      recipients.add(normaliseAddress(address.address));
    }
  }
  return [...recipients];
}

export async function importMessages(
  config: ArchiverConfig,
  target: ImportTarget,
  paths: string[],
  options: ImportOptions = {},
): Promise<ImportReport> {
  const report: ImportReport = { archived: 0, duplicates: 0, failed: [] };
  for await (const item of readSources(paths)) {
    if (item.kind === 'failure') {
      report.failed.push({ origin: item.origin, reason: item.reason });
    } else {
      try {
        const status = await importOne(config, target, item, options.to);
        if (status === 'archived') report.archived += 1;
        else report.duplicates += 1;
      } catch (error) {
        report.failed.push({ origin: item.origin, reason: describeError(error).replace(/\n\s*/g, ' <- ') });
      }
    }
    options.onProgress?.(item.sourceBytes, report);
  }
  return report;
}

async function importOne(
  config: ArchiverConfig,
  target: ImportTarget,
  message: SourceMessage,
  to: string[] | undefined,
): Promise<'archived' | 'duplicate'> {
  const { headers } = await readMessageBytes(message.raw);
  const recipients = to?.length ? to.map(normaliseAddress) : deriveRecipients(config, message, headers);
  if (recipients.length === 0) {
    throw new Error(
      'no To/Cc address is a configured mailbox and it was not sent by one: say who it is for with --to',
    );
  }
  const sha256 = createHash('sha256').update(message.raw).digest('hex');
  const sesMessageId = importMessageId(sha256);
  const location = { bucket: target.bucket, key: rawMailKey(sesMessageId) };
  const present = await target.store.exists(location);
  if (!present) await target.store.write(location, message.raw);
  const receivedAt = message.receivedAt ?? (headers.date ? new Date(headers.date) : new Date());
  // Delivered even when present: ingest is idempotent, and this completes an import that was interrupted.
  await target.deliver(
    buildReceivedNotification({
      messageId: sesMessageId,
      timestamp: receivedAt,
      source: '',
      recipients,
      bucket: target.bucket,
      objectKey: location.key,
    }),
  );
  return present ? 'duplicate' : 'archived';
}
