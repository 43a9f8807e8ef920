// A full disk under a replica, at every point of a sync: a small tmpfs (mounted as root; the test skips, saying
// why, where it cannot mount one) is grown page by page, and a first sync runs into it at each size. Each run that
// fails must fail with ENOSPC and leave nothing half-written counted as done: every file a uidlist names is whole,
// every journaled record is in its uidlist, the progress file moves only past what the journals hold. Then the
// disk is freed and the next run completes: the tree equals a replica synced on a roomy disk, with nothing of the
// failed run left behind (no temporary file, no lock).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryWriteOnceStore } from '../../../shared/adapters/dir-write-once-store';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { fileBaseName } from '../../../shared/bundle/layout';
import { LOG_START } from '../../../shared/delivery-log/layout';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import type { DeliveryRecord } from '../../../shared/delivery-log/record';
import { readJournalLines, readProgress, replicaPaths } from '../../../shared/replica/state';
import { syncReplica } from '../../../shared/replica/sync';

const BUCKET = 'raw';
const PAGE = 4096;
const root = mkdtempSync(join(tmpdir(), 'mail-archiver-full-disk-'));
const disk = join(root, 'disk');
mkdirSync(disk);
const mountProblem = (() => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${PAGE}`, 'tmpfs', disk], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return String((error as { stderr?: Buffer }).stderr ?? error).trim() || String(error);
  }
})();
const remount = (bytes: number) => execFileSync('mount', ['-o', `remount,size=${bytes}`, disk]);

const store = new FileRawMailStore(join(root, 's3'));
let clock = Date.parse('2026-01-01T00:00:00Z');
const log = new DeliveryLog(store, BUCKET, {
  now: () => {
    clock += 1000;
    return new Date(clock);
  },
});
const now = () => new Date('2026-02-01T00:00:00Z');
const source = { log, store, target: 'local' };

async function message(
  uid: number,
  size: number,
  mailboxes: string[],
  folder = 'INBOX',
): Promise<DeliveryRecord[]> {
  const text = `Subject: ${uid}\n\n${'x'.repeat(size)}\n`;
  const bytes = Buffer.from(text);
  const key = `incoming/m${uid}`;
  await store.write({ bucket: BUCKET, key }, bytes);
  const receivedAt = new Date(Date.parse('2025-06-01T00:00:00Z') + uid * 60_000).toISOString();
  const messageKey = `k${uid}`;
  const file = fileBaseName({
    size: bytes.length,
    lineEndings: { crlf: 0, lf: text.split('\n').length - 1, cr: 0, nul: false },
    receivedAt,
    messageKey,
  });
  return mailboxes.map((mailbox) => ({
    v: 1,
    mailbox,
    folder,
    uidValidity: 1700000000,
    uid,
    flags: uid % 2 ? ['\\Seen'] : [],
    keywords: uid % 3 ? [] : ['$Label1'],
    objectKey: key,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    storage: 'as-is',
    receivedAt,
    file,
    messageKey,
  }));
}

/** Every file under `dir` (relative path -> bytes), the replica's state directory left out. */
function tree(dir: string, state = false): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (!state && name === '.mail-archiver-sync') continue;
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

/** Temporary files, partial downloads and locks under `dir`. */
const leftovers = (dir: string) =>
  [...tree(dir, true).keys()].filter((p) => /\.tmp-|\/tmp\/|\.lock$|(^|\/)lock$|\.partial$/.test(p));

/** What a failed run left must count nothing half-written as done. */
async function expectNothingHalfWritten(dir: string, reference: Map<string, Buffer>) {
  const files = tree(dir);
  const listed = new Set<string>();
  for (const [path, bytes] of files) {
    if (!path.endsWith('/dovecot-uidlist')) continue;
    const folder = path.slice(0, -'dovecot-uidlist'.length);
    for (const line of bytes.toString('utf8').split('\n').slice(1).filter(Boolean)) {
      const base = line.slice(line.indexOf(':') + 1);
      listed.add(`${folder}${base}`);
      const inCur = [...files.keys()].find((p) => p.startsWith(`${folder}cur/${base}:2,`));
      expect(inCur, `${folder} names ${base}`).toBeDefined();
      expect(files.get(inCur as string)).toEqual(reference.get(inCur as string));
    }
  }
  const paths = replicaPaths(dir);
  const journaled: DeliveryRecord[] = [];
  for (const name of readdirSync(paths.journals))
    for await (const { record } of readJournalLines(join(paths.journals, name))) journaled.push(record);
  for (const record of journaled) {
    const folder = `${record.mailbox}/Maildir/${record.folder === 'INBOX' ? '' : `.${record.folder}/`}`;
    expect(listed.has(`${folder}${record.file}`), `journaled ${record.mailbox} ${record.uid}`).toBe(true);
  }
  // The progress moves only past what the journals hold: every record of a log object the cursor is past.
  const progress = await readProgress(paths.progress);
  const cursor = progress?.cursor ?? LOG_START;
  const past = logObjects.filter(({ key }) => key <= cursor.after || cursor.seen.includes(key));
  const held = new Set(journaled.map((r) => `${r.mailbox} ${r.folder} ${r.uid}`));
  for (const record of past.flatMap((o) => o.records))
    expect(
      held.has(`${record.mailbox} ${record.folder} ${record.uid}`),
      `${record.mailbox} ${record.uid}`,
    ).toBe(true);
}

/** The log objects written, with their records. */
const logObjects: { key: string; records: DeliveryRecord[] }[] = [];
let reference: Map<string, Buffer>;
let referenceSize = 0;

beforeAll(async () => {
  if (mountProblem) return;
  // Two log objects; mail to one mailbox and to both, in two folders, sizes that end inside a page.
  const first: DeliveryRecord[] = [];
  for (let uid = 1; uid <= 6; uid++)
    first.push(
      ...(await message(
        uid,
        1500 + uid * 1777,
        uid % 2 ? ['alice@example.com'] : ['alice@example.com', 'bob@example.com'],
      )),
    );
  const second: DeliveryRecord[] = [];
  for (let uid = 7; uid <= 9; uid++)
    second.push(...(await message(uid, 900 * uid, ['bob@example.com'], 'Sent')));
  logObjects.push({ key: (await log.append('ingest', first)) as string, records: first });
  logObjects.push({ key: (await log.append('import', second)) as string, records: second });
  const dir = join(root, 'reference');
  expect((await syncReplica(source, { dir, now })).ok).toBe(true);
  reference = tree(dir);
  for (const bytes of tree(dir, true).values())
    referenceSize += Math.ceil(Math.max(bytes.length, 1) / PAGE) * PAGE;
});

afterAll(() => {
  if (!mountProblem) execFileSync('umount', ['-l', disk]);
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(mountProblem !== undefined)('sync on a full disk', () => {
  if (mountProblem)
    console.warn(`skipped: a small tmpfs cannot be mounted here (${mountProblem}); it needs root`);

  // In one step, and in steps of two records: a step's downloads then run while the step before commits, and a
  // failure of either leaves nothing of the other behind.
  it.each([
    ['in one step', 1000],
    ['in steps of two records', 2],
  ])(
    'fails with ENOSPC at every point, counts nothing half-written, and the next run completes (%s)',
    async (_how, stepRecords) => {
      let failed = 0;
      let sizes = 0;
      for (let size = PAGE; size <= referenceSize + 4 * PAGE; size += PAGE) {
        sizes += 1;
        const dir = join(disk, 'replica');
        rmSync(dir, { recursive: true, force: true });
        remount(size);
        let error: unknown;
        await syncReplica(source, { dir, now, stepRecords }).catch((e) => {
          error = e;
        });
        if (error !== undefined) {
          failed += 1;
          expect((error as { code?: string }).code, `${size} bytes: ${String(error)}`).toBe('ENOSPC');
          await expectNothingHalfWritten(dir, reference);
          // And leaves nothing behind: no temporary file (another process would never reuse its name), no lock.
          expect(leftovers(dir), `${size} bytes`).toEqual([]);
        }
        remount(64 << 20);
        const next = await syncReplica(source, { dir, now, stepRecords });
        expect(next.problems, `${size} bytes`).toEqual([]);
        expect(tree(dir), `${size} bytes`).toEqual(reference);
        expect(leftovers(dir), `${size} bytes`).toEqual([]);
      }
      console.log(`full disk: ${failed} of ${sizes} sizes failed with ENOSPC`);
      expect(failed).toBeGreaterThan(10);
    },
    120_000,
  );

  it("a log file that does not fit leaves no partial file behind (the replica's copy of the transparency log)", async () => {
    // tmpfs refuses to shrink below what it holds: the first test's replica goes first.
    rmSync(join(disk, 'replica'), { recursive: true, force: true });
    const dir = join(disk, 'log-copy');
    rmSync(dir, { recursive: true, force: true });
    remount(8 * PAGE);
    try {
      const copy = new DirectoryWriteOnceStore(dir);
      await copy.putOnce('key.pub', Buffer.from('origin+01234567+AAAA\n'));
      let error: unknown;
      await copy.putOnce('tile/entries/000', Buffer.alloc(64 * PAGE, 7)).catch((e) => {
        error = e;
      });
      expect((error as { code?: string }).code).toBe('ENOSPC');
      expect(leftovers(dir)).toEqual([]);
      expect(await copy.get('tile/entries/000')).toBeUndefined();
      // With room again, the same file is written whole.
      remount(64 << 20);
      expect(await copy.putOnce('tile/entries/000', Buffer.alloc(64 * PAGE, 7))).toBe('created');
      expect(leftovers(dir)).toEqual([]);
    } finally {
      remount(64 << 20);
    }
  });
});
