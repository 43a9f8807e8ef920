// Unpacking a bundle in-process, under the rule of ./entries.ts, instead of GNU tar (which, as root, creates
// device nodes, FIFOs, links and the archive's own modes). What lands on disk is then walked once more with
// lstat: only regular files and directories, modes made private (directories 0700, files 0600), mtimes kept.
import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type ReadEntry, Unpack } from 'tar';
import { errorMessage } from '../errors';
import { type BundleLimits, DEFAULT_BUNDLE_LIMITS, type EntryFacts, entryProblem } from './entries';
import { type BundleSource, openBundle } from './source';

/**
 * Thrown when a bundle or a tree holds what a bundle may not; `problems` lists each entry and why. `summary` says
 * what they are when they are not all unsafe entries (a bundle that fails verify: cut off, damaged, altered).
 */
export class UnsafeBundleError extends Error {
  override name = 'UnsafeBundleError';
  constructor(
    readonly source: string,
    readonly problems: string[],
    options?: ErrorOptions & { summary?: string },
  ) {
    super(
      `${source} is refused: ${options?.summary ?? `${problems.length} unsafe ${problems.length === 1 ? 'entry' : 'entries'}`}\n${problems
        .slice(0, 20)
        .map((p) => `  ${p}`)
        .join('\n')}${problems.length > 20 ? `\n  (${problems.length - 20} more)` : ''}`,
      options,
    );
  }
}

/**
 * Unpacks the bundle file `bundle` (tar or tar.gz at that path; or a resolved file source, which may be an age file
 * decrypted as it is read) into `dir` (created 0700). Entries the rule refuses are not
 * written, and any of them makes this throw UnsafeBundleError after the rest is done; so do node-tar's own
 * warnings (strict mode: a `..` name, a damaged header) and a gzip bomb. Owners are never taken from the archive.
 * Callers unpack into a private directory of their own and remove it when this throws.
 */
export async function extractBundle(
  bundle: string | (BundleSource & { kind: 'file' }),
  dir: string,
  limits: BundleLimits = DEFAULT_BUNDLE_LIMITS,
): Promise<void> {
  const file = typeof bundle === 'string' ? bundle : bundle.path;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const problems: string[] = [];
  let bytes = 0;
  let entries = 0;
  const accept = (_path: string, entry: ReadEntry | Stats): boolean => {
    const read = entry as ReadEntry;
    const problem = entryProblem(readEntryFacts(read), limits);
    if (problem) {
      problems.push(problem);
      return false;
    }
    entries += 1;
    bytes += read.size;
    if (entries > limits.maxEntries || bytes > limits.maxTotalBytes) {
      if (problems.at(-1) !== LIMIT) problems.push(LIMIT);
      return false;
    }
    return true;
  };
  // node-tar's Unpack, as its x() drives it for a file, so that an extended header over the limit (which the
  // parser skips silently) is seen too.
  const unpack = new Unpack({
    cwd: dir,
    strict: true,
    filter: accept,
    preserveOwner: false,
    chmod: true,
    processUmask: 0o077,
    maxMetaEntrySize: limits.maxMetaEntryBytes,
    maxDecompressionRatio: limits.maxDecompressionRatio,
    unlink: true,
  });
  unpack.on('ignoredEntry', (entry: ReadEntry) => {
    if (entry.meta)
      problems.push(
        `an extended header of ${entry.size} bytes, over the ${limits.maxMetaEntryBytes}-byte limit`,
      );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const source = openBundle(typeof bundle === 'string' ? { kind: 'file', path: bundle } : bundle);
      source.on('error', reject);
      unpack.on('error', reject);
      unpack.on('close', () => resolve());
      source.pipe(unpack as unknown as NodeJS.WritableStream);
    });
  } catch (error) {
    throw new UnsafeBundleError(file, [...problems, `cannot unpack: ${errorMessage(error)}`], {
      cause: error,
    });
  }
  if (problems.length > 0) throw new UnsafeBundleError(file, problems);
  const left = await auditTree(dir, { makePrivate: true, limits });
  if (left.length > 0) throw new UnsafeBundleError(file, left);
}
const LIMIT = 'the bundle is over its size or entry limit';

export function readEntryFacts(entry: ReadEntry): EntryFacts {
  return {
    name: entry.path,
    type: entry.type,
    ...(entry.mode !== undefined ? { mode: entry.mode } : {}),
    ...(entry.linkpath ? { linkpath: entry.linkpath } : {}),
    size: entry.size,
  };
}

/**
 * Walks `root` with lstat (never following a link) and returns every entry the bundle rule refuses, by its
 * path relative to `root`; files with more than one hard link count as hard links. With `makePrivate`, every
 * directory is set to 0700 and every file to 0600 as it is passed (mtimes are untouched).
 */
export async function auditTree(
  root: string,
  options: { makePrivate?: boolean; limits?: BundleLimits } = {},
): Promise<string[]> {
  const problems: string[] = [];
  const limits = options.limits ?? DEFAULT_BUNDLE_LIMITS;
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const stats = await lstat(path);
      const facts = treeEntry(relative(root, path), stats);
      const problem = entryProblem(facts, limits);
      if (problem) {
        problems.push(problem);
        continue;
      }
      if (stats.isDirectory()) {
        if (options.makePrivate) await chmod(path, 0o700);
        await walk(path);
      } else if (options.makePrivate) await chmod(path, 0o600);
    }
  };
  await walk(root);
  return problems;
}

/** An lstat result in the terms of the bundle rule. */
export function treeEntry(name: string, stats: Stats): EntryFacts {
  const type = stats.isSymbolicLink()
    ? 'SymbolicLink'
    : stats.isCharacterDevice()
      ? 'CharacterDevice'
      : stats.isBlockDevice()
        ? 'BlockDevice'
        : stats.isFIFO()
          ? 'FIFO'
          : stats.isSocket()
            ? 'Socket'
            : stats.isDirectory()
              ? 'Directory'
              : stats.nlink > 1
                ? 'Link'
                : 'File';
  return {
    name: type === 'Directory' ? `${name}/` : name,
    type,
    mode: stats.mode & 0o7777,
    size: stats.size,
  };
}
