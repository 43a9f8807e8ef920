// The proofs a bundle carries, made from the log as it stands: its latest checkpoint (checked with the log's own
// key), every leaf's inclusion path in that tree, and the consistency proof from every earlier sealed size. The
// exporter adds the files (proofs.ts has their format) after the messages.
import type { BundleProofs } from '../bundle/export';
import type { WriteOnceStore } from '../ports';
import { readCheckpoints, readTree, SEALS_PREFIX, timestampPath } from './log-files';
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
  entries: Buffer[];
  /** Leaf index of each delivery identity (its first leaf). */
  leafOf: Map<string, number>;
  /** Consistency proof from each earlier sealed size to `size`. */
  consistency: Map<number, Buffer[]>;
  /** The RFC 3161 reply for the checkpoint, when the log is time-stamped. */
  timestamp?: Buffer;
}

/**
 * The log in `store` at its latest checkpoint, or undefined when it was never sealed. `identity` reads a leaf's
 * delivery identity. With `asOf`, the latest checkpoint whose seal finished by then (its seal record's time): the
 * parts of one export, built at different moments, all prove against the same checkpoint. Throws LogDamageError
 * when the log does not match its checkpoints or key.
 */
export async function readLogSnapshot(
  store: WriteOnceStore,
  identity: (leaf: Buffer) => string,
  options: { asOf?: Date } = {},
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
  const { tree, entries } = await readTree(store, size, root);
  const leafOf = new Map<string, number>();
  entries.forEach((leaf, index) => {
    const id = identity(leaf);
    if (!leafOf.has(id)) leafOf.set(id, index);
  });
  const consistency = new Map<number, Buffer[]>();
  for (const { checkpoint } of checkpoints)
    if (checkpoint.size > 0 && checkpoint.size < size)
      consistency.set(checkpoint.size, tree.consistencyProof(checkpoint.size, size));
  const timestamp = await store.get(timestampPath(size));
  return {
    verifier,
    checkpoint: latest.note,
    size,
    tree,
    entries,
    leafOf,
    consistency,
    ...(timestamp ? { timestamp } : {}),
  };
}

/** The largest tree size a seal record says was sealed at or before `at` (-1 when none was). */
async function sealedSizeAsOf(store: WriteOnceStore, at: Date): Promise<number> {
  let size = -1;
  for await (const path of store.list(SEALS_PREFIX)) {
    const match = /^seals\/(\d{12})\/(.+)\.json$/.exec(path);
    if (match && Date.parse(match[2] as string) <= at.getTime()) size = Math.max(size, Number(match[1]));
  }
  return size;
}

/**
 * The transparency files of a bundle holding `messages` (each with its delivery identity), in the order they are
 * added. A message that is not a leaf yet (delivered after the last seal) gets no line, and `verify` names it.
 */
export function bundleProofFiles(
  snapshot: LogSnapshot,
  messages: Iterable<{ folder: string; uid: number; identity: string }>,
): { path: string; bytes: Buffer }[] {
  const lines = [proofsHeaderLine(snapshot.size, snapshot.consistency)];
  for (const message of messages) {
    const index = snapshot.leafOf.get(message.identity);
    if (index === undefined) continue;
    lines.push(
      proofLine({
        folder: message.folder,
        uid: message.uid,
        index,
        leaf: snapshot.entries[index] as Buffer,
        proof: snapshot.tree.inclusionProof(index),
      }),
    );
  }
  const key = `${formatVerifierKey(snapshot.verifier)}\n`;
  return [
    { path: BUNDLE_CHECKPOINT, bytes: snapshot.checkpoint },
    { path: BUNDLE_KEY, bytes: Buffer.from(key) },
    ...(snapshot.timestamp ? [{ path: BUNDLE_TIMESTAMP, bytes: snapshot.timestamp }] : []),
    { path: BUNDLE_PROOFS, bytes: Buffer.from(lines.join(''), 'utf8') },
  ];
}

/** The log in `store` as exports read it (shared/bundle/export.ts BundleProofs); `identity` as for readLogSnapshot. */
export function logBundleProofs(store: WriteOnceStore, identity: (leaf: Buffer) => string): BundleProofs {
  return async (asOf) => {
    const snapshot = await readLogSnapshot(store, identity, { asOf });
    return snapshot && ((messages) => bundleProofFiles(snapshot, messages));
  };
}
