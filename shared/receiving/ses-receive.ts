// Receiving like SES: the bytes stored the way SES's S3 action stores them (its trace headers prepended, the key
// `incoming/<SES message id>`), and the notification SES would then publish. The local SMTP listener and the
// tests receive through this, so a stored object looks the same wherever it came from.
import { randomBytes } from 'node:crypto';
import { rawMailKey } from '../index/schema';
import type { RawMailStore } from '../ports';
import type { Verdicts } from './routing';
import { buildReceivedNotification, type SesReceivedNotification, sesTraceHeaders } from './ses-notification';

/** An SES-like message id: 40 lower-case base-32 characters. */
export function newSesMessageId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return [...randomBytes(40)].map((b) => alphabet[b % 32]).join('');
}

export interface ReceivedMessage {
  /** The message as the sender transmitted it. */
  raw: Buffer;
  /** MAIL FROM; empty for a bounce. */
  envelopeFrom: string;
  /** RCPT TO, normalised. */
  recipients: string[];
  verdicts: Verdicts;
  /** The connecting client, for the Received field. */
  client: { address: string; name: string };
  /** The receiving host's name, for the Received and Authentication-Results fields. */
  receiver: string;
  /** Default: a new SES-like id. */
  messageId?: string;
  /** Default: now. */
  receivedAt?: Date;
  /** false: store the bytes as they are (an import), without SES's trace headers. */
  traceHeaders?: boolean;
}

/**
 * Stores a received message in `bucket` as SES does and returns the notification SES would publish, with the
 * bytes as stored (trace headers included). Throws what the store throws.
 */
export async function storeLikeSes(
  store: RawMailStore,
  bucket: string,
  message: ReceivedMessage,
): Promise<{ notification: SesReceivedNotification; stored: Buffer }> {
  const messageId = message.messageId ?? newSesMessageId();
  const timestamp = message.receivedAt ?? new Date();
  const trace =
    message.traceHeaders === false
      ? ''
      : sesTraceHeaders({
          envelopeFrom: message.envelopeFrom,
          recipients: message.recipients,
          clientAddress: message.client.address,
          clientName: message.client.name,
          messageId,
          timestamp,
          verdicts: message.verdicts,
          receiver: message.receiver,
        });
  const stored = trace ? Buffer.concat([Buffer.from(trace), message.raw]) : message.raw;
  const objectKey = rawMailKey(messageId);
  await store.write({ bucket, key: objectKey }, stored);
  const notification = buildReceivedNotification({
    messageId,
    timestamp,
    source: message.envelopeFrom,
    recipients: message.recipients,
    bucket,
    objectKey,
    verdicts: message.verdicts,
  });
  return { notification, stored };
}
