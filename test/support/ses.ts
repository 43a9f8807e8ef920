// Receives a message the way SES does (shared/receiving/ses-receive.ts), with a remote sender and PASS verdicts unless a
// test says otherwise, and gives the test the sha256 of the stored bytes.
import { createHash } from 'node:crypto';
import type { RawMailStore } from '../../shared/ports';
import type { Verdicts } from '../../shared/receiving/routing';
import type { SesReceivedNotification } from '../../shared/receiving/ses-notification';
import { storeLikeSes } from '../../shared/receiving/ses-receive';

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
  const { notification, stored } = await storeLikeSes(store, bucket, {
    raw: message,
    envelopeFrom: envelope.from ?? 'ann@sender.example.org',
    recipients: envelope.recipients,
    verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS', ...envelope.verdicts },
    client: { address: '192.0.2.1', name: 'mail.sender.example.org' },
    receiver: 'inbound-smtp.us-east-1.amazonaws.com',
    ...(envelope.messageId ? { messageId: envelope.messageId } : {}),
    ...(envelope.timestamp ? { receivedAt: envelope.timestamp } : {}),
    ...(envelope.trace === false ? { traceHeaders: false } : {}),
  });
  return { notification, stored, sha256: createHash('sha256').update(stored).digest('hex') };
}
