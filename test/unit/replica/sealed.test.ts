// A first sync from the transparency log's entry bundles (shared/replica/sync.ts applySealed): what is sealed comes
// from the leaves (256 records a read), the rest from the delivery log after the seal's cursor (with the
// look-back). The replica must equal one synced from the delivery log alone: with mail after the seal, a late log
// object inside the look-back, a --mailbox choice, a run stopped half-way through the leaves, and a log that is not
// sealed yet (the delivery log read whole, as before). Real stores: files for the raw mail and the log, the
// DirectoryWriteOnceStore for the transparency log upstream.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryWriteOnceStore } from '../../../shared/adapters/dir-write-once-store';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { fileBaseName } from '../../../shared/bundle/layout';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import type { DeliveryRecord } from '../../../shared/delivery-log/record';
import type { RawLocation } from '../../../shared/index/schema';
import { type ReplicaSource, syncReplica } from '../../../shared/replica/sync';
import { deliveryLogSource } from '../../../shared/transparency/leaf';
import { KeyFileSigner } from '../../../shared/transparency/note';
import { seal } from '../../../shared/transparency/seal';

const BUCKET = 'raw';
const MINUTE = 60_000;
let root: string;
let store: FileRawMailStore;
let clock: number;
let log: DeliveryLog;
let transparency: DirectoryWriteOnceStore;
const signer = new KeyFileSigner(
  'example.com/mail-archiver/Test/local',
  generateKeyPairSync('ed25519').privateKey,
);
const now = () => new Date('2026-03-01T00:00:00Z');

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mail-archiver-replica-sealed-'));
  store = new FileRawMailStore(join(root, 's3'));
  clock = Date.parse('2026-01-01T00:00:00Z');
  // One log object a minute, as an archive that grew over days: the look-back (15 minutes) holds 15 of them.
  log = new DeliveryLog(store, BUCKET, { now: () => new Date(clock) });
  transparency = new DirectoryWriteOnceStore(join(root, 's3', BUCKET, 'transparency'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

let uid = 0;
/** A message filed for `mailboxes` (its record for each), in INBOX or Sent by its UID. */
async function message(mailboxes: string[]): Promise<DeliveryRecord[]> {
  uid += 1;
  const text = `Subject: ${uid}\n\n${'line\n'.repeat(uid % 7)}body ${uid}\n`;
  const bytes = Buffer.from(text);
  const key = `incoming/m${uid}`;
  await store.write({ bucket: BUCKET, key }, bytes);
  const receivedAt = new Date(Date.parse('2025-06-01T00:00:00Z') + uid * MINUTE).toISOString();
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
    folder: uid % 4 === 0 ? 'Sent' : 'INBOX',
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

/** `count` log objects, one a minute, each of one message (a fifth of them to both mailboxes). */
async function deliver(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    clock += MINUTE;
    const both = uid % 5 === 0;
    await log.append(
      'ingest',
      await message(both ? ['alice@example.com', 'bob@example.com'] : ['alice@example.com']),
    );
  }
}

const sealNow = () =>
  seal({ store: transparency, signer, source: deliveryLogSource(log), now: () => new Date(clock) });

/** Counts the raw store's reads by prefix (delivery-log/ or incoming/). */
function counted(): { source: ReplicaSource; reads: Record<string, number> } {
  const reads: Record<string, number> = {};
  const counting = Object.create(store) as FileRawMailStore;
  counting.read = (location: RawLocation) => {
    const prefix = location.key.slice(0, location.key.indexOf('/') + 1);
    reads[prefix] = (reads[prefix] ?? 0) + 1;
    return store.read(location);
  };
  return {
    source: { log: new DeliveryLog(counting, BUCKET), store: counting, target: 'local', transparency },
    reads,
  };
}

/** Every file under `dir` (relative path -> sha256, and a message's mtime), the replica's state directory left out. */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (name === '.mail-archiver-sync') continue;
      const info = statSync(path);
      if (info.isDirectory()) walk(path);
      else
        out.set(
          relative(dir, path),
          // A message's mtime is its INTERNALDATE; the other files' are when they were written.
          `${createHash('sha256').update(readFileSync(path)).digest('hex')}${path.includes('/cur/') ? ` ${info.mtimeMs}` : ''}`,
        );
    }
  };
  walk(dir);
  return out;
}

/** The replica the delivery log alone gives (no transparency log: every log object read). */
async function fromLogAlone(mailboxes?: string[]): Promise<Map<string, string>> {
  const dir = join(root, `reference-${Math.random().toString(36).slice(2)}`);
  const report = await syncReplica(
    { log, store, target: 'local' },
    { dir, now, ...(mailboxes ? { mailboxes } : {}) },
  );
  expect(report.problems).toEqual([]);
  return tree(dir);
}

describe('a first sync from the transparency log', () => {
  it('takes what is sealed from the entry bundles and the rest from the log after the seal, and equals a sync of the log', async () => {
    await deliver(600);
    const sealed = await sealNow();
    expect(sealed.size).toBe(720);
    // A late writer: put after the seal under a key 5 minutes older than the newest the seal read (inside the
    // look-back of its cursor), then more mail.
    clock -= 5 * MINUTE;
    await log.append('import', await message(['bob@example.com']));
    clock += 5 * MINUTE;
    await deliver(30);
    const reference = await fromLogAlone();

    const dir = join(root, 'replica');
    const { source, reads } = counted();
    const report = await syncReplica(source, { dir, now });
    expect(report.problems).toEqual([]);
    expect(report.leaves).toBe(720);
    expect(report.transparency).toMatchObject({ state: 'grew', size: 720, from: 0 });
    // The log after the seal's cursor only: the late object and the 30 new ones (the look-back's keys the seal
    // read are in its cursor, not read again).
    expect(report.logObjects).toBe(31);
    expect(reads['delivery-log/']).toBe(report.logObjects);
    expect(reads['incoming/']).toBe(631);
    expect(report.added).toBe(720 + 30 + 6 + 1);
    expect(tree(dir)).toEqual(reference);

    // The next run reads the log from where the first ended, and finds nothing new.
    const again = await syncReplica(source, { dir, now });
    expect(again).toMatchObject({ ok: true, added: 0, leaves: 0 });
    expect(tree(dir)).toEqual(reference);
  });

  it('keeps to the mailboxes chosen, and a run stopped half-way through the leaves ends, next time, with the same tree', async () => {
    await deliver(700);
    await sealNow();
    await deliver(5);
    const reference = await fromLogAlone(['bob@example.com']);

    const dir = join(root, 'replica');
    const { source } = counted();
    // The 60th raw object read fails part-way through its body (not a missing object: the run stops).
    let reads = 0;
    const failing = Object.create(source.store) as FileRawMailStore;
    failing.read = async (location: RawLocation) => {
      if (!location.key.startsWith('incoming/') || ++reads !== 60) return source.store.read(location);
      return (async function* () {
        yield Buffer.from('Subject: ');
        throw new Error('the connection was reset');
      })();
    };
    const stopped = syncReplica(
      { ...source, store: failing },
      { dir, now, mailboxes: ['bob@example.com'], stepRecords: 50 },
    );
    await expect(stopped).rejects.toThrow('the connection was reset');
    const report = await syncReplica(source, { dir, now, mailboxes: ['bob@example.com'] });
    expect(report.problems).toEqual([]);
    expect(report.leaves).toBe(840);
    expect(report.present).toBeGreaterThan(0);
    expect(readdirSync(dir).filter((name) => !name.startsWith('.'))).toEqual(['bob@example.com']);
    expect(tree(dir)).toEqual(reference);
  });

  it('reads the delivery log whole while the log is not sealed yet', async () => {
    await deliver(40);
    const reference = await fromLogAlone();
    const dir = join(root, 'replica');
    const { source, reads } = counted();
    const report = await syncReplica(source, { dir, now });
    expect(report).toMatchObject({
      ok: true,
      leaves: 0,
      logObjects: 40,
      transparency: { state: 'unsealed' },
    });
    expect(reads['delivery-log/']).toBe(40);
    expect(tree(dir)).toEqual(reference);
  });
});
