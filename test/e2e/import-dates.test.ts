// Imported history through the whole path: an mbox with dates before 1970, the 1970 placeholder, after 2038 and
// far ahead, Takeout labels and Maildir flags -> the index -> a maildir bundle that verifies, unpacks with the
// system tar (exit 0, each file's mtime its received time) and is served by a real Dovecot with those
// INTERNALDATEs, folders, flags and keywords.
import { execFileSync } from 'node:child_process';
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDovecot } from '../../cli/local/dovecot';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { verifyBundle } from '../../shared/bundle/verify';
import { type ImportTarget, importMessages } from '../../shared/history/import';
import { exportToFile } from '../support/bundles';
import { exampleConfig } from '../support/config';
import { readOverImap } from '../support/imap';
import { startTestServices, type TestServices } from '../support/services';

let services: TestServices;
let work: string;
const config = exampleConfig();

beforeAll(async () => {
  services = await startTestServices();
  work = mkdtempSync(join(tmpdir(), 'import-dates-'));
});
afterAll(async () => {
  await services?.stop();
  rmSync(work, { recursive: true, force: true });
});

const entry = (envelopeDate: string, subject: string, extra: string[] = []) =>
  [
    `From someone@elsewhere.example ${envelopeDate}`,
    'X-GM-THRID: 1',
    ...extra,
    'From: someone@elsewhere.example',
    'To: bob@example.com',
    `Subject: ${subject}`,
    'Date: Mon, 4 Mar 102 10:00:00 +0000',
    `Message-ID: <${subject.replace(/\W/g, '')}@test>`,
    '',
    `body of ${subject}`,
    '',
    '',
  ].join('\n');

describe('dates a bundle can hold', () => {
  it('1958, the 1970 placeholder, 2040 and 2300 survive import, export, tar and Dovecot', async () => {
    const mbox = join(work, 'history.mbox');
    writeFileSync(
      mbox,
      entry('Tue Mar  4 10:00:00 1958', 'from 1958', ['X-Gmail-Labels: Inbox,Starred,"Old, dear"']) +
        entry('Thu Jan  1 00:00:00 1970', 'placeholder', ['X-Gmail-Labels: Inbox,Unread']) +
        entry('Sun Jan  1 12:00:00 2040', 'after 2038', ['X-Gmail-Labels: Projekte/Alt']) +
        entry('Sat Jan  1 00:00:00 2300', 'year 2300', ['X-Gmail-Labels: Inbox']),
    );
    const target: ImportTarget = {
      store: services.store,
      bucket: services.bucket,
      index: services.index,
      deliver: async (n) => {
        await archiveReceivedMail(n, { config, store: services.store, index: services.index });
      },
    };
    const report = await importMessages(config, target, [mbox], { mailbox: 'bob@example.com' });
    expect(report).toMatchObject({ archived: 4, failed: [] });
    expect(report.receivedTimeSources).toEqual({ envelope: 3, date: 1 });

    const expected: Record<string, { at: string; folder: string; flags: string[] }> = {
      // Filed once, under its most specific label; every label a keyword.
      'from 1958': {
        at: '1958-03-04T10:00:00.000Z',
        folder: 'Old, dear',
        flags: ['Old,_dear', 'Inbox', 'Starred', '\\Flagged', '\\Seen'],
      },
      // The placeholder loses to the Date field, read with the obsolete-year rule (102 = 2002).
      placeholder: { at: '2002-03-04T10:00:00.000Z', folder: 'INBOX', flags: ['Inbox', 'Unread'] },
      'after 2038': {
        at: '2040-01-01T12:00:00.000Z',
        folder: 'Projekte/Alt',
        flags: ['Projekte/Alt', '\\Seen'],
      },
      'year 2300': { at: '2300-01-01T00:00:00.000Z', folder: 'INBOX', flags: ['Inbox', '\\Seen'] },
    };

    const bundle = join(work, 'bob.tar.gz');
    await exportToFile(services, { mailbox: 'bob@example.com', format: 'maildir' }, bundle);
    const verified = await verifyBundle(createReadStream(bundle));
    expect(verified.errors ?? []).toEqual([]);

    const dir = join(work, 'unpacked');
    mkdirSync(dir);
    // The system tar, as the bundle's README says: exit 0 (execFileSync throws otherwise), no warnings.
    const stderr = execFileSync('tar', ['-xzf', bundle, '-C', dir, '--no-same-owner'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(stderr.toString()).toBe('');
    const files = ['', '.Old, dear', '.Projekte.Alt'].flatMap((folder) =>
      readdirSync(join(dir, 'Maildir', folder, 'cur')).map((f) => join(dir, 'Maildir', folder, 'cur', f)),
    );
    expect(files.map((f) => statSync(f).mtime.toISOString()).sort()).toEqual(
      Object.values(expected)
        .map((e) => e.at)
        .sort(),
    );

    const server = await startDovecot({ maildir: join(dir, 'Maildir'), workDir: join(work, 'dovecot') });
    try {
      // Dovecot's index keeps received dates as unsigned 32-bit seconds: once a session has written its cache,
      // a date before 1970 would come back wrapped (1958 as 2094). Later sessions must see the same dates.
      for (let session = 1; session <= 3; session += 1) {
        const served = await readOverImap(server);
        const all = [...served.byFolder.entries()].flatMap(([folder, f]) =>
          f.messages.map((m) => ({ folder, ...m })),
        );
        for (const [subject, want] of Object.entries(expected)) {
          const message = all.find((m) => m.source.toString().includes(`Subject: ${subject}\r\n`));
          expect(message, subject).toBeDefined();
          expect([subject, message?.folder, message?.internalDate.toISOString()]).toEqual([
            subject,
            want.folder,
            want.at,
          ]);
          expect(message?.flags.filter((f) => f !== '\\Recent').sort()).toEqual([...want.flags].sort());
        }
      }
    } finally {
      await server.stop();
    }
  });
});
