// Files the CLI writes and reads for bundles. A bundle is written under a temporary name beside its final one
// and renamed only once its sha256 matched, so a file under the final name is always a whole, checked bundle;
// the destination is checked before an export starts, not when the first byte is written.
import { constants, createWriteStream, type WriteStream } from 'node:fs';
import { access, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  type BundleSource,
  BundleSourceError,
  type MaildirSource,
  type ResolveOptions,
  resolveBundleSource,
} from '../../shared/bundle/source';
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

/**
 * Opens a bundle file, a part of one or its temporary name for writing, readable by this user alone (0600 whatever
 * the umask): a plain part of an encrypted export is the mail in clear until it is joined and encrypted.
 */
export function privateBundleStream(path: string): WriteStream {
  return createWriteStream(path, { mode: 0o600 });
}

/** Moves a checked bundle to its final name (same directory, so the rename is atomic). */
export async function commitPending(pending: string, finalPath: string): Promise<void> {
  await rename(pending, finalPath);
}

export async function discardPending(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { force: true })));
}

/**
 * What the bundle path the user named is (shared/bundle/source.ts: a bundle file, an age-encrypted one opened with
 * `keys`, or an unpacked bundle; with `maildir`, also any other directory). Throws UserError, with the rule's hint,
 * when it names no bundle or `keys` do not open it.
 */
export async function bundleAt(
  path: string,
  options?: ResolveOptions & { maildir?: false },
): Promise<BundleSource>;
export async function bundleAt(
  path: string,
  options: ResolveOptions & { maildir: true },
): Promise<BundleSource | MaildirSource>;
export async function bundleAt(
  path: string,
  options: ResolveOptions = {},
): Promise<BundleSource | MaildirSource> {
  try {
    return options.maildir
      ? await resolveBundleSource(path, { ...options, maildir: true })
      : await resolveBundleSource(path, { ...options, maildir: false });
  } catch (error) {
    if (error instanceof BundleSourceError)
      throw new UserError(error.message, { ...(error.hint ? { hint: error.hint } : {}), cause: error });
    throw error;
  }
}
