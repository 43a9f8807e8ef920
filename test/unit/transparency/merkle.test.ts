// The Merkle tree (shared/transparency/merkle.ts) against RFC 9162 section 2.1: known answers for the empty tree
// and 1 to 8 leaves (the inputs and roots published with Certificate Transparency's reference test vectors), and,
// for every pair m < n up to 64, the tree's roots, inclusion and consistency proofs compared with the RFC's
// recursive definitions written out literally below (MTH, PATH, PROOF/SUBPROOF over the leaf list), then
// verified, and every corrupted variant refused.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  InclusionVerifier,
  inclusionPathLength,
  leafHash,
  MerkleProofError,
  MerkleTree,
  nodeHash,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '../../../shared/transparency/merkle';

const hex = (s: string) => Buffer.from(s, 'hex');

// The eight leaf inputs of the reference vectors and MTH(D[0:n]) for n = 1..8.
const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
];
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
// Published proofs over those leaves: [leaf index (1-based), tree size, path].
const INCLUSION: [number, number, string[]][] = [
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [3, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    2,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
// [first, second, proof].
const CONSISTENCY: [number, number, string[]][] = [
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];

// RFC 9162 2.1.1 to 2.1.4, literally, over the list of entries D[lo:hi] (MTH memoized per range: the
// recursion recomputes the same subtrees thousands of times over 64 trees).
const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
};
const largestPowerOfTwoBelow = (n: number) => 2 ** Math.floor(Math.log2(n - 1));
const memo = new WeakMap<Buffer[], Map<string, Buffer>>();
function mth(d: Buffer[], lo = 0, hi = d.length): Buffer {
  const cache = memo.get(d) ?? new Map<string, Buffer>();
  memo.set(d, cache);
  const known = cache.get(`${lo}:${hi}`);
  if (known) return known;
  const n = hi - lo;
  let hash: Buffer;
  if (n === 0) hash = sha256();
  else if (n === 1) hash = sha256(Buffer.from([0]), d[lo] as Buffer);
  else {
    const k = largestPowerOfTwoBelow(n);
    hash = sha256(Buffer.from([1]), mth(d, lo, lo + k), mth(d, lo + k, hi));
  }
  cache.set(`${lo}:${hi}`, hash);
  return hash;
}
function path(m: number, d: Buffer[], lo: number, hi: number): Buffer[] {
  if (hi - lo === 1) return [];
  const k = largestPowerOfTwoBelow(hi - lo);
  return m < k
    ? [...path(m, d, lo, lo + k), mth(d, lo + k, hi)]
    : [...path(m - k, d, lo + k, hi), mth(d, lo, lo + k)];
}
function subproof(m: number, d: Buffer[], lo: number, hi: number, b: boolean): Buffer[] {
  if (m === hi - lo) return b ? [] : [mth(d, lo, hi)];
  const k = largestPowerOfTwoBelow(hi - lo);
  return m <= k
    ? [...subproof(m, d, lo, lo + k, b), mth(d, lo + k, hi)]
    : [...subproof(m - k, d, lo + k, hi, false), mth(d, lo, lo + k)];
}

const entries = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`entry ${i}`));
const treeOf = (d: Buffer[]) => MerkleTree.fromLeafHashes(d.map(leafHash));
const hexes = (hashes: Buffer[]) => hashes.map((h) => h.toString('hex'));

/** The corruptions that were accepted (each must throw MerkleProofError). */
function wronglyAccepted(probes: [string, () => void][], where: string): string[] {
  return probes.flatMap(([what, check]) => {
    try {
      check();
      return [`${what} ${where}`];
    } catch (error) {
      return error instanceof MerkleProofError ? [] : [`${what} ${where}: ${String(error)}`];
    }
  });
}

function flipped(proof: Buffer[], i: number): Buffer[] {
  return proof.map((h, j) => (j === i ? Buffer.from(h.map((byte, b) => (b === 0 ? byte ^ 8 : byte))) : h));
}

describe('RFC 9162 known answers', () => {
  const d = LEAVES.map(hex);

  it('the empty tree is SHA-256 of nothing', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(new MerkleTree().root().equals(EMPTY_ROOT)).toBe(true);
    expect(mth([]).equals(EMPTY_ROOT)).toBe(true);
  });

  it('leaf and node hashes carry their prefixes', () => {
    expect(leafHash(Buffer.alloc(0)).toString('hex')).toBe(ROOTS[0]);
    expect(leafHash(Buffer.from('L123456')).toString('hex')).toBe(
      '395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56',
    );
    expect(nodeHash(Buffer.from('N123'), Buffer.from('N456')).toString('hex')).toBe(
      'aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb',
    );
  });

  it('roots of 1 to 8 leaves, growing one tree and from each prefix', () => {
    const grown = new MerkleTree();
    for (let n = 1; n <= 8; n++) {
      grown.append(leafHash(d[n - 1] as Buffer));
      expect(grown.root().toString('hex')).toBe(ROOTS[n - 1]);
      expect(treeOf(d.slice(0, n)).root().toString('hex')).toBe(ROOTS[n - 1]);
      expect(mth(d, 0, n).toString('hex')).toBe(ROOTS[n - 1]);
    }
    for (let n = 0; n <= 8; n++) expect(grown.root(n).equals(mth(d, 0, n))).toBe(true);
  });

  it('published inclusion proofs are produced and verify', () => {
    for (const [leaf, size, proof] of INCLUSION) {
      const tree = treeOf(d.slice(0, size));
      expect(hexes(tree.inclusionProof(leaf - 1))).toEqual(proof);
      verifyInclusion(
        leaf - 1,
        size,
        leafHash(d[leaf - 1] as Buffer),
        proof.map(hex),
        hex(ROOTS[size - 1] as string),
      );
    }
  });

  it('published consistency proofs are produced and verify', () => {
    const tree = treeOf(d);
    for (const [first, second, proof] of CONSISTENCY) {
      expect(hexes(tree.consistencyProof(first, second))).toEqual(proof);
      verifyConsistency(
        first,
        second,
        proof.map(hex),
        hex(ROOTS[first - 1] as string),
        hex(ROOTS[second - 1] as string),
      );
    }
  });
});

describe('every pair m < n up to 64', () => {
  const N = 64;
  const d = entries(N);
  const tree = treeOf(d);
  const roots = Array.from({ length: N + 1 }, (_, n) => mth(d, 0, n));

  it('roots match MTH for every size', () => {
    for (let n = 0; n <= N; n++) expect(tree.root(n).equals(roots[n] as Buffer), `n=${n}`).toBe(true);
  });

  it('inclusion proofs match PATH, verify, and fail when corrupted', () => {
    const accepted: string[] = [];
    for (let n = 1; n <= N; n++) {
      const root = roots[n] as Buffer;
      for (let m = 0; m < n; m++) {
        const proof = tree.inclusionProof(m, n);
        expect(hexes(proof), `PATH(${m}, D[${n}])`).toEqual(hexes(path(m, d, 0, n)));
        const leaf = tree.leaf(m);
        verifyInclusion(m, n, leaf, proof, root);
        const bad: [string, () => void][] = [
          ['index + 1', () => verifyInclusion(m + 1, n, leaf, proof, root)],
          ['size * 2', () => verifyInclusion(m, n * 2, leaf, proof, root)],
          ['another leaf', () => verifyInclusion(m, n, leafHash(Buffer.from('x')), proof, root)],
          ['empty root', () => verifyInclusion(m, n, leaf, proof, EMPTY_ROOT)],
          ['trailing root', () => verifyInclusion(m, n, leaf, [...proof, root], root)],
          ['preceding root', () => verifyInclusion(m, n, leaf, [root, ...proof], root)],
        ];
        if (m > 0) bad.push(['index - 1', () => verifyInclusion(m - 1, n, leaf, proof, root)]);
        if (proof.length > 0)
          bad.push(['truncated', () => verifyInclusion(m, n, leaf, proof.slice(0, -1), root)]);
        for (let i = 0; i < proof.length; i++)
          bad.push([`bit in proof[${i}]`, () => verifyInclusion(m, n, leaf, flipped(proof, i), root)]);
        accepted.push(...wronglyAccepted(bad, `at ${m} of ${n}`));
      }
    }
    expect(accepted).toEqual([]);
  });

  it('one InclusionVerifier per tree head: every proof verifies in any order, and after it has learned every other leaf, each corruption is still refused', () => {
    const accepted: string[] = [];
    for (let n = 1; n <= N; n++) {
      const root = roots[n] as Buffer;
      const proofs = Array.from({ length: n }, (_, m) => tree.inclusionProof(m, n));
      for (let m = 0; m < n; m++)
        expect(proofs[m]?.length, `length ${m} of ${n}`).toBe(inclusionPathLength(m, n));
      const orders = [
        Array.from({ length: n }, (_, m) => m),
        Array.from({ length: n }, (_, m) => n - 1 - m),
        Array.from({ length: n }, (_, m) => (m * 37) % n),
      ];
      for (const [o, order] of orders.entries()) {
        // maxNodes 5 forces the memory to be cleared again and again.
        for (const verifier of [new InclusionVerifier(n, root), new InclusionVerifier(n, root, 5)])
          for (const m of order) verifier.verify(m, tree.leaf(m), proofs[m] as Buffer[]);
        if (o > 0) continue;
        for (let m = 0; m < n; m++) {
          const verifier = new InclusionVerifier(n, root);
          for (let other = 0; other < n; other++)
            if (other !== m) verifier.verify(other, tree.leaf(other), proofs[other] as Buffer[]);
          const leaf = tree.leaf(m);
          const proof = proofs[m] as Buffer[];
          const bad: [string, () => void][] = [
            ['index + 1', () => verifier.verify(m + 1, leaf, proof)],
            ['another leaf', () => verifier.verify(m, leafHash(Buffer.from('x')), proof)],
            ['trailing root', () => verifier.verify(m, leaf, [...proof, root])],
            ['preceding root', () => verifier.verify(m, leaf, [root, ...proof])],
          ];
          if (m > 0) bad.push(['index - 1', () => verifier.verify(m - 1, leaf, proof)]);
          if (n > 1)
            bad.push(['a neighbour leaf', () => verifier.verify(m, tree.leaf(m === 0 ? 1 : m - 1), proof)]);
          if (proof.length > 0) bad.push(['truncated', () => verifier.verify(m, leaf, proof.slice(0, -1))]);
          for (let i = 0; i < proof.length; i++)
            bad.push([`bit in proof[${i}]`, () => verifier.verify(m, leaf, flipped(proof, i))]);
          accepted.push(...wronglyAccepted(bad, `at ${m} of ${n}, all others learned`));
          verifier.verify(m, leaf, proof);
        }
      }
    }
    expect(accepted).toEqual([]);
    expect(() => new InclusionVerifier(4, Buffer.alloc(31))).toThrow(/31 bytes/);
  });

  it('consistency proofs match PROOF, verify, and fail when corrupted', () => {
    const accepted: string[] = [];
    for (let n = 1; n <= N; n++) {
      for (let m = 1; m < n; m++) {
        const proof = tree.consistencyProof(m, n);
        expect(hexes(proof), `PROOF(${m}, D[${n}])`).toEqual(hexes(subproof(m, d, 0, n, true)));
        const [r1, r2] = [roots[m] as Buffer, roots[n] as Buffer];
        verifyConsistency(m, n, proof, r1, r2);
        const bad: [string, () => void][] = [
          ['first - 1', () => verifyConsistency(m - 1, n, proof, r1, r2)],
          ['first + 1', () => verifyConsistency(m + 1, n, proof, r1, r2)],
          ['second * 2', () => verifyConsistency(m, n * 2, proof, r1, r2)],
          ['another first root', () => verifyConsistency(m, n, proof, roots[m - 1] as Buffer, r2)],
          ['another second root', () => verifyConsistency(m, n, proof, r1, roots[n - 1] as Buffer)],
          ['swapped roots', () => verifyConsistency(m, n, proof, r2, r1)],
          ['empty proof', () => verifyConsistency(m, n, [], r1, r2)],
          ['trailing root', () => verifyConsistency(m, n, [...proof, r2], r1, r2)],
          ['preceding root', () => verifyConsistency(m, n, [r1, ...proof], r1, r2)],
          ['truncated', () => verifyConsistency(m, n, proof.slice(0, -1), r1, r2)],
        ];
        for (let i = 0; i < proof.length; i++)
          bad.push([`bit in proof[${i}]`, () => verifyConsistency(m, n, flipped(proof, i), r1, r2)]);
        accepted.push(...wronglyAccepted(bad, `from ${m} to ${n}`));
      }
    }
    expect(accepted).toEqual([]);
  });

  it('trivial consistency: from the empty tree, and between equal sizes', () => {
    verifyConsistency(0, 5, [], EMPTY_ROOT, roots[5] as Buffer);
    verifyConsistency(5, 5, [], roots[5] as Buffer, roots[5] as Buffer);
    expect(tree.consistencyProof(0, 5)).toEqual([]);
    expect(tree.consistencyProof(5, 5)).toEqual([]);
    expect(() => verifyConsistency(5, 5, [], roots[5] as Buffer, roots[4] as Buffer)).toThrow(
      /two different roots/,
    );
    expect(() => verifyConsistency(6, 5, [], roots[6] as Buffer, roots[5] as Buffer)).toThrow(/cannot grow/);
    expect(() => verifyConsistency(0, 5, [], roots[1] as Buffer, roots[5] as Buffer)).toThrow(/empty tree/);
  });

  it('out-of-range requests are refused', () => {
    expect(() => tree.inclusionProof(64, 64)).toThrow(RangeError);
    expect(() => tree.inclusionProof(0, 65)).toThrow(RangeError);
    expect(() => tree.consistencyProof(10, 9)).toThrow(RangeError);
    expect(() => rootFromInclusionProof(3, 3, tree.leaf(0), [])).toThrow(MerkleProofError);
    expect(() => rootFromInclusionProof(0, 1, Buffer.alloc(31), [])).toThrow(/31 bytes/);
    expect(() => tree.append(Buffer.alloc(31))).toThrow(RangeError);
  });
});
