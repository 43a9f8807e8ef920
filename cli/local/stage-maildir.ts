// What `serve` serves: a private copy of a bundle or a maildir, made only after the source passed the same
// checks as `verify`. A bundle `verify` rejects is refused whole; a directory holding anything but regular files
// and directories (a symlink to ~/.aws/credentials, a device, a FIFO) or unsafe modes is refused too.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { BundleKeys } from '../../shared/bundle/age';
import { type BundleLimits, DEFAULT_BUNDLE_LIMITS } from '../../shared/bundle/entries';
import { auditTree, extractBundle, UnsafeBundleError } from '../../shared/bundle/extract';
import { verifyBundle } from '../../shared/bundle/verify';
import { openBundleFile } from '../target/bundle-file';

/** Thrown when the source is missing or holds no maildir. */
export class StageSourceError extends Error {
  override name = 'StageSourceError';
}

/** Left free on the disk besides the unpacked bundle (Dovecot's indexes, logs). */
const HEADROOM_BYTES = 64 * 1024 * 1024;

/**
 * Copies `source` (a bundle .tar.gz, a directory holding Maildir/, or a maildir) into `work`/bundle/Maildir and
 * returns that path. `work` must be a private directory of the caller's (mkdtemp: 0700). A bundle is verified
 * first and unpacked in-process under the bundle rule (shared/bundle/entries.ts); a directory is checked with
 * lstat, copied with `cp -a`, and the copy checked again (the source may change meanwhile; the copy cannot).
 * The copy ends with directories 0700 and files 0600. An age-encrypted bundle is decrypted as it is read, twice
 * (verify, then unpack), with `keys`: only the unpacked maildir reaches the disk. Throws UnsafeBundleError (with
 * every reason) for a source that is refused, StageSourceError when it is missing, holds no maildir or does not
 * fit on the disk, and UserError (cli/target/bundle-file.ts) for an encrypted bundle `keys` cannot open.
 */
export async function stageMaildir(
  source: string,
  work: string,
  limits: BundleLimits = DEFAULT_BUNDLE_LIMITS,
  keys?: BundleKeys,
): Promise<string> {
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new StageSourceError(`${source} does not exist`);
  const target = join(work, 'bundle');
  await mkdir(target, { recursive: true, mode: 0o700 });
  if (info.isFile()) {
    const report = await verifyBundle((await openBundleFile(source, keys)).stream, limits);
    if (!report.ok)
      throw new UnsafeBundleError(
        source,
        report.errors.map((e) => `verify: ${e}`),
      );
    const disk = await statfs(work);
    const free = disk.bavail * disk.bsize;
    if (report.unpackedBytes + HEADROOM_BYTES > free) {
      throw new StageSourceError(
        `${source} unpacks to ${report.unpackedBytes} bytes; ${work} has ${free} bytes free`,
      );
    }
    await extractBundle(source, target, limits, (await openBundleFile(source, keys)).stream);
  } else {
    const from = existsSync(join(source, 'Maildir')) ? join(source, 'Maildir') : source;
    const before = await auditTree(from, { limits });
    if (before.length > 0) throw new UnsafeBundleError(source, before);
    execFileSync('cp', ['-a', from, join(target, 'Maildir')]);
    const after = await auditTree(target, { makePrivate: true, limits });
    if (after.length > 0) throw new UnsafeBundleError(source, after);
  }
  const maildir = join(target, 'Maildir');
  if (!existsSync(join(maildir, 'cur')))
    throw new StageSourceError(`${source} holds no maildir (no Maildir/cur)`);
  return maildir;
}
