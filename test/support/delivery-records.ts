// A delivery record over a raw object written to a store, as the pipeline's writers log them: the replica's tests
// build their logs from these.
import { createHash } from 'node:crypto';
import type { FileRawMailStore } from '../../shared/adapters/file-store';
import { fileBaseName } from '../../shared/bundle/layout';
import type { DeliveryRecord } from '../../shared/delivery-log/record';

/**
 * Writes `text` (LF line ends) to `store` at `bucket`/`key` and returns the record of its delivery to
 * alice@example.com's INBOX as UID `uid` (UIDVALIDITY 1700000000), received `uid` minutes after 2025-06-01.
 */
export async function storedDelivery(
  store: FileRawMailStore,
  bucket: string,
  uid: number,
  text: string,
  key: string,
): Promise<DeliveryRecord> {
  const bytes = Buffer.from(text);
  await store.write({ bucket, key }, bytes);
  const receivedAt = new Date(Date.parse('2025-06-01T00:00:00Z') + uid * 60_000).toISOString();
  const messageKey = `k${uid}${key.slice(-6)}`;
  return {
    v: 1,
    mailbox: 'alice@example.com',
    folder: 'INBOX',
    uidValidity: 1700000000,
    uid,
    flags: [],
    keywords: [],
    objectKey: key,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    storage: 'as-is',
    receivedAt,
    file: fileBaseName({
      size: bytes.length,
      lineEndings: { crlf: 0, lf: text.split('\n').length - 1, cr: 0, nul: false },
      receivedAt,
      messageKey,
    }),
    messageKey,
  };
}
