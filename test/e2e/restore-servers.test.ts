// restore into IMAP servers nobody here wrote: Dovecot 2.3, Cyrus IMAP 3.6 (Fastmail-like folders, lower-case
// special-use attributes, 8-bit header bytes written as "X", invalid headers refused, no dates before 1970) and
// Courier-IMAP 5.0 (no SPECIAL-USE, the INBOX. namespace, a CRLF added after a last line without one, no dates
// before 1970). Each server starts once for this file (test/support/imap-servers.ts; Cyrus and Courier from
// Debian's packages unpacked by scripts/install-system-deps.sh). Every message must end verified, altered by the
// server (named) or refused with a next step; a run again without the state file appends nothing; an independent
// IMAP reader counts what is on each server.
import { createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { printRestoreReport } from '../../cli/commands/restore';
import { type DovecotServer, startDovecot } from '../../cli/local/dovecot';
import type { BundleManifest } from '../../shared/bundle/manifest';
import type { RestoreReport } from '../../shared/restore/report';
import { type RestoreOptions, restoreBundle } from '../../shared/restore/restore';
import { unpackedWithFolderRenamed } from '../support/bundles';
import { imapClientFor } from '../support/imap';
import { startCourier, startCyrus, type TestImapServer } from '../support/imap-servers';
import { bundleOf } from '../support/memory-archive';
import { makeMessage } from '../support/messages';

let work: string;
let bundle: string;
let manifest: BundleManifest;
const servers: { stop(): Promise<void> }[] = [];
const skipped: Record<string, string> = {};
let dovecot: DovecotServer;
let cyrus: TestImapServer | undefined;
let courier: TestImapServer | undefined;

const at = (iso: string) => new Date(iso);
const SUBJECTS = {
  plain: 'plain crlf',
  eightBit: 'Caf\u00e9 \u2013 8-bit header',
  noEnd: 'no final line end',
  bareCr: 'bare cr import',
  badHeader: 'invalid header',
  sent: 'sent by alice',
  spam: 'spam',
  old: 'from 1958',
  nul: 'nul byte',
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-restore-servers-'));
  bundle = join(work, 'alice.tar.gz');
  const built = await bundleOf(
    [
      { raw: makeMessage({ subject: SUBJECTS.plain }), at: at('2024-03-01T09:00:00Z') },
      // Raw UTF-8 in a header (RFC 6532), as many mail programs send it.
      {
        raw: makeMessage({ subject: SUBJECTS.eightBit, from: 'J\u00fcrgen <j@sender.example.org>' }),
        at: at('2024-03-01T10:00:00Z'),
      },
      {
        raw: Buffer.from(
          makeMessage({ subject: SUBJECTS.noEnd, body: 'the last line has no end' })
            .toString('latin1')
            .replace(/\r\n$/, ''),
          'latin1',
        ),
        at: at('2024-03-01T11:00:00Z'),
        trace: false,
      },
      {
        raw: makeMessage({ subject: SUBJECTS.bareCr, eol: '\r' }),
        at: at('2024-03-01T12:00:00Z'),
        trace: false,
      },
      {
        // A header line that is neither a field nor an indented continuation (RFC 5322 2.2).
        raw: makeMessage({
          subject: SUBJECTS.badHeader,
          extraHeaders: ['X-Note: first line', 'continued without a space'],
        }),
        at: at('2024-03-01T13:00:00Z'),
        trace: false,
      },
      {
        raw: makeMessage({ subject: SUBJECTS.sent, from: 'alice@example.com', to: 'x@elsewhere.example' }),
        recipients: ['sent@journal.example.com'],
        at: at('2024-03-01T14:00:00Z'),
      },
      {
        raw: makeMessage({ subject: SUBJECTS.spam }),
        at: at('2024-03-01T15:00:00Z'),
        verdicts: { spam: 'FAIL' },
      },
      {
        raw: makeMessage({ subject: SUBJECTS.old, date: 'Tue, 06 May 1958 10:00:00 +0000' }),
        at: at('1958-05-06T10:00:07Z'),
      },
      { raw: makeMessage({ subject: SUBJECTS.nul, body: 'a\u0000b\n' }), at: at('2024-03-01T16:00:00Z') },
    ],
    bundle,
  );
  manifest = built.manifest;

  mkdirSync(join(work, 'dovecot', 'Maildir'), { recursive: true });
  dovecot = await startDovecot({
    maildir: join(work, 'dovecot', 'Maildir'),
    workDir: join(work, 'dovecot', 'run'),
    index: 'disk',
  });
  servers.push(dovecot);
  const started = await startCyrus(join(work, 'cyrus'));
  if ('skip' in started) skipped.cyrus = started.skip;
  else {
    cyrus = started;
    servers.push(started);
  }
  const startedCourier = await startCourier(join(work, 'courier', 'Maildir'));
  if ('skip' in startedCourier) skipped.courier = startedCourier.skip;
  else {
    courier = startedCourier;
    servers.push(startedCourier);
  }
}, 120_000);

afterAll(async () => {
  for (const server of servers) await server.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function options(
  server: Pick<TestImapServer, 'host' | 'port' | 'user' | 'password'>,
  extra: Partial<RestoreOptions> = {},
) {
  return {
    source: { kind: 'file' as const, path: bundle },
    openBundleStream: () => createReadStream(bundle),
    newClient: () => imapClientFor(server),
    statePath: join(work, `state-${server.port}-${server.user}-${Math.random().toString(36).slice(2)}.jsonl`),
    retry: { attempts: 4, firstDelayMs: 50 },
    ...extra,
  };
}

/** An IMAP reader of its own: messages per folder on the server. */
async function countOnServer(server: Pick<TestImapServer, 'host' | 'port' | 'user' | 'password'>) {
  const client = imapClientFor(server);
  await client.connect();
  try {
    const counts: Record<string, number> = {};
    for (const folder of await client.list()) {
      if (folder.flags.has('\\Noselect')) continue;
      const status = await client.status(folder.path, { messages: true });
      counts[folder.path] = status ? (status.messages ?? 0) : 0;
    }
    return counts;
  } finally {
    await client.logout();
  }
}

/** The done-when of issue 28 for one report: nothing unexplained. */
function expectEveryMessageAccountedFor(report: RestoreReport) {
  expect(report.notVerified, 'every message verified, altered (named) or refused').toEqual([]);
  expect(report.verified + report.altered.length + report.refused.length).toBe(manifest.messages.length);
  for (const a of report.altered) expect(a.changes.length, `UID ${a.uid}: what changed`).toBeGreaterThan(0);
  for (const r of report.refused) expect(r.nextStep.length, `UID ${r.uid}: a next step`).toBeGreaterThan(20);
}

function printed(report: RestoreReport): string {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((line: string) => lines.push(line));
  try {
    printRestoreReport(report, 'target');
  } finally {
    spy.mockRestore();
  }
  return lines.join('\n');
}

describe('restore into Dovecot, Cyrus and Courier', () => {
  it('the bundle holds what the servers trip over', () => {
    expect(manifest.folders.map((f) => f.name).sort()).toEqual(['INBOX', 'Junk', 'Sent']);
    expect(manifest.messages).toHaveLength(9);
  });

  it('Dovecot: every message verified, the 1958 date named as what the server keeps', async () => {
    const report = await restoreBundle(options(dovecot));
    expectEveryMessageAccountedFor(report);
    expect(report.refused).toEqual([]);
    expect(report.altered.map((a) => a.changes)).toEqual([
      [
        expect.stringMatching(
          /^received date 1958-05-06T10:00:07.000Z kept as 2094-.* \(the server keeps no date before 1970\)$/,
        ),
      ],
    ]);
    const stateless = await restoreBundle(options(dovecot));
    expect(stateless).toMatchObject({ moved: 0, alreadyThere: 9 });
  });

  it('Cyrus (Fastmail-like): --dry-run shows Sent -> "Sent Items" and Junk -> Spam by their lower-case special use', async (context) => {
    if (!cyrus) return context.skip(skipped.cyrus);
    const account = { ...cyrus, user: 'dry' };
    const dry = await restoreBundle(options(account, { dryRun: true }));
    expect(dry.folders.map((f) => [f.folder, f.target, f.match, f.created])).toEqual([
      ['INBOX', 'INBOX', 'inbox', false],
      ['Junk', 'Spam', 'special use', false],
      ['Sent', 'Sent Items', 'special use', false],
    ]);
    const text = printed(dry);
    expect(text).toContain("Sent Items (the server's \\Sent)");
    expect(text).toContain("Spam (the server's \\Junk)");
    expect(await countOnServer(account)).toEqual({ INBOX: 0, 'Sent Items': 0, Spam: 0, Drafts: 0, Trash: 0 });
  });

  it('Cyrus: 8-bit header bytes "altered", the invalid header refused with a next step, nothing appended twice', async (context) => {
    if (!cyrus) return context.skip(skipped.cyrus);
    const report = await restoreBundle(options(cyrus));
    console.info(printed(report));
    expectEveryMessageAccountedFor(report);
    const refusedText = report.refused.map((r) => r.serverText);
    expect(refusedText).toContain('NO Message contains invalid header');
    const invalid = report.refused.find((r) => r.serverText === 'NO Message contains invalid header');
    expect(invalid?.nextStep).toContain('RFC 5322 section 2.2');
    expect(invalid?.nextStep).toContain(`tar -xzf ${bundle}`);
    const changes = report.altered.flatMap((a) => a.changes);
    expect(changes).toContainEqual(expect.stringMatching(/^\d+ 8-bit header bytes written as "X"$/));
    expect(changes).toContainEqual(
      'received date 1958-05-06T10:00:07.000Z kept as 1970-01-01T00:00:01.000Z (the server keeps no date before 1970)',
    );
    const onServer = await countOnServer(cyrus);
    const appended = report.moved;
    expect(Object.values(onServer).reduce((a, b) => a + b, 0)).toBe(appended);
    expect(onServer['Sent Items']).toBe(1);
    expect(onServer.Spam).toBe(1);
    expect(onServer).not.toHaveProperty('Sent');
    expect(onServer).not.toHaveProperty('Junk');

    // On another machine (no state file): what is there is found, altered or not; nothing appended again.
    for (let run = 0; run < 2; run++) {
      const again = await restoreBundle(options(cyrus));
      expectEveryMessageAccountedFor(again);
      expect(again.moved, 'appended again').toBe(0);
      expect(again.alreadyThere).toBe(appended);
      expect(again.altered.length).toBe(report.altered.length);
      expect(await countOnServer(cyrus)).toEqual(onServer);
    }
  });

  it('Courier: no SPECIAL-USE, so Sent and Junk go to INBOX.Sent and INBOX.Spam by name; the added final CRLF is "altered"', async (context) => {
    if (!courier) return context.skip(skipped.courier);
    const dry = await restoreBundle(options(courier, { dryRun: true }));
    expect(dry.folders.map((f) => [f.folder, f.target, f.match])).toEqual([
      ['INBOX', 'INBOX', 'inbox'],
      ['Junk', 'INBOX.Spam', 'provider name'],
      ['Sent', 'INBOX.Sent', 'provider name'],
    ]);
    expect(printed(dry)).toContain('INBOX.Spam (by name: the server marks no \\Junk)');

    const report = await restoreBundle(options(courier));
    console.info(printed(report));
    expectEveryMessageAccountedFor(report);
    const changes = report.altered.flatMap((a) => a.changes);
    expect(changes).toContain('a line end (CRLF) added after the last line');
    const onServer = await countOnServer(courier);
    expect(onServer).toMatchObject({ 'INBOX.Sent': 1, 'INBOX.Spam': 1 });
    const appended = report.moved;
    for (let run = 0; run < 2; run++) {
      const again = await restoreBundle(options(courier));
      expectEveryMessageAccountedFor(again);
      expect(again.moved, 'appended again').toBe(0);
      expect(again.alreadyThere).toBe(appended);
      expect(await countOnServer(courier)).toEqual(onServer);
    }
  });
});

describe('a folder name the server refuses', () => {
  // Cyrus refuses "%" in a name (a LIST wildcard, RFC 3501 section 6.3.8): NO Invalid mailbox name. restore took
  // the refusal for a lost connection, said "connection lost" and "reconnecting" seven times over two minutes, and
  // gave up on the whole bundle. Now the name is tried once with "%" and "*" (and ".") written as "_".
  it('Cyrus: a folder "50%" goes to "50_" at once, every message accounted for, and a rerun finds it', async (context) => {
    if (!cyrus) return context.skip(skipped.cyrus);
    const account = { ...cyrus, user: 'percent' };
    const source = unpackedWithFolderRenamed(bundle, join(work, 'percent-bundle'), 'Junk', '50%');
    const lines: string[] = [];
    const started = Date.now();
    const report = await restoreBundle(options(account, { source, log: (line) => lines.push(line) }));
    expect(lines.join('\n')).not.toMatch(/reconnecting/);
    expect(lines.join('\n')).toMatch(
      /folder "50%": the server refuses the name "50%" \(NO Invalid mailbox name\); using "50_"/,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    expectEveryMessageAccountedFor(report);
    expect(report.folders.find((f) => f.folder === '50%')).toMatchObject({ target: '50_', moved: 1 });
    const rerun = await restoreBundle(options(account, { source }));
    expect(rerun.moved).toBe(0);
    expect((await countOnServer(account))['50_']).toBe(1);
  });
});
