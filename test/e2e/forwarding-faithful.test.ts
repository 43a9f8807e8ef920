// The SES path end to end on the local stack with the messages that used to come out damaged: a bare-CR message
// and a malformed one whose header block holds a MIME boundary and a body line. The copy that reaches the SMTP
// sink is judged by forward_check.py (when python3 and the tool are there), and the ledger entry records what
// had to change beyond the rewrite; a body with a line over 998 octets is re-encoded, and that is recorded too.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningLocalStack, startLocalStack } from '../../cli/local/stack';
import { readObject } from '../../shared/archive/raw-object';
import { longestLine } from '../../shared/forwarding/long-lines';
import { exampleConfig } from '../support/config';
import { CORPORA_DIR } from '../support/corpora';
import { receiveAndArchive } from '../support/receive';

const TOOL = resolve(CORPORA_DIR, '../tools/forward_check.py');
const judge = spawnSync('python3', ['--version']).status === 0 && existsSync(TOOL);
let home: string;
let stack: RunningLocalStack;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mail-archiver-faithful-'));
  stack = await startLocalStack(exampleConfig(), { home, smtpPort: 0, sinkPort: 0 });
});
afterAll(async () => {
  await stack?.stop();
  rmSync(home, { recursive: true, force: true });
});

const sinkFiles = () =>
  readdirSync(stack.sinkDir as string)
    .filter((n) => n.endsWith('.eml'))
    .sort();

async function forward(raw: Buffer) {
  const before = new Set(sinkFiles());
  const notification = await receiveAndArchive(stack.archive, raw);
  const added = sinkFiles().filter((n) => !before.has(n));
  expect(added).toHaveLength(1);
  const stored = await readObject(stack.archive.store, {
    bucket: stack.archive.bucket,
    key: notification.receipt.action.objectKey,
  });
  return { stored, copy: readFileSync(join(stack.sinkDir as string, added[0] as string)) };
}

async function ledgerEntry(subject: string) {
  for await (const entry of stack.archive.index.listForwards('alice@example.com')) {
    const row = await stack.archive.index.getDelivery('alice@example.com', entry.messageKey);
    if (row?.subject === subject) return entry;
  }
  return undefined;
}

function forwardCheck(stored: Buffer, copy: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'judge-'));
  writeFileSync(join(dir, 'o'), stored);
  writeFileSync(join(dir, 'f'), copy);
  writeFileSync(join(dir, 'pairs.tsv'), `${join(dir, 'o')}\t${join(dir, 'f')}\n`);
  const run = spawnSync('python3', [TOOL, '--verified', 'example.com', join(dir, 'pairs.tsv')], {
    encoding: 'utf8',
  });
  rmSync(dir, { recursive: true, force: true });
  return run.stdout.trim();
}

describe('faithful SES copies on the local stack', () => {
  it('forwards a bare-CR message with its From rewritten and its body intact', async () => {
    const raw = Buffer.from(
      'From: Ann <ann@sender.example.org>\rTo: alice@example.com\rSubject: from a classic Mac\r\rline 1\rline 2\r',
    );
    const { stored, copy } = await forward(raw);
    const text = copy.toString('latin1');
    expect(text).toMatch(/^From: "Ann via example\.com" <forwarder@example\.com>/);
    expect(text).toMatch(/Reply-To: Ann <ann@sender\.example\.org>/);
    expect(text).toMatch(/Subject: from a classic Mac/);
    expect(text.replace(/\r\n|\r|\n/g, '\n')).toContain('\n\nline 1\nline 2\n');
    expect((await ledgerEntry('from a classic Mac'))?.changes).toBeUndefined();
    if (judge) expect(forwardCheck(stored, copy)).toMatch(/1 copies; SES would refuse 0 .*; 0 altered/);
  });

  it('carries header-block lines that are not fields, and records that on the ledger entry', async () => {
    const raw = Buffer.from(
      'From: Ann <ann@sender.example.org>\r\nTo: alice@example.com\r\nSubject: malformed\r\nContent-Type: multipart/mixed; boundary="b1"\r\n--b1\r\nstray body line\r\n\r\npart\r\n--b1--\r\n',
    );
    const { stored, copy } = await forward(raw);
    expect(copy.toString()).toContain('X-Mail-Archiver-Malformed-Line: --b1\r\n');
    expect(copy.toString()).toContain('X-Mail-Archiver-Malformed-Line: stray body line\r\n');
    const entry = await ledgerEntry('malformed');
    expect(entry).toMatchObject({ state: 'sent' });
    expect(entry?.changes).toEqual([
      expect.stringMatching(/^header item \d+ is not a field: carried in X-Mail-Archiver-Malformed-Line$/),
      expect.stringMatching(/^header item \d+ is not a field: carried in X-Mail-Archiver-Malformed-Line$/),
    ]);
    if (judge) expect(forwardCheck(stored, copy)).toMatch(/1 copies; SES would refuse 0 .*; 0 altered/);
  });

  it('re-encodes a body with a line over 998 octets so SES takes it, and records that on the ledger entry', async () => {
    const line = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');
    const raw = Buffer.from(
      `From: Ann <ann@sender.example.org>\r\nTo: alice@example.com\r\nSubject: one long line\r\n\r\n${line}\r\n`,
    );
    const { copy } = await forward(raw);
    expect(longestLine(copy)).toBeLessThanOrEqual(998);
    expect(copy.toString()).toContain('\r\nContent-Transfer-Encoding: quoted-printable\r\n');
    expect((await simpleParser(copy)).text).toBe(`${line}\n`);
    const entry = await ledgerEntry('one long line');
    expect(entry).toMatchObject({ state: 'sent' });
    expect(entry?.changes).toEqual([
      expect.stringMatching(
        /^line over 998 octets: the body of the message \(text\/plain; a line of 2289 octets\) was re-encoded as quoted-printable/,
      ),
    ]);
  });
});
