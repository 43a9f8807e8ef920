// Mail arriving at a local archive as it arrives at SES: stored like SES's S3 action stores it, then delivered
// through the ingest handler (what the end-to-end tests do before they look at the index or the forwards).
import { receiveRawMessage } from '../../cli/local/archive';
import type { Archive } from '../../cli/target/archive';
import type { SesReceivedNotification } from '../../shared/receiving/ses-notification';

/**
 * Receives `raw` for `recipients` (default alice@example.com) from `envelopeFrom` (default
 * ann@sender.example.org) and archives it; returns SES's notification. Throws what delivery throws.
 */
export async function receiveAndArchive(
  archive: Archive,
  raw: Buffer,
  envelope: { envelopeFrom?: string; recipients?: string[] } = {},
): Promise<SesReceivedNotification> {
  const notification = await receiveRawMessage(archive, {
    raw,
    envelopeFrom: envelope.envelopeFrom ?? 'ann@sender.example.org',
    recipients: envelope.recipients ?? ['alice@example.com'],
  });
  await archive.deliver(notification);
  return notification;
}
