// What the log keeps, laid out as C2SP tlog-tiles (https://c2sp.org/tlog-tiles): hash tiles of 256 hashes
// (`tile/<L>/<N>`, level 0 the leaf hashes, level L+1 the roots of full level-L tiles), entry bundles
// (`tile/entries/<N>`, the leaves themselves, each a big-endian uint16 length then the bytes) and, at the right
// edge, partial tiles (`.p/<W>`, W from 1 to 255) for each sealed size. Every file is written once and never
// changes: a full tile is final, and a partial tile's name carries its width. Hand-written: the format is a
// path rule and a length prefix, and no npm package implements it.
import { leafHash, MerkleTree, nodeHash } from './merkle';

/** Hashes (and entries) per full tile. */
export const TILE_WIDTH = 256;
/** An entry is at most this many bytes (its uint16 length prefix). */
export const MAX_ENTRY_BYTES = 0xffff;

/** Thrown when a tile or entry bundle is malformed or missing; the message names the file. */
export class TileError extends Error {
  override name = 'TileError';
}

/**
 * `<N>` of a tile path: zero-padded 3-digit elements, all but the last starting with `x` (1234067 ->
 * x001/x234/067).
 */
export function tileIndexPath(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`no tile ${index}`);
  let text = String(index % 1000).padStart(3, '0');
  for (let rest = Math.floor(index / 1000); rest > 0; rest = Math.floor(rest / 1000))
    text = `x${String(rest % 1000).padStart(3, '0')}/${text}`;
  return text;
}

/** `tile/<level>/<N>[.p/<width>]`; `width` 256 (or omitted) is a full tile. */
export function tilePath(level: number, index: number, width = TILE_WIDTH): string {
  return `tile/${level}/${tileIndexPath(index)}${widthSuffix(width)}`;
}

/** `tile/entries/<N>[.p/<width>]`. */
export function entryBundlePath(index: number, width = TILE_WIDTH): string {
  return `tile/entries/${tileIndexPath(index)}${widthSuffix(width)}`;
}

function widthSuffix(width: number): string {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH)
    throw new RangeError(`no tile width ${width}`);
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

/** Entries, each as a big-endian uint16 length and its bytes. Throws TileError for an entry over 65,535 bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (entry.length > MAX_ENTRY_BYTES)
      throw new TileError(`an entry of ${entry.length} bytes does not fit an entry bundle (at most 65,535)`);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(entry.length);
    parts.push(length, Buffer.from(entry));
  }
  return Buffer.concat(parts);
}

/** The entries of a bundle. Throws TileError (naming `path`) when a length runs past the end. */
export function decodeEntryBundle(bytes: Uint8Array, path: string): Buffer[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: Buffer[] = [];
  let at = 0;
  while (at < buffer.length) {
    if (at + 2 > buffer.length) throw new TileError(`${path}: a length prefix is cut off at byte ${at}`);
    const length = buffer.readUInt16BE(at);
    if (at + 2 + length > buffer.length) throw new TileError(`${path}: entry ${entries.length} is cut off`);
    entries.push(Buffer.from(buffer.subarray(at + 2, at + 2 + length)));
    at += 2 + length;
  }
  return entries;
}

/** Splits a hash tile into its 32-byte hashes. Throws TileError (naming `path`) for a length not a multiple of 32. */
export function decodeHashTile(bytes: Uint8Array, path: string, width: number): Buffer[] {
  if (bytes.length !== width * 32) throw new TileError(`${path}: ${bytes.length} bytes, not ${width} hashes`);
  return Array.from({ length: width }, (_, i) => Buffer.from(bytes.subarray(i * 32, (i + 1) * 32)));
}

/** One file of the log: a path under the log's prefix and its bytes. */
export interface LogFile {
  path: string;
  bytes: Buffer;
}

/** The files a tree of `size` leaves has at its right edge: the partial tiles and the partial entry bundle. */
export function rightEdgePaths(size: number): { level: number; path: string; width: number }[] {
  const paths: { level: number; path: string; width: number }[] = [];
  for (let level = 0, span = 1; span <= size; level++, span *= TILE_WIDTH) {
    const width = Math.floor(size / span) % TILE_WIDTH;
    if (width > 0)
      paths.push({ level, width, path: tilePath(level, Math.floor(size / (span * TILE_WIDTH)), width) });
  }
  return paths;
}

/**
 * The right edge of a tiled tree: for each tile level, the hashes of its partial tile, and the entries of the
 * partial entry bundle. Enough to append leaves, write the tiles they complete, and compute the new root,
 * without reading the rest of the log.
 */
export class TreeEdge {
  /** hashes[L]: the partial tile of level L (fewer than 256 hashes). */
  private readonly hashes: Buffer[][];
  private readonly entries: Buffer[];
  private count: number;
  private readonly written: LogFile[] = [];

  private constructor(
    size: number,
    hashes: Buffer[][],
    entries: Buffer[],
    /** Whether the tiles and bundles appending completes are kept for {@link files}. */
    private readonly keepFiles = true,
  ) {
    this.count = size;
    this.hashes = hashes;
    this.entries = entries;
  }

  /** The edge of an empty tree; `keepFiles` false: one that only computes roots (see {@link load}). */
  static empty(keepFiles = true): TreeEdge {
    return new TreeEdge(0, [[]], [], keepFiles);
  }

  /**
   * The edge of a tree of `size` leaves rebuilt from its entry bundles (read a bundle at a time, every leaf
   * hashed): for a tree whose tiles cannot be read. Keeps no files, so memory is the edge's only. Throws TileError
   * naming a bundle that is missing or malformed.
   */
  static async rebuild(size: number, read: (path: string) => Promise<Buffer | undefined>): Promise<TreeEdge> {
    const edge = new TreeEdge(0, [[]], [], false);
    for await (const bundle of readEntryBundles(size, read))
      for (const entry of bundle) edge.append(entry, leafHash(entry));
    return edge;
  }

  /**
   * The edge of a tree of `size` leaves, read through `read` (which returns a file's bytes or undefined when it
   * is not there). `keepFiles` false: the edge keeps no completed tile or bundle for {@link files} (a reader that
   * only checks roots, whose memory must not grow with what it appends). Throws TileError naming a file that is
   * missing or malformed.
   */
  static async load(
    size: number,
    read: (path: string) => Promise<Buffer | undefined>,
    keepFiles = true,
  ): Promise<TreeEdge> {
    const hashes: Buffer[][] = [[]];
    for (const { level, path, width } of rightEdgePaths(size)) {
      const bytes = await read(path);
      if (!bytes) throw new TileError(`${path} is missing: the log of ${size} leaves is incomplete`);
      hashes[level] = decodeHashTile(bytes, path, width);
    }
    for (let level = 0; level < hashes.length; level++) hashes[level] ??= [];
    const width = size % TILE_WIDTH;
    let entries: Buffer[] = [];
    if (width > 0) {
      const path = entryBundlePath(Math.floor(size / TILE_WIDTH), width);
      const bytes = await read(path);
      if (!bytes) throw new TileError(`${path} is missing: the log of ${size} leaves is incomplete`);
      entries = decodeEntryBundle(bytes, path);
      if (entries.length !== width) throw new TileError(`${path}: ${entries.length} entries, not ${width}`);
    }
    return new TreeEdge(size, hashes, entries, keepFiles);
  }

  get size(): number {
    return this.count;
  }

  /** The entries of the partial entry bundle (the last `size % 256` leaves). */
  get partialEntries(): readonly Buffer[] {
    return this.entries;
  }

  /** Appends one entry (the leaf's bytes) with its leaf hash. */
  append(entry: Buffer, hash: Buffer): void {
    const index = this.count;
    this.count += 1;
    this.entries.push(entry);
    if (this.entries.length === TILE_WIDTH) {
      if (this.keepFiles)
        this.written.push({
          path: entryBundlePath(Math.floor(index / TILE_WIDTH)),
          bytes: encodeEntryBundle(this.entries),
        });
      this.entries.length = 0;
    }
    let carry: Buffer = hash;
    for (let level = 0, span = 1; ; level++, span *= TILE_WIDTH) {
      const tile = this.hashes[level] ?? [];
      this.hashes[level] = tile;
      tile.push(carry);
      if (tile.length < TILE_WIDTH) return;
      if (this.keepFiles)
        this.written.push({
          path: tilePath(level, Math.floor(index / (span * TILE_WIDTH))),
          bytes: Buffer.concat(tile),
        });
      carry = perfectRoot(tile);
      tile.length = 0;
    }
  }

  /** MTH of the whole tree: its right edge folded from the right (RFC 9162 2.1.1). */
  root(): Buffer {
    if (this.count === 0) return new MerkleTree().root();
    const pieces: Buffer[] = [];
    for (let level = this.hashes.length - 1; level >= 0; level--) {
      const tile = this.hashes[level] ?? [];
      // The tile's hashes split into complete subtrees by the binary digits of its width, largest first.
      let at = 0;
      for (let bit = TILE_WIDTH >> 1; bit >= 1; bit >>= 1) {
        if ((tile.length & bit) === 0) continue;
        pieces.push(perfectRoot(tile.slice(at, at + bit)));
        at += bit;
      }
    }
    let root = pieces.pop() as Buffer;
    while (pieces.length > 0) root = nodeHash(pieces.pop() as Buffer, root);
    return root;
  }

  /**
   * The files to write for the current size: every full tile and entry bundle completed since the edge was
   * loaded, then the partial tiles and partial entry bundle of this size (already there when nothing was
   * appended: writing them again is a no-op of the write-once store).
   */
  files(): LogFile[] {
    const files = [...this.written];
    for (const { level, path } of rightEdgePaths(this.count))
      files.push({ path, bytes: Buffer.concat(this.hashes[level] ?? []) });
    if (this.entries.length > 0)
      files.push({
        path: entryBundlePath(Math.floor(this.count / TILE_WIDTH), this.entries.length),
        bytes: encodeEntryBundle(this.entries),
      });
    return files;
  }
}

/** The root of a complete subtree over 2^k hashes (k <= 8). */
function perfectRoot(hashes: Buffer[]): Buffer {
  let level = hashes;
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(nodeHash(level[i] as Buffer, level[i + 1] as Buffer));
    level = up;
  }
  return level[0] as Buffer;
}

/**
 * Reads the leaves of a tree of `size` leaves from its entry bundles: full bundles, then the partial one (or the
 * first entries of a wider bundle written later, when the exact partial is gone). Throws TileError naming the
 * missing or malformed bundle.
 */
export async function readEntries(
  size: number,
  read: (path: string) => Promise<Buffer | undefined>,
  onBundle?: (done: number) => void,
): Promise<Buffer[]> {
  const entries: Buffer[] = [];
  for await (const bundle of readEntryBundles(size, read)) {
    entries.push(...bundle);
    onBundle?.(entries.length);
  }
  return entries;
}

/** readEntries one entry bundle (up to TILE_WIDTH leaves) at a time, in leaf order, none held after it is used. */
export async function* readEntryBundles(
  size: number,
  read: (path: string) => Promise<Buffer | undefined>,
): AsyncGenerator<Buffer[]> {
  const bundles = Math.ceil(size / TILE_WIDTH);
  for (let index = 0; index < bundles; index++) {
    const width = Math.min(TILE_WIDTH, size - index * TILE_WIDTH);
    const candidates = [entryBundlePath(index, width)];
    if (width < TILE_WIDTH) candidates.push(entryBundlePath(index));
    let found: Buffer[] | undefined;
    for (const path of candidates) {
      const bytes = await read(path);
      if (!bytes) continue;
      const bundle = decodeEntryBundle(bytes, path);
      if (bundle.length < width) throw new TileError(`${path}: ${bundle.length} entries, not ${width}`);
      found = bundle.slice(0, width);
      break;
    }
    if (!found) throw new TileError(`${candidates[0]} is missing: the log of ${size} leaves is incomplete`);
    yield found;
  }
}
