// The transparency log's files in its write-once store, and how they are read back: tiles and entry bundles
// (tiles.ts), one signed checkpoint per sealed size, and one seal record per run of the sealer. Every path is
// built here. Nothing is ever overwritten: a checkpoint for a size is deterministic (Ed25519 signatures are),
// so sealing the same tree again writes the same bytes, which the store takes as done.
import { TRANSPARENCY_PREFIX } from '../index/schema';
import type { WriteOnceStore } from '../ports';
import { type Checkpoint, CheckpointError, openCheckpoint } from './checkpoint';
import { leafHash, MerkleTree } from './merkle';
import { type NoteVerifier, SignedNoteError } from './note';
import {
  decodeEntryBundle,
  entryBundlePath,
  type LogFile,
  readEntryBundles,
  rightEdgePaths,
  TILE_WIDTH,
  TileError,
  TreeEdge,
  tilePath,
} from './tiles';

/** The key prefix of the transparency log in the raw-mail bucket (AWS and the local stack): the key layout's. */
export { TRANSPARENCY_PREFIX };

/** Where every signed checkpoint is kept: `checkpoints/<tree size, 12 digits>` (listing order is size order). */
export const CHECKPOINTS_PREFIX = 'checkpoints/';
/** Where each run of the sealer records what it did: `seals/<tree size, 12 digits>/<ISO 8601 time>.json`. */
export const SEALS_PREFIX = 'seals/';

export function checkpointPath(size: number): string {
  return `${CHECKPOINTS_PREFIX}${String(size).padStart(12, '0')}`;
}

/** The RFC 3161 reply for the checkpoint of a size, when a timestamp authority is configured. */
export function timestampPath(size: number): string {
  return `${checkpointPath(size)}.tsr`;
}

export function sealRecordPath(size: number, at: Date): string {
  return `${SEALS_PREFIX}${String(size).padStart(12, '0')}/${at.toISOString()}.json`;
}

/** The tree size and time (ISO 8601 UTC) a seal record's path names; undefined for a path sealRecordPath did not make. */
export function parseSealRecordPath(path: string): { size: number; sealedAt: string } | undefined {
  const match = /^seals\/(\d{12})\/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\.json$/.exec(path);
  return match ? { size: Number(match[1]), sealedAt: match[2] as string } : undefined;
}

/**
 * Thrown by a WriteOnceStore asked to write other bytes over a file of the log: never done, and alarmed (a bug, or
 * someone rewriting history). Carries the path.
 */
export class LogOverwriteError extends Error {
  override name = 'LogOverwriteError';
  constructor(readonly path: string) {
    super(
      `refused to overwrite ${path} of the transparency log with other bytes: its files are written once`,
    );
  }
}

/** Thrown when the store's log is damaged: a checkpoint not signed by the log's key, a tile missing. */
export class LogDamageError extends Error {
  override name = 'LogDamageError';
}

export interface StoredCheckpoint {
  checkpoint: Checkpoint;
  /** The signed note as stored. */
  note: Buffer;
}

/**
 * Every checkpoint in the store, smallest tree first, each opened with the log's key. Throws LogDamageError
 * naming a checkpoint that does not verify or whose size is not its path's.
 */
export async function readCheckpoints(
  store: WriteOnceStore,
  verifier: NoteVerifier,
): Promise<StoredCheckpoint[]> {
  const found: StoredCheckpoint[] = [];
  for await (const path of store.list(CHECKPOINTS_PREFIX)) {
    if (!/^checkpoints\/\d{12}$/.test(path)) continue;
    found.push(await readCheckpointAt(store, path, verifier));
  }
  return found.sort((a, b) => a.checkpoint.size - b.checkpoint.size);
}

/** The checkpoint of the largest tree in the store, or undefined for a log never sealed. */
export async function readLatestCheckpoint(
  store: WriteOnceStore,
  verifier: NoteVerifier,
): Promise<StoredCheckpoint | undefined> {
  let last: string | undefined;
  for await (const path of store.list(CHECKPOINTS_PREFIX))
    if (/^checkpoints\/\d{12}$/.test(path)) last = path;
  return last ? readCheckpointAt(store, last, verifier) : undefined;
}

async function readCheckpointAt(
  store: WriteOnceStore,
  path: string,
  verifier: NoteVerifier,
): Promise<StoredCheckpoint> {
  const note = await store.get(path);
  if (!note) throw new LogDamageError(`${path} was listed but cannot be read`);
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(note, verifier);
  } catch (error) {
    if (error instanceof SignedNoteError || error instanceof CheckpointError)
      throw new LogDamageError(`${path}: ${error.message}`, { cause: error });
    throw error;
  }
  if (checkpointPath(checkpoint.size) !== path)
    throw new LogDamageError(`${path} holds the checkpoint of a tree of ${checkpoint.size}`);
  return { checkpoint, note };
}

/**
 * The leaves of the tree of `size` leaves and its hashes, read from the entry bundles, checked against `root`
 * when given. Throws LogDamageError naming a missing or malformed bundle, or a root that is not the entries'.
 */
export async function readTree(
  store: WriteOnceStore,
  size: number,
  root?: Buffer,
): Promise<{ entries: Buffer[]; tree: MerkleTree }> {
  const entries: Buffer[] = [];
  const tree = await readTreeEntries(store, size, root, (entry) => {
    entries.push(entry);
  });
  return { entries, tree };
}

/**
 * readTree without holding the leaves: each is handed to `onEntry` (with its index) as its entry bundle is read,
 * and only the tree's hashes are kept (32 bytes a leaf and as much again for the levels above).
 */
export async function readTreeEntries(
  store: WriteOnceStore,
  size: number,
  root: Buffer | undefined,
  onEntry: (entry: Buffer, index: number) => void | Promise<void>,
): Promise<MerkleTree> {
  const tree = new MerkleTree();
  try {
    for await (const bundle of readEntryBundles(size, (path) => store.get(path))) {
      for (const entry of bundle) {
        await onEntry(entry, tree.size);
        tree.append(leafHash(entry));
      }
    }
  } catch (error) {
    if (error instanceof TileError) throw new LogDamageError(error.message, { cause: error });
    throw error;
  }
  if (root && !tree.root().equals(root)) {
    // Read again on the way to the error only, to name the file.
    const where = await locateEntryDamage(store, entryBundles(store, size)).catch(() => undefined);
    throw new LogDamageError(
      `the entries of the log do not hash to the root of its checkpoint of ${size}${where ? `: ${where}` : ''}`,
    );
  }
  return tree;
}

/** The hash tiles a tree of `size` leaves is read from at its right edge, named for a damage report. */
export function rightEdgeTiles(size: number): string {
  return rightEdgePaths(size)
    .map((tile) => tile.path)
    .join(', ');
}

/**
 * Where entries and hash tiles disagree: the first leaf of an entry bundle whose hash is not the one its level-0
 * tile holds (one of the two was rewritten after the seal). Undefined when every tile that can be read agrees
 * (the tiles were rewritten to match, or are gone).
 */
async function locateEntryDamage(
  store: WriteOnceStore,
  bundles: Iterable<EntryBundle> | AsyncIterable<EntryBundle>,
): Promise<string | undefined> {
  for await (const { first, path, entries } of bundles) {
    const index = first / TILE_WIDTH;
    const tile = tilePath(0, index, entries.length);
    const hashes = (await store.get(tile)) ?? (await store.get(tilePath(0, index)));
    if (!hashes) continue;
    for (const [i, entry] of entries.entries())
      if (!leafHash(entry).equals(hashes.subarray(i * 32, (i + 1) * 32)))
        return `leaf ${first + i} of ${path} is not the leaf ${tile} holds`;
  }
  return undefined;
}

/**
 * The head of the log checked in a few reads whatever its size (doctor): the newest checkpoint is signed by the
 * key, the hash tiles at its right edge hash to its root, and the leaves of the newest entry bundle are the ones
 * its level-0 tile holds. Returns that checkpoint, undefined for a log never sealed. Throws LogDamageError naming
 * the file (older entry bundles are checked by every seal and export, which read them all).
 */
export async function checkLogHead(
  store: WriteOnceStore,
  verifier: NoteVerifier,
): Promise<Checkpoint | undefined> {
  const latest = await readLatestCheckpoint(store, verifier);
  if (!latest) return undefined;
  const { size, root } = latest.checkpoint;
  if (size === 0) return latest.checkpoint;
  try {
    const edge = await TreeEdge.load(size, (path) => store.get(path));
    if (!edge.root().equals(root))
      throw new LogDamageError(
        `the tiles of the log do not hash to the root of its checkpoint of ${size} (${rightEdgeTiles(size)})`,
      );
    const index = Math.floor((size - 1) / TILE_WIDTH);
    const width = size - index * TILE_WIDTH;
    const path = entryBundlePath(index, width);
    const bytes = (await store.get(path)) ?? (await store.get(entryBundlePath(index)));
    if (!bytes) throw new LogDamageError(`${path} is missing: the log of ${size} leaves is incomplete`);
    const newest = {
      first: index * TILE_WIDTH,
      path,
      entries: decodeEntryBundle(bytes, path).slice(0, width),
    };
    const where = await locateEntryDamage(store, [newest]);
    if (where) throw new LogDamageError(`the entries of the log are not its tiles' leaves: ${where}`);
  } catch (error) {
    if (error instanceof TileError) throw new LogDamageError(error.message, { cause: error });
    throw error;
  }
  return latest.checkpoint;
}

/** An entry bundle as read: the index of its first leaf, where it was read from, its leaves. */
export interface EntryBundle {
  first: number;
  path: string;
  entries: Buffer[];
}

/**
 * The first `size` leaves of a log, an entry bundle (256 leaves) at a time, with the index of each bundle's first
 * leaf; a partial bundle is read from the full one when only that is left (C2SP tlog-tiles lets a log drop
 * partial tiles once the full one exists). Throws LogDamageError naming a bundle that is missing or too short.
 */
export async function* entryBundles(store: WriteOnceStore, size: number): AsyncIterable<EntryBundle> {
  for (let index = 0; index * TILE_WIDTH < size; index++) {
    const width = Math.min(TILE_WIDTH, size - index * TILE_WIDTH);
    const candidates =
      width < TILE_WIDTH ? [entryBundlePath(index, width), entryBundlePath(index)] : [entryBundlePath(index)];
    let bytes: Buffer | undefined;
    let path = candidates[0] as string;
    for (const candidate of candidates) {
      path = candidate;
      bytes = await store.get(candidate);
      if (bytes) break;
    }
    if (!bytes)
      throw new LogDamageError(
        `${candidates[0]} is missing: the copy of the log holds fewer than ${size} leaves`,
      );
    const entries = decodeEntryBundle(bytes, path);
    if (entries.length < width) throw new LogDamageError(`${path}: ${entries.length} entries, not ${width}`);
    yield { first: index * TILE_WIDTH, path, entries: entries.slice(0, width) };
  }
}

/**
 * Entries a sealer wrote past `size` and did not commit with a checkpoint (it stopped between the two): the
 * contiguous run of entry bundles from the one holding leaf `size` on, each full bundle whole and then the widest
 * partial one. A rerun appends them first, in the same order, so every tile it writes again is byte-identical.
 * The first `size % 256` entries of the first bundle are already leaves and are left out.
 */
export async function readUncommittedEntries(store: WriteOnceStore, size: number): Promise<Buffer[]> {
  const entries: Buffer[] = [];
  for (let index = Math.floor(size / TILE_WIDTH); ; index++) {
    const start = index * TILE_WIDTH;
    const full = await store.get(entryBundlePath(index));
    let bundle: Buffer[] | undefined;
    if (full) bundle = decodeEntryBundle(full, entryBundlePath(index));
    else {
      let widest = 0;
      const prefix = `${entryBundlePath(index)}.p/`;
      for await (const path of store.list(prefix)) {
        const width = Number(path.slice(prefix.length));
        if (Number.isInteger(width) && width > widest) widest = width;
      }
      if (widest > 0) {
        const path = entryBundlePath(index, widest);
        bundle = decodeEntryBundle((await store.get(path)) ?? Buffer.alloc(0), path);
      }
    }
    if (!bundle) break;
    const skip = Math.max(0, size + entries.length - start);
    entries.push(...bundle.slice(skip));
    if (bundle.length < TILE_WIDTH) break;
  }
  return entries;
}

/**
 * Writes a seal's files in an order that leaves a readable log at any stop: entry bundles (in index order), then
 * hash tiles (lowest level first), then whatever `last` holds (the checkpoint, the seal record). Returns how many
 * were created (the rest were there already with the same bytes). Throws what the store throws (an overwrite).
 */
export async function writeLogFiles(
  store: WriteOnceStore,
  files: LogFile[],
  last: LogFile[] = [],
): Promise<number> {
  const entries = files.filter((f) => f.path.startsWith('tile/entries/'));
  const tiles = files
    .filter((f) => !f.path.startsWith('tile/entries/'))
    .sort((a, b) => tileLevel(a.path) - tileLevel(b.path));
  let created = 0;
  for (const file of [...entries, ...tiles, ...last]) {
    if ((await store.putOnce(file.path, file.bytes, contentTypeOf(file.path))) === 'created') created += 1;
  }
  return created;
}

function tileLevel(path: string): number {
  return Number(path.split('/')[1] ?? 0);
}

function contentTypeOf(path: string): string {
  if (path.startsWith(CHECKPOINTS_PREFIX))
    return path.endsWith('.tsr') ? 'application/timestamp-reply' : 'text/plain; charset=utf-8';
  if (path.startsWith(SEALS_PREFIX)) return 'application/json';
  return 'application/octet-stream';
}
