// Hostile input: every message below is read in bounded time and memory, archived whole, and exported without
// a single path leaving the bundle.
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../../shared/archive/ingest';
import { exportMailbox } from '../../../shared/bundle/export';
import { verifyBundle } from '../../../shared/bundle/verify';
import { readMessageBytes } from '../../../shared/mail/mime';
import { routeMessage } from '../../../shared/receiving/routing';
import { exampleConfig } from '../../support/config';
import { receiveLikeSes } from '../../support/ses';

const head = 'From: a@example.org\r\nTo: alice@example.com\r\nSubject: hostile\r\nMIME-Version: 1.0\r\n';

const hostile: Record<string, () => Buffer> = {
  'header bomb (200,000 header lines)': () =>
    Buffer.from(`${head}${'X-Bomb: x\r\n'.repeat(200_000)}\r\nbody\r\n`),
  'deep nesting (2,000 levels)': () => {
    let body = 'leaf\r\n';
    for (let i = 0; i < 2000; i++)
      body = `--b${i}\r\nContent-Type: multipart/mixed; boundary="b${i + 1}"\r\n\r\n${body}--b${i}--\r\n`;
    return Buffer.from(`${head}Content-Type: multipart/mixed; boundary="b0"\r\n\r\n${body}`);
  },
  '100,000 sibling parts': () =>
    Buffer.from(
      `${head}Content-Type: multipart/mixed; boundary="s"\r\n\r\n${'--s\r\n\r\nx\r\n'.repeat(100_000)}--s--\r\n`,
    ),
  'one 8 MB Subject': () =>
    Buffer.from(`From: a@example.org\r\nSubject: ${'A'.repeat(8 * 1024 * 1024)}\r\n\r\nbody\r\n`),
  'To of 800 KB folded encoded words': () =>
    Buffer.from(
      `${head}To: ${Array.from({ length: 20_000 }, (_, i) => `=?utf-8?q?n=C3=A9${i}?= <u${i}@x.org>`).join(',\r\n ')}\r\n\r\nx\r\n`,
    ),
  'bare CR line endings': () => Buffer.from(`${head}\r\nbody\rline\r`.replace(/\r\n/g, '\r')),
  'NUL bytes in head and body': () => Buffer.from(`${head}X-Nul: a\u0000b\r\n\r\nbo\u0000dy\r\n`),
  'path traversal in attachment names': () =>
    Buffer.from(
      `${head}Content-Type: multipart/mixed; boundary="p"\r\n\r\n` +
        [
          'Content-Disposition: attachment; filename="../../etc/passwd"',
          "Content-Disposition: attachment; filename*=UTF-8''..%2F..%2Fevil.sh",
          'Content-Disposition: attachment; filename*0="../../"; filename*1="boot.ini"',
          'Content-Disposition: attachment; filename="=?utf-8?q?..=5C..=5Cwin.ini?="',
          'Content-Disposition: attachment; filename="nul\u0000name.txt"',
        ]
          .map((d) => `--p\r\n${d}\r\n\r\nx\r\n`)
          .join('') +
        '--p--\r\n',
    ),
};

describe('hostile input', () => {
  it.each(Object.keys(hostile))('%s: read in bounded time and memory', async (name) => {
    const raw = (hostile[name] as () => Buffer)();
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const summary = await readMessageBytes(raw);
    const ms = performance.now() - started;
    const grewMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    expect(ms, `${name}: ${ms.toFixed(0)} ms`).toBeLessThan(3000);
    expect(grewMb, `${name}: +${grewMb.toFixed(0)} MB`).toBeLessThan(200);
    expect(summary.size).toBe(raw.length);
    for (const a of summary.attachments) {
      expect(a.filename).not.toMatch(/[/\\]|^\.\.?$/);
      expect(a.filename.includes(String.fromCharCode(0))).toBe(false);
    }
  });

  it('never routes a hostile local part anywhere but a configured mailbox', () => {
    const config = exampleConfig({ unknownRecipients: { action: 'catchAll', mailbox: 'bob@example.com' } });
    const routing = routeMessage(
      config,
      ['../../etc@example.com', 'a/b@example.com', '..@example.com'],
      undefined,
      {
        spam: 'PASS',
        virus: 'PASS',
      },
    );
    expect(routing.deliveries.map((d) => d.mailbox)).toEqual(['bob@example.com']);
  });

  it('archives every hostile message whole and exports them without a path outside the bundle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mail-archiver-hostile-'));
    try {
      const store = new FileRawMailStore(dir);
      const index = new MemoryMailIndex();
      for (const [name, make] of Object.entries(hostile)) {
        const { notification } = await receiveLikeSes(store, 'raw', make(), {
          recipients: ['alice@example.com'],
          messageId: `../../${name.replace(/\W+/g, '-')}`.slice(0, 60),
          trace: false,
        }).catch(async () =>
          // The store refuses keys that escape its bucket: SES ids never do, so use a plain one.
          receiveLikeSes(store, 'raw', make(), { recipients: ['alice@example.com'], trace: false }),
        );
        await archiveReceivedMail(notification, { config: exampleConfig(), store, index });
      }
      expect(index.rows.size).toBe(Object.keys(hostile).length);
      const bundle = join(dir, 'hostile.tar.gz');
      await exportMailbox(
        { index, store },
        { mailbox: 'alice@example.com', format: 'maildir' },
        createWriteStream(bundle),
      );
      const report = await verifyBundle(createReadStream(bundle));
      expect(report.errors).toEqual([]);
      for (const message of report.manifest?.messages ?? []) {
        expect(message.file).toMatch(/^Maildir\/cur\/\d+\.[A-Za-z0-9_-]+\.mail-archiver,S=\d+,W=\d+:2,$/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
