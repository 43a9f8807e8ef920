// The transparency log as a replica keeps it, and what it proves about the replica's mailboxes.
//
// `sync` copies the log into the replica (DIR/.mail-archiver-sync/transparency/, the log's own layout: key.pub,
// checkpoints/<size>, tile/entries/...): the key on the first copy (kept: a key that changes later is refused),
// then at each new checkpoint the entry bundles it adds, checked against its signed root, and the checkpoint the
// replica kept must be a prefix of the new tree. So each replica is a witness: a history rewritten inside AWS
// contradicts the checkpoints and entries the replica already holds, and the next sync says so. Only the entry
// bundles are copied: the hash tiles follow from the entries. A sync reads what is new, not the whole copy: the
// log's partial hash tiles at the kept size (one per 256-fold level) and the entry bundles from there on.
//
// With every leaf up to a checkpoint, `verify` of a replica's mailbox proves completeness, not only integrity:
// it recomputes the root from the leaves (so the set of leaves is exactly the log's), takes the leaves of that
// mailbox, and names each delivery the replica lacks. Memory: 64 bytes per leaf of the log (the tree's hashes),
// plus the mailbox's own messages; the leaves themselves are read one entry bundle at a time.
import { createHash } from 'node:crypto';
import { readDeliveryFacts } from '../delivery-log/record';
import { errorMessage } from '../errors';
import type { WriteOnceStore } from '../ports';
import { type Checkpoint, openGivenCheckpoints } from './checkpoint';
import {
  checkpointPath,
  entryBundles,
  LogDamageError,
  LogOverwriteError,
  readLatestCheckpoint,
  type StoredCheckpoint,
  timestampPath,
} from './log-files';
import { leafHash, MerkleTree } from './merkle';
import { formatVerifierKey, type NoteVerifier, parseVerifierKey } from './note';
import { KEY_PATH } from './seal';
import {
  decodeEntryBundle,
  encodeEntryBundle,
  entryBundlePath,
  TILE_WIDTH,
  TileError,
  TreeEdge,
} from './tiles';

/** Where the entry bundles are, beside the hash tiles (`tile/<L>/...`). */
const ENTRY_BUNDLES = 'tile/entries/';

/** The log contradicts the copy a replica kept: another key, a checkpoint rolled back, entries rewritten. */
export class LogWitnessError extends Error {
  override name = 'LogWitnessError';
}

export interface MirrorResult {
  /** 'unsealed': the archive's log has no checkpoint yet; otherwise the size the replica now holds. */
  state: 'unsealed' | 'current' | 'grew';
  size?: number;
  /** The size the replica held before this copy. */
  from?: number;
  origin?: string;
}

/**
 * Copies what is new in the archive's log (`upstream`) into the replica's copy (`mirror`): the key (first time
 * only), the entry bundles up to the latest checkpoint, and that checkpoint, after checking that the copied
 * entries hash to its root and that every checkpoint the replica kept is a prefix of the new tree. Throws
 * LogWitnessError when the log contradicts the copy (nothing is written then), LogDamageError for a checkpoint
 * not signed by the key or an entry bundle missing, and what the stores throw.
 */
export async function mirrorLog(upstream: WriteOnceStore, mirror: WriteOnceStore): Promise<MirrorResult> {
  const upstreamKey = await upstream.get(KEY_PATH);
  if (!upstreamKey) return { state: 'unsealed' };
  const keptKey = await mirror.get(KEY_PATH);
  if (keptKey && !keptKey.equals(upstreamKey))
    throw new LogWitnessError(
      `the log's key is now ${upstreamKey.toString('utf8').trim()}, the replica kept ${keptKey.toString('utf8').trim()}: a log signed by another key is not the log this replica witnessed`,
    );
  const verifier = parseVerifierKey(upstreamKey.toString('utf8'));
  const latest = await readLatestCheckpoint(upstream, verifier);
  if (!latest) return { state: 'unsealed' };
  if (!keptKey) await mirror.putOnce(KEY_PATH, upstreamKey, 'text/plain; charset=utf-8');
  const newest = await readLatestCheckpoint(mirror, verifier);
  const { size, root, origin } = latest.checkpoint;
  if (newest && newest.checkpoint.size > size)
    throw new LogWitnessError(
      `the log's latest checkpoint is of ${size} deliveries, older than the ${newest.checkpoint.size} this replica kept: the log was rolled back`,
    );
  if (newest?.checkpoint.size === size) {
    if (!newest.note.equals(latest.note) && !newest.checkpoint.root.equals(root))
      throw new LogWitnessError(
        `the log's checkpoint of ${size} deliveries has another root than the one this replica kept: the log was rewritten`,
      );
    return { state: 'current', size, origin };
  }
  // Only what is new is read: the right edge of the kept tree (the log's partial hash tiles at the kept size, one
  // per tile level, and the replica's own partial entry bundle), which must hash to the root the replica kept,
  // then the entry bundles from the kept size on. A new root computed from the kept tree's own subtrees and the
  // new leaves proves the kept tree a prefix of the new one (what an RFC 9162 consistency proof proves); each
  // older checkpoint the replica kept was proven a prefix of the kept tree when it was copied. Checked before
  // any file is written: a log that contradicts the copy leaves nothing of its own in it.
  const from = newest?.checkpoint.size ?? 0;
  const edge = await keptEdge(upstream, mirror, from);
  const keptEntries = [...edge.partialEntries];
  if (newest && !edge.root().equals(newest.checkpoint.root))
    throw new LogWitnessError(
      `the log's tiles of its first ${from} deliveries do not hash to the checkpoint of ${from} this replica kept: the log was rewritten`,
    );
  // Each new entry bundle is read twice: once to check the new root (only its digest kept, so that memory does not
  // grow with the log: a first sync copies every bundle), then again to write it, refused unless it is the bundle
  // checked. Nothing is written before the root is checked.
  const bundles: { index: number; width: number; path: string; digest: string }[] = [];
  const first = Math.floor(from / TILE_WIDTH);
  const wanted = Array.from({ length: Math.ceil(size / TILE_WIDTH) - first }, (_, i) => ({
    index: first + i,
    width: Math.min(TILE_WIDTH, size - (first + i) * TILE_WIDTH),
  }));
  for await (const { index, width, path, bytes } of readAhead(wanted, async (bundle) => ({
    ...bundle,
    ...(await readBundle(upstream, bundle.index, bundle.width, size)),
  }))) {
    const entries = decodeEntryBundle(bytes, path).slice(0, width);
    if (entries.length < width) throw new LogDamageError(`${path}: ${entries.length} entries, not ${width}`);
    // The bundle the kept tree ends in starts with entries the replica holds: they must be the same.
    const skip = Math.max(0, from - index * TILE_WIDTH);
    if (entries.slice(0, skip).some((entry, i) => !entry.equals(keptEntries[i] as Buffer)))
      throw new LogWitnessError(`${path} of the log now holds other entries than the copy this replica kept`);
    for (const entry of entries.slice(skip)) edge.append(entry, leafHash(entry));
    bundles.push({ index, width, path, digest: digestOf(bytes) });
  }
  if (!edge.root().equals(root))
    throw new LogWitnessError(
      `the log's checkpoint of ${size} is not the root of the entries this replica kept and the new ones: the log was rewritten (or its entries damaged)`,
    );
  for await (const { path, bytes, digest, checkedPath } of readAhead(bundles, async (bundle) => ({
    ...(await readBundle(upstream, bundle.index, bundle.width, size)),
    digest: bundle.digest,
    checkedPath: bundle.path,
  }))) {
    if (path !== checkedPath || digestOf(bytes) !== digest)
      throw new LogWitnessError(`${path} of the log changed while this replica copied it`);
    try {
      await mirror.putOnce(path, bytes, 'application/octet-stream');
    } catch (error) {
      if (error instanceof LogOverwriteError)
        throw new LogWitnessError(
          `${path} of the log now holds other entries than the copy this replica kept`,
          {
            cause: error,
          },
        );
      throw error;
    }
  }
  // The time-stamp first: a copy that has a checkpoint has its time-stamp too, when the log has one.
  const timestamp = await upstream.get(timestampPath(size));
  if (timestamp) await mirror.putOnce(timestampPath(size), timestamp, 'application/timestamp-reply');
  await mirror.putOnce(checkpointPath(size), latest.note, 'text/plain; charset=utf-8');
  return { state: 'grew', size, from, origin };
}

/**
 * Entry bundle `index` of the log (`width` of its entries wanted, for the checkpoint of `size`): the partial bundle
 * of that width, or the full one when a later seal filled it (it holds the same entries first). Throws
 * LogDamageError when neither is there.
 */
async function readBundle(
  upstream: WriteOnceStore,
  index: number,
  width: number,
  size: number,
): Promise<{ path: string; bytes: Buffer }> {
  let path = entryBundlePath(index, width);
  let bytes = await upstream.get(path);
  if (!bytes && width < TILE_WIDTH) {
    path = entryBundlePath(index);
    bytes = await upstream.get(path);
  }
  if (!bytes)
    throw new LogDamageError(
      `${entryBundlePath(index, width)} is missing from the log: its checkpoint of ${size} cannot be copied`,
    );
  return { path, bytes };
}

/** Entry bundles read at a time ahead of the one being checked or written (over a link each waits on latency). */
const READ_AHEAD = 8;

/** `read` of each item, up to READ_AHEAD under way at once, yielded in the items' order. */
async function* readAhead<I, T>(items: readonly I[], read: (item: I) => Promise<T>): AsyncGenerator<T> {
  const pending: Promise<T>[] = [];
  for (const item of items) {
    const next = read(item);
    // A read that fails after the caller stopped (a bundle before it refused) is not an unhandled rejection.
    next.catch(() => undefined);
    pending.push(next);
    if (pending.length >= READ_AHEAD) yield await (pending.shift() as Promise<T>);
  }
  while (pending.length > 0) yield await (pending.shift() as Promise<T>);
}

const digestOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * The right edge of the kept tree of `size` leaves (shared/transparency/tiles.ts TreeEdge): its partial hash tiles
 * read from the log, its partial entry bundle from the replica's copy. A partial file that is gone is read as the
 * first hashes or entries of the full one (C2SP tlog-tiles lets a log drop partial tiles once the full tile
 * exists). A log without its own tiles at a size it sealed gets the edge rebuilt from the replica's entries
 * instead (every one read: what a sync cost before it read tiles), so such a log is still checked against what
 * the replica kept. Throws LogDamageError naming an entry bundle the replica's copy lacks.
 */
async function keptEdge(upstream: WriteOnceStore, mirror: WriteOnceStore, size: number): Promise<TreeEdge> {
  // The edge only checks roots here: it keeps no completed bundle or tile (memory flat in the log's size).
  if (size === 0) return TreeEdge.empty(false);
  try {
    return await TreeEdge.load(
      size,
      async (path) => {
        const entries = path.startsWith(ENTRY_BUNDLES);
        const store = entries ? mirror : upstream;
        const exact = await store.get(path);
        const partial = /^(.*)\.p\/(\d+)$/.exec(path);
        if (exact || !partial) return exact;
        const full = await store.get(partial[1] as string);
        if (!full) return undefined;
        const width = Number(partial[2]);
        if (!entries) return full.subarray(0, width * 32);
        return encodeEntryBundle(decodeEntryBundle(full, partial[1] as string).slice(0, width));
      },
      false,
    );
  } catch (error) {
    if (!(error instanceof TileError)) throw error;
  }
  try {
    return await TreeEdge.rebuild(size, (path) => mirror.get(path));
  } catch (error) {
    if (error instanceof TileError)
      throw new LogDamageError(`the replica's copy of the log: ${error.message}`, { cause: error });
    throw error;
  }
}

/** The hashes of the first `size` leaves of a log copy (64 bytes per leaf kept, the leaves read a bundle at a time). */
async function treeOf(
  store: WriteOnceStore,
  size: number,
  onLeaf?: (leaf: Buffer, index: number) => void,
): Promise<MerkleTree> {
  const tree = new MerkleTree();
  for await (const { first, entries } of entryBundles(store, size))
    for (const [i, leaf] of entries.entries()) {
      tree.append(leafHash(leaf));
      onLeaf?.(leaf, first + i);
    }
  return tree;
}

/** A message of a replica's mailbox as its manifest lists it (its bytes already checked against sha256 and size). */
export interface ReplicaMessage {
  folder: string;
  uid: number;
  uidValidity: number;
  sha256: string;
  size: number;
}

export interface ReplicaCheckInput {
  /** The key the user trusts (--key). */
  key: NoteVerifier;
  /** The checkpoint the user trusts (--checkpoint), and an older one (--previous). */
  given: Buffer;
  previous?: Buffer;
  /** The replica's copy of the log. */
  log: WriteOnceStore;
  mailbox: string;
  messages: readonly ReplicaMessage[];
}

export interface ReplicaCheck {
  /** Problems, each naming the delivery (folder, UID, received time) or the checkpoint. Empty: complete. */
  errors: string[];
  /** The newest checkpoint the replica holds, which the given one is a prefix of: what completeness is checked at. */
  checkpoint?: Checkpoint;
  /** Deliveries of the mailbox in the log up to that checkpoint, each present with the recorded bytes. */
  proven: number;
  /** Messages of the replica not in the log at that checkpoint (delivered after the last seal the replica copied). */
  unsealed: number;
}

/**
 * Checks a replica's mailbox against the log copy kept with the replica, offline: the given checkpoint (and the
 * previous one) are signed by the key and prefixes of the newest checkpoint the copy holds (its root recomputed
 * from every leaf); every delivery of the mailbox up to that checkpoint is in the replica with the sha256, size
 * and UIDVALIDITY the log recorded (a missing one is named by folder, UID and received time); messages of the
 * replica the log does not have yet are counted (`unsealed`), not failed: a live replica is ahead of the last
 * seal. Never throws for a bad replica or checkpoint: the errors say what failed.
 */
export async function checkReplicaCompleteness(input: ReplicaCheckInput): Promise<ReplicaCheck> {
  const errors: string[] = [];
  const fail = (error: string): ReplicaCheck => ({ errors: [...errors, error], proven: 0, unsealed: 0 });
  const { given, previous, opened } = openGivenCheckpoints(input, input.key, errors);
  if (!given || !opened) return { errors, proven: 0, unsealed: 0 };
  let newest: StoredCheckpoint | undefined;
  try {
    const keptKey = await input.log.get(KEY_PATH);
    if (!keptKey)
      return fail(
        "the replica holds no copy of the transparency log (.mail-archiver-sync/transparency/): run `mail-archiver sync` after the log's first seal",
      );
    if (keptKey.toString('utf8').trim() !== formatVerifierKey(input.key))
      errors.push(
        `the replica's copy of the log has another key (${keptKey.toString('utf8').trim()}) than the one given`,
      );
    newest = await readLatestCheckpoint(input.log, input.key);
  } catch (error) {
    return fail(`the replica's copy of the log: ${errorMessage(error)}`);
  }
  if (!newest) return fail("the replica's copy of the log holds no checkpoint: run `mail-archiver sync`");
  for (const [other, what] of [
    [given, 'the checkpoint given'],
    [previous, 'the previous checkpoint'],
  ] as const)
    if (other && newest.checkpoint.size < other.size)
      return fail(
        `the replica holds the log up to ${newest.checkpoint.size} deliveries, ${what} is of ${other.size}: run \`mail-archiver sync\` (the replica was last synced before that seal)`,
      );

  const byMessage = new Map<string, ReplicaMessage>();
  for (const message of input.messages) byMessage.set(`${message.folder}\u0000${message.uid}`, message);
  const seen = new Set<string>();
  const missing: string[] = [];
  let proven = 0;
  let tree: MerkleTree;
  try {
    tree = await treeOf(input.log, newest.checkpoint.size, (leaf, index) => {
      let facts: ReturnType<typeof readDeliveryFacts>;
      try {
        facts = readDeliveryFacts(leaf.toString('utf8'));
      } catch (error) {
        errors.push(`leaf ${index} of the log is not a delivery record (${errorMessage(error)})`);
        return;
      }
      if (facts.mailbox !== input.mailbox) return;
      const key = `${facts.folder}\u0000${facts.uid}`;
      // A delivery is sealed once (seal.ts skips repeats); a second leaf with its folder and UID is another
      // UIDVALIDITY's, which the replica cannot hold beside the first: it is compared like any other.
      if (seen.has(key) && !byMessage.has(key)) return;
      seen.add(key);
      const message = byMessage.get(key);
      const where = `${facts.folder} UID ${facts.uid} (received ${facts.receivedAt}, leaf ${index})`;
      if (!message) {
        missing.push(`${where}: in the log but missing from the replica`);
        return;
      }
      byMessage.delete(key);
      const differences = [
        facts.uidValidity !== message.uidValidity && `UIDVALIDITY ${facts.uidValidity}`,
        facts.sha256 !== message.sha256 && `sha256 ${facts.sha256}`,
        facts.size !== message.size && `size ${facts.size}`,
      ].filter(Boolean);
      if (differences.length > 0)
        errors.push(
          `${where}: the replica holds another message (the log recorded ${differences.join(', ')})`,
        );
      else proven += 1;
    });
  } catch (error) {
    return fail(`the replica's copy of the log: ${errorMessage(error)}`);
  }
  if (!tree.root().equals(newest.checkpoint.root))
    return fail(
      `the replica's copy of the log does not hash to the root of its checkpoint of ${newest.checkpoint.size}: the copy is damaged`,
    );
  for (const [other, what] of [
    [given, 'the checkpoint given'],
    [previous, 'the previous checkpoint'],
  ] as const)
    if (other && !tree.root(other.size).equals(other.root))
      errors.push(
        `${what} (tree of ${other.size}) is not consistent with the replica's copy of the log (tree of ${newest.checkpoint.size}): the log was rewritten since`,
      );
  errors.push(...missing);
  return { errors, checkpoint: newest.checkpoint, proven, unsealed: byMessage.size };
}
