// What a bundle path is, and how its bytes are opened: the one rule `verify`, `serve` and `restore` use (and the
// one place a bundle's bytes are read from disk, so a transformation of them, such as decryption, has one home).
// A bundle is the file `export` writes (tar.gz, or tar), or that file unpacked: a directory holding manifest.json
// and Maildir/. A directory is opened as a tar of its entries packed on the fly by node-tar (modes and mtimes
// kept, links stored as links), so the same checks apply to it as to the file. A bundle file encrypted with age
// (NAME.tar.gz.age, ./age.ts) is decrypted here as it is read, never written out, so every reader checks the
// plaintext with exactly the checks of a plain bundle.
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { create } from 'tar';
import { asError } from '../errors';
import {
  AGE_MAGIC,
  AgePayloadError,
  ageKindOf,
  type BundleKeys,
  decryptBundle,
  EncryptedBundleError,
} from './age';
import { MAILDIR_ROOT } from './maildir';

/**
 * A bundle as the user named it: the bundle file, or the directory it was unpacked into. An age-encrypted file
 * carries `age`, the keys its header was opened with (openBundle decrypts with them).
 */
export type BundleSource =
  | { kind: 'file'; path: string; age?: BundleKeys }
  | { kind: 'directory'; path: string };

/** A maildir of any origin (`serve` accepts one besides a bundle): `path` holds cur/, or Maildir/ holding it. */
export type MaildirSource = { kind: 'maildir'; path: string };

/** The path names no bundle: missing, unreadable, or neither a bundle file nor an unpacked bundle. */
export class BundleSourceError extends Error {
  override name = 'BundleSourceError';
  /** What to do about it, one line, when there is something to say. */
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
  }
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** The ustar magic sits at offset 257 of a tar header (POSIX.1-2001 ustar format). */
const USTAR_OFFSET = 257;
const MANIFEST = 'manifest.json';

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

async function isUnpackedBundle(dir: string): Promise<boolean> {
  return (await exists(join(dir, MANIFEST))) && (await exists(join(dir, MAILDIR_ROOT)));
}

/** How a bundle path is resolved: `maildir` admits any directory; `keys` open an age-encrypted bundle file. */
export interface ResolveOptions {
  maildir?: boolean;
  keys?: BundleKeys;
}

/**
 * What `path` names: a bundle file (gzip, tar or age data, checked by its first bytes), or an unpacked bundle (a
 * directory with manifest.json and Maildir/; its Maildir/ names it too). With `maildir`, any other directory is
 * a MaildirSource (whether it holds a maildir is the caller's to check). An age file's header is opened here with
 * `keys` (a passphrase is asked for once), so a wrong key is said before any check reads the bundle. Throws
 * BundleSourceError when `path` is missing or unreadable, is a file that is neither gzip, tar nor age, is a
 * directory that is no unpacked bundle (without `maildir`), is an age file `keys` cannot open (its message is
 * the plain words of ./age.ts: "no identity matched; the bundle is for 2 recipients of type X25519", a damaged
 * header, a passphrase bundle given an identity file), or is an age file whose first plaintext bytes are no bundle
 * (empty, another age file, anything but gzip or tar).
 */
export async function resolveBundleSource(
  path: string,
  options?: ResolveOptions & { maildir?: false },
): Promise<BundleSource>;
export async function resolveBundleSource(
  path: string,
  options: ResolveOptions & { maildir: true },
): Promise<BundleSource | MaildirSource>;
export async function resolveBundleSource(
  path: string,
  options: ResolveOptions = {},
): Promise<BundleSource | MaildirSource> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new BundleSourceError(`${path} does not exist`, { cause: error });
    throw new BundleSourceError(`cannot read ${path}: ${error.message}`, { cause: error });
  });
  if (info.isDirectory()) {
    for (const dir of [path, dirname(resolve(path))]) {
      if (await isUnpackedBundle(dir)) return { kind: 'directory', path: dir };
    }
    if (options.maildir) return { kind: 'maildir', path };
    throw new BundleSourceError(
      `${path} is neither a bundle file nor an unpacked bundle (a directory with ${MANIFEST} and ${MAILDIR_ROOT}/)`,
    );
  }
  if (!info.isFile()) throw new BundleSourceError(`${path} is neither a bundle file nor a directory`);
  const handle = await open(path, 'r').catch((error: Error) => {
    throw new BundleSourceError(`cannot read ${path}: ${error.message}`, { cause: error });
  });
  const head = Buffer.alloc(USTAR_OFFSET + 5);
  let bytesRead: number;
  try {
    ({ bytesRead } = await handle.read(head, 0, head.length, 0));
  } finally {
    await handle.close();
  }
  const kind = contentKind(head.subarray(0, bytesRead));
  if (kind === 'armored')
    throw new BundleSourceError(`${path} is an ASCII-armored age file: mail-archiver reads binary ones`, {
      hint: 'convert it without the armor: age -d ... | age -e ... (export writes binary .age files)',
    });
  if (kind === 'age') return { kind: 'file', path, age: await openedWith(path, options.keys) };
  if (bytesRead === 0) throw new BundleSourceError(`${path} is empty (0 bytes): not a bundle`);
  // A file cut inside the age version line still announces itself as age.
  if (bytesRead < AGE_MAGIC.length && AGE_MAGIC.subarray(0, bytesRead).equals(head.subarray(0, bytesRead)))
    throw new BundleSourceError(
      `${path}: truncated in its age header (the file ends after ${bytesRead} bytes, before the header does)`,
    );
  if (kind === undefined)
    throw new BundleSourceError(`${path} is not a bundle: it is neither gzip, tar nor age data`, {
      hint: NOT_A_BUNDLE_HINT,
    });
  return { kind: 'file', path };
}

const NOT_A_BUNDLE_HINT =
  'a bundle is the .tar.gz (or .tar.gz.age) that "mail-archiver export" writes (or that directory, unpacked)';

/** What a file's first bytes (at least USTAR_OFFSET + 5 of them, unless it is shorter) say it is. */
function contentKind(head: Buffer): 'gzip' | 'tar' | 'age' | 'armored' | undefined {
  const age = ageKindOf(head);
  if (age) return age;
  if (head.length >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (
    head.length >= USTAR_OFFSET + 5 &&
    head.subarray(USTAR_OFFSET, USTAR_OFFSET + 5).toString('latin1') === 'ustar'
  )
    return 'tar';
  return undefined;
}

/** The first `count` bytes of `stream` (fewer if it ends first); the stream is destroyed. */
async function firstBytes(stream: Readable, count: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= count) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks);
}

/**
 * `keys` once they opened the age header of `path` (the passphrase, if one is asked for, asked once for every
 * later opening); BundleSourceError naming the file when they do not.
 */
async function openedWith(path: string, keys: BundleKeys = { identities: [] }): Promise<BundleKeys> {
  let asked: Promise<string> | undefined;
  const ask = keys.passphrase;
  const once: BundleKeys = {
    identities: keys.identities,
    ...(ask ? { passphrase: () => (asked ??= ask()) } : {}),
  };
  let head: Buffer | undefined;
  try {
    // The first chunk's plaintext says whether a bundle is inside. A payload that fails this early is left to the
    // reader, which says it as it says a failure at any later chunk.
    const plain = await decryptBundle(createReadStream(path), once);
    head = await firstBytes(plain, USTAR_OFFSET + 5).catch((error: unknown) => {
      if (error instanceof AgePayloadError) return undefined;
      throw error;
    });
  } catch (error) {
    if (error instanceof EncryptedBundleError)
      throw new BundleSourceError(`${path}: ${error.message}`, { cause: error });
    throw new BundleSourceError(`cannot read ${path}: ${asError(error).message}`, { cause: error });
  }
  const inside = head && contentKind(head);
  if (head && head.length === 0)
    throw new BundleSourceError(
      `${path} decrypts, but holds nothing (0 bytes): an empty file was encrypted, not a bundle`,
    );
  if (inside === 'age' || inside === 'armored')
    throw new BundleSourceError(`${path} decrypts to another age file (encrypted twice?)`, {
      hint: `decrypt the outer layer first (age -d -i KEYFILE ${path} > inner.tar.gz.age), then read that file`,
    });
  if (head && inside === undefined)
    throw new BundleSourceError(
      `${path} decrypts, but what it holds is not a bundle: it is neither gzip nor tar data`,
      { hint: NOT_A_BUNDLE_HINT },
    );
  return once;
}

/**
 * The bundle's bytes as a tar (or tar.gz) stream, what `verifyBundle`, `readBundleEntries` and `extractBundle`
 * read: a file as it is; an age file decrypted as it is read with the keys that resolved it; a directory as a tar
 * of every entry under it, packed by node-tar as it is read. A directory that cannot be read makes the stream fail
 * with its error; an age payload that stops authenticating fails it with AgePayloadError ("truncated after N MiB
 * intact", "damaged after ..."), the bytes before it being authentic.
 */
export function openBundle(source: BundleSource): Readable {
  if (source.kind === 'file' && source.age) return decrypted(source.path, source.age);
  if (source.kind === 'file') return createReadStream(source.path, { highWaterMark: 16 * 1024 });
  const tar = new PassThrough();
  // Every entry under the directory (node-tar recurses), without the directory itself.
  readdir(source.path).then(
    (names) => {
      const pack = create({ cwd: source.path, portable: false, follow: false, strict: true }, names.sort());
      pack.on('error', (error: unknown) => tar.destroy(asError(error)));
      pack.pipe(tar);
    },
    (error: Error) => tar.destroy(error),
  );
  return tar;
}

/** The plaintext of the age file at `path`: the header is opened as the stream is first read. */
function decrypted(path: string, keys: BundleKeys): Readable {
  const plain = new PassThrough({ highWaterMark: 64 * 1024 });
  decryptBundle(createReadStream(path, { highWaterMark: 64 * 1024 }), keys).then(
    (stream) => {
      stream.on('error', (error: Error) => plain.destroy(error));
      plain.on('close', () => stream.destroy());
      stream.pipe(plain);
    },
    (error: unknown) => plain.destroy(asError(error)),
  );
  return plain;
}
