// The tiled layout of the log (shared/transparency/tiles.ts) against C2SP tlog-tiles: path encoding, the tiles a
// tree of 70,000 leaves has (the spec's own example), and a log grown over many seals: every file written once
// with one content, the edge reloaded from the files at each sealed size gives the same root as the whole tree,
// and the entries and hash tiles read back are the leaves and the tree's own hashes.
import { describe, expect, it } from 'vitest';
import { leafHash, MerkleTree } from '../../../shared/transparency/merkle';
import {
  decodeEntryBundle,
  decodeHashTile,
  encodeEntryBundle,
  entryBundlePath,
  readEntries,
  rightEdgePaths,
  TileError,
  TreeEdge,
  tileIndexPath,
  tilePath,
} from '../../../shared/transparency/tiles';

describe('tile paths', () => {
  it('encodes indexes in 3-digit elements', () => {
    expect(tileIndexPath(1234067)).toBe('x001/x234/067');
    expect(tileIndexPath(0)).toBe('000');
    expect(tileIndexPath(1000)).toBe('x001/000');
    expect(tilePath(2, 5, 17)).toBe('tile/2/005.p/17');
    expect(tilePath(0, 272)).toBe('tile/0/272');
    expect(entryBundlePath(3, 1)).toBe('tile/entries/003.p/1');
    expect(() => tilePath(0, 1, 0)).toThrow(RangeError);
  });

  it('a tree of 70,000 has the partial tiles the spec lists', () => {
    expect(rightEdgePaths(70_000).map((p) => p.path)).toEqual([
      'tile/0/273.p/112',
      'tile/1/001.p/17',
      'tile/2/000.p/1',
    ]);
    expect(rightEdgePaths(256).map((p) => p.path)).toEqual(['tile/1/000.p/1']);
    expect(rightEdgePaths(0)).toEqual([]);
  });

  it('entry bundles: length-prefixed entries, malformed ones named', () => {
    const entries = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(300, 7)];
    const bytes = encodeEntryBundle(entries);
    expect(bytes.length).toBe(3 * 2 + 1 + 300);
    expect(decodeEntryBundle(bytes, 'x')).toEqual(entries);
    expect(() => decodeEntryBundle(bytes.subarray(0, -1), 'tile/entries/000')).toThrow(
      /tile\/entries\/000: entry 2/,
    );
    expect(() => encodeEntryBundle([Buffer.alloc(65_536)])).toThrow(TileError);
    expect(() => decodeHashTile(Buffer.alloc(33), 'tile/0/000.p/1', 1)).toThrow(/33 bytes/);
  });
});

describe('a log grown over many seals', () => {
  it('writes each file once, and every sealed size reloads to the same root', async () => {
    const store = new Map<string, Buffer>();
    const read = async (path: string) => store.get(path);
    const write = (files: { path: string; bytes: Buffer }[]) => {
      for (const { path, bytes } of files) {
        const before = store.get(path);
        if (before && !before.equals(bytes)) throw new Error(`${path} rewritten with other bytes`);
        store.set(path, bytes);
      }
    };
    const tree = new MerkleTree();
    const entries: Buffer[] = [];
    const sealed: { size: number; root: Buffer }[] = [];
    // Seal sizes that cross tile boundaries at every level: 1, 255, 256, 257, 65,535, 65,536, 70,000.
    const seals = [1, 2, 255, 256, 257, 600, 65_535, 65_536, 65_537, 70_000];
    let edge = TreeEdge.empty();
    for (const size of seals) {
      edge = await TreeEdge.load(edge.size, read);
      while (edge.size < size) {
        const entry = Buffer.from(`record ${edge.size}`);
        const hash = leafHash(entry);
        edge.append(entry, hash);
        tree.append(hash);
        entries.push(entry);
      }
      write(edge.files());
      expect(edge.root().equals(tree.root()), `root at ${size}`).toBe(true);
      sealed.push({ size, root: edge.root() });
    }
    // Sealing again with nothing new writes the same files.
    write((await TreeEdge.load(70_000, read)).files());

    for (const { size, root } of sealed) {
      expect((await TreeEdge.load(size, read)).root().equals(root), `reloaded ${size}`).toBe(true);
      expect(tree.root(size).equals(root)).toBe(true);
    }
    expect(store.has('tile/0/273.p/112') && store.has('tile/1/001.p/17') && store.has('tile/2/000.p/1')).toBe(
      true,
    );
    expect(store.has('tile/0/272') && store.has('tile/1/000') && store.has('tile/entries/272')).toBe(true);

    const back = await readEntries(70_000, read);
    expect(back.length).toBe(70_000);
    expect(back.every((entry, i) => entry.equals(entries[i] as Buffer))).toBe(true);
    // A size whose exact partial bundle was never written reads the first entries of a wider one.
    expect((await readEntries(300, read)).map(String).at(-1)).toBe('record 299');
    // Level 0 holds leaf hashes; level 1 holds roots of 256-leaf subtrees.
    const level0 = decodeHashTile(store.get('tile/0/001') as Buffer, 'tile/0/001', 256);
    expect(level0[5]?.equals(tree.leaf(256 + 5))).toBe(true);
    const level1 = decodeHashTile(store.get('tile/1/000') as Buffer, 'tile/1/000', 256);
    const first256 = MerkleTree.fromLeafHashes(entries.slice(256 * 7, 256 * 8).map(leafHash)).root();
    expect(level1[7]?.equals(first256)).toBe(true);

    store.delete('tile/entries/100');
    await expect(readEntries(70_000, read)).rejects.toThrow(/tile\/entries\/100 is missing/);
    store.delete('tile/1/001.p/17');
    await expect(TreeEdge.load(70_000, read)).rejects.toThrow(/tile\/1\/001.p\/17 is missing/);
  });
});
