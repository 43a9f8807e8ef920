// The maildir rules (Maildir++ as Dovecot and Courier serve it): the one place that knows folder directory
// names, message file names, the S=/W= sizes, flags and the uid/subscription file formats. The exporter, the
// verifier and the tests all use these functions.
import { CONTROL_CHARACTERS } from '../mail/display-text';
import { INBOX, isInbox } from '../mail/inbox';
import type { LineEndings } from '../mail/mime';

export const MAILDIR_ROOT = 'Maildir';
/** The `<host>` part of every file name: fixed, so names are reproducible across exports. */
export const FILE_HOST = 'mail-archiver';

const FLAG_LETTERS: Record<string, string> = {
  '\\Draft': 'D',
  '\\Flagged': 'F',
  $Forwarded: 'P',
  '\\Answered': 'R',
  '\\Seen': 'S',
  '\\Deleted': 'T',
};

/** IMAP flags -> maildir info letters, in ASCII order. */
export function flagLetters(flags: readonly string[]): string {
  return [...new Set(flags.map((f) => FLAG_LETTERS[f]).filter((l): l is string => Boolean(l)))]
    .sort()
    .join('');
}

/**
 * A label or keyword as an IMAP keyword (RFC 3501 flag-keyword = atom): non-ASCII in modified UTF-7, then every
 * atom-special (space, parentheses, braces, %, *, quote, backslash, ]) and control character made `_`.
 */
export function keywordAtom(label: string): string {
  const encoded = /^[\x20-\x7e]*$/.test(label) ? label : encodeModifiedUtf7(label);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  return encoded.replace(/[\x00-\x20\x7f(){}%*"\\\]]/g, '_').slice(0, 200) || '_';
}

/** Dovecot keyword letters: `a` is index 0 of the folder's dovecot-keywords, at most 26. */
export function keywordLetters(indexes: readonly number[]): string {
  return [...new Set(indexes.filter((i) => i >= 0 && i < 26))]
    .sort((a, b) => a - b)
    .map((i) => String.fromCharCode(97 + i))
    .join('');
}

/** `dovecot-keywords`: `<n> <keyword>` lines. */
export function dovecotKeywordsFile(keywords: readonly string[]): string {
  return keywords.map((k, i) => `${i} ${k}\n`).join('');
}

export function flagsFromLetters(letters: string): string[] {
  const byLetter = Object.fromEntries(Object.entries(FLAG_LETTERS).map(([flag, letter]) => [letter, flag]));
  return [...letters].map((l) => byLetter[l]).filter((f): f is string => Boolean(f));
}

/** RFC 3501 modified UTF-7, as stock Dovecot expects folder names on disk. */
export function encodeModifiedUtf7(name: string): string {
  let out = '';
  let pending = '';
  const flush = () => {
    if (!pending) return;
    const utf16 = Buffer.alloc(pending.length * 2);
    for (let i = 0; i < pending.length; i++) utf16.writeUInt16BE(pending.charCodeAt(i), i * 2);
    out += `&${utf16.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
    pending = '';
  };
  for (const ch of name) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0x20 && code <= 0x7e) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else {
      pending += ch;
    }
  }
  flush();
  return out;
}

/**
 * A folder's directory inside the maildir: INBOX is the root itself; others are "." + levels joined by ".".
 * "/" separates levels in our folder names; "." and anything unsafe inside a level become "_" (Dovecot refuses
 * "." and "/" inside a Maildir++ name); control characters and leading dots never reach the file system.
 */
export function folderDirectory(folder: string): string {
  if (isInbox(folder)) return '';
  return `.${folderLevels(folder).map(encodeModifiedUtf7).join('.')}`;
}

/** The levels of a folder name, each made safe to be one Maildir++ level. */
export function folderLevels(folder: string): string[] {
  const levels = folder
    .split('/')
    .map((level) => level.replace(CONTROL_CHARACTERS, '').replace(/[.\\]/g, '_').trim())
    .filter((level) => level.length > 0);
  return levels.length ? levels : ['_'];
}

/** Every ancestor of a folder ("Archive/2023" -> "Archive", "Archive/2023"): parents must exist as maildirs. */
export function folderWithAncestors(folder: string): string[] {
  const levels = folderLevels(folder);
  return levels.map((_, i) => levels.slice(0, i + 1).join('/'));
}

/** How a message is stored on disk, decided from its line endings before a byte is read. */
export interface StoredForm {
  /** CRLF-only messages are stored with LF (Dovecot serves them back as CRLF, byte for byte). */
  convertCrlf: boolean;
  /** S=: the exact size of the file as written. */
  fileSize: number;
  /** W=: RFC822.SIZE, the file size plus one for every LF not preceded by CR. */
  virtualSize: number;
}

/**
 * Only a message whose every line ends in CRLF is converted: that is reversible (LF -> CRLF gives the original
 * back) and Dovecot serves it byte-identical. A message with bare LF or bare CR is stored as it is, so its file
 * is still exactly the original.
 */
export function storedForm(size: number, eol: LineEndings): StoredForm {
  if (eol.crlf > 0 && eol.lf === 0 && eol.cr === 0) {
    const fileSize = size - eol.crlf;
    return { convertCrlf: true, fileSize, virtualSize: fileSize + eol.crlf };
  }
  return { convertCrlf: false, fileSize: size, virtualSize: size + eol.lf };
}

/** `<secs>.<id>.<host>,S=<size>,W=<vsize>`: the name without the `:2,<flags>` info (what uidlists list). */
export function messageBaseName(input: {
  receivedAt: Date;
  id: string;
  fileSize: number;
  virtualSize: number;
}): string {
  if (!/^[A-Za-z0-9_-]+$/.test(input.id))
    throw new Error(`maildir id ${JSON.stringify(input.id)} has unsafe characters`);
  const secs = Math.floor(input.receivedAt.getTime() / 1000);
  return `${secs}.${input.id}.${FILE_HOST},S=${input.fileSize},W=${input.virtualSize}`;
}

/**
 * A message file's mtime (Dovecot's INTERNALDATE for it): the received time (ISO 8601 UTC) in whole seconds, as
 * an exported bundle's file unpacks (a tar header keeps whole seconds, shared/bundle/tar.ts), so that a replica's
 * files carry the same times as an unpacked export's.
 */
export function messageFileTime(receivedAt: string): Date {
  return new Date(Math.floor(Date.parse(receivedAt) / 1000) * 1000);
}

export function messageFileName(baseName: string, flags: readonly string[]): string {
  return `${baseName}:2,${flagLetters(flags)}`;
}

/** Parses a file name written by messageFileName (or by Dovecot, which writes the same shape). */
export function parseMessageFileName(
  name: string,
): { baseName: string; secs: number; fileSize?: number; virtualSize?: number; flags: string } | undefined {
  // A received date before 1970 gives negative seconds (an import of old mail): the sign is part of the name.
  const match = name.match(/^((-?\d+)\.[^:/]+?)(?::2,([A-Za-z]*))?$/);
  if (!match) return undefined;
  const baseName = match[1] as string;
  const s = baseName.match(/,S=(\d+)/);
  const w = baseName.match(/,W=(\d+)/);
  return {
    baseName,
    secs: Number(match[2]),
    ...(s ? { fileSize: Number(s[1]) } : {}),
    ...(w ? { virtualSize: Number(w[1]) } : {}),
    flags: match[3] ?? '',
  };
}

export function dovecotUidList(
  uidValidity: number,
  nextUid: number,
  entries: { uid: number; baseName: string }[],
): string {
  const lines = [`3 V${uidValidity} N${nextUid}`, ...entries.map((e) => `${e.uid} :${e.baseName}`)];
  return `${lines.join('\n')}\n`;
}

export function courierUidDb(
  uidValidity: number,
  nextUid: number,
  entries: { uid: number; baseName: string }[],
): string {
  const lines = [`1 ${uidValidity} ${nextUid}`, ...entries.map((e) => `${e.uid} ${e.baseName}`)];
  return `${lines.join('\n')}\n`;
}

/** Dovecot's `subscriptions`: version line, blank line, one folder per line with levels separated by TAB. */
export function dovecotSubscriptions(folders: string[]): string {
  const names = folders.map((f) => (isInbox(f) ? INBOX : folderLevels(f).map(encodeModifiedUtf7).join('\t')));
  return `V\t2\n\n${names.map((n) => `${n}\n`).join('')}`;
}

/** Courier's `courierimapsubscribed`: `INBOX.<a>.<b>` per line, UTF-8. */
export function courierSubscriptions(folders: string[]): string {
  return folders
    .filter((f) => !isInbox(f))
    .map((f) => `INBOX.${folderLevels(f).join('.')}\n`)
    .join('');
}

/** CRLF -> LF for a whole buffer (used for messages known to be CRLF-only). */
export function crlfToLf(buffer: Buffer): Buffer {
  if (buffer.indexOf(13) < 0) return buffer;
  const out = Buffer.allocUnsafe(buffer.length);
  let o = 0;
  let start = 0;
  for (let i = buffer.indexOf(13); i >= 0; i = buffer.indexOf(13, i + 1)) {
    if (buffer[i + 1] === 10) {
      o += buffer.copy(out, o, start, i);
      start = i + 1;
    }
  }
  o += buffer.copy(out, o, start);
  return out.subarray(0, o);
}

/** LF -> CRLF, the inverse for files written from CRLF-only messages. */
export function lfToCrlf(buffer: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = buffer.indexOf(10); i >= 0; i = buffer.indexOf(10, i + 1)) {
    parts.push(buffer.subarray(start, i), CRLF);
    start = i + 1;
  }
  parts.push(buffer.subarray(start));
  return Buffer.concat(parts);
}
const CRLF = Buffer.from('\r\n');

/** CRLF -> LF over a sequence of chunks, carrying a CR that ends one chunk over to the next. */
export class CrlfToLfConverter {
  private heldCr = false;

  push(chunk: Buffer): Buffer {
    let data = this.heldCr ? Buffer.concat([CR, chunk]) : chunk;
    this.heldCr = data.length > 0 && data[data.length - 1] === 13;
    if (this.heldCr) data = data.subarray(0, -1);
    return crlfToLf(data);
  }

  flush(): Buffer {
    const rest = this.heldCr ? CR : Buffer.alloc(0);
    this.heldCr = false;
    return rest;
  }
}
const CR = Buffer.from([13]);

/** The README shipped inside every bundle. */
export function bundleReadme(mailbox: string): string {
  return `This is a mail-archiver bundle of ${mailbox}: a Maildir++ tree that Dovecot (and Courier) serve as is.

Check it first, above all a bundle that came from elsewhere (from a mail-archiver checkout):
  npx --no-install mail-archiver verify BUNDLE.tar.gz
It refuses links, devices, FIFOs, names outside the bundle (../, /), setuid, setgid and world-writable modes:
a mail-archiver bundle holds only regular files (0600) and directories (0700).

Unpack it keeping file times (they are the messages' received dates), into an empty directory, privately:
  (umask 077 && tar --no-same-owner --no-same-permissions -xzf BUNDLE.tar.gz)
GNU tar notes every file dated before 1970 or in the future ("implausibly old time stamp", "in the future"):
those are the messages' own dates, unpacked as they are; add --warning=no-timestamp to GNU tar to leave the
notes out. bsdtar (libarchive: macOS, FreeBSD, Debian's libarchive-tools) takes the same command.
GNU tar, above all as root, creates whatever the archive holds (device nodes, links, the archive's modes and
owners): unpack only a bundle that verify accepted, and never as root into a directory others can write to.
To copy an unpacked bundle later, cp -a keeps the times. Apply incremental bundles in order, over the full one,
the same way.

Serve it with Dovecot (Debian: apt-get install dovecot-imapd):
  npx --no-install mail-archiver serve BUNDLE.tar.gz        # verifies, unpacks a private copy, prints the IMAP settings
or, in your own Dovecot configuration:
  mail_location = maildir:/path/to/Maildir:INDEX=/path/to/index
and mark "Sent" and "Junk" as special-use folders (Debian's stock config already does).

manifest.json lists every message: folder, UID, file name, sha256 and size of the original bytes.
Messages whose every line ended in CRLF are stored with LF (Dovecot serves them back as CRLF, byte for byte);
all others are stored exactly as received.
`;
}
