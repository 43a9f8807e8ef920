// A bundle is hostile input: it is downloaded, copied, handed on. This is the one home of the rule for what a
// bundle entry may be (a regular file or a directory, a relative name that stays inside, a private mode, a
// bounded size) and of the reader that applies it. `verify` reports every entry the rule refuses; `serve`
// refuses to unpack a bundle `verify` rejects, and unpacks with the same rule as its filter.
import { type Readable, Transform } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';

/** Sizes a bundle may not exceed. All in bytes unless named otherwise. */
export interface BundleLimits {
  /** manifest.json is read whole into memory and parsed: about 250 bytes per message. */
  maxManifestBytes: number;
  /** Every other text entry read into memory (dovecot-uidlist, courierimapuiddb, subscriptions...). */
  maxTextEntryBytes: number;
  /** The sum of every entry's size: what unpacking writes to disk. */
  maxTotalBytes: number;
  /** Entries (files and directories) in the bundle. */
  maxEntries: number;
  /** A pax or GNU long-name header; node-tar's own default is 1 MiB. */
  maxMetaEntryBytes: number;
  /** Unpacked bytes over gzip bytes, checked as the stream is read (node-tar's default is 1000). */
  maxDecompressionRatio: number;
}

const MiB = 1024 * 1024;

/**
 * The defaults: a manifest of about 500,000 messages, uidlists of about a million, 64 GiB in all. A bundle
 * this project writes stays well inside them; the 600 MB manifest of a 0.6 MB bundle does not.
 */
export const DEFAULT_BUNDLE_LIMITS: BundleLimits = {
  maxManifestBytes: 128 * MiB,
  maxTextEntryBytes: 64 * MiB,
  maxTotalBytes: 64 * 1024 * MiB,
  maxEntries: 4_000_000,
  maxMetaEntryBytes: MiB,
  maxDecompressionRatio: 1000,
};

/** The entries a reader keeps in memory as text; each is capped (manifest.json by its own limit). */
export const TEXT_ENTRY =
  /(^|\/)(manifest\.json|dovecot-uidlist|dovecot-keywords|courierimapuiddb|subscriptions|courierimapsubscribed|maildirfolder)$/;

/**
 * The transparency files a bundle carries (shared/transparency/proofs.ts), read whole into memory by `verify`;
 * each is capped like the manifest (the proofs are about a kilobyte per message).
 */
export const TRANSPARENCY_ENTRY = /^transparency\/(checkpoint|checkpoint\.tsr|key\.pub|proofs\.jsonl)$/;

/** Thrown when a bundle passes a limit that ends reading it (total size, entry count, a gzip bomb). */
export class BundleLimitError extends Error {
  override name = 'BundleLimitError';
}

/** What the rule looks at: node-tar's ReadEntry, or an lstat of an unpacked tree (see `treeEntry`). */
export interface EntryFacts {
  /** The name as stored, before any normalisation. */
  name: string;
  /** node-tar's type names: 'File', 'OldFile', 'Directory', 'SymbolicLink', 'Link', 'CharacterDevice', ... */
  type: string;
  /** Permission bits with setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
  mode?: number;
  linkpath?: string;
  size: number;
}

const TYPE_NAMES: Record<string, string> = {
  SymbolicLink: 'a symbolic link',
  Link: 'a hard link',
  CharacterDevice: 'a character device',
  BlockDevice: 'a block device',
  FIFO: 'a FIFO',
  ContiguousFile: 'a contiguous file',
  SparseFile: 'a sparse file',
  Socket: 'a socket',
};

/**
 * The path inside the bundle an entry name stands for: leading `./` (a bundle repacked with `tar -C dir .`)
 * and a trailing `/` removed. '' for the bundle's root itself.
 */
export function entryPath(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

/**
 * Why an entry may not be in a bundle, or undefined when it may. Accepted: regular files and directories with a
 * relative name of plain segments (no `..`, `.`, empty, absolute, backslash or control characters), no link
 * name, no setuid, setgid or sticky bit, not world-writable, and text entries within their cap.
 */
export function entryProblem(
  entry: EntryFacts,
  limits: BundleLimits = DEFAULT_BUNDLE_LIMITS,
): string | undefined {
  const shown = JSON.stringify(entry.name);
  const name = entry.name;
  if (name.startsWith('/')) return `${shown}: an absolute name`;
  const path = entryPath(name);
  if (path === '' && entry.type === 'Directory') return undefined;
  if (path.split('/').some((s) => s === '..')) return `${shown}: a name that climbs out of the bundle (..)`;
  if (path.includes('\\')) return `${shown}: a backslash in the name`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(path)) return `${shown}: a control character in the name`;
  if (path === '' || path.split('/').some((s) => s === '' || s === '.'))
    return `${shown}: an empty or "." segment in the name`;
  const kind = TYPE_NAMES[entry.type];
  if (kind) {
    const target = entry.linkpath ? ` to ${JSON.stringify(entry.linkpath)}` : '';
    return `${shown}: ${kind}${target}; a bundle holds only regular files and directories`;
  }
  if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'Directory')
    return `${shown}: an entry of type ${entry.type}; a bundle holds only regular files and directories`;
  if (entry.linkpath) return `${shown}: carries a link name (${JSON.stringify(entry.linkpath)})`;
  const mode = entry.mode ?? 0;
  if (mode & 0o4000) return `${shown}: setuid mode ${octal(mode)}`;
  if (mode & 0o2000) return `${shown}: setgid mode ${octal(mode)}`;
  if (mode & 0o1000) return `${shown}: sticky mode ${octal(mode)}`;
  if (mode & 0o002) return `${shown}: world-writable mode ${octal(mode)}`;
  if (entry.type !== 'Directory' && (TEXT_ENTRY.test(path) || TRANSPARENCY_ENTRY.test(path))) {
    const cap = textEntryCap(path, limits);
    if (entry.size > cap) return `${shown}: ${entry.size} bytes, over the ${cap}-byte limit for this file`;
  }
  return undefined;
}

/** The most bytes of a text entry a reader holds in memory. */
export function textEntryCap(path: string, limits: BundleLimits): number {
  return path === 'manifest.json' || TRANSPARENCY_ENTRY.test(path)
    ? limits.maxManifestBytes
    : limits.maxTextEntryBytes;
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

const WRITE_SLICE = 16 * 1024;

/** Warnings past this many are counted, not listed. */
const MAX_LISTED_WARNINGS = 50;

/**
 * Reads a tar or tar.gz stream entry by entry with node-tar's parser, under `limits`. Each entry must be read
 * (or left: the next step resumes it) before the next is yielded. Unsafe entries are yielded too: the caller
 * asks `entryProblem`. Damage the parser recovers from (bad checksums, a link name on a file, an oversized pax
 * header, truncation) goes into `warnings`. Throws BundleLimitError past the total size or the entry count, and
 * the parser's error on a gzip bomb or unreadable data. Bytes counted are the entries' declared sizes, which
 * the parser never exceeds.
 */
export async function* readBundleEntries(
  source: Readable,
  limits: BundleLimits,
  warnings: string[],
): AsyncGenerator<ReadEntry> {
  let warned = 0;
  const warn = (text: string) => {
    warned += 1;
    if (warned <= MAX_LISTED_WARNINGS) warnings.push(text);
    else if (warned === MAX_LISTED_WARNINGS + 1) warnings.push('(further damage not listed)');
  };
  const parser = new Parser({
    maxMetaEntrySize: limits.maxMetaEntryBytes,
    maxDecompressionRatio: limits.maxDecompressionRatio,
  });
  const queue: ReadEntry[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  parser.on('entry', (entry: ReadEntry) => {
    queue.push(entry);
    signal();
  });
  parser.on(
    'warn',
    (_code: string, message: string, data: { entry?: ReadEntry; header?: { path?: string } }) => {
      const where = data.entry?.path ?? data.header?.path;
      warn(`damaged bundle: ${message}${where ? ` (at ${JSON.stringify(where)})` : ''}`);
    },
  );
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    if (entry.meta)
      warn(`an extended header of ${entry.size} bytes, over the ${limits.maxMetaEntryBytes}-byte limit`);
  });
  let previous: ReadEntry | undefined;
  const fail = (error: Error) => {
    failure ??= error;
    // The parser gives up on a cut-off or damaged stream without ending the entry being read: without this the
    // caller waits for that entry's end forever.
    const reading = previous;
    if (reading?.writable) {
      // Minipass hands an emitted error to listeners added later too, so a read that starts after this fails.
      reading.on('error', () => {});
      reading.destroy(error);
    }
    signal();
  };
  parser.on('error', fail);
  parser.on('end', () => {
    ended = true;
    signal();
  });
  source.on('error', fail);
  // node-tar inflates each written chunk at once: 16 KiB in bounds one burst at 16 MiB (ratio 1000).
  const slicer = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let i = 0; i < chunk.length; i += WRITE_SLICE) this.push(chunk.subarray(i, i + WRITE_SLICE));
      done();
    },
  });
  slicer.on('error', fail);
  source.pipe(slicer).pipe(parser as unknown as NodeJS.WritableStream);
  let entries = 0;
  let bytes = 0;
  try {
    for (;;) {
      // An entry the caller left unread would hold the parser back forever.
      previous?.resume();
      while (queue.length === 0 && !ended && !failure) await new Promise<void>((r) => (wake = r));
      // Entries parsed before the damage are still handed out: they are intact, and what can be recovered.
      if (failure && queue.length === 0) throw failure;
      const entry = queue.shift();
      if (!entry) return;
      // Parsed before the damage but cut by it: it will never end, so it is the damage, not an entry.
      if (failure && entry.writable) throw failure;
      entries += 1;
      bytes += entry.size;
      if (entries > limits.maxEntries)
        throw new BundleLimitError(`more than ${limits.maxEntries} entries: refused`);
      if (bytes > limits.maxTotalBytes)
        throw new BundleLimitError(`more than ${limits.maxTotalBytes} bytes unpacked: refused`);
      previous = entry;
      yield entry;
    }
  } finally {
    slicer.unpipe(parser as unknown as NodeJS.WritableStream);
    source.destroy();
    slicer.destroy();
    if (!ended) parser.abort(new Error('reading stopped'));
  }
}
