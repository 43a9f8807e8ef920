// Where restore reads a bundle's message files from: the .tar.gz itself, or a directory holding it unpacked.
import { constants, createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_BUNDLE_LIMITS, entryPath, readBundleEntries } from '../bundle/entries';
import { UnsafeBundleError } from '../bundle/extract';

/**
 * Where the bundle is: a .tar.gz file, or a directory holding an unpacked bundle (manifest.json, Maildir/). A file
 * may come with `open`, what reads it as a tar.gz stream (an encrypted bundle, decrypted as it is read: see
 * cli/target/bundle-file.ts); without it the file is read as it is.
 */
export type BundleSource =
  | { kind: 'file'; path: string; open?: () => Readable }
  | { kind: 'directory'; path: string };

/**
 * Message files of the bundle, in bundle order, read whole (one at a time). A bundle file is read with the bundle
 * rule's reader (shared/bundle/entries.ts) under its limits; in a directory a file is opened without following a
 * link, and must be a regular file (verify checked the tree, but it may have changed since: UnsafeBundleError).
 */
export async function* readMessageFiles(
  source: BundleSource,
  files: Set<string>,
): AsyncGenerator<{ file: string; bytes: Buffer }> {
  if (files.size === 0) return;
  if (source.kind === 'directory') {
    for (const file of files) {
      const handle = await open(join(source.path, file), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        if (!(await handle.stat()).isFile())
          throw new UnsafeBundleError(source.path, [`${file}: not a regular file`]);
        yield { file, bytes: await handle.readFile() };
      } finally {
        await handle.close();
      }
    }
    return;
  }
  const damage: string[] = [];
  const bundle = source.open ? source.open() : createReadStream(source.path);
  for await (const entry of readBundleEntries(bundle, DEFAULT_BUNDLE_LIMITS, damage)) {
    const path = entryPath(entry.path);
    if ((entry.type !== 'File' && entry.type !== 'OldFile') || !files.has(path)) continue;
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    yield { file: path, bytes: Buffer.concat(chunks) };
  }
}
