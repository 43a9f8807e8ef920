// What went wrong reading a bundle, in plain words instead of zlib's and tar's ("incorrect header check",
// "unexpected end of file", "Invalid tar header"), with what can still be recovered.
import { errorMessage } from '../errors';

export type BundleDamage = 'not-gzip' | 'truncated' | 'damaged-gzip' | 'damaged-tar';

/** Classifies an error thrown while gunzipping and untarring a bundle; undefined when it is none of those. */
export function bundleDamageOf(error: unknown): BundleDamage | undefined {
  const e = error as NodeJS.ErrnoException | undefined;
  const message = e?.message ?? '';
  if (e?.code === 'Z_DATA_ERROR' && /incorrect header check|not in gzip format/i.test(message))
    return 'not-gzip';
  if (e?.code === 'Z_BUF_ERROR' || /unexpected end of (file|data)/i.test(message)) return 'truncated';
  if (
    e?.code === 'Z_DATA_ERROR' ||
    /invalid (block type|distance|stored block|code)|crc|incorrect/i.test(message)
  )
    return 'damaged-gzip';
  if (/tar header|tar is corrupted|TAR_/i.test(`${message} ${e?.code ?? ''}`)) return 'damaged-tar';
  return undefined;
}

/**
 * One sentence for people: what is wrong with the bundle and what still works. `readableFiles` is how many
 * files were read intact before the damage (entries of a tar.gz are read in order, so those are good).
 */
export function describeBundleDamage(damage: BundleDamage, readableFiles?: number): string {
  const intact =
    readableFiles && readableFiles > 0
      ? ` The ${readableFiles} files before the damage read intact: "tar -xzf" extracts them before stopping at the same place.`
      : '';
  switch (damage) {
    case 'not-gzip':
      return 'not a gzip file: a bundle is the .tar.gz that "mail-archiver export" writes (is this the right file?).';
    case 'truncated':
      return `truncated gzip file: it ends before the archive does (an interrupted copy or download?). Copy it again from the original if you can.${intact}`;
    case 'damaged-gzip':
      return `damaged gzip file: its compressed data is corrupt part-way through. Copy it again from the original if you can.${intact}`;
    case 'damaged-tar':
      return `damaged tar archive inside the gzip file.${intact}`;
  }
}

/** The plain-words reason for a bundle read error, or the error's own message when it is not bundle damage. */
export function explainBundleError(error: unknown, readableFiles?: number): string {
  const damage = bundleDamageOf(error);
  return damage ? describeBundleDamage(damage, readableFiles) : errorMessage(error);
}
