// A bundle in the hands of the programs a person reaches for on the bad day: GNU tar and bsdtar (Debian's tar and
// libarchive-tools) unpack it with exit 0 and the file times a maildir reader takes for received dates, for every
// date the archive can hold (1958, 1970, 2040, 2300); mbsync (isync) mirrors it from `serve` with every message,
// bare-CR mail included (it skipped those: "incomplete header; skipping", exit 0). Tests skip, naming the package,
// where a tool is missing (scripts/install-system-deps.sh installs them).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DovecotServer, startDovecot } from '../../cli/local/dovecot';
import { stageMaildir } from '../../cli/local/stage-maildir';
import type { BundleManifest } from '../../shared/bundle/manifest';
import { imapClientFor } from '../support/imap';
import { bundleOf } from '../support/memory-archive';
import { makeMessage } from '../support/messages';

const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

let work: string;
let bundle: string;
let manifest: BundleManifest;
let originals: Map<string, Buffer>;
const servers: DovecotServer[] = [];

const DATES = [
  '1958-05-06T10:00:07Z',
  '1970-01-01T00:00:00Z',
  '2024-03-01T09:00:00Z',
  '2040-01-01T12:00:00Z',
  '2300-01-01T00:00:00Z',
];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-bundle-clients-'));
  bundle = join(work, 'alice.tar.gz');
  const built = await bundleOf(
    [
      ...DATES.map((iso) => ({ raw: makeMessage({ subject: `received ${iso}` }), at: new Date(iso) })),
      {
        raw: makeMessage({ subject: 'bare cr import', eol: '\r' }),
        at: new Date('2024-03-02T09:00:00Z'),
        trace: false,
      },
      {
        raw: makeMessage({ subject: 'lf import', eol: '\n' }),
        at: new Date('2024-03-02T10:00:00Z'),
        trace: false,
      },
      {
        raw: makeMessage({ subject: 'sent by alice', from: 'alice@example.com', to: 'x@elsewhere.example' }),
        recipients: ['sent@journal.example.com'],
        at: new Date('2024-03-02T11:00:00Z'),
      },
      {
        raw: makeMessage({ subject: 'spam' }),
        at: new Date('2024-03-02T12:00:00Z'),
        verdicts: { spam: 'FAIL' },
      },
    ],
    bundle,
  );
  manifest = built.manifest;
  originals = built.originals;
}, 60_000);

afterAll(async () => {
  for (const server of servers) await server.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Every message file's mtime, in seconds, against the manifest's received date. */
function expectFileTimes(dir: string) {
  for (const m of manifest.messages) {
    const secs = Math.floor(statSync(join(dir, m.file)).mtimeMs / 1000);
    expect(new Date(secs * 1000).toISOString(), m.file).toBe(new Date(m.receivedAt).toISOString());
  }
}

describe('unpacking a bundle', () => {
  it('bsdtar: exit 0, not a word on stderr, every file time the received date', (context) => {
    if (!has('bsdtar'))
      return context.skip(
        'bsdtar is not installed (Debian: libarchive-tools; scripts/install-system-deps.sh bsdtar)',
      );
    const dir = join(work, 'bsdtar');
    mkdirSync(dir);
    const run = spawnSync('bsdtar', ['--no-same-owner', '-xzf', bundle, '-C', dir], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expectFileTimes(dir);
  });

  it('GNU tar: exit 0 and every file time the received date; --warning=no-timestamp leaves stderr empty', () => {
    const dir = join(work, 'gnutar');
    mkdirSync(dir);
    const quiet = spawnSync('tar', ['--warning=no-timestamp', '--no-same-owner', '-xzf', bundle, '-C', dir], {
      encoding: 'utf8',
    });
    expect(quiet.stderr).toBe('');
    expect(quiet.status).toBe(0);
    expectFileTimes(dir);
    // Plain tar -xzf: GNU tar itself notes any file time before 1970 or in the future (it does so for archives
    // it wrote itself); nothing else, and the exit status is 0.
    const plainDir = join(work, 'gnutar-plain');
    mkdirSync(plainDir);
    const plain = spawnSync('tar', ['--no-same-owner', '-xzf', bundle, '-C', plainDir], { encoding: 'utf8' });
    expect(plain.status).toBe(0);
    const notes = plain.stderr.split('\n').filter(Boolean);
    expect(
      notes.filter((l) => !/: (implausibly old time stamp|time stamp .* in the future)/.test(l)),
    ).toEqual([]);
    expect(notes).toHaveLength(3); // 1958, 2040, 2300
    expectFileTimes(plainDir);
  });

  it('Dovecot serving the unpacked tree gives every received date as INTERNALDATE', async () => {
    const served = join(work, 'served-gnutar');
    mkdirSync(served);
    execFileSync('tar', ['--warning=no-timestamp', '--no-same-owner', '-xzf', bundle, '-C', served]);
    const server = await startDovecot({
      maildir: join(served, 'Maildir'),
      workDir: join(work, 'dovecot-unpacked'),
    });
    servers.push(server);
    const client = imapClientFor(server);
    await client.connect();
    try {
      await client.mailboxOpen('INBOX', { readOnly: true });
      const dates: string[] = [];
      for await (const m of client.fetch('1:*', { internalDate: true }))
        dates.push(new Date(m.internalDate as Date).toISOString());
      for (const iso of DATES) expect(dates).toContain(new Date(iso).toISOString());
    } finally {
      await client.logout();
    }
  });
});

describe('mirroring a served bundle with mbsync', () => {
  it('every message arrives, the bare-CR one with CRLF lines; the bundle keeps its exact bytes', async (context) => {
    if (!has('mbsync'))
      return context.skip('mbsync is not installed (Debian: isync; scripts/install-system-deps.sh mbsync)');
    const stage = join(work, 'serve');
    mkdirSync(stage, { mode: 0o700 });
    const server = await startDovecot({
      maildir: await stageMaildir(bundle, stage),
      workDir: join(stage, 'dovecot'),
    });
    servers.push(server);
    const mirror = join(work, 'mirror');
    mkdirSync(mirror);
    const config = join(work, 'mbsyncrc');
    writeFileSync(
      config,
      `IMAPAccount served
Host ${server.host}
Port ${server.port}
User ${server.user}
Pass ${server.password}
SSLType None
AuthMechs LOGIN

IMAPStore served
Account served

MaildirStore mirror
Path ${mirror}/
Inbox ${mirror}/INBOX
SubFolders Verbatim

Channel all
Far :served:
Near :mirror:
Patterns *
Create Near
Sync Pull
SyncState *
`,
    );
    const run = spawnSync('mbsync', ['-c', config, '-a'], { encoding: 'utf8' });
    expect(run.stderr, 'mbsync says nothing about skipped messages').not.toMatch(/skipping/i);
    expect(run.status).toBe(0);
    const mirrored = new Map<string, Buffer[]>();
    for (const folder of readdirSync(mirror)) {
      const files = ['cur', 'new'].flatMap((sub) =>
        existsSync(join(mirror, folder, sub))
          ? readdirSync(join(mirror, folder, sub)).map((f) => join(mirror, folder, sub, f))
          : [],
      );
      mirrored.set(
        folder,
        files.map((f) => readFileSync(f)),
      );
    }
    // mbsync adds an X-TUID header and stores LF lines; compare the text with line ends as LF.
    const text = (bytes: Buffer) =>
      bytes
        .toString('latin1')
        .replace(/\r\n|\r/g, '\n')
        .replace(/^X-TUID: .*\n/m, '');
    const target: Record<string, string> = { INBOX: 'INBOX', Sent: 'Sent', Junk: 'Junk' };
    for (const folder of manifest.folders) {
      const expected = manifest.messages.filter((m) => m.folder === folder.name);
      const got = (mirrored.get(target[folder.name] ?? folder.name) ?? []).map(text);
      expect(got.length, `${folder.name}: mirrored`).toBe(expected.length);
      for (const m of expected)
        expect(got, `${folder.name} UID ${m.uid}`).toContain(text(originals.get(m.sha256) as Buffer));
    }
    // What mbsync read for the bare-CR message came with CRLF lines (it stores them as LF).
    const bareCr = manifest.messages.find((m) =>
      (originals.get(m.sha256) as Buffer).includes('bare cr import'),
    );
    expect(bareCr?.storage).toBe('as-is');
  });
});
