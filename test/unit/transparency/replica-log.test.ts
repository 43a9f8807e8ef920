// The replica's copy of the transparency log (shared/transparency/replica-log.ts): `sync` copies a sealed log into
// a directory (the real DirectoryWriteOnceStore) and witnesses it (another key, a rollback, a rewritten history are
// refused); `verify` of a replica's mailbox proves completeness against the copy: each delivery the mailbox lacks
// is named by folder, UID and received time, one holding other bytes is named, newer mail is counted as unsealed,
// and a checkpoint given or --previous that the copy does not extend is refused.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryWriteOnceStore } from '../../../shared/adapters/dir-write-once-store';
import type { WriteOnceStore } from '../../../shared/ports';
import { signCheckpoint } from '../../../shared/transparency/checkpoint';
import { leafHash, MerkleTree } from '../../../shared/transparency/merkle';
import { KeyFileSigner } from '../../../shared/transparency/note';
import {
  checkReplicaCompleteness,
  LogWitnessError,
  mirrorLog,
  type ReplicaMessage,
} from '../../../shared/transparency/replica-log';
import { type LeafSource, seal } from '../../../shared/transparency/seal';
import { MemoryWriteOnceStore } from '../../support/write-once';

const ORIGIN = 'example.com/mail-archiver/Test/local';
const UIDVALIDITY = 1_700_000_000;

interface Delivery {
  mailbox: string;
  folder: string;
  uid: number;
  sha256: string;
  size: number;
  receivedAt: string;
}

/** Delivery-record-shaped leaves (the fields verify reads), alice's and bob's alternating. */
function deliveries(from: number, count: number, salt = ''): Delivery[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    return {
      mailbox: n % 3 === 0 ? 'bob@example.com' : 'alice@example.com',
      folder: n % 5 === 0 ? 'Sent' : 'INBOX',
      uid: n + 1,
      sha256: `${salt}${n}`.padStart(64, '0'),
      size: 1000 + n,
      receivedAt: new Date(Date.UTC(2026, 10, 1) + n * 60_000).toISOString(),
    };
  });
}
const leafOf = (d: Delivery) => Buffer.from(JSON.stringify({ v: 1, ...d, uidValidity: UIDVALIDITY }));

class ListSource implements LeafSource<{ read: number }> {
  readonly start = { read: 0 };
  constructor(readonly batches: Delivery[][]) {}
  async *objects(cursor: { read: number }) {
    for (const [i, batch] of this.batches.entries())
      if (i >= cursor.read)
        yield { key: String(i).padStart(4, '0'), leaves: batch.map(leafOf), unreadable: [] };
  }
  advance(cursor: { read: number }, keys: string[]) {
    return { read: cursor.read + keys.length };
  }
  facts(leaf: Buffer) {
    const d = JSON.parse(leaf.toString()) as Delivery;
    return { identity: `${d.mailbox} ${d.folder} ${d.uid}`, content: d.sha256 };
  }
  parseCursor(value: unknown) {
    return value as { read: number };
  }
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'replica-log-'));
  dirs.push(dir);
  const upstream = new MemoryWriteOnceStore();
  const signer = new KeyFileSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
  const source = new ListSource([]);
  let clock = Date.parse('2026-12-01T00:00:00Z');
  const sealNow = (...batches: Delivery[][]) => {
    source.batches.push(...batches);
    clock += 3_600_000;
    return seal({ store: upstream, signer, source, now: () => new Date(clock) });
  };
  return { upstream, mirror: new DirectoryWriteOnceStore(join(dir, 'transparency')), signer, sealNow };
}

const aliceMessages = (list: Delivery[]): ReplicaMessage[] =>
  list
    .filter((d) => d.mailbox === 'alice@example.com')
    .map(({ folder, uid, sha256, size }) => ({ folder, uid, sha256, size, uidValidity: UIDVALIDITY }));

describe("the replica's copy of the log", () => {
  it('copies each new checkpoint with its entries, checked, and proves a mailbox complete, naming what it lacks', async () => {
    const { upstream, mirror, signer, sealNow } = setup();
    expect(await mirrorLog(upstream, mirror)).toEqual({ state: 'unsealed' });
    const first = deliveries(0, 300);
    const one = await sealNow(first.slice(0, 200), first.slice(200));
    expect(await mirrorLog(upstream, mirror)).toEqual({ state: 'grew', size: 300, from: 0, origin: ORIGIN });
    expect(await mirrorLog(upstream, mirror)).toEqual({ state: 'current', size: 300, origin: ORIGIN });
    const check = (messages: ReplicaMessage[], given = one.checkpoint, previous?: string) =>
      checkReplicaCompleteness({
        key: signer.verifier,
        given: Buffer.from(given),
        ...(previous ? { previous: Buffer.from(previous) } : {}),
        log: mirror,
        mailbox: 'alice@example.com',
        messages,
      });
    const alice = aliceMessages(first);
    expect(await check(alice)).toMatchObject({ errors: [], proven: alice.length, unsealed: 0 });

    // One message deleted from the replica, one holding other bytes, one the log does not have yet.
    const gone = alice[7] as ReplicaMessage;
    const goneDelivery = first.find((d) => d.uid === gone.uid) as Delivery;
    const damaged = alice
      .filter((m) => m !== gone)
      .map((m, i) => (i === 3 ? { ...m, sha256: 'f'.repeat(64) } : m));
    const newer = { ...(alice[0] as ReplicaMessage), uid: 5000 };
    const result = await check([...damaged, newer]);
    expect(result.errors).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${alice[3]?.folder} UID ${alice[3]?.uid} \\(received .*\\): the replica holds another message \\(the log recorded sha256 `,
        ),
      ),
      `${gone.folder} UID ${gone.uid} (received ${goneDelivery.receivedAt}, leaf ${first.indexOf(goneDelivery)}): in the log but missing from the replica`,
    ]);
    expect(result).toMatchObject({ proven: alice.length - 2, unsealed: 1 });

    // The log grows: the copy grows, and a checkpoint given that is older (with --previous older still) is a prefix.
    const more = deliveries(300, 40);
    const two = await sealNow(more);
    expect(await mirrorLog(upstream, mirror)).toMatchObject({ state: 'grew', size: 340, from: 300 });
    const all = aliceMessages([...first, ...more]);
    const older = await signCheckpoint({ origin: ORIGIN, size: 100, root: rootOf([...first], 100) }, signer);
    expect(await check(all, one.checkpoint, older)).toMatchObject({ errors: [], proven: all.length });
    expect((await check(all, two.checkpoint)).checkpoint?.size).toBe(340);

    // A checkpoint the copy does not extend (another root for 100), one newer than the copy, another key.
    const forked = await signCheckpoint(
      { origin: ORIGIN, size: 100, root: rootOf(deliveries(0, 100, 'x'), 100) },
      signer,
    );
    expect((await check(all, forked)).errors).toEqual([
      expect.stringMatching(
        /^the checkpoint given \(tree of 100\) is not consistent with the replica's copy of the log/,
      ),
    ]);
    expect((await check(all, one.checkpoint, forked)).errors).toEqual([
      expect.stringMatching(/^the previous checkpoint \(tree of 100\) is not consistent/),
    ]);
    const ahead = await signCheckpoint(
      { origin: ORIGIN, size: 400, root: rootOf(deliveries(0, 400), 400) },
      signer,
    );
    expect((await check(all, ahead)).errors).toEqual([
      expect.stringMatching(
        /holds the log up to 340 deliveries, the checkpoint given is of 400: run `mail-archiver sync`/,
      ),
    ]);
    // --previous newer than the copy (and than the checkpoint given): named, not a RangeError from the tree.
    expect((await check(all, one.checkpoint, ahead)).errors).toEqual([
      'the previous checkpoint (400) is newer than the checkpoint given (300)',
      expect.stringMatching(
        /holds the log up to 340 deliveries, the previous checkpoint is of 400: run `mail-archiver sync`/,
      ),
    ]);
    const stranger = new KeyFileSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
    expect(
      (
        await checkReplicaCompleteness({
          key: stranger.verifier,
          given: Buffer.from(
            await signCheckpoint(
              { origin: ORIGIN, size: 340, root: rootOf([...first, ...more], 340) },
              stranger,
            ),
          ),
          log: mirror,
          mailbox: 'alice@example.com',
          messages: all,
        })
      ).errors[0],
    ).toMatch(/another key/);
  });

  it('witnesses the log: another key, a rollback and a rewritten history are refused, the copy kept', async () => {
    const { upstream, mirror, signer, sealNow } = setup();
    await sealNow(deliveries(0, 300));
    await mirrorLog(upstream, mirror);

    // The same key, another history of the same and of a larger size.
    const rewritten = new MemoryWriteOnceStore();
    const fork = new ListSource([deliveries(0, 320, 'x')]);
    await seal({ store: rewritten, signer, source: fork, now: () => new Date('2026-12-02T00:00:00Z') });
    await expect(mirrorLog(rewritten, mirror)).rejects.toThrow(LogWitnessError);
    // A log rolled back to fewer deliveries.
    const short = new MemoryWriteOnceStore();
    await seal({ store: short, signer, source: new ListSource([deliveries(0, 100)]), now: () => new Date() });
    await expect(mirrorLog(short, mirror)).rejects.toThrow(/rolled back/);
    // Another key.
    const other = new MemoryWriteOnceStore();
    const stranger = new KeyFileSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
    await seal({
      store: other,
      signer: stranger,
      source: new ListSource([deliveries(0, 400)]),
      now: () => new Date(),
    });
    await expect(mirrorLog(other, mirror)).rejects.toThrow(/not the log this replica witnessed/);
    // The genuine log still extends the copy.
    await sealNow(deliveries(300, 10));
    expect(await mirrorLog(upstream, mirror)).toMatchObject({ state: 'grew', size: 310, from: 300 });
  });
});

/** A store that records every read (a get's path, a list's prefix): what a sync costs in requests. */
class CountingStore implements WriteOnceStore {
  readonly reads: string[] = [];
  constructor(private readonly inner: WriteOnceStore) {}
  get(path: string) {
    this.reads.push(path);
    return this.inner.get(path);
  }
  putOnce(path: string, bytes: Buffer, contentType: string) {
    return this.inner.putOnce(path, bytes, contentType);
  }
  list(prefix: string) {
    this.reads.push(`list ${prefix}`);
    return this.inner.list(prefix);
  }
}

describe('a sync at a new checkpoint reads only what is new', () => {
  it('reads the same few files whatever the size of the log: the tiles at the kept size and the new entries', async () => {
    const reads: Record<number, { upstream: string[]; mirror: string[] }> = {};
    for (const size of [700, 2600]) {
      const { upstream, mirror, signer, sealNow } = setup();
      await sealNow(deliveries(0, size / 2));
      await sealNow(deliveries(size / 2, size / 2));
      await mirrorLog(upstream, mirror);
      await sealNow(deliveries(size, 5));
      const counted = { upstream: new CountingStore(upstream), mirror: new CountingStore(mirror) };
      expect(await mirrorLog(counted.upstream, counted.mirror)).toMatchObject({
        state: 'grew',
        from: size,
        size: size + 5,
      });
      reads[size] = { upstream: counted.upstream.reads, mirror: counted.mirror.reads };
      // Only the bundle the kept tree ends in: none of the entries before it is read, from either side.
      const bundles = [...counted.upstream.reads, ...counted.mirror.reads].filter((p) =>
        p.startsWith('tile/entries/'),
      );
      expect(new Set(bundles.map((p) => p.split('.p/')[0]))).toEqual(
        new Set([`tile/entries/${String(Math.floor(size / 256)).padStart(3, '0')}`]),
      );
      // And the copy still proves the mailbox complete from every leaf.
      const all = [...deliveries(0, size), ...deliveries(size, 5)];
      const given = (await upstream.get(`checkpoints/${String(size + 5).padStart(12, '0')}`)) as Buffer;
      const check = await checkReplicaCompleteness({
        key: signer.verifier,
        given,
        log: mirror,
        mailbox: 'alice@example.com',
        messages: aliceMessages(all),
      });
      expect(check.errors).toEqual([]);
    }
    expect(reads[2600]?.upstream.length).toBe(reads[700]?.upstream.length);
    expect(reads[2600]?.mirror.length).toBe(reads[700]?.mirror.length);
    expect(reads[700]?.upstream.length).toBeLessThanOrEqual(8);
    expect(reads[700]?.mirror.length).toBeLessThanOrEqual(4);
  });

  it('still catches a history rewritten before the kept size: one old entry changed, every tile redone', async () => {
    const { upstream, mirror, signer, sealNow } = setup();
    await sealNow(deliveries(0, 300));
    await mirrorLog(upstream, mirror);
    // The same key re-seals the same history with entry 5 changed, at the kept size and then beyond it.
    const history = deliveries(0, 300);
    history[5] = { ...(history[5] as Delivery), sha256: 'f'.repeat(64) };
    const rewritten = new MemoryWriteOnceStore();
    const source = new ListSource([history]);
    await seal({ store: rewritten, signer, source, now: () => new Date('2026-12-02T00:00:00Z') });
    source.batches.push(deliveries(300, 10));
    await seal({ store: rewritten, signer, source, now: () => new Date('2026-12-02T01:00:00Z') });
    await expect(mirrorLog(rewritten, mirror)).rejects.toThrow(
      /tiles of its first 300 deliveries do not hash to the checkpoint of 300 this replica kept/,
    );
    // An entry of the bundle the kept tree ends in, rewritten: refused, naming the bundle.
    const tail = new MemoryWriteOnceStore();
    const tailHistory = deliveries(0, 300);
    tailHistory[290] = { ...(tailHistory[290] as Delivery), sha256: 'e'.repeat(64) };
    const tailSource = new ListSource([tailHistory, deliveries(300, 10)]);
    await seal({ store: tail, signer, source: tailSource, now: () => new Date('2026-12-02T02:00:00Z') });
    await expect(mirrorLog(tail, mirror)).rejects.toThrow(LogWitnessError);
    // Nothing of either was written: the genuine log still extends the copy.
    await sealNow(deliveries(300, 10));
    expect(await mirrorLog(upstream, mirror)).toMatchObject({ state: 'grew', size: 310, from: 300 });
  });
});

describe('a log that dropped its partial tiles (C2SP tlog-tiles allows it once the full tile is there)', () => {
  it('is read through the full tiles; without any tile at the kept size, the edge is rebuilt from the copy', async () => {
    const { upstream, mirror, sealNow } = setup();
    await sealNow(deliveries(0, 700));
    await mirrorLog(upstream, mirror);
    await sealNow(deliveries(700, 100));
    for (const path of [...upstream.files.keys()])
      if (/^tile\/\d+\/.*\.p\//.test(path) && path.includes('.p/188')) upstream.files.delete(path);
    expect(await mirrorLog(upstream, mirror)).toMatchObject({ state: 'grew', from: 700, size: 800 });
    await sealNow(deliveries(800, 10));
    for (const path of [...upstream.files.keys()]) if (/^tile\/\d+\//.test(path)) upstream.files.delete(path);
    expect(await mirrorLog(upstream, mirror)).toMatchObject({ state: 'grew', from: 800, size: 810 });
  });
});

describe('a first copy over a slow link', () => {
  it('reads the entry bundles several at a time, in both passes (the check, then the copy)', async () => {
    const sealed = setup();
    await sealed.sealNow(deliveries(0, 256 * 5 + 10));
    // An entry bundle is answered once another file is asked for, or after 200 ms: read one at a time, each of the
    // 6 bundles waits the 200 ms in each pass; read ahead, only the last of each pass does.
    const asked: string[] = [];
    const waits: number[] = [];
    const slow: WriteOnceStore = {
      get: async (path) => {
        asked.push(path);
        if (path.startsWith('tile/entries/')) {
          const at = asked.length;
          const started = Date.now();
          for (let waited = 0; asked.length === at && waited < 200; waited += 5)
            await new Promise((r) => setTimeout(r, 5));
          waits.push(Date.now() - started);
        }
        return sealed.upstream.get(path);
      },
      putOnce: (path, bytes) => sealed.upstream.putOnce(path, bytes),
      list: (prefix) => sealed.upstream.list(prefix),
    };
    expect(await mirrorLog(slow, sealed.mirror)).toMatchObject({
      state: 'grew',
      from: 0,
      size: 256 * 5 + 10,
    });
    expect(asked.filter((p) => p.startsWith('tile/entries/'))).toHaveLength(12);
    expect(waits.filter((ms) => ms >= 150).length).toBeLessThanOrEqual(2);
    expect(await mirrorLog(sealed.upstream, sealed.mirror)).toMatchObject({ state: 'current' });
  });
});

function rootOf(list: Delivery[], size: number): Buffer {
  return MerkleTree.fromLeafHashes(list.slice(0, size).map((d) => leafHash(leafOf(d)))).root();
}
