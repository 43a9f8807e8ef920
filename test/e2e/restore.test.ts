import { createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DovecotServer, startDovecot } from '../../cli/dovecot';
import { readMbox } from '../../cli/message-sources';
import { type RestoreOptions, restoreBundle } from '../../shared/bundle/restore';
import type { BundleManifest } from '../../shared/export';
import type { DeliveryRow } from '../../shared/index-schema';
import { archiveReceivedMail } from '../../shared/ingest';
import type { MailIndex } from '../../shared/ports';
import { exportToFile } from '../support/bundles';
import { exampleConfig } from '../support/config';
import { readOverImap } from '../support/imap';
import { makeMessage, makeMessageWithAttachment } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

const MAILBOX = 'alice@example.com';
let services: TestServices;
let work: string;
let bundle: string;
let manifest: BundleManifest;
/** sha256 of the original bytes -> the original bytes. */
const originals = new Map<string, Buffer>();
const servers: DovecotServer[] = [];

/** Flags the archive itself does not record (it sets only \Seen on Sent): given to some rows at export time. */
const EXTRA_FLAGS = new Map<string, string[]>([
  [
    'all five flags and keywords',
    ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft', '$Forwarded', 'Work'],
  ],
  ['twin A', ['\\Flagged']],
  ['from 1958', ['\\Answered', 'Project-X']],
]);

function withFlags(index: MailIndex): MailIndex {
  return new Proxy(index, {
    get(target, property) {
      if (property === 'folderDeliveries') {
        return async function* (mailbox: string, folder: string) {
          for await (const row of target.folderDeliveries(mailbox, folder)) {
            const extra = EXTRA_FLAGS.get(row.subject ?? '');
            yield extra ? ({ ...row, flags: extra } as unknown as DeliveryRow) : row;
          }
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

let clock = Date.parse('2024-03-01T09:00:00Z');
async function receive(
  message: Buffer,
  recipients: string[],
  extra: { trace?: boolean; verdicts?: { spam: 'FAIL' }; at?: Date } = {},
) {
  clock += 3_600_000 + 1234;
  const { notification, stored, sha256 } = await receiveLikeSes(services.store, services.bucket, message, {
    recipients,
    timestamp: extra.at ?? new Date(clock),
    ...(extra.trace === undefined ? {} : { trace: extra.trace }),
    ...(extra.verdicts ? { verdicts: extra.verdicts } : {}),
  });
  originals.set(sha256, stored);
  await archiveReceivedMail(notification, {
    config: exampleConfig(),
    store: services.store,
    index: services.index,
  });
}

const SPAM_AS_SPECIAL_USE = `
namespace inbox {
  mailbox Spam {
    special_use = \\Junk
    auto = create
  }
}
`;

async function target(name: string, extraConfig = SPAM_AS_SPECIAL_USE): Promise<DovecotServer> {
  const maildir = join(work, name, 'Maildir');
  mkdirSync(maildir, { recursive: true });
  const server = await startDovecot({ maildir, workDir: join(work, name, 'dovecot'), extraConfig });
  servers.push(server);
  return server;
}

function clientFor(server: { host: string; port: number; user: string; password: string }) {
  return () =>
    new ImapFlow({
      host: server.host,
      port: server.port,
      secure: false,
      auth: { user: server.user, pass: server.password },
      logger: false,
    });
}

function options(server: DovecotServer, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return {
    source: { kind: 'file', path: bundle },
    openBundleStream: () => createReadStream(bundle),
    readMbox,
    newClient: clientFor(server),
    statePath: join(work, `state-${server.port}-${Math.random().toString(36).slice(2)}.jsonl`),
    retry: { attempts: 6, firstDelayMs: 50 },
    ...extra,
  };
}

const TARGET_OF: Record<string, string> = { INBOX: 'INBOX', Sent: 'Sent', Junk: 'Spam' };

/** IMAP lines end in CRLF (bare CR and LF become CRLF), and Dovecot's BODY[] serves NUL as 0x80. */
function asAppendedAndServed(original: Buffer): Buffer {
  const crlf = original
    .toString('latin1')
    .replace(/\r\n|\r|\n/g, '\r\n')
    .replace(/\0/g, '\x80');
  return Buffer.from(crlf, 'latin1');
}

/** Independent of the restore code: every bundle message is on the target as Dovecot serves its original. */
async function expectTargetHoldsBundle(server: DovecotServer, except: string[] = []) {
  const datesWrapped = manifest.messages.filter((m) => Date.parse(m.receivedAt) < 0).map((m) => m.sha256);
  const served = await readOverImap(server);
  for (const folder of manifest.folders) {
    const expected = manifest.messages.filter((m) => m.folder === folder.name && !except.includes(m.sha256));
    const onTarget = served.byFolder.get(TARGET_OF[folder.name] ?? folder.name)?.messages ?? [];
    expect(onTarget.length, `${folder.name}: count on the target`).toBe(expected.length);
    const left = [...onTarget];
    for (const m of expected) {
      const want = asAppendedAndServed(originals.get(m.sha256) as Buffer);
      const i = left.findIndex(
        (t) =>
          t.source.equals(want) &&
          (t.internalDate.getTime() === Math.floor(Date.parse(m.receivedAt) / 1000) * 1000 ||
            // Dovecot 2.3 keeps INTERNALDATE as an unsigned 32-bit number: 1958 comes back as 2094.
            (datesWrapped.includes(m.sha256) &&
              t.internalDate.getTime() === (Math.floor(Date.parse(m.receivedAt) / 1000) + 2 ** 32) * 1000)) &&
          t.flags.filter((f) => f !== '\\Recent').join(' ') === [...m.flags].sort().join(' '),
      );
      expect(
        i,
        `${folder.name} UID ${m.uid} on the target with its bytes, date and flags`,
      ).toBeGreaterThanOrEqual(0);
      left.splice(i, 1);
    }
  }
  return served;
}

beforeAll(async () => {
  services = await startTestServices();
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-restore-'));
  const to = [MAILBOX];
  await receive(makeMessage({ subject: 'plain crlf via SES' }), to);
  // Two different messages, one Message-ID: imapsync's default identity keeps one of them.
  await receive(
    makeMessage({ subject: 'twin A', messageId: '<same@sender.example.org>', body: 'first\n' }),
    to,
  );
  await receive(
    makeMessage({ subject: 'twin B', messageId: '<same@sender.example.org>', body: 'second\n' }),
    to,
  );
  await receive(makeMessage({ subject: 'nul byte', body: 'a\u0000b\n' }), to);
  await receive(makeMessage({ subject: 'from 1958', date: 'Tue, 06 May 1958 10:00:00 +0000' }), to, {
    at: new Date('1958-05-06T10:00:07Z'),
  });
  await receive(makeMessage({ subject: 'lf import', eol: '\n' }), to, { trace: false });
  await receive(makeMessage({ subject: 'bare cr import', eol: '\r' }), to, { trace: false });
  await receive(makeMessage({ subject: 'all five flags and keywords' }), to);
  await receive(makeMessageWithAttachment('big.bin', 1_500_000, { subject: 'two MB' }), to);
  await receive(makeMessage({ subject: 'sent by alice', from: MAILBOX, to: 'x@elsewhere.example' }), [
    'sent@journal.example.com',
  ]);
  await receive(makeMessage({ subject: 'spam' }), to, { verdicts: { spam: 'FAIL' } });
  bundle = join(work, 'alice.tar.gz');
  await exportToFile(
    { store: services.store, index: withFlags(services.index) },
    { mailbox: MAILBOX, format: 'maildir' },
    bundle,
  );
  const { verifyBundle } = await import('../../shared/verify');
  const checked = await verifyBundle(createReadStream(bundle), readMbox);
  expect(checked.errors).toEqual([]);
  manifest = checked.manifest as BundleManifest;
}, 60_000);

afterAll(async () => {
  for (const server of servers) await server.stop();
  await services?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('restore into a real Dovecot', () => {
  it('moves every message (both Message-ID twins, NUL, 1958, LF, CR, flags, keywords) and verifies each', async () => {
    expect(manifest.messages.length).toBe(11);
    expect(manifest.messages.filter((m) => m.nul).length).toBe(1);
    const server = await target('full');
    const report = await restoreBundle(options(server));
    // Dovecot 2.3 cannot keep a date before 1970: verification sees it, from a new session.
    const old = manifest.messages.find((m) => m.receivedAt.startsWith('1958'));
    expect(report.notVerified).toEqual([
      {
        folder: 'INBOX',
        uid: old?.uid,
        sha256: old?.sha256,
        problem: expect.stringMatching(
          /INTERNALDATE 2094-06-11T16:28:23.000Z != 1958-05-06T10:00:07.000Z \(this server does not keep dates before 1970\)$/,
        ),
      },
    ]);
    expect(report.refused).toEqual([]);
    expect(report).toMatchObject({ messages: 11, moved: 11, alreadyThere: 0, verified: 10, nulAsHighBit: 0 });
    expect(report.folders.map((f) => [f.folder, f.target, f.inBundle, f.verified])).toEqual([
      ['INBOX', 'INBOX', 9, 8],
      ['Junk', 'Spam', 1, 1],
      ['Sent', 'Sent', 1, 1],
    ]);
    const served = await expectTargetHoldsBundle(server);
    const twins = served.byFolder
      .get('INBOX')
      ?.messages.filter((m) => m.source.includes('<same@sender.example.org>'));
    expect(twins?.length).toBe(2);

    // A second run appends nothing and verifies everything again.
    const again = await restoreBundle({ ...options(server), statePath: report.statePath });
    expect(again).toMatchObject({ moved: 0, alreadyThere: 11, verified: 10, refused: [] });
    expect(again.notVerified.map((n) => n.uid)).toEqual([old?.uid]);
    // Without the state file the server is checked by size and sha256: still nothing appended.
    const stateless = await restoreBundle(options(server));
    expect(stateless).toMatchObject({ moved: 0, alreadyThere: 11, verified: 10 });
    await expectTargetHoldsBundle(server);
  }, 60_000);
});
