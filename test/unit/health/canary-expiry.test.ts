// Canaries expire (health.canary.keepDays): DynamoDB's TTL removes the row and S3's lifecycle rule the raw object,
// each at its own pace. Reconcile and reindex, over the real ingest (a directory store, the in-memory index), take
// neither side gone as a finding once the canary is past its days, and still report a canary not indexed within
// them; a row of a real mailbox whose raw object is gone is still reported.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../../shared/archive/ingest';
import { reconcile, reindex } from '../../../shared/archive/reconcile';
import { rawMailKey } from '../../../shared/index/schema';
import { exampleConfig } from '../../support/config';
import { makeMessage } from '../../support/messages';
import { receiveLikeSes } from '../../support/ses';

const DAY = 24 * 3600 * 1000;
const RECEIVED = new Date('2026-12-01T12:00:00.000Z');
const config = exampleConfig();

describe('an expired canary is no finding', () => {
  let dir: string;
  let store: FileRawMailStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'canary-expiry-'));
    store = new FileRawMailStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function archive(recipients: string[], index: MemoryMailIndex) {
    const { notification } = await receiveLikeSes(store, 'raw', makeMessage({ subject: recipients[0] }), {
      recipients,
      timestamp: RECEIVED,
    });
    await archiveReceivedMail(notification, { config, store, index, now: () => RECEIVED });
    return notification.mail.messageId;
  }
  const at = (days: number) => () => new Date(RECEIVED.getTime() + days * DAY);

  it('rows gone (TTL) before the raw object (lifecycle): reported within keepDays, not after', async () => {
    const index = new MemoryMailIndex();
    const id = await archive(['canary@example.com'], index);
    // The rows' TTL came first: an index without them.
    const emptied = new MemoryMailIndex();
    const deps = { config, store, bucket: 'raw' };
    expect((await reconcile({ ...deps, index: emptied, now: at(3) })).notIndexed).toEqual([rawMailKey(id)]);
    const late = await reconcile({ ...deps, index: emptied, now: at(15) });
    expect([late.notIndexed, late.ok]).toEqual([[], true]);
    // Reindex does not bring an expired canary back.
    const report = await reindex({ ...deps, index: emptied, now: at(15) }, async () => []);
    expect(report.restored).toBe(0);
    expect(await emptied.mailboxes()).toEqual([]);
  });

  it('the raw object gone (lifecycle) before the rows (TTL): the canary row is no finding, a mailbox row is', async () => {
    const index = new MemoryMailIndex();
    const canary = await archive(['canary@example.com'], index);
    const mail = await archive(['alice@example.com'], index);
    for (const id of [canary, mail]) rmSync(join(dir, 'raw', rawMailKey(id)));
    const report = await reconcile({ config, store, index, bucket: 'raw', now: at(15) });
    expect(report.rawMissing.map((r) => r.mailbox)).toEqual(['alice@example.com']);
  });
});
