// Sealing (shared/transparency/seal.ts) over an in-memory write-once store and a stand-in delivery log whose
// objects can arrive late: the tree only grows, every checkpoint is consistent with every earlier one, a repeat
// is not appended twice and a conflicting one is reported, a seal stopped half-way is completed by the next
// one without rewriting a byte, and a damaged store is refused.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../shared/transparency/checkpoint';
import {
  checkLogHead,
  LogDamageError,
  readCheckpoints,
  readTree,
} from '../../../shared/transparency/log-files';
import { leafHash, verifyConsistency, verifyInclusion } from '../../../shared/transparency/merkle';
import { KeyFileSigner, parseVerifierKey } from '../../../shared/transparency/note';
import { KEY_PATH, type LeafSource, seal } from '../../../shared/transparency/seal';
import { MemoryWriteOnceStore } from '../../support/write-once';

const ORIGIN = 'example.com/mail-archiver/Test';

/** A stand-in delivery log: objects by key, each a list of leaves `{"id":..,"sha":..}`; the cursor is the keys read. */
class FakeLog implements LeafSource<{ seen: string[] }> {
  readonly start = { seen: [] as string[] };
  readonly objectsByKey = new Map<string, string[]>();

  put(key: string, ...leaves: [id: string, sha: string][]): void {
    this.objectsByKey.set(
      key,
      leaves.map(([id, sha]) => JSON.stringify({ id, sha })),
    );
  }

  async *objects(cursor: { seen: string[] }) {
    const seen = new Set(cursor.seen);
    for (const key of [...this.objectsByKey.keys()].sort()) {
      if (seen.has(key)) continue;
      const lines = this.objectsByKey.get(key) ?? [];
      yield {
        key,
        leaves: lines.filter((l) => l !== 'bad').map((l) => Buffer.from(l)),
        unreadable: lines.filter((l) => l === 'bad').map(() => `${key} line: not a record`),
      };
    }
  }

  advance(cursor: { seen: string[] }, keys: string[]) {
    return { seen: [...new Set([...cursor.seen, ...keys])].sort() };
  }

  facts(leaf: Buffer) {
    const { id, sha } = JSON.parse(leaf.toString()) as { id: string; sha: string };
    return { identity: id, content: sha };
  }

  parseCursor(value: unknown) {
    const seen = (value as { seen?: unknown })?.seen;
    if (!Array.isArray(seen)) throw new Error('not a cursor');
    return { seen: seen as string[] };
  }
}

function setup() {
  const store = new MemoryWriteOnceStore();
  const signer = new KeyFileSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
  const log = new FakeLog();
  let clock = Date.parse('2026-11-21T00:00:00Z');
  const tick = () => {
    clock += 3_600_000;
    return new Date(clock);
  };
  const run = () => seal({ store, signer, source: log, now: tick });
  return { store, signer, log, run };
}

describe('seal', () => {
  it('appends what the log has, signs a checkpoint, keeps the key; a second seal with nothing new is a no-op', async () => {
    const { store, signer, log, run } = setup();
    log.put('a', ['INBOX/1', 'h1'], ['INBOX/2', 'h2']);
    log.put('b', ['Sent/1', 'h3']);
    const first = await run();
    expect(first).toMatchObject({ previousSize: 0, size: 3, appended: 3, repeats: 0, objectsRead: 2 });
    const checkpoint = openCheckpoint(first.checkpoint, signer.verifier);
    expect(checkpoint.size).toBe(3);
    expect(parseVerifierKey((await store.get(KEY_PATH))?.toString() ?? '')).toEqual(signer.verifier);
    const { entries, tree } = await readTree(store, 3, checkpoint.root);
    expect(entries.map((e) => JSON.parse(e.toString()).id)).toEqual(['INBOX/1', 'INBOX/2', 'Sent/1']);
    verifyInclusion(1, 3, leafHash(entries[1] as Buffer), tree.inclusionProof(1), checkpoint.root);

    const second = await run();
    expect(second).toMatchObject({ previousSize: 3, size: 3, appended: 0, objectsRead: 0, filesCreated: 1 });
    expect(second.checkpoint).toBe(first.checkpoint);
  });

  it('a late object is appended after what was sealed; repeats once; conflicts reported, unreadable lines listed', async () => {
    const { store, signer, log, run } = setup();
    log.put('2026-01-01T10', ['INBOX/1', 'h1']);
    log.put('2026-01-01T12', ['INBOX/3', 'h3']);
    await run();
    // A writer that was slow puts a key that sorts before one already read, plus repeats of sealed deliveries.
    log.put('2026-01-01T11', ['INBOX/2', 'h2'], ['INBOX/1', 'h1'], ['INBOX/3', 'other']);
    log.put('2026-01-01T13', ['INBOX/4', 'h4'], ['INBOX/4', 'h4']);
    log.objectsByKey.get('2026-01-01T13')?.push('bad');
    const report = await run();
    expect(report).toMatchObject({ previousSize: 2, size: 4, appended: 2, repeats: 2 });
    expect(report.conflicts).toEqual(['INBOX/3: sealed as h3, now other (2026-01-01T11)']);
    expect(report.unreadable).toEqual(['2026-01-01T13 line: not a record']);
    const { entries } = await readTree(store, 4);
    expect(entries.map((e) => JSON.parse(e.toString()).id)).toEqual([
      'INBOX/1',
      'INBOX/3',
      'INBOX/2',
      'INBOX/4',
    ]);
    const [older, newer] = await readCheckpoints(store, signer.verifier);
    const { tree } = await readTree(store, 4);
    verifyConsistency(
      2,
      4,
      tree.consistencyProof(2),
      older?.checkpoint.root as Buffer,
      newer?.checkpoint.root as Buffer,
    );
  });

  it('grows over many seals across tile boundaries, every checkpoint consistent with the last', async () => {
    const { store, signer, log, run } = setup();
    let n = 0;
    for (const batch of [1, 254, 1, 1, 300, 0, 700]) {
      const leaves: [string, string][] = Array.from({ length: batch }, () => [`INBOX/${++n}`, `h${n}`]);
      if (batch > 0) log.put(`k${String(n).padStart(6, '0')}`, ...leaves);
      await run();
    }
    const checkpoints = await readCheckpoints(store, signer.verifier);
    expect(checkpoints.map((c) => c.checkpoint.size)).toEqual([1, 255, 256, 257, 557, 1257]);
    const { tree } = await readTree(store, 1257, checkpoints.at(-1)?.checkpoint.root);
    for (const { checkpoint } of checkpoints)
      verifyConsistency(
        checkpoint.size,
        1257,
        tree.consistencyProof(checkpoint.size),
        checkpoint.root,
        tree.root(),
      );
  });

  it('a seal stopped before its checkpoint is completed by the next one, byte for byte', async () => {
    const { store, log, run } = setup();
    log.put('a', ...Array.from({ length: 300 }, (_, i): [string, string] => [`INBOX/${i}`, `h${i}`]));
    await run();
    log.put('b', ...Array.from({ length: 600 }, (_, i): [string, string] => [`Sent/${i}`, `s${i}`]));
    store.beforeWrite = (path) => {
      if (path.startsWith('tile/1/')) throw new Error('stopped');
    };
    await expect(run()).rejects.toThrow('stopped');
    expect(store.files.has('tile/entries/003.p/132')).toBe(true);
    store.beforeWrite = undefined;
    // New records that sort before the stopped seal's come after its entries: the written tiles stay valid.
    log.put('a0', ['Archive/1', 'x1']);
    const report = await run();
    expect(report).toMatchObject({ previousSize: 300, size: 901, appended: 601 });
    const { entries } = await readTree(store, 901);
    expect(JSON.parse(entries[300]?.toString() ?? '').id).toBe('Sent/0');
    expect(JSON.parse(entries[900]?.toString() ?? '').id).toBe('Archive/1');
  });

  it('says when the latest checkpoint is gone (a delete marker over it) and signs the same head again', async () => {
    const { store, log, run } = setup();
    log.put('a', ['INBOX/1', 'h1'], ['INBOX/2', 'h2']);
    await run();
    log.put('b', ['INBOX/3', 'h3']);
    const second = await run();
    expect(second.missingCheckpoint).toBeUndefined();
    const hidden = store.files.get('checkpoints/000000000003') as Buffer;
    // A simple DELETE on a versioned bucket: GET and LIST no longer show the key (the older version is kept).
    store.files.delete('checkpoints/000000000003');
    const third = await run();
    expect(third).toMatchObject({
      previousSize: 2,
      size: 3,
      appended: 1,
      missingCheckpoint: { size: 3, sealedAt: second.sealedAt },
    });
    // Ed25519 is deterministic: the same tree head signs to the same bytes.
    expect(store.files.get('checkpoints/000000000003')?.equals(hidden)).toBe(true);
    expect((await run()).missingCheckpoint).toBeUndefined();
  });

  it('refuses a store whose files do not match its checkpoint, or whose checkpoint is by another key', async () => {
    const { store, signer, log, run } = setup();
    log.put('a', ['INBOX/1', 'h1'], ['INBOX/2', 'h2'], ['INBOX/3', 'h3']);
    await run();
    const tile = store.files.get('tile/0/000.p/3') as Buffer;
    store.files.set('tile/0/000.p/3', Buffer.from(tile.map((b, i) => (i === 0 ? b ^ 1 : b))));
    // Each damage names the files it is in (found live: the messages named none).
    await expect(run()).rejects.toThrow(/tiles of the log do not hash to the root.*tile\/0\/000\.p\/3/);
    // doctor's few reads find it too.
    await expect(checkLogHead(store, signer.verifier)).rejects.toThrow(/tile\/0\/000\.p\/3/);
    store.files.set('tile/0/000.p/3', tile);
    expect((await checkLogHead(store, signer.verifier))?.size).toBe(3);
    const entries = store.files.get('tile/entries/000.p/3') as Buffer;
    store.files.set('tile/entries/000.p/3', Buffer.from(entries.toString().replace('h2', 'h9')));
    await expect(run()).rejects.toThrow(LogDamageError);
    await expect(run()).rejects.toThrow(
      /entries of the log do not hash to the root .*: leaf 1 of tile\/entries\/000\.p\/3 is not the leaf tile\/0\/000\.p\/3 holds/,
    );
    await expect(checkLogHead(store, signer.verifier)).rejects.toThrow(
      /not its tiles' leaves: leaf 1 of tile\/entries\/000\.p\/3/,
    );
    store.files.set('tile/entries/000.p/3', entries);
    expect(await checkLogHead(new MemoryWriteOnceStore(), signer.verifier)).toBeUndefined();
    const other = new KeyFileSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
    await expect(seal({ store, signer: other, source: log })).rejects.toThrow(/not signed by the key/);
  });
});
