// The Merkle tree of the transparency log: RFC 9162 section 2.1 (RFC 6962's tree, SHA-256, leaf prefix 0x00 and
// node prefix 0x01), inclusion and consistency proofs and their verification. Hand-written: no maintained npm
// package implements RFC 9162's proofs, and the algorithms are short enough to follow the RFC's text line by
// line (the unit tests check them against the RFC's recursive definitions for every m < n up to 64).
import { createHash, hash as digestOf } from 'node:crypto';

/** Bytes of one hash (SHA-256). */
export const HASH_BYTES = 32;

/** Thrown when a proof does not prove what it claims, or its sizes and indexes are out of range. */
export class MerkleProofError extends Error {
  override name = 'MerkleProofError';
}

/** MTH({}) = SHA-256() (RFC 9162 2.1.1): the root of the empty tree. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** MTH({d}) = SHA-256(0x00 || d): the hash of one leaf (RFC 9162 2.1.1). */
export function leafHash(entry: Uint8Array): Buffer {
  // One-shot hash(): a third cheaper than createHash().update().digest() for inputs this small.
  return digestOf('sha256', Buffer.concat([LEAF_PREFIX, entry]), 'buffer');
}

/** SHA-256(0x01 || left || right): the hash of an interior node (RFC 9162 2.1.1). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return digestOf('sha256', Buffer.concat([NODE_PREFIX, left, right]), 'buffer');
}

const LEAF_PREFIX = Buffer.from([0]);
const NODE_PREFIX = Buffer.from([1]);

/** The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The hashes of a tree kept in memory: level 0 holds the leaf hashes; level l holds, for every complete subtree of
 * 2^l leaves starting at a multiple of 2^l, its hash MTH(D[i*2^l : (i+1)*2^l]). Each level is one growing buffer
 * of 32-byte slots (a million leaves take 64 MB, not two million Buffer objects).
 */
export class MerkleTree {
  private readonly levels: HashLevel[] = [new HashLevel()];

  static fromLeafHashes(hashes: Iterable<Uint8Array>): MerkleTree {
    const tree = new MerkleTree();
    for (const hash of hashes) tree.append(hash);
    return tree;
  }

  /** Number of leaves. */
  get size(): number {
    return this.level(0).count;
  }

  /** Appends a leaf hash (32 bytes) and every complete subtree it closes. */
  append(hash: Uint8Array): void {
    if (hash.length !== HASH_BYTES)
      throw new RangeError(`a leaf hash has ${HASH_BYTES} bytes, not ${hash.length}`);
    let level = 0;
    let current: Uint8Array = hash;
    for (;;) {
      const hashes = this.level(level);
      hashes.push(current);
      if (hashes.count % 2 === 1) return;
      current = nodeHash(hashes.get(hashes.count - 2), current);
      level += 1;
      if (this.levels.length === level) this.levels.push(new HashLevel());
    }
  }

  /** The leaf hash at an index. Throws RangeError past the end. */
  leaf(index: number): Buffer {
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new RangeError(`no leaf ${index} in a tree of ${this.size}`);
    return this.level(0).get(index);
  }

  /** MTH(D[0:size]): the root of the tree's first `size` leaves (RFC 9162 2.1.1). */
  root(size = this.size): Buffer {
    this.checkSize(size);
    return size === 0 ? Buffer.from(EMPTY_ROOT) : this.subtree(0, size);
  }

  /**
   * PATH(index, D[0:size]) (RFC 9162 2.1.3.1): the inclusion proof of a leaf in the tree of the first `size`
   * leaves, nearest sibling first. Throws RangeError when index >= size or size is past the end.
   */
  inclusionProof(index: number, size = this.size): Buffer[] {
    this.checkSize(size);
    if (!Number.isInteger(index) || index < 0 || index >= size)
      throw new RangeError(`no leaf ${index} in a tree of ${size}`);
    const proof: Buffer[] = [];
    this.path(index, 0, size, proof);
    return proof;
  }

  /**
   * PROOF(first, D[0:second]) (RFC 9162 2.1.4.1): the consistency proof between the trees of the first `first`
   * and `second` leaves. Empty when first is 0 or equals second. Throws RangeError when first > second.
   */
  consistencyProof(first: number, second = this.size): Buffer[] {
    this.checkSize(second);
    if (!Number.isInteger(first) || first < 0 || first > second)
      throw new RangeError(`no consistency proof from ${first} to ${second}`);
    const proof: Buffer[] = [];
    if (first > 0 && first < second) this.subproof(first, 0, second, true, proof);
    return proof;
  }

  // PATH(m, D[start:end]) with m relative to start; each step appends the sibling after the deeper ones.
  private path(m: number, start: number, end: number, proof: Buffer[]): void {
    const n = end - start;
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      this.path(m, start, start + k, proof);
      proof.push(this.subtree(start + k, end));
    } else {
      this.path(m - k, start + k, end, proof);
      proof.push(this.subtree(start, start + k));
    }
  }

  // SUBPROOF(m, D[start:end], b) with m relative to start.
  private subproof(m: number, start: number, end: number, whole: boolean, proof: Buffer[]): void {
    const n = end - start;
    if (m === n) {
      if (!whole) proof.push(this.subtree(start, end));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.subproof(m, start, start + k, whole, proof);
      proof.push(this.subtree(start + k, end));
    } else {
      this.subproof(m - k, start + k, end, false, proof);
      proof.push(this.subtree(start, start + k));
    }
  }

  /** MTH(D[start:end]) for the ranges RFC 9162's recursion reaches (start a multiple of the split size). */
  private subtree(start: number, end: number): Buffer {
    const n = end - start;
    if ((n & (n - 1)) === 0 && start % n === 0) return this.level(Math.log2(n)).get(start / n);
    const k = splitPoint(n);
    return nodeHash(this.subtree(start, start + k), this.subtree(start + k, end));
  }

  private level(level: number): HashLevel {
    const hashes = this.levels[level];
    if (!hashes) throw new RangeError(`no level ${level}`);
    return hashes;
  }

  private checkSize(size: number): void {
    if (!Number.isInteger(size) || size < 0 || size > this.size)
      throw new RangeError(`the tree has ${this.size} leaves, not ${size}`);
  }
}

class HashLevel {
  private bytes = Buffer.alloc(HASH_BYTES * 16);
  count = 0;

  push(hash: Uint8Array): void {
    if ((this.count + 1) * HASH_BYTES > this.bytes.length) {
      const grown = Buffer.alloc(this.bytes.length * 2);
      this.bytes.copy(grown);
      this.bytes = grown;
    }
    this.bytes.set(hash, this.count * HASH_BYTES);
    this.count += 1;
  }

  get(index: number): Buffer {
    return Buffer.from(this.bytes.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES));
  }
}

/**
 * The root an inclusion proof leads to (RFC 9162 2.1.3.2, steps 1 to 4): from the leaf's hash at `index` in a
 * tree of `size` leaves, through `proof`. Throws MerkleProofError when index >= size, a proof hash is not 32
 * bytes, or the proof is longer or shorter than the path (the RFC's sn check).
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  hash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size)
    throw new MerkleProofError(`leaf ${index} is not in a tree of ${size}`);
  checkHash(hash, 'the leaf hash');
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r: Buffer = Buffer.from(hash);
  for (const p of proof) {
    checkHash(p, 'a proof hash');
    if (sn === 0n) throw new MerkleProofError('the inclusion proof is longer than the path to the root');
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new MerkleProofError('the inclusion proof is shorter than the path to the root');
  return r;
}

/**
 * Verifies an inclusion proof against a root (RFC 9162 2.1.3.2). Throws MerkleProofError naming what failed.
 */
export function verifyInclusion(
  index: number,
  size: number,
  hash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  checkHash(root, 'the root');
  const computed = rootFromInclusionProof(index, size, hash, proof);
  if (!computed.equals(root)) throw notLeading(index, size);
}

/**
 * Verifies many inclusion proofs against one tree head (`size`, `root`), hashing each node of the tree at most
 * once: the nodes a verified proof passes through, and its siblings, are proven (they lead to the signed root),
 * so a later proof stops at the first node it reaches that is already proven and compares the hash there. The
 * proofs of one bundle share most of their paths (neighbouring leaves share all but the lowest levels): at 6,000
 * leaves in order a proof costs about two hashes instead of thirteen. Same checks and errors as verifyInclusion
 * (RFC 9162 2.1.3.2), including the proof's exact length. Memory: at most `maxNodes` proven nodes are kept
 * (about 130 bytes each); past that the memory is cleared and the next proof is hashed to the root again.
 */
export class InclusionVerifier {
  private readonly proven = new Map<number, Buffer>();

  constructor(
    readonly size: number,
    private readonly root: Uint8Array,
    private readonly maxNodes = 1 << 18,
  ) {
    checkHash(root, 'the root');
  }

  /** Verifies that `hash` is the leaf at `index`. Throws MerkleProofError naming what failed. */
  verify(index: number, hash: Uint8Array, proof: readonly Uint8Array[]): void {
    const size = this.size;
    if (!Number.isSafeInteger(index) || index < 0 || index >= size)
      throw new MerkleProofError(`leaf ${index} is not in a tree of ${size}`);
    checkHash(hash, 'the leaf hash');
    const length = inclusionPathLength(index, size);
    if (proof.length > length)
      throw new MerkleProofError('the inclusion proof is longer than the path to the root');
    if (proof.length < length)
      throw new MerkleProofError('the inclusion proof is shorter than the path to the root');
    // A node is keyed by its level and its position fn at that level: the range
    // [fn * 2^level, min((fn + 1) * 2^level, size)), which RFC 9162's tree has as a node (or a node's only child).
    // Once the walk reaches a proven node, the rest of the proof must be the proven siblings above it (a proven
    // node's path to the root is proven with it): compared, not hashed.
    const learned: [number, Uint8Array][] = [];
    let fn = index;
    let sn = size - 1;
    let level = 0;
    let r: Uint8Array = hash;
    let onProvenPath = false;
    for (let i = 0; ; i++) {
      if (!onProvenPath) {
        const here = nodeKey(level, fn);
        const known = this.proven.get(here);
        if (known && !known.equals(r)) throw notLeading(index, size);
        if (known) onProvenPath = true;
        else learned.push([here, r]);
      }
      if (i === proof.length) break;
      const p = proof[i] as Uint8Array;
      checkHash(p, 'a proof hash');
      const left = (fn & 1) === 1 || fn === sn;
      // A node at the right edge without a right sibling: its parent is the same range; go up to the level
      // where it is a right child.
      if (left)
        while ((fn & 1) === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
          level += 1;
        }
      const sibling = nodeKey(level, left ? fn - 1 : fn + 1);
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
      level += 1;
      if (onProvenPath) {
        const known = this.proven.get(sibling);
        if (known && !known.equals(p)) throw notLeading(index, size);
        const parent = known && this.proven.get(nodeKey(level, fn));
        if (parent) {
          r = parent;
          continue;
        }
        onProvenPath = false;
      }
      learned.push([sibling, p]);
      r = left ? nodeHash(p, r) : nodeHash(r, p);
    }
    // The length check above means the walk ended at the root.
    if (!Buffer.from(r).equals(this.root)) throw notLeading(index, size);
    this.remember(learned);
  }

  private remember(nodes: [number, Uint8Array][]): void {
    if (this.proven.size + nodes.length > this.maxNodes) this.proven.clear();
    for (const [key, hash] of nodes) this.proven.set(key, Buffer.from(hash));
  }
}

/** The length of PATH(index, D[0:size]) (RFC 9162 2.1.3.1), from the same walk as its verification. */
export function inclusionPathLength(index: number, size: number): number {
  let fn = index;
  let sn = size - 1;
  let length = 0;
  while (sn > 0) {
    if ((fn & 1) === 0 && fn === sn)
      while ((fn & 1) === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
    length += 1;
  }
  return length;
}

const notLeading = (index: number, size: number) =>
  new MerkleProofError(`leaf ${index} does not lead to the root of the tree of ${size}`);

// Positions stay below 2^47 for any tree a log can hold; 64 levels are more than a 2^53 tree has.
const nodeKey = (level: number, position: number): number => position * 64 + level;

/**
 * Verifies that the tree of `first` leaves with root `firstRoot` is a prefix of the tree of `second` leaves with
 * root `secondRoot` (RFC 9162 2.1.4.2). A tree of 0 leaves is a prefix of any tree (its root must still be the
 * empty root); equal sizes need equal roots and an empty proof. Throws MerkleProofError naming what failed.
 */
export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Uint8Array[],
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
): void {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || second < 0)
    throw new MerkleProofError(`tree sizes ${first} and ${second} are not sizes`);
  if (first > second) throw new MerkleProofError(`a tree of ${first} cannot grow into one of ${second}`);
  checkHash(firstRoot, 'the first root');
  checkHash(secondRoot, 'the second root');
  if (first === second) {
    if (proof.length > 0) throw new MerkleProofError('equal tree sizes need an empty consistency proof');
    if (!Buffer.from(firstRoot).equals(secondRoot))
      throw new MerkleProofError(`two different roots for the same tree size ${first}`);
    return;
  }
  if (first === 0) {
    if (proof.length > 0) throw new MerkleProofError('from the empty tree the consistency proof is empty');
    if (!EMPTY_ROOT.equals(firstRoot))
      throw new MerkleProofError('the root of the empty tree is not SHA-256()');
    return;
  }
  // Step 1: an empty path proves nothing for 0 < first < second.
  if (proof.length === 0) throw new MerkleProofError('the consistency proof is empty');
  for (const c of proof) checkHash(c, 'a proof hash');
  // Step 2: when first is a power of two its root is the first node of the path.
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : [...proof];
  // Steps 3 and 4.
  let fn = BigInt(first - 1);
  let sn = BigInt(second - 1);
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  // Step 5.
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = Buffer.from(path[0] as Uint8Array);
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new MerkleProofError('the consistency proof is longer than the path to the root');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  // Step 7.
  if (sn !== 0n) throw new MerkleProofError('the consistency proof is shorter than the path to the root');
  if (!fr.equals(firstRoot))
    throw new MerkleProofError(`the tree of ${first} the proof leads to has another root than the first`);
  if (!sr.equals(secondRoot))
    throw new MerkleProofError(`the tree of ${second} the proof leads to has another root than the second`);
}

function checkHash(hash: Uint8Array, what: string): void {
  if (hash.length !== HASH_BYTES)
    throw new MerkleProofError(`${what} has ${hash.length} bytes, not ${HASH_BYTES}`);
}
