// The proofs a bundle carries, made from the log as it stands: its latest checkpoint (checked with the log's own
// key), every leaf's inclusion path in that tree, and the consistency proof from every earlier sealed size. The
// exporter adds the files (proofs.ts has their format) after the messages.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BundleProofFile, BundleProofs, BundleProver, ProvenMessage } from '../bundle/export';
import { Spool } from '../bundle/tar';
import type { WriteOnceStore } from '../ports';
import {
  parseSealRecordPath,
  readCheckpoints,
  readTreeEntries,
  SEALS_PREFIX,
  timestampPath,
} from './log-files';
import type { MerkleTree } from './merkle';
import { formatVerifierKey, type NoteVerifier, parseVerifierKey } from './note';
import {
  BUNDLE_CHECKPOINT,
  BUNDLE_KEY,
  BUNDLE_PROOFS,
  BUNDLE_TIMESTAMP,
  proofLine,
  proofsHeaderLine,
} from './proofs';
import { KEY_PATH } from './seal';

/** The log at its latest checkpoint, read once per export. */
export interface LogSnapshot {
  verifier: NoteVerifier;
  /** The signed checkpoint as stored. */
  checkpoint: Buffer;
  size: number;
  tree: MerkleTree;
  /** The leaf at `index`, read back from the snapshot's spool file (the leaves are not held in memory). */
  entry(index: number): Buffer;
  /** Leaf index of each delivery identity (its first leaf). */
  leafOf: Map<string, number>;
  /** Consistency proof from each earlier sealed size to `size`. */
  consistency: Map<number, Buffer[]>;
  /** The RFC 3161 reply for the checkpoint, when the log is time-stamped. */
  timestamp?: Buffer;
  /** Closes the spool file (the caller removes its directory). */
  close(): void;
}

/**
 * The log in `store` at its latest checkpoint, or undefined when it was never sealed. `identity` reads a leaf's
 * delivery identity. With `asOf`, the latest checkpoint whose seal finished by then (its seal record's time): the
 * parts of one export, built at different moments, all prove against the same checkpoint. The leaves go to a file
 * in `spoolDir` (mode 0600: they name mailboxes and folders), read back one at a time; what stays in memory is the
 * tree's hashes and the identities' index. Throws LogDamageError when the log does not match its checkpoints or key.
 */
export async function readLogSnapshot(
  store: WriteOnceStore,
  identity: (leaf: Buffer) => string,
  options: { asOf?: Date; spoolDir: string },
): Promise<LogSnapshot | undefined> {
  const key = await store.get(KEY_PATH);
  if (!key) return undefined;
  const verifier = parseVerifierKey(key.toString('utf8'));
  let checkpoints = await readCheckpoints(store, verifier);
  if (options.asOf) {
    const limit = await sealedSizeAsOf(store, options.asOf);
    checkpoints = checkpoints.filter((c) => c.checkpoint.size <= limit);
  }
  const latest = checkpoints.at(-1);
  if (!latest) return undefined;
  const { size, root } = latest.checkpoint;
  const spool = openSync(join(options.spoolDir, 'log-entries'), 'w+', 0o600);
  try {
    const offsets = new Float64Array(size + 1);
    const leafOf = new Map<string, number>();
    // Written a few hundred leaves at a time: one write per leaf cost more CPU than the rest of the proofs.
    let pending: Buffer[] = [];
    const flush = () => {
      if (pending.length > 0) writeSync(spool, Buffer.concat(pending));
      pending = [];
    };
    const tree = await readTreeEntries(store, size, root, (leaf, index) => {
      offsets[index + 1] = (offsets[index] as number) + leaf.length;
      pending.push(leaf);
      if (pending.length === 256) flush();
      const id = identity(leaf);
      if (!leafOf.has(id)) leafOf.set(id, index);
    });
    flush();
    const consistency = new Map<number, Buffer[]>();
    for (const { checkpoint } of checkpoints)
      if (checkpoint.size > 0 && checkpoint.size < size)
        consistency.set(checkpoint.size, tree.consistencyProof(checkpoint.size, size));
    const timestamp = await store.get(timestampPath(size));
    const entry = (index: number) => {
      const start = offsets[index] as number;
      const leaf = Buffer.alloc((offsets[index + 1] as number) - start);
      readSync(spool, leaf, 0, leaf.length, start);
      return leaf;
    };
    return {
      verifier,
      checkpoint: latest.note,
      size,
      tree,
      entry,
      leafOf,
      consistency,
      ...(timestamp ? { timestamp } : {}),
      close: () => closeSync(spool),
    };
  } catch (error) {
    closeSync(spool);
    throw error;
  }
}

/** The largest tree size a seal record says was sealed at or before `at` (-1 when none was). */
async function sealedSizeAsOf(store: WriteOnceStore, at: Date): Promise<number> {
  let size = -1;
  for await (const path of store.list(SEALS_PREFIX)) {
    const named = parseSealRecordPath(path);
    if (named && Date.parse(named.sealedAt) <= at.getTime()) size = Math.max(size, named.size);
  }
  return size;
}

/**
 * The transparency files of a bundle, proofs.jsonl written as messages are added (a spool file in `spoolDir`, read
 * back into the bundle): a message that is not a leaf yet (delivered after the last seal) gets no line, and
 * `verify` names it.
 */
class SpooledBundleProofs implements BundleProver {
  private readonly lines: Spool;

  constructor(
    private readonly snapshot: LogSnapshot,
    spoolDir: string,
  ) {
    this.lines = new Spool(join(spoolDir, 'proofs.jsonl'));
  }

  async start(): Promise<this> {
    await this.lines.append(proofsHeaderLine(this.snapshot.size, this.snapshot.consistency));
    return this;
  }

  async add(message: ProvenMessage): Promise<void> {
    const index = this.snapshot.leafOf.get(message.identity);
    if (index === undefined) return;
    await this.lines.append(
      proofLine({
        folder: message.folder,
        uid: message.uid,
        index,
        leaf: this.snapshot.entry(index),
        proof: this.snapshot.tree.inclusionProof(index),
      }),
    );
  }

  async files(): Promise<BundleProofFile[]> {
    await this.lines.close();
    const key = Buffer.from(`${formatVerifierKey(this.snapshot.verifier)}\n`);
    const { checkpoint, timestamp } = this.snapshot;
    return [
      { path: BUNDLE_CHECKPOINT, size: checkpoint.length, body: checkpoint },
      { path: BUNDLE_KEY, size: key.length, body: key },
      ...(timestamp ? [{ path: BUNDLE_TIMESTAMP, size: timestamp.length, body: timestamp }] : []),
      { path: BUNDLE_PROOFS, size: this.lines.bytes, body: this.lines.read() },
    ];
  }

  async close(): Promise<void> {
    await this.lines.close().catch(() => undefined);
    this.snapshot.close();
  }
}

/** The log in `store` as exports read it (shared/bundle/export.ts BundleProofs); `identity` as for readLogSnapshot. */
export function logBundleProofs(store: WriteOnceStore, identity: (leaf: Buffer) => string): BundleProofs {
  return async (asOf, spoolDir) => {
    const snapshot = await readLogSnapshot(store, identity, { asOf, spoolDir });
    return snapshot && new SpooledBundleProofs(snapshot, spoolDir).start();
  };
}
