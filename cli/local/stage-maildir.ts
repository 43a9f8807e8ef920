// What `serve` serves: a private copy of a bundle or a maildir, made only after the source passed the same
// checks as `verify`. A bundle `verify` rejects is refused whole; a directory holding anything but regular files
// and directories (a symlink to ~/.aws/credentials, a device, a FIFO) or unsafe modes is refused too. Messages
// with bare CR are served with CRLF lines from the copy (shared/bundle/imap-lines.ts).
import { existsSync } from 'node:fs';
import { cp, mkdir, stat, statfs } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { BundleKeys } from '../../shared/bundle/age';
import { type BundleLimits, DEFAULT_BUNDLE_LIMITS } from '../../shared/bundle/entries';
import { auditTree, extractBundle, UnsafeBundleError } from '../../shared/bundle/extract';
import { serveBareCrAsCrlf } from '../../shared/bundle/imap-lines';
import type { BundleManifest } from '../../shared/bundle/manifest';
import { BundleSourceError, openBundle, resolveBundleSource } from '../../shared/bundle/source';
import { verifyBundle } from '../../shared/bundle/verify';

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
 * lstat, copied with fs.cp (modes and mtimes kept, links copied as links), and the copy checked again (the source
 * may change meanwhile; the copy cannot). What `source` names is decided by shared/bundle/source.ts.
 * The copy ends with directories 0700 and files 0600, and every message with a bare CR written with LF there
 * (shared/bundle/imap-lines.ts: IMAP clients then get CRLF lines). Throws UnsafeBundleError (with every reason) for a
 * source that is refused, StageSourceError when it is missing, holds no maildir or does not fit on the disk. An
 * age-encrypted bundle is opened with `keys` (StageSourceError when they do not open it) and decrypted as it is
 * read, twice (verify, then unpack): only the unpacked maildir reaches the disk.
 */
export async function stageMaildir(
  source: string,
  work: string,
  limits: BundleLimits = DEFAULT_BUNDLE_LIMITS,
  keys?: BundleKeys,
): Promise<string> {
  const bundle = await resolveSource(source, keys);
  const target = join(work, 'bundle');
  await mkdir(target, { recursive: true, mode: 0o700 });
  let manifest: BundleManifest | undefined;
  if (bundle.kind === 'file') {
    const report = await verifyBundle(openBundle(bundle), limits, { keepProofs: false });
    if (!report.ok)
      throw new UnsafeBundleError(
        source,
        report.errors.map((e) => `verify: ${e}`),
        {
          summary: `it fails the checks of "verify" (${report.errors.length} ${report.errors.length === 1 ? 'problem' : 'problems'})`,
        },
      );
    const disk = await statfs(work);
    const free = disk.bavail * disk.bsize;
    if (report.unpackedBytes + HEADROOM_BYTES > free) {
      throw new StageSourceError(
        `${source} unpacks to ${report.unpackedBytes} bytes; ${work} has ${free} bytes free`,
      );
    }
    await extractBundle(bundle, target, limits);
    manifest = report.manifest;
  } else {
    const from = maildirOf(bundle.path);
    const before = await auditTree(from, { limits });
    if (before.length > 0) throw new UnsafeBundleError(source, before);
    await cp(from, join(target, 'Maildir'), {
      recursive: true,
      preserveTimestamps: true,
      verbatimSymlinks: true,
      errorOnExist: true,
      force: false,
    });
    const after = await auditTree(target, { makePrivate: true, limits });
    if (after.length > 0) throw new UnsafeBundleError(source, after);
  }
  const maildir = join(target, 'Maildir');
  if (!existsSync(join(maildir, 'cur')))
    throw new StageSourceError(`${source} holds no maildir (no Maildir/cur)`);
  // IMAP clients get CRLF lines for every message: the copy's bare CRs become LF (the source keeps its bytes). A
  // bundle's manifest says which messages are stored as they came (the others have no CR at all).
  await serveBareCrAsCrlf(maildir, manifest && asStoredFiles(manifest));
  return maildir;
}

/**
 * The maildir that `stageMaildir(source, ...)` copies when `source` is a directory (what `serve` then follows:
 * cli/local/follow-maildir.ts); undefined for a bundle file, which nothing adds to. Throws as stageMaildir does.
 */
export async function sourceMaildir(source: string): Promise<string | undefined> {
  if (!(await stat(source).catch(() => undefined))?.isDirectory()) return undefined;
  const bundle = await resolveSource(source);
  return bundle.kind === 'file' ? undefined : maildirOf(bundle.path);
}

/** A directory source's maildir: its Maildir/ when it has one (an unpacked bundle, a replica's mailbox), else itself. */
function maildirOf(directory: string): string {
  return existsSync(join(directory, 'Maildir')) ? join(directory, 'Maildir') : directory;
}

function resolveSource(source: string, keys?: BundleKeys) {
  return resolveBundleSource(source, { maildir: true, ...(keys ? { keys } : {}) }).catch((error: unknown) => {
    if (error instanceof BundleSourceError) throw new StageSourceError(error.message, { cause: error });
    throw error;
  });
}

/** The file names (without their folder) of a bundle's messages stored exactly as received. */
function asStoredFiles(manifest: BundleManifest): Set<string> {
  return new Set(manifest.messages.filter((m) => m.storage === 'as-is').map((m) => basename(m.file)));
}
