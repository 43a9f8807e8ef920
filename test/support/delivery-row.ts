// One index row of a message for the index tests (the DynamoDB adapters and the in-memory index): INBOX,
// UIDVALIDITY 1700000000, a 10-byte CRLF message under incoming/<messageKey>, every verdict PASS, received and
// archived at 2026-01-02T00:00:00Z unless `extra` says otherwise.
import type { DeliveryRow } from '../../shared/index/schema';

export function testDeliveryRow(
  mailbox: string,
  messageKey: string,
  uid: number,
  extra: Partial<DeliveryRow> = {},
): DeliveryRow {
  return {
    mailbox,
    folder: 'INBOX',
    uid,
    uidValidity: 1700000000,
    flags: [],
    messageKey,
    sha256: 'a'.repeat(64),
    sesMessageId: messageKey,
    location: { bucket: 'b', key: `incoming/${messageKey}` },
    size: 10,
    lineEndings: { crlf: 1, lf: 0, cr: 0, nul: false },
    receivedAt: '2026-01-02T00:00:00.000Z',
    from: [],
    to: [],
    cc: [],
    references: [],
    attachments: [],
    verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
    envelopeRecipients: [mailbox],
    archivedAt: '2026-01-02T00:00:00.000Z',
    schemaVersion: 1,
    ...extra,
  } as DeliveryRow;
}
