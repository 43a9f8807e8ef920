// What a maildir on disk says about its messages, for the importer: the folder a directory is (Maildir++
// `.Name.Sub` with modified UTF-7 names as Dovecot writes them, raw UTF-8 as Courier 5 writes them, nested
// directories as mbsync writes them, and offlineimap's `Name.Sub` directories), the special folder a localised
// name means, the flags and keywords of a message file name (`:2,<letters>`: the maildir spec's info, Dovecot's
// keyword letters a..z indexing `dovecot-keywords`), and whether a file's time is the server's INTERNALDATE.
// Sources: cr.yp.to/proto/maildir.html, Dovecot "Maildir filename extensions" and "Usage of timestamps",
// Courier maildirmake(1), isync's drv_maildir.c, offlineimap's folder/Maildir.py, mb2md.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { decodeModifiedUtf7 } from '../mail/charset';
import { readFileSource } from './file-source';
import type { SourceItem, SourcePlacement } from './source-items';
import { archiveFolder } from './special-folders';

const FLAG_BY_LETTER: Readonly<Record<string, string>> = {
  D: '\\Draft',
  F: '\\Flagged',
  P: '$Forwarded',
  R: '\\Answered',
  S: '\\Seen',
  T: '\\Deleted',
};

/**
 * Flags and keywords of a maildir message file name (`1700000000.x.host,S=12:2,FRSa`). Upper-case letters are
 * the spec's flags (P is `$Forwarded`); lower-case letters are Dovecot keywords, looked up in `keywords`
 * (the folder's dovecot-keywords: index 0 is `a`). A file in `new/` usually has no info (unread); mbsync and
 * offlineimap give one there too (`:2,F`: flagged, unread), read the same way.
 */
export function maildirFlags(
  fileName: string,
  keywords: readonly string[] = [],
): { flags: string[]; keywords: string[] } {
  const info = fileName.match(/[:!;]2,([A-Za-z]*)$/);
  const flags = new Set<string>();
  const named = new Set<string>();
  for (const letter of info?.[1] ?? '') {
    const flag = FLAG_BY_LETTER[letter];
    if (flag) flags.add(flag);
    else if (letter >= 'a' && letter <= 'z') {
      const keyword = keywords[letter.charCodeAt(0) - 97];
      // Dovecot keeps $Forwarded as a keyword letter (its P is for clients that set it as a flag).
      if (keyword === '$Forwarded') flags.add(keyword);
      else if (keyword) named.add(keyword);
    }
  }
  return { flags: [...flags].sort(), keywords: [...named] };
}

/** `dovecot-keywords`: `<n> <keyword>` lines; returns the keyword of each index. */
export function parseDovecotKeywords(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = line.match(/^(\d{1,2}) (\S.*)$/);
    if (m && Number(m[1]) < 26) out[Number(m[1])] = m[2] as string;
  }
  return out;
}

/** One level of a folder name as written on disk: modified UTF-7 when it is ASCII with `&...-`, else as is. */
export function decodeFolderLevel(level: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII test
  if (/^[\x00-\x7f]*$/.test(level) && level.includes('&')) {
    try {
      return decodeModifiedUtf7(level);
    } catch {
      return level;
    }
  }
  return level;
}

/**
 * The archive folder for a maildir directory, from its path relative to the import root (`''` is the root).
 * `.Sent` and `.Archive.2023` (Maildir++), `Archive/2023` (nested), `[Gmail].Sent Mail` (offlineimap):
 * levels decoded from modified UTF-7, `[Gmail]` dropped; a top level that names a special folder in a common
 * language (`.Envoy&AOk-s`, `Gelöschte Objekte`) becomes `Sent`, `Drafts`, `Junk`, `Trash` or `INBOX`.
 */
export function maildirFolderName(relativePath: string): string {
  const parts = relativePath.split(/[/\\]/).filter((p) => p.length > 0);
  const levels: string[] = [];
  for (const part of parts) {
    if (part.startsWith('.')) levels.push(...part.slice(1).split('.'));
    else if (/^\[(gmail|google mail)\]\./i.test(part)) levels.push(...part.split('.'));
    else levels.push(part);
  }
  return archiveFolder(levels.map(decodeFolderLevel));
}

/** offlineimap names files `<time>_<n>.<pid>.<host>,U=<uid>,FMD5=<md5 of the folder's local name>:2,<flags>`. */
const OFFLINEIMAP_NAME = /,FMD5=([0-9a-f]{32})/i;

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

/**
 * The archive folder of a maildir directory at `relativePath` from the directory the user named (`''`: that
 * directory itself, named `baseName`). offlineimap's layout is recognised by the folder hash in its file names
 * (`sampleName`): its directories are the server's folder names with `.` for the server's separator
 * (`Work.Clients/`), or nested when configured with `sep = /`. The named directory itself is INBOX unless it is
 * a Maildir++ subfolder (`.Sent`, a `maildirfolder` file) or an offlineimap folder.
 */
export function maildirFolderOf(
  relativePath: string,
  hints: { baseName: string; sampleName?: string; subfolder?: boolean },
): string {
  const fmd5 = hints.sampleName?.match(OFFLINEIMAP_NAME)?.[1]?.toLowerCase();
  const parts = (relativePath || hints.baseName).split(/[/\\]/).filter((p) => p.length > 0);
  if (fmd5) {
    for (let k = 0; k < parts.length; k++) {
      const local = parts.slice(k).join('/');
      if (md5(local) !== fmd5) continue;
      const levels = local.includes('/') ? local.split('/') : local.split('.');
      return archiveFolder(levels.map(decodeFolderLevel));
    }
  }
  if (relativePath === '') return hints.subfolder ? maildirFolderName(hints.baseName) : 'INBOX';
  return maildirFolderName(relativePath);
}

/** Who wrote a maildir folder, as far as its files say: what decides whether its file times are INTERNALDATEs. */
export type MaildirWriter = 'server' | 'mbsync' | 'mb2md' | 'offlineimap' | undefined;

/** mb2md names its files `<time>.<6-digit count>.mbox:2,<flags>` (mb2md's convertit). */
const MB2MD_NAME = /^\d{9,11}\.\d{6}\.mbox:2,/;
/** mbsync (isync 1.4) names them `<time>.<pid>_<n>.<host>,U=<uid>:2,<flags>` (drv_maildir.c). */
const MBSYNC_NAME = /^\d{9,11}\.\d+_\d+\.[^,:/]+,U=\d+/;

/**
 * The writer of a maildir message file: the folder's IMAP server (Dovecot's dovecot-uidlist, Courier's
 * courierimapuiddb beside it), mbsync (its .mbsyncstate or .uidvalidity beside it, or its file names), mb2md or
 * offlineimap (their file names), else unknown.
 */
export function maildirWriter(fileName: string, folderNames: ReadonlySet<string>): MaildirWriter {
  if (OFFLINEIMAP_NAME.test(fileName)) return 'offlineimap';
  if (folderNames.has('dovecot-uidlist') || folderNames.has('courierimapuiddb')) return 'server';
  if (MB2MD_NAME.test(fileName)) return 'mb2md';
  if (folderNames.has('.mbsyncstate') || folderNames.has('.uidvalidity') || MBSYNC_NAME.test(fileName))
    return 'mbsync';
  return undefined;
}

/**
 * Whether a maildir file's modification time is the INTERNALDATE its IMAP server served. Known to keep it there:
 * Dovecot and Courier (their own maildirs: "the file's mtime is the INTERNALDATE"), mb2md (it sets the time from
 * the mbox envelope line), mbsync with `CopyArrivalDate yes` (it sets the server's date). Not: offlineimap (the
 * time it wrote the file, or the Date field with `utime_from_header`), mbsync by default, and maildirs of unknown
 * writers (the Received and Date fields decide for them). Even for a known writer the time is not one when:
 * - it equals (within 2 s) the time at the start of the file name, which writers set to when they wrote the file,
 *   except in a server's own maildir, where writing the file was receiving the message;
 * - it equals the file's change time while the name says the file was written earlier: a copy that did not keep
 *   the times (`cp -r`) wrote this file.
 */
export function keepsInternalDate(
  fileName: string,
  times: { mtime: Date; ctime: Date },
  writer: MaildirWriter,
): boolean {
  if (writer === undefined || writer === 'offlineimap') return false;
  const named = fileName.match(/^(\d{9,11})[._]/);
  const mtime = times.mtime.getTime();
  if (named && Math.abs(Number(named[1]) * 1000 - mtime) < 3000) return writer === 'server';
  return Math.abs(times.ctime.getTime() - mtime) > 2000;
}

/** One maildir folder: messages in cur/ and new/, in name order, with the folder, flags and keywords. */
export async function* readMaildirFolder(
  dir: string,
  relativePath: string,
  names: ReadonlySet<string>,
): AsyncGenerator<SourceItem> {
  let keywords: string[] = [];
  try {
    keywords = parseDovecotKeywords(await readFile(join(dir, 'dovecot-keywords'), 'utf8'));
  } catch {
    // no keywords file
  }
  const files: { sub: string; names: string[] }[] = [];
  for (const sub of ['cur', 'new']) {
    try {
      files.push({ sub, names: (await readdir(join(dir, sub))).filter((n) => !n.startsWith('.')).sort() });
    } catch {
      // no such subdirectory
    }
  }
  const sampleName = files.flatMap((f) => f.names)[0];
  const folder = maildirFolderOf(relativePath, {
    baseName: basename(dir),
    ...(sampleName ? { sampleName } : {}),
    subfolder: basename(dir).startsWith('.') || names.has('maildirfolder'),
  });
  for (const { sub, names: messageNames } of files) {
    for (const name of messageNames) {
      const marks = maildirFlags(name, keywords);
      const placement: SourcePlacement = {
        folder,
        flags: marks.flags,
        keywords: marks.keywords,
        sent: folder === 'Sent',
      };
      yield* readFileSource(join(dir, sub, name), {
        placement,
        keepsInternalDate: (times) => keepsInternalDate(name, times, maildirWriter(name, names)),
      });
    }
  }
}
