// Stores a message the way SES's S3 action does (trace headers prepended, key = prefix + SES message id)
// and returns the notification SES would publish.
import { createHash, randomBytes } from 'node:crypto';
import { rawMailKey } from '../../shared/index-schema';
import type { RawMailStore } from '../../shared/ports';
import type { Verdicts } from '../../shared/routing';
import {
  buildReceivedNotification,
  type SesReceivedNotification,
  sesTraceHeaders,
} from '../../shared/ses-notification';

export function sesMessageId(): string {
  return randomBytes(20).toString('hex');
}

export async function receiveLikeSes(
  store: RawMailStore,
  bucket: string,
  message: Buffer,
  envelope: {
    recipients: string[];
    from?: string;
    messageId?: string;
    timestamp?: Date;
    verdicts?: Partial<Verdicts>;
    /** false: store the bytes as they are (an import), without SES's trace headers. */
    trace?: boolean;
  },
): Promise<{ notification: SesReceivedNotification; stored: Buffer; sha256: string }> {
  const messageId = envelope.messageId ?? sesMessageId();
  const timestamp = envelope.timestamp ?? new Date();
  const verdicts: Verdicts = {
    spam: 'PASS',
    virus: 'PASS',
    spf: 'PASS',
    dkim: 'PASS',
    dmarc: 'PASS',
    ...envelope.verdicts,
  };
  const trace = sesTraceHeaders({
    envelopeFrom: envelope.from ?? 'ann@sender.example.org',
    recipients: envelope.recipients,
    clientAddress: '192.0.2.1',
    clientName: 'mail.sender.example.org',
    messageId,
    timestamp,
    verdicts,
    receiver: 'inbound-smtp.us-east-1.amazonaws.com',
  });
  const stored = envelope.trace === false ? message : Buffer.concat([Buffer.from(trace), message]);
  const objectKey = rawMailKey(messageId);
  await store.write({ bucket, key: objectKey }, stored);
  const notification = buildReceivedNotification({
    messageId,
    timestamp,
    source: envelope.from ?? 'ann@sender.example.org',
    recipients: envelope.recipients,
    bucket,
    objectKey,
    verdicts,
  });
  return { notification, stored, sha256: createHash('sha256').update(stored).digest('hex') };
}
