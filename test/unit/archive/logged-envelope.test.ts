// The envelope a message without a sidecar has in the delivery log: its records with a receipt, merged back into
// the sidecar's shape (one envelope per receipt, every recipient that reached a mailbox, each mailbox's UID).
import { describe, expect, it } from 'vitest';
import { envelopeFromRecords } from '../../../shared/archive/logged-envelope';
import type { DeliveryRecord, RecordReceipt } from '../../../shared/delivery-log/record';

const id = 'ses1';
const receipt = (recipients: string[]): RecordReceipt => ({
  recipients,
  source: 'ann@sender.example.org',
  verdicts: { spam: 'PASS', virus: 'PASS', spf: 'FAIL', dkim: 'PASS', dmarc: 'FAIL', dmarcPolicy: 'none' },
  contentSha256: 'c'.repeat(64),
  contentRule: 2,
});
const record = (mailbox: string, uid: number, extra: Partial<DeliveryRecord> = {}): DeliveryRecord => ({
  v: 2,
  mailbox,
  folder: 'INBOX',
  uidValidity: 100,
  uid,
  flags: [],
  keywords: [],
  objectKey: `incoming/${id}`,
  sha256: 'a'.repeat(64),
  size: 10,
  storage: 'crlf-to-lf',
  receivedAt: '2026-01-02T03:04:05.000Z',
  file: `1767323045.k-${id}.mail-archiver,S=9,W=10`,
  messageKey: `k-${id}`,
  receipt: receipt([mailbox]),
  ...extra,
});

describe('the envelope the delivery log keeps', () => {
  it("merges one receipt's records into one envelope with every recipient, and each mailbox's UID", () => {
    const at = new Date('2026-01-02T03:04:06.000Z');
    const envelope = envelopeFromRecords(id, 'raw', [
      { record: record('alice@example.com', 7), at },
      { record: record('Bob@Example.com', 3, { folder: 'Junk' }), at },
      // A repeat (reindex logging it again) and another message's record change nothing.
      { record: record('alice@example.com', 7), at: new Date('2026-02-01T00:00:00.000Z') },
      { record: record('carol@example.com', 1, { objectKey: 'incoming/other' }) },
      { record: record('dave@example.com', 1, { receipt: undefined }) },
    ]);
    expect(envelope).toMatchObject({
      sesMessageId: id,
      messageKey: `k-${id}`,
      sha256: 'a'.repeat(64),
      contentSha256: 'c'.repeat(64),
      contentRule: 2,
      deliveries: [
        { mailbox: 'alice@example.com', folder: 'INBOX', uid: 7, uidValidity: 100, status: 'archived' },
        { mailbox: 'Bob@Example.com', folder: 'Junk', uid: 3, uidValidity: 100, status: 'archived' },
      ],
    });
    expect(envelope?.receipts).toHaveLength(1);
    const [only] = envelope?.receipts ?? [];
    expect(only?.indexedAt).toBe(at.toISOString());
    expect(only?.notification.receipt.recipients).toEqual(['alice@example.com', 'Bob@Example.com']);
    expect(only?.notification.mail.source).toBe('ann@sender.example.org');
    expect(only?.notification.receipt).toMatchObject({
      spfVerdict: { status: 'FAIL' },
      dmarcVerdict: { status: 'FAIL' },
      dmarcPolicy: 'none',
      action: { bucketName: 'raw', objectKey: `incoming/${id}` },
    });
  });

  it('keeps a receipt of another time apart, and is undefined without a record with a receipt', () => {
    const later = record('bob@example.com', 4, { receivedAt: '2026-03-01T00:00:00.000Z' });
    const envelope = envelopeFromRecords(id, 'raw', [
      { record: record('alice@example.com', 7) },
      { record: later },
    ]);
    expect(envelope?.receipts.map((r) => r.notification.receipt.recipients)).toEqual([
      ['alice@example.com'],
      ['bob@example.com'],
    ]);
    expect(envelope?.receipts[0]?.indexedAt).toBe('2026-01-02T03:04:05.000Z');
    expect(
      envelopeFromRecords(id, 'raw', [{ record: record('alice@example.com', 7, { receipt: undefined }) }]),
    ).toBe(undefined);
  });
});
