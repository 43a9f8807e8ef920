// The replica's bad-input cases over a directory store (no services): a damaged progress file is named, kept aside
// and rebuilt from the tree and the log; a log line that does not parse is reported and the others applied; bytes
// that do not match their record are refused and tried again; a UID the replica holds under another file stops
// the run and nothing is lost.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { openBundle } from '../../../shared/bundle/source';
import { verifyBundle } from '../../../shared/bundle/verify';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import type { DeliveryRecord } from '../../../shared/delivery-log/record';
import { ReplicaConflictError } from '../../../shared/replica/errors';
import { syncReplica } from '../../../shared/replica/sync';
import { storedDelivery } from '../../support/delivery-records';

const BUCKET = 'raw';
let root: string;
let store: FileRawMailStore;
let log: DeliveryLog;
let clock: number;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mail-archiver-replica-'));
  store = new FileRawMailStore(join(root, 's3'));
  clock = Date.parse('2026-01-01T00:00:00Z');
  log = new DeliveryLog(store, BUCKET, {
    now: () => {
      clock += 1000;
      return new Date(clock);
    },
  });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

async function message(uid: number, text = `Subject: ${uid}\n\nbody ${uid}\n`): Promise<DeliveryRecord> {
  return storedDelivery(store, BUCKET, uid, text, `incoming/m${uid}-${Math.random().toString(36).slice(2)}`);
}

const source = () => ({ log, store, target: 'local' });
/** The last successful sync progress.json records (what status and doctor show). */
const lastSuccess = (dir: string) =>
  (
    JSON.parse(readFileSync(join(dir, '.mail-archiver-sync', 'progress.json'), 'utf8')) as {
      lastSuccess?: object;
    }
  ).lastSuccess;
const cur = (dir: string) => readdirSync(join(dir, 'alice@example.com', 'Maildir', 'cur')).sort();
/** A sync of `dir` whose store records the key of every object it reads. */
async function syncCountingReads(dir: string, options: { repair?: boolean } = {}) {
  const reads: string[] = [];
  const counting = Object.create(store, {
    read: {
      value: (location: { key: string }) => {
        reads.push(location.key);
        return store.read(location as never);
      },
    },
  });
  const report = await syncReplica(
    { log: new DeliveryLog(counting, BUCKET), store: counting, target: 'local' },
    { dir, ...options },
  );
  return { reads, report };
}

describe('sync bad input', () => {
  it('rebuilds a damaged progress file from the tree and the log, keeping the damaged one aside', async () => {
    const dir = join(root, 'replica');
    await log.append('ingest', [await message(1), await message(2)]);
    expect((await syncReplica(source(), { dir })).added).toBe(2);
    const before = cur(dir);
    writeFileSync(join(dir, '.mail-archiver-sync', 'progress.json'), '{"v":1, "cursor": tru');
    const notices: string[] = [];
    const report = await syncReplica(source(), { dir, onNotice: (n) => notices.push(n.message) });
    // Told, and repaired: the replica the run leaves is whole and current, so the run succeeded.
    expect(report).toMatchObject({ ok: true, problems: [] });
    expect(notices.join('\n')).toMatch(
      /progress\.json is damaged .*kept in .*damaged-.*rebuilt from the tree and the log/,
    );
    expect(report.notices.map((n) => n.kind)).toEqual(['progress-rebuilt']);
    // status and doctor read the last successful sync from the rebuilt progress file: this run.
    expect(lastSuccess(dir)).toMatchObject({ ok: true, endedAt: report.endedAt });
    expect(cur(dir)).toEqual(before);
    const aside = readdirSync(join(dir, '.mail-archiver-sync')).find((n) =>
      n.startsWith('damaged-'),
    ) as string;
    expect(readFileSync(join(dir, '.mail-archiver-sync', aside, 'progress.json'), 'utf8')).toContain('tru');
    const next = await syncReplica(source(), { dir });
    expect(next).toMatchObject({ ok: true, added: 0, logObjects: 0 });
  });

  it('rebuilds a damaged progress file without fetching again what the tree holds: counted present, not new', async () => {
    const dir = join(root, 'replica');
    const records = [await message(1), await message(2), await message(3)];
    await log.append('ingest', records);
    expect((await syncReplica(source(), { dir })).added).toBe(3);
    const folder = join(dir, 'alice@example.com', 'Maildir', 'cur');
    const before = new Map(cur(dir).map((name) => [name, readFileSync(join(folder, name))]));
    writeFileSync(join(dir, '.mail-archiver-sync', 'progress.json'), '{"v":1, "cursor": tru');
    // One file of the tree no longer holds its message's bytes: that one is fetched again.
    const damaged = cur(dir).find((name) => name.includes(records[1]?.messageKey as string)) as string;
    writeFileSync(join(folder, damaged), 'not the message\n');
    const { reads, report } = await syncCountingReads(dir);
    expect(report.notices.map((n) => n.kind)).toEqual(['progress-rebuilt']);
    // Downloaded again under its name: restored, not a new message.
    expect(report).toMatchObject({ ok: true, problems: [], added: 0, restored: 1, present: 2 });
    expect(reads.filter((key) => key.startsWith('incoming/'))).toEqual([records[1]?.objectKey]);
    expect(new Map(cur(dir).map((name) => [name, readFileSync(join(folder, name))]))).toEqual(before);
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, added: 0, logObjects: 0 });
  });

  it('names a damaged journal when a run first reads it, keeps it aside and rebuilds, fetching nothing the tree holds', async () => {
    const dir = join(root, 'replica');
    await log.append('ingest', [await message(1), await message(2)]);
    await syncReplica(source(), { dir });
    const journal = join(dir, '.mail-archiver-sync', 'mailboxes', 'alice%40example.com.jsonl');
    writeFileSync(journal, readFileSync(journal, 'utf8').replace('"uid":1,', '"uid":"one",'));
    // A run with nothing new reads no journal.
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, added: 0 });
    await log.append('ingest', [await message(3)]);
    const report = await syncReplica(source(), { dir });
    expect(report.notices.map((n) => n.message).join('\n')).toMatch(
      /alice%40example\.com\.jsonl line 1 is damaged .*kept in .*damaged-.*rebuilt from the tree and the log/,
    );
    expect(report).toMatchObject({ ok: true, problems: [], added: 1, present: 2 });
    expect(lastSuccess(dir)).toMatchObject({ ok: true, endedAt: report.endedAt, added: 1 });
    expect(cur(dir)).toHaveLength(3);
    expect(readFileSync(journal, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, added: 0, logObjects: 0 });
  });

  it.each([
    ['removed', (path: string) => rmSync(path)],
    ['cut short mid-line', (path: string) => writeFileSync(path, readFileSync(path).subarray(0, -40))],
    ['emptied', (path: string) => writeFileSync(path, '')],
  ])(
    'names a journal %s after its records were applied, rebuilds it, and keeps every UID in the uidlist and the manifest',
    async (_how, damage) => {
      const dir = join(root, 'replica');
      await log.append('ingest', [await message(1), await message(2)]);
      await syncReplica(source(), { dir });
      const mailbox = join(dir, 'alice@example.com');
      const journal = join(dir, '.mail-archiver-sync', 'mailboxes', 'alice%40example.com.jsonl');
      damage(journal);
      await log.append('ingest', [await message(3)]);
      const { reads, report } = await syncCountingReads(dir);
      expect(report.notices.map((n) => n.message).join('\n')).toMatch(
        /alice%40example\.com\.jsonl .*kept in .*damaged-.*rebuilt from the tree and the log/,
      );
      expect(report).toMatchObject({ added: 1, present: 2 });
      expect(reads.filter((key) => key.startsWith('incoming/'))).toHaveLength(1);
      const uidlist = readFileSync(join(mailbox, 'Maildir', 'dovecot-uidlist'), 'utf8');
      expect(
        uidlist
          .split('\n')
          .slice(1)
          .filter((line) => /^\d+ /.test(line))
          .map((line) => line.split(' ')[0]),
      ).toEqual(['1', '2', '3']);
      const manifest = JSON.parse(readFileSync(join(mailbox, 'manifest.json'), 'utf8')) as {
        messages: { uid: number }[];
      };
      expect(manifest.messages.map((m) => m.uid).sort()).toEqual([1, 2, 3]);
      expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, added: 0, logObjects: 0 });
    },
  );

  it('renames files whose keyword letters a late record moves, also one a client renamed, as a replica synced in one go', async () => {
    const dir = join(root, 'replica');
    const now = () => new Date('2026-02-01T00:00:00Z');
    const two = { ...(await message(2)), keywords: ['$Later'] };
    const three = { ...(await message(3)), keywords: ['$Later'] };
    const one = { ...(await message(1)), keywords: ['$Earlier'] };
    const four = { ...(await message(4)), keywords: ['$Other'] };
    await log.append('ingest', [two, three]);
    await syncReplica(source(), { dir, now });
    expect(cur(dir).map((name) => name.slice(name.indexOf(':')))).toEqual([':2,a', ':2,a']);
    // A client set \Seen on UID 3 through Dovecot, which renamed its file.
    const folder = join(dir, 'alice@example.com', 'Maildir', 'cur');
    const seen = cur(dir).find((name) => name.includes(three.messageKey)) as string;
    renameSync(join(folder, seen), join(folder, seen.replace(':2,a', ':2,Sa')));
    // UID 1 comes late with a keyword of its own: it takes letter a, $Later becomes b.
    await log.append('ingest', [one, four]);
    expect(await syncReplica(source(), { dir, now })).toMatchObject({ ok: true, added: 2 });
    const whole = join(root, 'whole');
    await syncReplica(source(), { dir: whole, now });
    const tree = (d: string) =>
      readdirSync(d, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && !join(e.parentPath, e.name).includes('.mail-archiver-sync'))
        .map((e) => [
          join(e.parentPath, e.name).slice(d.length),
          readFileSync(join(e.parentPath, e.name), 'utf8'),
        ])
        .sort();
    expect(tree(dir)).toEqual(tree(whole));
    expect(cur(dir).map((name) => name.slice(name.indexOf(':')))).toEqual([':2,a', ':2,b', ':2,b', ':2,c']);
  });

  it('reads a raw object once for every mailbox and folder a delivery reaches, in one step', async () => {
    const dir = join(root, 'replica');
    const alice = await message(1);
    const bob = { ...alice, mailbox: 'bob@example.com', uid: 7 };
    const sent = { ...alice, folder: 'Sent', uid: 3 };
    await log.append('ingest', [alice, bob, sent, await message(2)]);
    const { reads, report } = await syncCountingReads(dir);
    expect(report).toMatchObject({ ok: true, added: 4 });
    expect(reads.filter((k) => k === alice.objectKey)).toHaveLength(1);
    expect(
      readFileSync(
        join(
          dir,
          'bob@example.com',
          'Maildir',
          'cur',
          readdirSync(join(dir, 'bob@example.com', 'Maildir', 'cur'))[0] as string,
        ),
      ),
    ).toEqual(readFileSync(join(dir, 'alice@example.com', 'Maildir', 'cur', cur(dir)[0] as string)));
  });

  it('removes what a killed run left of a file it was rewriting (a temporary beside it), so the tree equals an export', async () => {
    const dir = join(root, 'replica');
    await log.append('ingest', [await message(1)]);
    await syncReplica(source(), { dir });
    // What SIGKILL leaves mid-write: <file>.tmp-<pid of the dead run> beside the mailbox's and the folder's files.
    const dead = 4_194_304 + 7; // above Linux's largest pid_max: no process has it
    const maildir = join(dir, 'alice@example.com', 'Maildir');
    const leftovers = [
      join(maildir, `subscriptions.tmp-${dead}`),
      join(maildir, `dovecot-uidlist.tmp-${dead}`),
      join(dir, 'alice@example.com', `manifest.json.tmp-${dead}`),
    ];
    for (const path of leftovers) writeFileSync(path, 'half');
    await log.append('ingest', [await message(2)]);
    expect((await syncReplica(source(), { dir })).added).toBe(1);
    expect(leftovers.filter((path) => existsSync(path))).toEqual([]);
  });

  it("keeps a uidlist lock naming the sync that holds it through the whole commit, so a killed run's is freed at once", async () => {
    // Dovecot frees a dotlock only after 2 minutes unchanged; ours says whose it is, and the next run frees a dead
    // run's at once. Found by a fresh user: a run killed while it wrote the new uidlist into the lock left a lock
    // holding uidlist lines, and the next run waited 2 minutes in silence.
    const dir = join(root, 'replica');
    const records: DeliveryRecord[] = [];
    for (let uid = 1; uid <= 50; uid++) records.push(await message(uid));
    await log.append('ingest', records);
    const lockPath = join(dir, 'alice@example.com', 'Maildir', 'dovecot-uidlist.lock');
    const firstLines = new Set<string>();
    let polling = true;
    const poll = () => {
      try {
        firstLines.add(readFileSync(lockPath, 'utf8').split('\n')[0]?.split(' ')[0] ?? '');
      } catch {
        // no lock at this moment
      }
      if (polling) setImmediate(poll);
    };
    poll();
    const report = await syncReplica(source(), { dir });
    polling = false;
    expect(report.added).toBe(50);
    expect(firstLines.size).toBeGreaterThan(0);
    expect([...firstLines]).toEqual(['mail-archiver-sync']);
  });

  it('frees at once a uidlist lock a sync of this host left when it died, and leaves none behind', async () => {
    const dir = join(root, 'replica');
    await log.append('ingest', [await message(1)]);
    expect((await syncReplica(source(), { dir })).added).toBe(1);
    await log.append('ingest', [await message(2)]);
    const lockPath = join(dir, 'alice@example.com', 'Maildir', 'dovecot-uidlist.lock');
    // A pid that no longer runs: a child that has exited.
    const child = spawnSync(process.execPath, ['-e', '0']);
    writeFileSync(lockPath, `mail-archiver-sync ${child.pid} ${hostname()}\n`);
    const started = Date.now();
    expect((await syncReplica(source(), { dir })).added).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(existsSync(lockPath)).toBe(false);
  });

  it("gives a message file the received time in whole seconds, as an unpacked export's file has it (tar)", async () => {
    const dir = join(root, 'replica');
    const record = { ...(await message(1)), receivedAt: '2025-06-01T00:01:00.766Z' };
    await log.append('ingest', [record]);
    await syncReplica(source(), { dir });
    const [name] = cur(dir);
    const file = join(dir, 'alice@example.com', 'Maildir', 'cur', name as string);
    expect(statSync(file).mtimeMs).toBe(Date.parse('2025-06-01T00:01:00Z'));
  });

  it('reports a log line that does not parse and applies the others', async () => {
    const dir = join(root, 'replica');
    const good = await message(1);
    const key = `delivery-log/2026-01-01/000010.000Z-ingest-bad.jsonl`;
    const line = JSON.stringify(good);
    await store.write({ bucket: BUCKET, key }, Buffer.from(`{"v":1,"broken"\n${line}\n`));
    const report = await syncReplica(source(), { dir });
    expect(report.ok).toBe(false);
    expect(report.added).toBe(1);
    expect(report.problems[0]).toMatchObject({ kind: 'bad-log-line' });
    expect(report.problems[0]?.message).toMatch(/-ingest-bad\.jsonl line 1: not JSON/);
  });

  it('keeps reporting a log line that does not parse on every run until it parses, then applies it', async () => {
    const dir = join(root, 'replica');
    const key = `delivery-log/2026-01-01/000010.000Z-ingest-bad.jsonl`;
    const good = await message(1);
    const late = await message(2);
    await store.write({ bucket: BUCKET, key }, Buffer.from(`${JSON.stringify(good)}\n{"v":1,"broken"\n`));
    const first = await syncReplica(source(), { dir });
    expect(first).toMatchObject({ ok: false, added: 1 });
    // A later run has nothing new after its cursor, and still names the line: it is not forgotten.
    await log.append('ingest', [await message(3)]);
    const second = await syncReplica(source(), { dir });
    expect(second).toMatchObject({ ok: false, added: 1 });
    expect(second.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(
        /-ingest-bad\.jsonl line 2: not JSON .*still: reported on every sync until it parses/,
      ),
    ]);
    expect(lastSuccess(dir)).toBeUndefined();
    // The object repaired (or a newer version of sync that reads it): its record is applied and the run is good.
    await store.write(
      { bucket: BUCKET, key },
      Buffer.from(`${JSON.stringify(good)}\n${JSON.stringify(late)}\n`),
    );
    const third = await syncReplica(source(), { dir });
    expect(third).toMatchObject({ ok: true, problems: [], added: 1, present: 1 });
    expect(cur(dir)).toHaveLength(3);
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, added: 0, logObjects: 0 });
  });

  it('stops reporting a line that does not parse when told to take it as lost (--accept-unparsed)', async () => {
    const dir = join(root, 'replica');
    const key = `delivery-log/2026-01-01/000010.000Z-ingest-bad.jsonl`;
    await store.write({ bucket: BUCKET, key }, Buffer.from(`${JSON.stringify(await message(1))}\n{"v":1\n`));
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: false, added: 1 });
    const accepted = await syncReplica(source(), { dir, acceptUnparsed: true });
    expect(accepted).toMatchObject({ ok: true, problems: [], logObjects: 0 });
    expect(accepted.notices).toEqual([
      {
        kind: 'unparsed-accepted',
        message: expect.stringContaining(
          `no longer reported (--accept-unparsed): the lines that do not parse of ${key}`,
        ),
      },
    ]);
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, problems: [], logObjects: 0 });
  });

  it("leaves out the mailboxes to skip (the canary's) unless named, keeping what the replica holds of them", async () => {
    const dir = join(root, 'replica');
    const canary = 'canary@example.com';
    const probe = async (uid: number) => ({ ...(await message(100 + uid)), mailbox: canary, uid });
    const canaryCur = () => readdirSync(join(dir, canary, 'Maildir', 'cur'));
    // A replica synced before the canary was left out holds one.
    await log.append('ingest', [await message(1), await probe(1)]);
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, added: 2 });
    await log.append('ingest', [await message(2), await probe(2)]);
    expect(await syncReplica(source(), { dir, skip: [canary] })).toMatchObject({ ok: true, added: 1 });
    expect(cur(dir)).toHaveLength(2);
    expect(canaryCur()).toHaveLength(1);
    // Named, it is synced like any other mailbox.
    const named = await syncReplica(source(), { dir, mailboxes: [canary], skip: [canary] });
    expect(named).toMatchObject({ ok: true, added: 1, mailboxes: [canary] });
    expect(canaryCur()).toHaveLength(2);
  });

  it('says when a run follows other mailboxes than the replica did: it follows those from now on', async () => {
    const dir = join(root, 'replica');
    await log.append('ingest', [await message(1), { ...(await message(2)), mailbox: 'bob@example.com' }]);
    expect((await syncReplica(source(), { dir })).notices).toEqual([]);
    const narrowed = await syncReplica(source(), { dir, mailboxes: ['bob@example.com'] });
    expect(narrowed.notices).toEqual([
      {
        kind: 'selection-changed',
        message: expect.stringMatching(
          /followed every mailbox; from now on it follows only bob@example\.com \(--mailbox\): status counts only it, and no more mail of the others is added until a sync names them again/,
        ),
      },
    ]);
    expect(narrowed).toMatchObject({ ok: true, added: 0, present: 1 });
    const widened = await syncReplica(source(), { dir });
    expect(widened.notices.map((n) => n.message)).toEqual([
      expect.stringMatching(/followed only bob@example\.com; from now on it follows every mailbox/),
    ]);
    expect((await syncReplica(source(), { dir })).notices).toEqual([]);
  });

  it('refuses a directory inside a replica (one of its mailboxes), naming the replica', async () => {
    const dir = join(root, 'replica');
    await log.append('ingest', [await message(1)]);
    await syncReplica(source(), { dir });
    await expect(syncReplica(source(), { dir: join(dir, 'alice@example.com') })).rejects.toThrow(
      `is the mailbox alice@example.com of the replica at ${dir}: run \`sync ${dir}\``,
    );
    expect(existsSync(join(dir, 'alice@example.com', '.mail-archiver-sync'))).toBe(false);
  });

  it('refuses bytes that do not match their record, and tries them again on the next run', async () => {
    const dir = join(root, 'replica');
    const record = await message(1);
    await log.append('ingest', [{ ...record, sha256: '0'.repeat(64) }, await message(2)]);
    const report = await syncReplica(source(), { dir });
    expect(report).toMatchObject({ ok: false, added: 1, pending: 1 });
    expect(report.problems[0]).toMatchObject({ kind: 'bytes-mismatch' });
    expect(cur(dir)).toHaveLength(1);
    expect(readdirSync(join(dir, 'alice@example.com', 'Maildir', 'tmp'))).toEqual([]);
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: false, pending: 1 });
  });

  it('stops on a UID the replica holds under another file, and keeps what it has', async () => {
    const dir = join(root, 'replica');
    await log.append('ingest', [await message(1)]);
    await syncReplica(source(), { dir });
    const before = cur(dir);
    await log.append('ingest', [await message(1, 'Subject: other\n\nanother message under UID 1\n')]);
    await expect(syncReplica(source(), { dir })).rejects.toThrow(ReplicaConflictError);
    await expect(syncReplica(source(), { dir })).rejects.toThrow(/never renumbers/);
    expect(cur(dir)).toEqual(before);
  });

  it("writes a mailbox's manifest once, at the end of a run; a run stopped after a step leaves a mark the next run honours", async () => {
    const dir = join(root, 'replica');
    const now = () => new Date('2026-02-01T00:00:00Z');
    const manifest = () => JSON.parse(readFileSync(join(dir, 'alice@example.com', 'manifest.json'), 'utf8'));
    const mark = join(dir, '.mail-archiver-sync', 'mailboxes', 'alice%40example.com.manifest-due');
    await log.append('ingest', [await message(1), await message(2)]);
    await syncReplica(source(), { dir, now });
    expect(manifest().messages).toHaveLength(2);
    expect(existsSync(mark)).toBe(false);
    // Two more log objects, one step each: the second step's folder cannot be made (a file stands where its
    // directory goes), so the run stops after the first step's records were journaled.
    await log.append('ingest', [await message(3)]);
    await log.append('ingest', [{ ...(await message(4)), folder: 'Archive' }]);
    const obstacle = join(dir, 'alice@example.com', 'Maildir', '.Archive');
    writeFileSync(obstacle, '');
    await expect(syncReplica(source(), { dir, now, stepRecords: 1 })).rejects.toThrow(/ENOTDIR|EEXIST/);
    expect(cur(dir)).toHaveLength(3);
    expect(manifest().messages).toHaveLength(2);
    expect(existsSync(mark)).toBe(true);
    rmSync(obstacle);
    expect(await syncReplica(source(), { dir, now, stepRecords: 1 })).toMatchObject({ ok: true, added: 1 });
    expect(existsSync(mark)).toBe(false);
    // The same manifest as a replica synced in one go.
    const whole = join(root, 'whole');
    await syncReplica(source(), { dir: whole, now });
    expect(readFileSync(join(dir, 'alice@example.com', 'manifest.json'), 'utf8')).toBe(
      readFileSync(join(whole, 'alice@example.com', 'manifest.json'), 'utf8'),
    );
    expect(manifest().messages).toHaveLength(4);
  });
});

describe('S3 not answering', () => {
  it('stops the run without calling a message missing upstream, queues nothing, and the next run completes', async () => {
    const dir = join(root, 'replica');
    await log.append('ingest', [await message(1), await message(2)]);
    // The log is listed and read, then every GET of a raw object is refused, as by an S3 server that went away.
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
      address: '127.0.0.1',
      port: 9,
    });
    const down = Object.create(store, {
      read: {
        value: (location: { key: string }) =>
          location.key.startsWith('incoming/') ? Promise.reject(refused) : store.read(location as never),
      },
    });
    const problems: string[] = [];
    await expect(
      syncReplica(
        { log: new DeliveryLog(down, BUCKET), store: down, target: 'local' },
        { dir, onProblem: (p) => problems.push(p.message) },
      ),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(problems).toEqual([]);
    // Nothing queued to try again, nothing recorded as done.
    const progressFile = join(dir, '.mail-archiver-sync', 'progress.json');
    if (existsSync(progressFile)) expect(JSON.parse(readFileSync(progressFile, 'utf8')).retry).toEqual([]);
    expect(readdirSync(join(dir, 'alice@example.com', 'Maildir', 'cur'))).toEqual([]);
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, added: 2, pending: 0 });
  });
});

describe('a message file changed or removed in the replica by hand', () => {
  async function replicaWithThree() {
    const dir = join(root, 'replica');
    const records = [await message(1), await message(2), await message(3)];
    await log.append('ingest', records);
    await syncReplica(source(), { dir });
    const folder = join(dir, 'alice@example.com', 'Maildir', 'cur');
    const fileOf = (i: number) =>
      cur(dir).find((name) => name.includes(records[i]?.messageKey as string)) as string;
    const before = new Map(cur(dir).map((name) => [name, readFileSync(join(folder, name))]));
    return { dir, folder, fileOf, before };
  }

  it('is not noticed by sync (it reads the log, not old files); verify names it; sync --repair restores it', async () => {
    const { dir, folder, fileOf, before } = await replicaWithThree();
    const intact = fileOf(1);
    const changed = fileOf(0);
    const removed = fileOf(2);
    writeFileSync(join(folder, changed), 'edited by hand\n');
    rmSync(join(folder, removed));
    // A plain sync has nothing new to read: it does not look at the files it wrote before.
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, added: 0, logObjects: 0 });
    expect(readFileSync(join(folder, changed), 'utf8')).toBe('edited by hand\n');
    // verify of the replica's mailbox (what `verify DIR/<mailbox>` runs) names both files.
    const damaged = await verifyBundle(
      openBundle({ kind: 'directory', path: join(dir, 'alice@example.com') }),
    );
    expect(damaged.ok).toBe(false);
    const about = (file: string) =>
      damaged.errors.filter((e) => e.includes(file.split(':')[0] as string)).join('\n');
    expect(about(changed)).toMatch(/sha256 does not match the manifest: the bytes changed/);
    expect(about(removed)).toMatch(/file missing/);
    expect(about(intact)).toBe('');
    // --repair hashes every file against its record: the two are downloaded again, the intact one is kept.
    const { reads, report } = await syncCountingReads(dir, { repair: true });
    expect(report).toMatchObject({ ok: true, problems: [], added: 0, restored: 2, present: 1 });
    expect(reads.filter((key) => key.startsWith('incoming/'))).toHaveLength(2);
    expect(new Map(cur(dir).map((name) => [name, readFileSync(join(folder, name))]))).toEqual(before);
    const repaired = await verifyBundle(
      openBundle({ kind: 'directory', path: join(dir, 'alice@example.com') }),
    );
    expect(repaired.errors).toEqual([]);
    // The progress before the repair is kept aside, the last successful sync is this run, and the next run
    // reads nothing again.
    expect(readdirSync(join(dir, '.mail-archiver-sync')).some((n) => n.startsWith('before-repair-'))).toBe(
      true,
    );
    expect(lastSuccess(dir)).toMatchObject({ endedAt: report.endedAt });
    expect(await syncReplica(source(), { dir })).toMatchObject({ ok: true, added: 0, logObjects: 0 });
  });

  it('--repair of an intact replica downloads nothing', async () => {
    const { dir, folder, before } = await replicaWithThree();
    const { reads, report } = await syncCountingReads(dir, { repair: true });
    expect(report).toMatchObject({ ok: true, added: 0, present: 3 });
    expect(reads.filter((key) => key.startsWith('incoming/'))).toEqual([]);
    expect(new Map(cur(dir).map((name) => [name, readFileSync(join(folder, name))]))).toEqual(before);
  });
});
