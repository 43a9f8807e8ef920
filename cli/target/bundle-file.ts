// Files the CLI writes and reads for bundles. A bundle is written under a temporary name beside its final one
// and renamed only once its sha256 matched, so a file under the final name is always a whole, checked bundle;
// the destination is checked before an export starts, not when the first byte is written.
import { constants, createReadStream } from 'node:fs';
import { access, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { ageKindOf, type BundleKeys, decryptBundle, EncryptedBundleError } from '../../shared/bundle/age';
import { UserError } from '../process/output';

/**
 * Throws UserError unless a bundle can be written at `path`: its directory exists, is a directory and is
 * writable, and `path` itself is not a directory.
 */
export async function assertWritableDestination(path: string, flag = '--out'): Promise<void> {
  const dir = dirname(resolve(path));
  const info = await stat(dir).catch(() => undefined);
  if (!info)
    throw new UserError(`cannot write ${path}: the directory ${dir} does not exist`, {
      hint: `create it first (mkdir -p "${dir}"), or choose another place with ${flag}`,
    });
  if (!info.isDirectory()) throw new UserError(`cannot write ${path}: ${dir} is not a directory`);
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new UserError(`cannot write ${path}: ${dir} is not writable by this user`, {
      hint: `choose another place with ${flag}`,
    });
  }
  if ((await stat(path).catch(() => undefined))?.isDirectory())
    throw new UserError(`cannot write ${path}: it is a directory`, {
      hint: `name a file, e.g. ${flag} ${join(path, 'bundle.tar.gz')}`,
    });
}

/** The temporary name a bundle is written under until it is checked: hidden, beside the final name. */
export function pendingPath(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.partial-${process.pid}`);
}

/** Moves a checked bundle to its final name (same directory, so the rename is atomic). */
export async function commitPending(pending: string, finalPath: string): Promise<void> {
  await rename(pending, finalPath);
}

export async function discardPending(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { force: true })));
}

/** gzip's magic number, and tar's (ustar) at offset 257. */
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/**
 * Opens what `verify` reads: a bundle file as it is (decrypted on the fly when it is age-encrypted: see
 * openBundleFile), or a directory (an unpacked bundle) packed on the fly by the system's tar with its modes and
 * mtimes, so the same checks apply. Throws UserError when `path` is missing, unreadable, a file that is neither
 * gzip, tar nor age, or an encrypted bundle `keys` cannot open.
 */
export async function openBundleSource(
  path: string,
  keys?: BundleKeys,
): Promise<{ stream: Readable; kind: 'file' | 'directory'; encrypted: boolean }> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new UserError(`${path} does not exist`);
    throw new UserError(`cannot read ${path}: ${error.message}`, { cause: error });
  });
  if (info.isDirectory()) {
    const { spawn } = await import('node:child_process');
    const child = spawn('tar', ['--format=posix', '-C', path, '-cf', '-', '.'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('exit', (code) => {
      if (code) child.stdout.destroy(new UserError(`cannot read the directory ${path}: ${stderr.trim()}`));
    });
    return { stream: child.stdout, kind: 'directory', encrypted: false };
  }
  if (!info.isFile()) throw new UserError(`${path} is neither a bundle file nor a directory`);
  return { ...(await openBundleFile(path, keys)), kind: 'file' };
}

/**
 * The bundle file at `path` as the tar.gz (or tar) stream every check reads. An age file (`.tar.gz.age`) is
 * decrypted as it is read, never written out: its header is opened with `keys` first, so a wrong key, a damaged
 * header or a passphrase bundle given an identity is a UserError here, before any check; a payload cut off or
 * altered later fails the stream with AgePayloadError ("truncated after N MiB intact"). Throws UserError as
 * openBundleSource does for a file that is none of gzip, tar and age.
 */
export async function openBundleFile(
  path: string,
  keys: BundleKeys = { identities: [] },
): Promise<{ stream: Readable; encrypted: boolean }> {
  const handle = await open(path, 'r').catch((error: Error) => {
    throw new UserError(`cannot read ${path}: ${error.message}`, { cause: error });
  });
  const head = Buffer.alloc(262);
  const { bytesRead } = await handle.read(head, 0, head.length, 0);
  await handle.close();
  const age = ageKindOf(head.subarray(0, bytesRead));
  if (age === 'armored')
    throw new UserError(`${path} is an ASCII-armored age file: mail-archiver reads binary ones`, {
      hint: `convert it without the armor: age -d ... | age -e ... (export writes binary .age files)`,
    });
  if (age === 'age') {
    try {
      return { stream: await decryptBundle(createReadStream(path), keys), encrypted: true };
    } catch (error) {
      if (error instanceof EncryptedBundleError)
        throw new UserError(`${path}: ${error.message}`, { cause: error });
      throw error;
    }
  }
  const gzip = bytesRead >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC);
  const tar = bytesRead >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
  if (!gzip && !tar)
    throw new UserError(`${path} is not a bundle: it is neither gzip, tar nor age data`, {
      hint: 'a bundle is the .tar.gz (or .tar.gz.age) that "mail-archiver export" writes (or that directory, unpacked)',
    });
  return { stream: createReadStream(path), encrypted: false };
}

/**
 * openBundleFile for callers that want a stream at once (restore's readers): the opening happens as it is first
 * read, and its failures are the stream's error.
 */
export function bundleFileStream(path: string, keys?: BundleKeys): Readable {
  return Readable.from(
    (async function* () {
      yield* (await openBundleFile(path, keys)).stream;
    })(),
    { objectMode: false },
  );
}
