// Conformance of exported bundles against a real Dovecot read with a real IMAP client (imapflow): bytes,
// INTERNALDATE, flags, special use, UIDVALIDITY and UIDs equal the index's; UIDs survive a second export.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDovecot } from '../../cli/local/dovecot';
import { archiveReceivedMail, type IngestDeps } from '../../shared/archive/ingest';
import { readObject } from '../../shared/archive/raw-object';
import type { DeliveryRow } from '../../shared/index/schema';
import { exportToFile, unpack } from '../support/bundles';
import { exampleConfig } from '../support/config';
import { asServedByDovecot, readOverImap, type Served } from '../support/imap';
import { makeMessage, makeMessageWithAttachment } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

let services: TestServices;
let deps: IngestDeps;
let work: string;

beforeAll(async () => {
  services = await startTestServices();
  deps = { config: exampleConfig(), store: services.store, index: services.index };
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-conformance-'));
});
afterAll(async () => {
  await services?.stop();
  rmSync(work, { recursive: true, force: true });
});

let clock = Date.parse('2024-03-01T09:00:00Z');
async function receive(
  message: Buffer,
  recipients: string[],
  extra: { trace?: boolean; verdicts?: { spam: 'FAIL' } } = {},
) {
  clock += 3_600_000 + 1234;
  const { notification } = await receiveLikeSes(services.store, services.bucket, message, {
    recipients,
    timestamp: new Date(clock),
    ...extra,
  });
  return archiveReceivedMail(notification, deps);
}

async function rowsOf(mailbox: string): Promise<DeliveryRow[]> {
  const rows: DeliveryRow[] = [];
  for await (const row of services.index.listDeliveries(mailbox)) rows.push(row);
  return rows;
}

function originalBytes(row: DeliveryRow): Promise<Buffer> {
  return readObject(services.store, row.location);
}

describe('bundles served by a real Dovecot', () => {
  let firstExport: Served;

  it("serves every message byte for byte with the index's folders, dates, flags, UIDVALIDITY and UIDs", async () => {
    await receive(makeMessage({ subject: 'crlf via SES' }), ['alice@example.com']);
    await receive(makeMessage({ subject: 'lf import', eol: '\n' }), ['alice@example.com'], { trace: false });
    await receive(makeMessage({ subject: 'bare cr import', eol: '\r' }), ['alice@example.com'], {
      trace: false,
    });
    await receive(makeMessage({ subject: 'nul byte', body: 'a\u0000b\n' }), ['alice@example.com']);
    await receive(
      makeMessage({ subject: 'sent by alice', from: 'alice@example.com', to: 'x@elsewhere.example' }),
      ['sent@journal.example.com'],
    );
    await receive(makeMessage({ subject: 'spam' }), ['alice@example.com'], { verdicts: { spam: 'FAIL' } });
    await receive(makeMessageWithAttachment('big.bin', 2_000_000, { subject: 'streamed 2 MB' }), [
      'alice@example.com',
    ]);
    // CRLF head, a body line with a bare LF: stored as is, the bare LF served as CRLF.
    await receive(Buffer.concat([makeMessage({ subject: 'mixed endings' }), Buffer.from('bare lf\n')]), [
      'alice@example.com',
    ]);

    const bundle = join(work, 'full-1.tar.gz');
    const result = await exportToFile(services, { mailbox: 'alice@example.com', format: 'maildir' }, bundle);
    const rows = await rowsOf('alice@example.com');
    expect(result.messages).toBe(rows.length);

    const maildir = unpack(bundle, join(work, 'full-1'));
    const server = await startDovecot({ maildir, workDir: join(work, 'dovecot-1') });
    try {
      firstExport = await readOverImap(server);
    } finally {
      await server.stop();
    }

    expect(firstExport.folders.map((f) => f.path).sort()).toEqual(['INBOX', 'Junk', 'Sent']);
    expect(firstExport.folders.find((f) => f.path === 'Sent')?.flags).toContain('\\Sent');
    expect(firstExport.folders.find((f) => f.path === 'Junk')?.flags).toContain('\\Junk');

    const folders = await services.index.folders('alice@example.com');
    let identical = 0;
    const onlyLineEndings: string[] = [];
    const withNul: string[] = [];
    for (const row of rows) {
      const served = firstExport.byFolder.get(row.folder);
      const folder = folders.find((f) => f.folder === row.folder);
      expect(served?.uidValidity, row.folder).toBe(folder?.uidValidity);
      const message = served?.messages.find((m) => m.uid === row.uid);
      expect(message, `${row.folder} UID ${row.uid} (${row.subject})`).toBeDefined();
      if (!message) continue;
      expect(message.internalDate.getTime()).toBe(Math.floor(Date.parse(row.receivedAt) / 1000) * 1000);
      expect(message.flags).toEqual([...row.flags].sort());
      const original = await originalBytes(row);
      if (row.lineEndings.nul) {
        withNul.push(row.subject ?? '');
        expect(message.source.equals(asServedByDovecot(original))).toBe(true);
      } else if (message.source.equals(original)) {
        identical += 1;
      } else {
        // IMAP is CRLF: a message stored with bare LFs is served with CRLF, nothing else may differ.
        expect(message.source.equals(asServedByDovecot(original)), row.subject).toBe(true);
        onlyLineEndings.push(row.subject ?? '');
      }
    }
    console.info(
      `conformance: ${identical}/${rows.length} byte-identical over IMAP; with bare LF/CR (served as CRLF): ${onlyLineEndings.join(', ')}; with NUL (listed apart): ${withNul.join(', ')}`,
    );
    expect(withNul).toEqual(['nul byte']);
    // Every CRLF original (all mail SES receives) comes back byte-identical.
    expect(onlyLineEndings.sort()).toEqual(['lf import', 'mixed endings']);
    expect(identical).toBe(rows.length - 3);
  });

  it('keeps every earlier UID and UIDVALIDITY in a second export after new mail', async () => {
    await receive(makeMessage({ subject: 'later 1' }), ['alice@example.com']);
    await receive(makeMessage({ subject: 'later sent', from: 'alice@example.com' }), [
      'sent@journal.example.com',
    ]);
    const bundle = join(work, 'full-2.tar.gz');
    await exportToFile(services, { mailbox: 'alice@example.com', format: 'maildir' }, bundle);
    const maildir = unpack(bundle, join(work, 'full-2'));
    const server = await startDovecot({ maildir, workDir: join(work, 'dovecot-2') });
    let second: Served;
    try {
      second = await readOverImap(server);
    } finally {
      await server.stop();
    }
    for (const [folder, before] of firstExport.byFolder) {
      const after = second.byFolder.get(folder);
      expect(after?.uidValidity).toBe(before.uidValidity);
      for (const m of before.messages) {
        const same = after?.messages.find((n) => n.uid === m.uid);
        expect(same?.source.equals(m.source), `${folder} UID ${m.uid}`).toBe(true);
      }
    }
    expect(second.byFolder.get('INBOX')?.messages.length).toBe(
      (firstExport.byFolder.get('INBOX')?.messages.length ?? 0) + 1,
    );
    expect(second.byFolder.get('Sent')?.messages.length).toBe(2);
  });
});
