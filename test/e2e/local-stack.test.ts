// End to end on this machine: the local stack receives real SMTP mail, the CLI (a separate process) reads
// the index, a restart keeps the archive, and `ingest` imports a directory, a maildir and an mbox.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRunningStack } from '../../cli/local/running-stack';
import { freePort } from '../../cli/local/services';
import { type RunningLocalStack, startLocalStack } from '../../cli/local/stack';
import { readObject } from '../../shared/archive/raw-object';
import type { DeliveryRow } from '../../shared/index/schema';
import { runCli, spawnCli } from '../support/cli';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';

const config = exampleConfig();
let home: string;
let stack: RunningLocalStack | undefined;

const cli = (args: string[]) => runCli(args, { home });

async function listJson(mailbox: string, ...args: string[]): Promise<DeliveryRow[]> {
  const { stdout, stderr, code } = await cli(['list', mailbox, '--json', ...args]);
  expect(code, stderr).toBe(0);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as DeliveryRow);
}

async function readStored(row: DeliveryRow | undefined): Promise<string> {
  if (!row || !stack) throw new Error('no row or no stack');
  return (await readObject(stack.archive.store, row.location)).toString();
}

function smtp() {
  if (!stack) throw new Error('stack not running');
  return createTransport({ host: stack.smtp.host, port: stack.smtp.port, secure: false, ignoreTLS: true });
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mail-archiver-e2e-'));
  stack = await startLocalStack(config, { home, smtpPort: 0 });
});

afterAll(async () => {
  await stack?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('the local stack over SMTP', () => {
  it('archives one message for several recipients, including a Bcc recipient, visible through the CLI', async () => {
    const info = await smtp().sendMail({
      from: 'Ann Sender <ann@sender.example.org>',
      to: 'alice@example.com',
      cc: 'Bob <bob+lists@example.com>',
      bcc: 'bob@example.com',
      subject: 'Quarterly numbers',
      text: 'See you soon.\n',
    });
    expect(info.accepted).toHaveLength(3);
    const alice = await listJson('alice@example.com', '--subject', 'quarterly');
    expect(alice).toHaveLength(1);
    expect(alice[0]).toMatchObject({ folder: 'INBOX', subject: 'Quarterly numbers', uid: 1 });
    // bob+lists and the Bcc copy are one delivery to bob's mailbox.
    const bob = await listJson('bob@example.com');
    expect(bob).toHaveLength(1);
    expect(bob[0]?.envelopeRecipients.sort()).toEqual(['bob+lists@example.com', 'bob@example.com']);
    // Local verdicts are honest: nothing was checked.
    expect(bob[0]?.verdicts).toMatchObject({
      spam: 'GRAY',
      virus: 'GRAY',
      spf: 'GRAY',
      dkim: 'GRAY',
      dmarc: 'GRAY',
    });
  });

  it("files a journal copy into the sender's Sent folder", async () => {
    await smtp().sendMail({
      envelope: { from: 'alice@example.com', to: ['sent@journal.example.com'] },
      from: 'Alice <alice@example.com>',
      to: 'friend@elsewhere.example.net',
      subject: 'Sent by alice',
      text: 'hello\n',
    });
    const sent = await listJson('alice@example.com', '--folder', 'Sent');
    expect(sent.map((r) => [r.subject, r.flags])).toEqual([['Sent by alice', ['\\Seen']]]);
  });

  it('rejects an unknown recipient with 550 and a foreign domain with 550, archiving nothing for them', async () => {
    await expect(
      smtp().sendMail({ from: 'a@sender.example.org', to: 'nobody@example.com', subject: 'x', text: 'x' }),
    ).rejects.toMatchObject({ responseCode: 550 });
    await expect(
      smtp().sendMail({ from: 'a@sender.example.org', to: 'someone@gmail.com', subject: 'x', text: 'x' }),
    ).rejects.toMatchObject({ responseCode: 550 });
  });

  it('rejects a message over 40 MB with 552', async () => {
    const big = Buffer.alloc(41 * 1024 * 1024, 'a')
      .toString('latin1')
      .replace(/(.{998})/g, '$1\r\n');
    await expect(
      smtp().sendMail({
        from: 'a@sender.example.org',
        to: 'alice@example.com',
        subject: 'too big',
        text: big,
      }),
    ).rejects.toMatchObject({ responseCode: 552 });
    expect(await listJson('alice@example.com', '--subject', 'too big')).toEqual([]);
  });

  it('keeps the archive across a restart', async () => {
    await stack?.stop();
    stack = undefined;
    const stopped = await cli(['status']);
    expect(stopped.stdout).toMatch(/not running/);
    stack = await startLocalStack(config, { home, smtpPort: 0 });
    const alice = await listJson('alice@example.com');
    expect(alice.map((r) => r.subject).sort()).toEqual(['Quarterly numbers', 'Sent by alice']);
    const status = await cli(['status']);
    expect(status.stdout).toMatch(/local stack: running/);
    expect(status.stdout).toMatch(/alice@example\.com\s+INBOX\s+1/);
    expect(status.stdout).toMatch(/alice@example\.com\s+Sent\s+1/);
    // The data directory's S3 credentials stay in its 0600 stack file: status output lands in logs and bug reports.
    const secret = readRunningStack(home)?.endpoints.credentials?.secretAccessKey;
    expect(secret).toBeTruthy();
    const json = await cli(['status', '--json']);
    expect(JSON.parse(json.stdout.trim().split('\n')[0] ?? '').localStack.endpoints.s3).toMatch(/^http/);
    expect(json.stdout).not.toContain(secret);
  }, 180_000); // several CLI processes (and, for the restart, a DynamoDB Local start) one after another
});

describe('mail-archiver import (alias ingest)', () => {
  it('imports a directory of .eml files with exact counts, and reports duplicates on a second run', async () => {
    const dir = join(home, 'import-eml');
    mkdirSync(join(dir, 'nested'), { recursive: true });
    for (let i = 0; i < 3; i++)
      writeFileSync(join(dir, `m${i}.eml`), makeMessage({ subject: `eml ${i}`, to: 'bob@example.com' }));
    writeFileSync(
      join(dir, 'nested', 'm3.eml'),
      makeMessage({ subject: 'eml 3', to: 'Bob <bob@example.com>' }),
    );
    writeFileSync(
      join(dir, 'stranger.eml'),
      makeMessage({ subject: 'eml stranger', to: 'carol@elsewhere.example' }),
    );
    writeFileSync(join(dir, 'notes.txt'), 'TODO: call Bob\nRemember: buy milk\n');
    const first = await cli(['import', dir]);
    expect(first.stdout).toMatch(
      /archived 4, already present 0, failed 1, skipped as not mail 1 \(\S*notes\.txt\)/,
    );
    expect(first.stdout).toMatch(/stranger\.eml: no To\/Cc address is a configured mailbox/);
    expect(first.code).toBe(1);
    const second = await cli(['ingest', dir, '--to', 'bob@example.com']);
    expect(second.stdout).toMatch(/archived 1, already present 4, failed 0/);
    expect(second.code).toBe(0);
    const rows = await listJson('bob@example.com', '--subject', 'eml');
    expect(rows).toHaveLength(5);
  });

  it('imports a maildir, filing its Sent folder as sent mail; the Date wins over the file time', async () => {
    const maildir = join(home, 'import-maildir');
    for (const sub of ['cur', 'new', 'tmp', '.Sent/cur', '.Sent/new', '.Sent/tmp'])
      mkdirSync(join(maildir, sub), { recursive: true });
    writeFileSync(
      join(maildir, 'cur', '1.a:2,S'),
      makeMessage({ subject: 'maildir inbox 1', to: 'alice@example.com' }),
    );
    writeFileSync(
      join(maildir, 'new', '2.b'),
      makeMessage({ subject: 'maildir inbox 2', to: 'alice@example.com' }),
    );
    const sentPath = join(maildir, '.Sent', 'cur', '3.c:2,S');
    writeFileSync(
      sentPath,
      makeMessage({ subject: 'maildir sent', from: 'alice@example.com', to: 'bob@example.com' }),
    );
    const when = new Date('2020-05-06T07:08:09Z');
    utimesSync(sentPath, when, when);
    const result = await cli(['import', maildir]);
    expect(result.stdout).toMatch(/archived 3, already present 0, failed 0/);
    const sent = await listJson('alice@example.com', '--folder', 'Sent', '--subject', 'maildir');
    // Received time order (no envelope line, no Received field here): a plausible Date before the file time.
    expect(sent.map((r) => [r.subject, r.receivedAt, r.receivedAtSource])).toEqual([
      ['maildir sent', '2026-09-01T10:00:00.000Z', 'date'],
    ]);
    expect(
      await listJson('alice@example.com', '--folder', 'INBOX', '--subject', 'maildir inbox'),
    ).toHaveLength(2);
  });

  it('imports mboxrd and mboxo files, undoing the From_ escaping byte for byte', async () => {
    const body = 'First line\n>From the archive, escaped\n>>From twice\n';
    const mboxrd = [
      'From alice@example.com Tue Jan  1 10:00:00 2002',
      makeMessage({
        subject: 'mbox one',
        to: 'alice@example.com',
        eol: '\n',
        body: 'First line\nFrom the archive, escaped\n>From twice\n',
      })
        .toString()
        .replace('\nFrom the', '\n>From the')
        .replace('\n>From twice', '\n>>From twice'),
      'From bob@example.com Wed Jan  2 10:00:00 2002',
      makeMessage({ subject: 'mbox two', to: 'alice@example.com', eol: '\n' }).toString(),
      '',
    ].join('\n');
    expect(mboxrd).toContain(body);
    const path = join(home, 'archive.mbox');
    writeFileSync(path, mboxrd);
    const result = await cli(['ingest', path]);
    expect(result.stdout).toMatch(/archived 2, already present 0, failed 0/);
    const rows = await listJson('alice@example.com', '--subject', 'mbox');
    expect(rows.map((r) => [r.subject, r.receivedAt]).sort()).toEqual([
      ['mbox one', '2002-01-01T10:00:00.000Z'],
      ['mbox two', '2002-01-02T10:00:00.000Z'],
    ]);
    // The stored bytes are the message as it was before mbox escaping.
    const one = rows.find((r) => r.subject === 'mbox one');
    const stored = await readStored(one);
    expect(stored).toContain('First line\nFrom the archive, escaped\n>From twice\n');
    expect(stored.endsWith('>From twice\n')).toBe(true);

    // mboxo: only `From ` lines were escaped.
    const mboxo = [
      'From carol@elsewhere.example Thu Jan  3 10:00:00 2002',
      makeMessage({
        subject: 'mboxo one',
        to: 'alice@example.com',
        eol: '\n',
        body: 'x\n>From here\n',
      }).toString(),
      '',
    ].join('\n');
    const mboxoPath = join(home, 'old.mbox');
    writeFileSync(mboxoPath, mboxo);
    expect((await cli(['ingest', mboxoPath])).stdout).toMatch(/archived 1, already present 0, failed 0/);
    const [old] = await listJson('alice@example.com', '--subject', 'mboxo one');
    expect(await readStored(old)).toMatch(/\nx\nFrom here\n$/);
  });

  it('fails loudly and names the problem for a missing path and a bad config', async () => {
    const missing = await cli(['ingest', join(home, 'does-not-exist')]);
    expect(missing.stderr).toMatch(/does-not-exist: no such file or directory; nothing was imported/);
    expect(missing.code).toBe(1);
    const badConfig = join(home, 'bad.json');
    writeFileSync(badConfig, JSON.stringify({ domains: ['example.com'], mailboxes: {}, alarmEmail: 'x' }));
    const bad = await cli(['--config', badConfig, 'status']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/mailboxes: define at least one mailbox/);
    expect(bad.stderr).toMatch(/alarmEmail: must be an email address/);
  });
});

describe('mail-archiver export, verify and serve', () => {
  it('exports a mailbox, checks the download, verifies it, exports incrementally and serves it over IMAP', async () => {
    const out = join(home, 'alice-full.tar.gz');
    const full = await cli(['export', 'alice@example.com', '--out', out]);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toMatch(/export \S+ of alice@example\.com: \d+ messages/);
    expect(full.stdout).toMatch(/sha256 [0-9a-f]{64} \(checked\)/);
    const verified = await cli(['verify', out]);
    expect(verified.stdout).toMatch(/OK, \d+ messages match the manifest and the maildir rules/);
    const split = await cli([
      'export',
      'alice@example.com',
      '--parts',
      '2',
      '--out',
      join(home, 'alice-split.tar.gz'),
    ]);
    expect(split.stdout, split.stderr).toMatch(/built in 2 parts, joined/);
    expect((await cli(['verify', join(home, 'alice-split.tar.gz')])).stdout).toMatch(/OK/);

    await smtp().sendMail({
      from: 'a@sender.example.org',
      to: 'alice@example.com',
      subject: 'after the export',
      text: 'x\n',
    });
    const inc = await cli([
      'export',
      'alice@example.com',
      '--incremental',
      '--out',
      join(home, 'alice-inc.tar.gz'),
    ]);
    expect(inc.stdout).toMatch(/incremental export \S+ of alice@example\.com: 1 messages/);

    const port = await freePort();
    const serve = spawnCli(['serve', out, '--port', String(port)], { home });
    try {
      await serve.until(/password\s+\S+/);
      const printed = serve.output();
      expect(printed).toMatch(new RegExp(`port ${port}`));
      const password = printed.match(/password\s+(\S+)/)?.[1] ?? '';
      const user = printed.match(/user\s+(\S+)/)?.[1] ?? '';
      const client = new ImapFlow({
        host: '127.0.0.1',
        port,
        secure: false,
        auth: { user, pass: password },
        logger: false,
      });
      await client.connect();
      const status = await client.status('INBOX', { messages: true });
      await client.logout();
      const rows = await listJson('alice@example.com', '--folder', 'INBOX');
      expect(status ? status.messages : undefined).toBe(rows.length - 1);
    } finally {
      serve.child.kill('SIGINT');
      await serve.exited;
    }
  });
});

const canTrace = spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', 'true']).status === 0;
if (!canTrace)
  console.warn(
    'SKIPPED: the file-mode trace of an export: install Debian package "strace" (scripts/install-system-deps.sh)',
  );

describe('an encrypted export built in parts', () => {
  // The plain parts hold the mail in clear until they are joined and encrypted; they exist only for the
  // length of the run, so the test reads the mode each file is created with from the open calls themselves.
  it.skipIf(!canTrace)('creates its plain parts and the joined file readable by the user alone', async () => {
    const recipient = await identityToRecipient(await generateIdentity());
    const out = join(home, 'alice-parts.tar.gz.age');
    const trace = join(home, 'export.strace');
    const run = await runCli(
      ['export', 'alice@example.com', '--parts', '2', '--encrypt-to', recipient, '--out', out],
      {
        home,
        wrapper: [
          'sh',
          '-c',
          'umask 022 && exec "$@"',
          'sh',
          'strace',
          '-f',
          '-qq',
          '-e',
          'trace=openat,creat',
          '-o',
          trace,
        ],
      },
    );
    expect(run.code, run.stderr).toBe(0);
    for (const kept of run.stdout.matchAll(/^ {2}(\S+\.age) /gm))
      expect(
        readFileSync(kept[1] ?? '')
          .subarray(0, 21)
          .toString(),
        `${kept[1]} is not age-encrypted`,
      ).toBe('age-encryption.org/v1');
    expect(run.stdout).toMatch(/built in 2 parts, joined/);
    const created = readFileSync(trace, 'utf8')
      .split('\n')
      .filter((line) => line.includes(home) && line.includes('O_CREAT') && line.includes('alice-parts'));
    const modes = created.map(
      // The mode follows the flags; a call another thread interrupts ends `<unfinished ...>` instead of `) = fd`.
      (line) => `${line.match(/"([^"]+)"/)?.[1]} ${line.match(/O_CREAT[A-Z_|]*, (0\d+)/)?.[1]}`,
    );
    expect(modes.filter((m) => /part-\d-of-2/.test(m)).length, modes.join('\n')).toBe(2);
    expect(
      modes.filter((m) => /\.partial-\d+ /.test(m) && !/part-\d-of-2/.test(m)).length,
      modes.join('\n'),
    ).toBe(1);
    for (const mode of modes) expect(mode).toMatch(/ 0600$/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });
});
