// What a maildir on disk says about its messages, for the importer: the folder a directory is (Maildir++
// `.Name.Sub` with modified UTF-7 names as Dovecot writes them, raw UTF-8 as Courier 5 writes them, and nested
// directories as mbsync and offlineimap write them), the special folder a localised name means, and the flags
// and keywords of a message file name (`:2,<letters>`: the maildir spec's info, Dovecot's keyword letters
// a..z indexing `dovecot-keywords`). Sources: cr.yp.to/proto/maildir.html, Dovecot "Maildir filename
// extensions", Courier maildirmake(1).
import { decodeModifiedUtf7 } from '../mail/charset';
import { specialFolderOf } from './special-folders';

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
 * (the folder's dovecot-keywords: index 0 is `a`). A file in `new/` has no info and is unread.
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
      if (keyword) named.add(keyword);
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
  const decoded = levels
    .map(decodeFolderLevel)
    .filter((l) => l.length > 0 && !/^\[(gmail|google mail)\]$/i.test(l));
  if (decoded.length === 0) return 'INBOX';
  if (decoded[0]?.toUpperCase() === 'INBOX' && decoded.length > 1) decoded.shift();
  const special = specialFolderOf(decoded[0] as string);
  if (special && decoded.length === 1) return special;
  if (special && special !== 'INBOX') decoded[0] = special;
  return decoded.join('/');
}
