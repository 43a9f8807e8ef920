// Messages to import, read from what people really have: `.eml` files and directories of them, maildirs
// (Maildir++ as Dovecot and Courier keep them, nested folders as mbsync and offlineimap copy them), mbox files
// (mboxo, mboxrd, mboxcl, mboxcl2, Google Takeout, Thunderbird, classic Mac OS). Each message comes out as its
// exact bytes with what the source knew about it (envelope date, file time, folder, flags, labels); every
// other input comes out as a failure or a skip with its reason, never silently.
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { type EnvelopeLine, parseEnvelopeLine, readMboxMessages } from '../bundle/mbox-reader';
import { errorMessage } from '../errors';
import { findLineEnd, startsWithHeaderField } from '../mail/lines';
import { maildirFlags, maildirFolderName, parseDovecotKeywords } from './maildir-source';
import { specialFolderOf } from './special-folders';
import { placeByLabels, stripTakeoutHeaders } from './takeout';

/** Where the source filed a message and what state it kept. */
export interface SourcePlacement {
  /** The archive folder (`INBOX`, `Sent`, `Drafts`, `Junk`, `Trash`, `Archive`, or a user folder `A/B`). */
  folder: string;
  /** IMAP system flags (`\Seen`, `\Flagged`, ...). */
  flags: string[];
  /** Keywords: Gmail labels, Dovecot keywords. */
  keywords: string[];
  /** The source says the account sent it (a Sent folder or label). */
  sent: boolean;
}

export interface SourceMessage {
  kind: 'message';
  raw: Buffer;
  /** Where it came from, for the report: a path, or path#n inside an mbox. */
  origin: string;
  /** The mbox envelope line, when there was one. */
  envelope?: EnvelopeLine;
  /** The file's modification time (maildir: the INTERNALDATE Dovecot and Courier served). */
  fileTime?: Date;
  placement?: SourcePlacement;
  /** Bytes of the input this message accounts for, for progress. */
  sourceBytes: number;
}

/** An input that could not be read, or an empty file: reported as failed. */
export interface SourceFailure {
  kind: 'failure';
  origin: string;
  reason: string;
  sourceBytes: number;
}

/** An input that is not mail (an image, a note, random bytes): reported as skipped, never archived. */
export interface SourceSkip {
  kind: 'skipped';
  origin: string;
  reason: string;
  sourceBytes: number;
}

export type SourceItem = SourceMessage | SourceFailure | SourceSkip;

export const EMPTY_FILE = 'empty file';
export const NOT_MAIL = 'not a mail message';

function unreadable(origin: string, error: unknown): SourceFailure {
  return { kind: 'failure', origin, reason: `cannot read: ${errorMessage(error)}`, sourceBytes: 0 };
}

/** Total input bytes, for a progress bar. */
export async function totalBytes(paths: string[]): Promise<number> {
  let total = 0;
  const walk = async (path: string): Promise<void> => {
    try {
      const info = await stat(path);
      if (info.isDirectory()) {
        for (const entry of await readdir(path))
          if (!SKIPPED_NAMES.test(entry)) await walk(join(path, entry));
      } else total += info.size;
    } catch {
      // reported when read
    }
  };
  for (const path of paths) await walk(path);
  return total;
}

export async function* readSources(paths: string[]): AsyncGenerator<SourceItem> {
  for (const path of paths) {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      yield unreadable(path, error);
      continue;
    }
    if (info.isDirectory()) yield* readDirectory(path, path);
    else yield* readFileSource(path);
  }
}

/** Server state, caches and tool state kept beside maildirs and mail folders: never messages. */
const SKIPPED_NAMES =
  /^(dovecot[.-].*|courierimap.*|maildirfolder|maildirsize|subscriptions|\.mbsyncstate.*|\.uidvalidity|\.DS_Store|.*\.msf|\.offlineimap|tmp)$/;

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

async function* readDirectory(dir: string, root: string): AsyncGenerator<SourceItem> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).sort(byName);
  } catch (error) {
    yield unreadable(dir, error);
    return;
  }
  const names = new Set(entries.map((e) => e.name));
  const isMaildir = names.has('cur') || names.has('new');
  if (isMaildir) yield* readMaildirFolder(dir, relative(root, dir));
  for (const entry of entries) {
    if (SKIPPED_NAMES.test(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (isMaildir && (entry.name === 'cur' || entry.name === 'new')) continue;
      // Hidden directories other than Maildir++ folders (.git, .Trash-1000 of a desktop) are not mail.
      if (entry.name.startsWith('.') && !(isMaildir || (await hasMaildir(path)))) continue;
      yield* readDirectory(path, root);
    } else if (entry.isFile() && !isMaildir && !entry.name.startsWith('.')) {
      yield* readFileSource(path);
    }
  }
}

async function hasMaildir(dir: string): Promise<boolean> {
  try {
    const names = await readdir(dir);
    return names.includes('cur') || names.includes('new');
  } catch {
    return false;
  }
}

/** One maildir folder: messages in cur/ (flags in the name) and new/ (unread), in name order. */
async function* readMaildirFolder(dir: string, relativePath: string): AsyncGenerator<SourceItem> {
  const folder = maildirFolderName(relativePath);
  let keywords: string[] = [];
  try {
    keywords = parseDovecotKeywords(await readFile(join(dir, 'dovecot-keywords'), 'utf8'));
  } catch {
    // no keywords file
  }
  for (const sub of ['cur', 'new']) {
    let names: string[];
    try {
      names = (await readdir(join(dir, sub))).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const path = join(dir, sub, name);
      const marks = sub === 'cur' ? maildirFlags(name, keywords) : { flags: [], keywords: [] };
      const placement: SourcePlacement = {
        folder,
        flags: marks.flags,
        keywords: marks.keywords,
        sent: folder === 'Sent',
      };
      yield* readFileSource(path, placement);
    }
  }
}

const HEAD_BYTES = 64 * 1024;

/** Fields every real message has at least one of (RFC 5322 3.6 and the trace fields of 3.6.7). */
const MAIL_FIELDS =
  /^(from|sender|to|cc|date|subject|message-id|received|return-path|mime-version|content-[a-z-]+|delivered-to|in-reply-to|references|x-gm-thrid|x-gmail-labels)$/i;

/**
 * Whether bytes begin like a mail message: a header field on the first line, and among the head's fields (up
 * to the empty line, or what `head` holds) at least one that mail has (From, Date, Subject, Received, ...).
 * A note that starts `TODO: call Bob` has a field-like first line but none of these.
 */
export function looksLikeMail(input: Buffer): boolean {
  // Whitespace before the first field (a blank first line some tools leave, a first line indented by mistake)
  // does not make a message something else.
  let start = 0;
  while (
    start < 4096 &&
    (input[start] === 32 || input[start] === 9 || input[start] === 10 || input[start] === 13)
  )
    start += 1;
  const head = start ? input.subarray(start) : input;
  if (!startsWithHeaderField(head)) return false;
  let pos = 0;
  for (let fields = 0; pos < head.length && fields < 200; fields++) {
    const found = findLineEnd(head, pos);
    const end = found ? found.end : head.length;
    if (end === pos) return false;
    const colon = head.indexOf(58, pos);
    if (colon > pos && colon < end && MAIL_FIELDS.test(head.toString('latin1', pos, colon).trim()))
      return true;
    if (!found) return false;
    pos = found.next;
  }
  return false;
}

/**
 * One file: empty -> failed ("empty file"); starting with an mbox envelope line -> an mbox (one or more
 * messages, the envelope line removed and its date kept); starting with a header field -> one message; anything
 * else -> skipped ("not a mail message").
 */
async function* readFileSource(path: string, placement?: SourcePlacement): AsyncGenerator<SourceItem> {
  let head: Buffer;
  let size: number;
  let mtime: Date;
  try {
    const handle = await open(path);
    try {
      const info = await handle.stat();
      if (!info.isFile()) return;
      size = info.size;
      mtime = info.mtime;
      const buffer = Buffer.alloc(Math.min(HEAD_BYTES, size));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    yield unreadable(path, error);
    return;
  }
  if (size === 0) {
    yield { kind: 'failure', origin: path, reason: EMPTY_FILE, sourceBytes: 0 };
    return;
  }
  const firstLine = findLineEnd(head, 0);
  const first = head.toString('latin1', 0, firstLine ? firstLine.end : head.length);
  if (parseEnvelopeLine(first)) {
    yield* readMboxFile(path, placement ?? mboxFilePlacement(path), mtime);
    return;
  }
  if (!looksLikeMail(head)) {
    yield { kind: 'skipped', origin: path, reason: NOT_MAIL, sourceBytes: size };
    return;
  }
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (error) {
    yield unreadable(path, error);
    return;
  }
  yield {
    kind: 'message',
    raw,
    origin: path,
    fileTime: mtime,
    ...(placement ? { placement } : {}),
    sourceBytes: size,
  };
}

/** An mbox file named like a special folder (Thunderbird's `Sent`, `Drafts.mbox`) is that folder. */
function mboxFilePlacement(path: string): SourcePlacement | undefined {
  const name = basename(path, extname(path).toLowerCase() === '.mbox' ? extname(path) : '');
  const special = specialFolderOf(name);
  if (!special) return undefined;
  return {
    folder: special,
    flags: special === 'Sent' || special === 'Drafts' ? ['\\Seen'] : [],
    keywords: [],
    sent: special === 'Sent',
  };
}

async function* readMboxFile(
  path: string,
  placement: SourcePlacement | undefined,
  mtime: Date,
): AsyncGenerator<SourceItem> {
  let count = 0;
  try {
    for await (const entry of readMboxMessages(createReadStream(path, { highWaterMark: 1 << 20 }))) {
      count += 1;
      const origin = `${path}#${entry.position}`;
      if (entry.kind === 'empty') {
        yield { kind: 'failure', origin, reason: 'empty message in mbox', sourceBytes: entry.sourceBytes };
        continue;
      }
      const takeout = stripTakeoutHeaders(entry.raw);
      if (!looksLikeMail(takeout.raw.subarray(0, HEAD_BYTES))) {
        yield { kind: 'skipped', origin, reason: NOT_MAIL, sourceBytes: entry.sourceBytes };
        continue;
      }
      const labelled = takeout.takeout ? placeByLabels(takeout.labels) : undefined;
      yield {
        kind: 'message',
        raw: takeout.raw,
        origin,
        ...(entry.envelope ? { envelope: entry.envelope } : {}),
        fileTime: mtime,
        ...(labelled ? { placement: labelled } : placement ? { placement } : {}),
        sourceBytes: entry.sourceBytes,
      };
    }
  } catch (error) {
    yield unreadable(`${path}#${count + 1}`, error);
  }
}

export const describeOrigin = (origin: string) => basename(origin);
