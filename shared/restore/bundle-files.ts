// Where restore reads a bundle's message files from: the .tar.gz itself, or a directory holding it unpacked
// (shared/bundle/source.ts says which a path is, and opens the file).
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_BUNDLE_LIMITS, entryPath, readBundleEntries } from '../bundle/entries';
import { UnsafeBundleError } from '../bundle/extract';
import { type BundleSource, openBundle } from '../bundle/source';
import { shellWord } from '../shell-word';

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
  for await (const entry of readBundleEntries(openBundle(source), DEFAULT_BUNDLE_LIMITS, damage)) {
    const path = entryPath(entry.path);
    if ((entry.type !== 'File' && entry.type !== 'OldFile') || !files.has(path)) continue;
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    yield { file: path, bytes: Buffer.concat(chunks) };
  }
}

/** How the user gets one message file out of the bundle, for a report: its path, or the tar command. */
export function whereIs(source: BundleSource, file: string): string {
  if (source.kind === 'directory') return `the file ${join(source.path, file)}`;
  return `extracted with: tar -xzf ${shellWord(source.path)} ${shellWord(file)}`;
}
