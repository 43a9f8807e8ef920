// A bundle built without any service: messages received the way SES stores them, archived by the real ingest into
// an in-memory index and store, exported by the real exporter. For tests about what other programs do with a
// bundle (IMAP servers, mail clients, tar), where DynamoDB Local and s3rver add nothing but start-up time.
import { createReadStream, createWriteStream } from 'node:fs';
import { memoryStore } from '../../scripts/bench-support';
import { MemoryMailIndex } from '../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { exportMailbox } from '../../shared/bundle/export';
import type { BundleManifest } from '../../shared/bundle/manifest';
import { verifyBundle } from '../../shared/bundle/verify';
import type { Verdicts } from '../../shared/receiving/routing';
import { exampleConfig } from './config';
import { receiveLikeSes } from './ses';

export interface Received {
  raw: Buffer;
  recipients?: string[];
  at: Date;
  verdicts?: Partial<Verdicts>;
  /** false: stored as it is (an import), without SES's trace headers. */
  trace?: boolean;
}

/**
 * Archives `messages` for alice@example.com (recipients default to her) and exports her mailbox as a maildir bundle
 * to `path`. Returns the verified manifest and the stored bytes of each message by sha256.
 */
export async function bundleOf(
  messages: Received[],
  path: string,
): Promise<{ manifest: BundleManifest; originals: Map<string, Buffer>; mailbox: string }> {
  const mailbox = 'alice@example.com';
  const config = exampleConfig();
  const store = memoryStore(new Map());
  const index = new MemoryMailIndex();
  const originals = new Map<string, Buffer>();
  for (const m of messages) {
    const { notification, stored, sha256 } = await receiveLikeSes(store, 'raw', m.raw, {
      recipients: m.recipients ?? [mailbox],
      timestamp: m.at,
      ...(m.verdicts ? { verdicts: m.verdicts } : {}),
      ...(m.trace === undefined ? {} : { trace: m.trace }),
    });
    originals.set(sha256, stored);
    await archiveReceivedMail(notification, { config, store, index });
  }
  await exportMailbox({ index, store }, { mailbox, format: 'maildir' }, createWriteStream(path));
  const report = await verifyBundle(createReadStream(path));
  if (!report.ok || !report.manifest)
    throw new Error(`the test bundle fails verify: ${report.errors.join('; ')}`);
  return { manifest: report.manifest, originals, mailbox };
}
