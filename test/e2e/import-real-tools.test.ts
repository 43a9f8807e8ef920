// History import of what the tools people keep mail with really write: a Dovecot on loopback holds an account
// (folders, a name beyond ASCII, flags, keywords, INTERNALDATEs, messages without a final line end, bodies with
// `From ` lines, a multipart body quoting a message), getmail6, neomutt, mbsync, offlineimap3 and mb2md fetch or
// convert it, and each output is imported and compared message by message with what the server held: one row per
// message (none skipped, none merged), the same content, its folder, the flags and dates the tool kept. A tool
// that cannot run here is skipped, its test naming the Debian package.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOVECOT_BINARY } from '../../cli/local/dovecot';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { type ImportReport, type ImportTarget, importMessages } from '../../shared/history/import';
import { readSources } from '../../shared/history/sources';
import type { DeliveryRow } from '../../shared/index/schema';
import { contentSha256 } from '../../shared/mail/content-identity';
import { exampleConfig } from '../support/config';
import {
  type MailTool,
  missingPackage,
  runGetmail,
  runMb2md,
  runMbsync,
  runNeomutt,
  runOfflineimap,
  type SeededServer,
  type SeedMessage,
  startSeededServer,
  TOOL_TEST_TIMEOUT_MS,
} from '../support/mail-tools';
import { startTestServices, type TestServices } from '../support/services';

const dovecotMissing = !existsSync(DOVECOT_BINARY);
const mailboxes = [
  'server',
  'getmail-mbox',
  'getmail-maildir',
  'neomutt',
  'mbsync',
  'mbsync-default',
  'offlineimap',
  'mb2md',
  'all',
];
const config = exampleConfig({
  mailboxes: Object.fromEntries(mailboxes.map((m) => [`${m}@example.com`, { forwardTo: [] }])),
});

let seeded: SeededServer;
let services: TestServices;
let work: string;
let target: ImportTarget;
/** Every tool's output, for the import of all of them together. */
const outputs: string[] = [];

beforeAll(async () => {
  if (dovecotMissing) return;
  work = mkdtempSync(join(tmpdir(), 'import-real-tools-'));
  [seeded, services] = await Promise.all([startSeededServer(join(work, 'server')), startTestServices()]);
  target = {
    store: services.store,
    bucket: services.bucket,
    index: services.index,
    deliver: async (notification) => {
      await archiveReceivedMail(notification, { config, store: services.store, index: services.index });
    },
  };
});
afterAll(async () => {
  await Promise.all([seeded?.server.stop(), services?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** What a tool keeps of the server's state. */
interface Keeps {
  /** The flags it writes into its copy (every flag when undefined). */
  flags?: string[];
  keywords: boolean;
  /** The server's INTERNALDATE, or only what the message's header says (a Received stamp, the Date). */
  dates: 'internaldate' | 'header';
}

const isKeyword = (flag: string) => !flag.startsWith('\\') && flag !== '$Forwarded';

async function rows(mailbox: string): Promise<DeliveryRow[]> {
  const out: DeliveryRow[] = [];
  for await (const row of services.index.listDeliveries(`${mailbox}@example.com`)) out.push(row);
  return out;
}

async function importAndCompare(
  mailbox: string,
  paths: string[],
  keeps: Keeps,
): Promise<{ report: ImportReport; byId: Map<string, DeliveryRow> }> {
  outputs.push(...paths);
  const report = await importMessages(config, target, paths, { mailbox: `${mailbox}@example.com` });
  expect(report.failed).toEqual([]);
  expect(report.skipped).toEqual([]);
  expect(report.archived).toBe(seeded.seeds.length);
  const listed = await rows(mailbox);
  // None merged, none split, none twice: one row per message of the server.
  expect(listed.map((r) => r.messageId).sort()).toEqual(seeded.seeds.map((s) => s.messageId).sort());
  const byId = new Map(listed.map((r) => [r.messageId as string, r]));
  const expected = (seed: SeedMessage) => ({
    messageId: seed.messageId,
    content: contentSha256(seed.raw),
    folder: seed.folder,
    // Mail filed in Sent is read (routeImport): the one flag the import adds.
    flags: [
      ...new Set([
        ...seed.flags.filter((f) => !isKeyword(f) && (keeps.flags ?? [f]).includes(f)),
        ...(seed.folder === 'Sent' ? ['\\Seen'] : []),
      ]),
    ].sort(),
    keywords: keeps.keywords ? seed.flags.filter(isKeyword) : [],
    receivedAt: (keeps.dates === 'internaldate' ? seed.internalDate : seed.headerDate).toISOString(),
  });
  const got = (seed: SeedMessage) => {
    const row = byId.get(seed.messageId);
    return {
      messageId: row?.messageId,
      content: row?.contentSha256,
      folder: row?.folder,
      flags: row?.flags,
      keywords: row?.keywords ?? [],
      receivedAt: row?.receivedAt,
    };
  };
  expect(seeded.seeds.map(got)).toEqual(seeded.seeds.map(expected));
  return { report, byId };
}

const skipReason = (tool: MailTool) => {
  const pkg = dovecotMissing ? 'dovecot-imapd' : missingPackage(tool);
  return pkg ? ` (SKIPPED: the Debian package ${pkg} is not installed: scripts/install-system-deps.sh)` : '';
};
const cannotRun = (tool: MailTool) => skipReason(tool) !== '';

describe('import of what real tools write, compared with the server they fetched from', () => {
  it.skipIf(dovecotMissing)(
    `the server's own maildir: everything as the server held it${dovecotMissing ? ' (SKIPPED: the Debian package dovecot-imapd is not installed)' : ''}`,
    async () => {
      const copy = join(work, 'server-copy');
      cpSync(seeded.maildir, copy, { recursive: true, preserveTimestamps: true });
      const { report } = await importAndCompare('server', [copy], { keywords: true, dates: 'internaldate' });
      expect(report.receivedTimeSources).toEqual({ internaldate: seeded.seeds.length });
    },
    TOOL_TEST_TIMEOUT_MS,
  );

  it.skipIf(cannotRun('getmail'))(
    `getmail6 into one mboxrd file: folders from its own field, dates from the server's Received, not its own${skipReason('getmail')}`,
    async () => {
      const mbox = await runGetmail(seeded.server, join(work, 'getmail-mbox'), 'mboxrd');
      // getmail writes no empty line after a message without a final line end: those must not merge.
      expect(readFileSync(mbox, 'latin1')).toMatch(/no final line end\nFrom /);
      // getmail keeps no flags; its envelope line and its Received are the fetch, not the receipt.
      const { report } = await importAndCompare('getmail-mbox', [mbox], {
        flags: [],
        keywords: false,
        dates: 'header',
      });
      expect(report.notices).toEqual([]);
    },
    TOOL_TEST_TIMEOUT_MS,
  );

  it.skipIf(cannotRun('getmail'))(
    `getmail6 into one maildir: every message in the folder it came from${skipReason('getmail')}`,
    async () => {
      const maildir = await runGetmail(seeded.server, join(work, 'getmail-maildir'), 'maildir');
      await importAndCompare('getmail-maildir', [maildir], { flags: [], keywords: false, dates: 'header' });
    },
    TOOL_TEST_TIMEOUT_MS,
  );

  it.skipIf(cannotRun('neomutt'))(
    `neomutt saving each folder to an mbox file: mboxcl2 read by its Content-Length, flags from Status and X-Status${skipReason('neomutt')}`,
    async () => {
      const dir = await runNeomutt(seeded.server, join(work, 'neomutt'), seeded.folders);
      const { report, byId } = await importAndCompare('neomutt', [dir], {
        // neomutt writes no flag for deleted or draft messages.
        flags: ['\\Seen', '\\Answered', '\\Flagged', '$Forwarded'],
        keywords: true,
        dates: 'internaldate',
      });
      expect(report.receivedTimeSources).toEqual({ envelope: seeded.seeds.length });
      // The message without a final line end ends where its Content-Length says, byte for byte.
      expect((await sourceBytes(dir, '<seed-2@example.net>')).toString('latin1')).toMatch(
        /\nContent-Length: 17\n\nno final line end$/,
      );
      expect(byId.size).toBe(seeded.seeds.length);
      // The dated `From ` lines neomutt left unescaped in bodies are said, with why they did not split.
      expect(report.notices.map((n) => n.reason.replace(/^line \d+ /, ''))).toEqual([
        '("From alice@example.net Mon Jan  1 00:00:00 2001") is not the start of a message: inside the body its Content-Length counts',
        '("From bob@example.org Sun Mar 14 09:00:00 2021") is not the start of a message: it follows a non-empty line inside a MIME multipart body whose closing boundary has not come',
      ]);
    },
    TOOL_TEST_TIMEOUT_MS,
  );

  it.skipIf(cannotRun('mbsync'))(
    `mbsync with CopyArrivalDate: nested folders, every flag, the INTERNALDATE from the file times; X-TUID archived, not in the identity${skipReason('mbsync')}`,
    async () => {
      const dir = await runMbsync(seeded.server, join(work, 'mbsync'));
      await importAndCompare('mbsync', [dir], { keywords: false, dates: 'internaldate' });
      // Its copy carries the X-TUID it writes; the content (compared above) is the server's all the same.
      expect((await sourceBytes(dir, '<seed-1@example.net>')).toString('latin1')).toMatch(/\nX-TUID: \S+\n/);
    },
    TOOL_TEST_TIMEOUT_MS,
  );

  it.skipIf(cannotRun('mbsync'))(
    `mbsync by default: its file times are when it fetched, so the header decides${skipReason('mbsync')}`,
    async () => {
      const dir = await runMbsync(seeded.server, join(work, 'mbsync-default'), false);
      await importAndCompare('mbsync-default', [dir], { keywords: false, dates: 'header' });
    },
    TOOL_TEST_TIMEOUT_MS,
  );

  it.skipIf(cannotRun('offlineimap'))(
    `offlineimap's layout: Work.Clients/ is Work/Clients, modified UTF-7 names decoded${skipReason('offlineimap')}`,
    async () => {
      const dir = await runOfflineimap(seeded.server, join(work, 'offlineimap'));
      // offlineimap 3 keeps no $Forwarded and no keywords, and its file times are when it fetched.
      await importAndCompare('offlineimap', [dir], {
        flags: ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'],
        keywords: false,
        dates: 'header',
      });
    },
    TOOL_TEST_TIMEOUT_MS,
  );

  it.skipIf(cannotRun('mb2md') || cannotRun('neomutt'))(
    `mb2md converting neomutt's folders: Maildir++ folders, flags, the INTERNALDATE from the file times${skipReason('mb2md') || skipReason('neomutt')}`,
    async () => {
      const mutt = await runNeomutt(seeded.server, join(work, 'mb2md-input'), seeded.folders);
      // mutt's folders are files without an extension; mb2md splits at every `From ` line after an empty line
      // and needs an empty line before each envelope line (mb2md's own limits): it is given the folders it reads
      // right, and the others come from the server's maildir, so the comparison covers every message.
      const source = join(work, 'mb2md-source');
      const converted = ['Sent', 'Drafts', 'Trash', 'Archive 2023', 'Reisen/Tōkyō'];
      for (const folder of converted) {
        mkdirSync(join(source, folder, '..'), { recursive: true });
        cpSync(join(mutt, `${folder}.mbox`), join(source, folder));
      }
      const maildir = await runMb2md(source, join(work, 'mb2md', 'Maildir'));
      const report = await importMessages(config, target, [maildir], { mailbox: 'mb2md@example.com' });
      expect(report).toMatchObject({ archived: 6, failed: [], skipped: [], notices: [] });
      expect(report.receivedTimeSources).toEqual({ internaldate: 6 });
      const listed = await rows('mb2md');
      const byId = new Map(listed.map((r) => [r.messageId, r]));
      for (const seed of seeded.seeds.filter((s) => converted.includes(s.folder))) {
        expect(byId.get(seed.messageId)).toMatchObject({
          contentSha256: contentSha256(seed.raw),
          folder: seed.folder,
          flags: seed.flags.filter((f) => f === '\\Seen' || f === '\\Answered' || f === '\\Flagged').sort(),
          receivedAt: seed.internalDate.toISOString(),
        });
      }
      outputs.push(maildir);
    },
    TOOL_TEST_TIMEOUT_MS,
  );

  it.skipIf(dovecotMissing)(
    'every copy from every tool, imported together: one message per message of the server',
    async () => {
      const report = await importMessages(config, target, [seeded.maildir, ...outputs], {
        mailbox: 'all@example.com',
      });
      expect(report.failed).toEqual([]);
      expect(report.skipped).toEqual([]);
      const listed = await rows('all');
      expect(listed.map((r) => r.messageId).sort()).toEqual(seeded.seeds.map((s) => s.messageId).sort());
      expect(report.archived).toBe(seeded.seeds.length);
    },
    TOOL_TEST_TIMEOUT_MS,
  );
});

/** The bytes the import reads for a message (the archive keeps the first copy it stored of a content). */
async function sourceBytes(path: string, messageId: string): Promise<Buffer> {
  for await (const item of readSources([path]))
    if (item.kind === 'message' && item.raw.includes(`Message-ID: ${messageId}`)) return item.raw;
  throw new Error(`${messageId} not in ${path}`);
}
