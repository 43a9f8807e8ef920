// Every real third-party message: ingested, exported, served by a real Dovecot and fetched back over IMAP.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDovecot } from '../../cli/local/dovecot';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import type { DeliveryRow } from '../../shared/index/schema';
import { contentSha256 } from '../../shared/mail/content-identity';
import { exportToFile, unpack } from '../support/bundles';
import { exampleConfig } from '../support/config';
import { corporaPresent, corporaSkipReason, corpusMessages } from '../support/corpora';
import { asServedByDovecot, readOverImap } from '../support/imap';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

if (!corporaPresent) console.warn(corporaSkipReason);

describe.skipIf(!corporaPresent)('../shared/corpora through export and Dovecot', () => {
  let services: TestServices;
  let work: string;
  beforeAll(async () => {
    services = await startTestServices();
    work = mkdtempSync(join(tmpdir(), 'mail-archiver-corpora-'));
  });
  afterAll(async () => {
    await services?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('serves every archived message back with its exact bytes, dates and UIDs', async () => {
    const deps = { config: exampleConfig(), store: services.store, index: services.index };
    const originals = new Map<string, Buffer>();
    let clock = Date.parse('2023-06-01T00:00:00Z');
    for (const file of corpusMessages()) {
      const raw = readFileSync(file);
      clock += 61_000;
      // Stored as they are (an import), so the bytes under test are the wild ones.
      const { notification } = await receiveLikeSes(services.store, services.bucket, raw, {
        recipients: ['alice@example.com'],
        timestamp: new Date(clock),
        trace: false,
      });
      await archiveReceivedMail(notification, deps);
      originals.set(notification.mail.messageId, raw);
    }
    const rows: DeliveryRow[] = [];
    for await (const row of services.index.folderDeliveries('alice@example.com', 'INBOX')) rows.push(row);
    // The corpora hold some messages twice (byte for byte, or but for their line endings): one message each.
    expect(rows).toHaveLength(new Set([...originals.values()].map((raw) => contentSha256(raw))).size);

    const bundle = join(work, 'corpora.tar.gz');
    await exportToFile(services, { mailbox: 'alice@example.com', format: 'maildir' }, bundle);
    const server = await startDovecot({
      maildir: unpack(bundle, join(work, 'out')),
      workDir: join(work, 'dovecot'),
    });
    let served: Awaited<ReturnType<typeof readOverImap>>;
    try {
      served = await readOverImap(server);
    } finally {
      await server.stop();
    }
    const inbox = served.byFolder.get('INBOX');
    expect(inbox?.messages).toHaveLength(rows.length);
    let identical = 0;
    let lineEndingsOnly = 0;
    let withNul = 0;
    const mismatches: string[] = [];
    for (const row of rows) {
      const original = originals.get(row.sesMessageId) as Buffer;
      const message = inbox?.messages.find((m) => m.uid === row.uid);
      if (!message) {
        mismatches.push(`UID ${row.uid}: not served`);
        continue;
      }
      if (message.internalDate.getTime() !== Math.floor(Date.parse(row.receivedAt) / 1000) * 1000) {
        mismatches.push(
          `UID ${row.uid}: INTERNALDATE ${message.internalDate.toISOString()} != ${row.receivedAt}`,
        );
      }
      if (message.source.equals(original)) identical += 1;
      else if (message.source.equals(asServedByDovecot(original))) {
        if (row.lineEndings.nul) withNul += 1;
        else lineEndingsOnly += 1;
      } else mismatches.push(`UID ${row.uid} (${row.subject}): bytes differ`);
    }
    console.info(
      `corpora conformance: ${rows.length} messages; ${identical} byte-identical over IMAP, ${lineEndingsOnly} identical but for IMAP's CRLF (stored with bare LF), ${withNul} with NUL (served as 0x80); ${mismatches.length} mismatches`,
    );
    expect(mismatches).toEqual([]);
  }, 180_000); // 315 messages through SMTP and IMAP: 58-60 s alone at load 35-42, on main too
});
