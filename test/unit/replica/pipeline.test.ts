// The steps of a sync as a pipeline (shared/replica/pipeline.ts), over a directory store whose reads can be held:
// the next step's objects are read while a step waits for its slowest one, at most two steps are under way, steps
// commit in order, and a conflict found while planning a later step leaves the steps before it committed whole.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
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
  root = mkdtempSync(join(tmpdir(), 'mail-archiver-pipeline-'));
  store = new FileRawMailStore(join(root, 's3'));
  clock = Date.parse('2026-01-01T00:00:00Z');
  log = new DeliveryLog(store, BUCKET, {
    now: () => {
      clock += 1000;
      return new Date(clock);
    },
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(root, { recursive: true, force: true });
});

async function message(uid: number, text = `Subject: ${uid}\n\nbody ${uid}\n`): Promise<DeliveryRecord> {
  return storedDelivery(
    store,
    BUCKET,
    uid,
    text,
    `incoming/m${uid}-${createHash('sha256').update(text).digest('hex').slice(0, 8)}`,
  );
}

/** A source whose raw object `heldKey` is answered only once `release` is called; every raw read is recorded. */
function heldSource(heldKey: string) {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const reads: string[] = [];
  const gated = Object.create(store, {
    read: {
      value: async (location: { key: string }) => {
        if (location.key.startsWith('incoming/')) reads.push(location.key);
        if (location.key === heldKey) await held;
        return store.read(location as never);
      },
    },
  });
  return { source: { log: new DeliveryLog(gated, BUCKET), store: gated, target: 'local' }, reads, release };
}

/** Waits until `done()` or `ms` milliseconds have passed. */
async function waitFor(done: () => boolean, ms = 3000) {
  for (const deadline = Date.now() + ms; !done() && Date.now() < deadline; ) await sleep(10);
}

const maildir = (dir: string) => join(dir, 'alice@example.com', 'Maildir');
const journal = (dir: string) =>
  readFileSync(join(dir, '.mail-archiver-sync', 'mailboxes', 'alice%40example.com.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as DeliveryRecord).uid);

describe('sync steps as a pipeline', () => {
  it("reads the next step's objects while a step waits for its slowest one, keeps two steps under way, and commits them in order", async () => {
    const records: DeliveryRecord[] = [];
    for (let uid = 1; uid <= 6; uid++) records.push(await message(uid));
    for (const record of records) await log.append('ingest', [record]);
    const [one, , three, four, five] = records.map((r) => r.objectKey);
    const { source, reads, release } = heldSource(one as string);
    const dir = join(root, 'replica');
    // Steps of two records: [1, 2] waits on its first object; [3, 4] is read meanwhile; [5, 6] waits for [1, 2].
    const syncing = syncReplica(source, { dir, stepRecords: 2, concurrency: 4 });
    await waitFor(() => reads.includes(four as string));
    await sleep(100);
    const whileHeld = [...reads];
    release();
    const report = await syncing;
    expect(whileHeld).toContain(three);
    expect(whileHeld).toContain(four);
    expect(whileHeld).not.toContain(five);
    expect(report).toMatchObject({ ok: true, added: 6 });
    expect(journal(dir)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(readdirSync(join(maildir(dir), 'cur'))).toHaveLength(6);
    expect(readdirSync(join(maildir(dir), 'tmp'))).toEqual([]);
    expect(await syncReplica({ log, store, target: 'local' }, { dir })).toMatchObject({
      ok: true,
      added: 0,
      logObjects: 0,
    });
  });

  it('a conflict found while the step before still downloads: that step is committed whole, then the run stops', async () => {
    const dir = join(root, 'replica');
    await log.append('ingest', [await message(1)]);
    await syncReplica({ log, store, target: 'local' }, { dir });
    const two = await message(2);
    await log.append('ingest', [two]);
    await log.append('ingest', [await message(1, 'Subject: other\n\nanother message under UID 1\n')]);
    const { source, reads, release } = heldSource(two.objectKey);
    const syncing = syncReplica(source, { dir, stepRecords: 1 });
    syncing.catch(() => undefined);
    await waitFor(() => reads.includes(two.objectKey));
    await sleep(100);
    release();
    await expect(syncing).rejects.toThrow(ReplicaConflictError);
    expect(journal(dir)).toEqual([1, 2]);
    expect(readdirSync(join(maildir(dir), 'cur'))).toHaveLength(2);
    expect(readdirSync(join(maildir(dir), 'tmp'))).toEqual([]);
    const uidlist = readFileSync(join(maildir(dir), 'dovecot-uidlist'), 'utf8');
    expect(uidlist.split('\n').slice(1).filter(Boolean)).toHaveLength(2);
  });

  it('requests the next object while the last one is made durable on a slow disk, two objects under way per download slot', async () => {
    const records: DeliveryRecord[] = [];
    for (let uid = 1; uid <= 4; uid++) records.push(await message(uid));
    await log.append('ingest', records);
    const { source, reads } = heldSource('none');
    // A disk whose fsync waits (the real one, held back) once the downloads have begun.
    const probe = await open(join(root, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const realSync = prototype.sync;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    vi.spyOn(prototype, 'sync').mockImplementation(async function (this: FileHandle) {
      if (reads.length > 0) await held;
      return realSync.call(this);
    });
    const dir = join(root, 'replica');
    const syncing = syncReplica(source, { dir, concurrency: 1 });
    await waitFor(() => reads.length >= 2);
    await sleep(100);
    const whileHeld = [...reads];
    release();
    expect(await syncing).toMatchObject({ ok: true, added: 4 });
    expect(whileHeld).toEqual(records.slice(0, 2).map((r) => r.objectKey));
    expect(journal(dir)).toEqual([1, 2, 3, 4]);
    expect(readdirSync(join(maildir(dir), 'tmp'))).toEqual([]);
  });
});
