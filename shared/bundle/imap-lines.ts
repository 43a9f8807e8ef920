// A private copy of a maildir made ready for IMAP clients: every message served with CRLF lines. Dovecot serves a
// maildir file's bare LF as CRLF, but a bare CR (classic Mac OS mail) goes out as it is, and clients drop such
// messages (mbsync: "incomplete header; skipping", exit 0, never fetched again). In the copy, every bare CR of a
// message is written as LF, so the client gets CRLF where the original had CR; the bundle and the archive keep the
// exact bytes (the manifest's sha256 is of the original). Only `serve`'s private copy is changed, never a source.
import { mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BareCrToLf } from '../mail/lines';
import { parseMessageFileName } from './maildir';

const CR = 13;
const LF = 10;

/**
 * Rewrites, in the maildir tree at `maildir` (the root and every `.folder`), each message in cur/ and new/ that has
 * a bare CR: CR -> LF (same size), the file renamed with its new W= (RFC822.SIZE), its mtime (the INTERNALDATE)
 * kept, and its line in dovecot-uidlist and courierimapuiddb renamed too, so its UID stays. `onlyFiles`, when
 * given, names the files that may have one (by name, without the folder): a bundle's manifest knows that a message
 * stored `crlf-to-lf` has no CR at all, so only its `as-is` ones are read. Returns how many messages were
 * rewritten. Throws what the file system throws.
 */
export async function serveBareCrAsCrlf(maildir: string, onlyFiles?: Set<string>): Promise<number> {
  let rewritten = 0;
  const folders = [maildir];
  for (const entry of await readdir(maildir, { withFileTypes: true }))
    if (entry.isDirectory() && entry.name.startsWith('.')) folders.push(join(maildir, entry.name));
  for (const folder of folders) {
    const renamed = new Map<string, string>();
    for (const sub of ['cur', 'new']) {
      const dir = join(folder, sub);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        if (onlyFiles && !onlyFiles.has(name)) continue;
        const path = join(dir, name);
        const served = servedAsCrlf(await readFile(path), name);
        if (!served) continue;
        const { bytes: fixed, name: newName } = served;
        const parsed = parseMessageFileName(name);
        const info = await stat(path);
        await mkdir(join(folder, 'tmp'), { recursive: true, mode: 0o700 });
        const temporary = join(folder, 'tmp', `${name}.crlf`);
        await writeFile(temporary, fixed, { mode: info.mode & 0o777 });
        await utimes(temporary, info.atime, info.mtime);
        await rename(temporary, join(dir, newName));
        if (newName !== name) {
          await unlink(path);
          const oldBase = parsed?.baseName;
          const newBase = parseMessageFileName(newName)?.baseName;
          if (oldBase && newBase) renamed.set(oldBase, newBase);
        }
        rewritten += 1;
      }
    }
    if (renamed.size > 0) {
      await renameInUidList(join(folder, 'dovecot-uidlist'), renamed, / :(\S+)$/, (base) => ` :${base}`);
      await renameInUidList(join(folder, 'courierimapuiddb'), renamed, / (\S+)$/, (base) => ` ${base}`);
    }
  }
  return rewritten;
}

/**
 * A message file's bytes and name as a served copy holds them: undefined when the bytes have no bare CR (served
 * as they are); otherwise each bare CR written as LF (same size) and the name's W= (RFC822.SIZE) recounted.
 */
export function servedAsCrlf(bytes: Buffer, name: string): { bytes: Buffer; name: string } | undefined {
  if (!hasBareCr(bytes)) return undefined;
  const converter = new BareCrToLf();
  const fixed = Buffer.concat([converter.transform(bytes), converter.flush()]);
  const newName =
    parseMessageFileName(name)?.virtualSize === undefined
      ? name
      : name.replace(/,W=\d+/, `,W=${fixed.length + bareLfCount(fixed)}`);
  return { bytes: fixed, name: newName };
}

/** Whether the bytes hold a CR not followed by LF. */
function hasBareCr(bytes: Buffer): boolean {
  for (let i = bytes.indexOf(CR); i >= 0; i = bytes.indexOf(CR, i + 1)) if (bytes[i + 1] !== LF) return true;
  return false;
}

/** LFs not preceded by CR: what RFC822.SIZE adds to a maildir file's size (each is served as CRLF). */
function bareLfCount(bytes: Buffer): number {
  let count = 0;
  for (let i = bytes.indexOf(LF); i >= 0; i = bytes.indexOf(LF, i + 1)) if (bytes[i - 1] !== CR) count += 1;
  return count;
}

/** Renames base names in a uid list file (line by line, the base name last on its line); a missing file is fine. */
async function renameInUidList(
  path: string,
  renamed: Map<string, string>,
  basePattern: RegExp,
  write: (base: string) => string,
): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const info = await stat(path);
  const lines = text.split('\n').map((line, i) => {
    if (i === 0) return line;
    const match = line.match(basePattern);
    const next = match && renamed.get(match[1] as string);
    return next ? line.replace(basePattern, write(next)) : line;
  });
  await writeFile(path, lines.join('\n'));
  await utimes(path, info.atime, info.mtime);
}
