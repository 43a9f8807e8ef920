// The one line rule every reader of raw mail uses (the indexer, the mbox and maildir readers, the forwarding
// rewrite). RFC 5322 lines end in CRLF, but stored mail also has LF (Unix tools, maildirs, mbox files) and bare
// CR (classic Mac OS mail programs and their mbox files). A line ends at CRLF, at an LF, or at a CR not followed
// by LF; the line ending is reported with the line so a reader can give back the exact bytes it read.
import { createHash } from 'node:crypto';

/** How one line ended; `''` only for the last line of input that has no line ending. */
export type LineEnding = '\r\n' | '\n' | '\r' | '';

export interface Line {
  /** The line's bytes without its ending (a view into the input where possible, not a copy). */
  text: Buffer;
  ending: LineEnding;
}

const CR = 13;
const LF = 10;

/**
 * Finds the end of the line that starts at `from`.
 * Returns `end` (index just past the line's text) and `next` (index where the next line starts), or
 * `undefined` when no line ending follows `from`. A CR that is the last byte of `buffer` counts as a bare CR;
 * streaming callers that may receive an LF next should hold it back (see {@link readLines}).
 */
export function findLineEnd(buffer: Uint8Array, from: number): { end: number; next: number } | undefined {
  for (let i = from; i < buffer.length; i++) {
    const c = buffer[i];
    if (c === LF) return { end: i, next: i + 1 };
    if (c === CR) return { end: i, next: buffer[i + 1] === LF ? i + 2 : i + 1 };
  }
  return undefined;
}

function endingOf(buffer: Buffer, end: number, next: number): LineEnding {
  const length = next - end;
  if (length === 2) return '\r\n';
  if (length === 0) return '';
  return buffer[end] === LF ? '\n' : '\r';
}

/**
 * Lines of a buffer held in memory, by the one rule. Scans with `indexOf` (native) for LF and CR separately,
 * remembering the next position of each, so input without one of them costs one scan for it.
 */
export function* splitLines(buffer: Buffer): Generator<Line> {
  let pos = 0;
  let nextLf = buffer.indexOf(LF);
  let nextCr = buffer.indexOf(CR);
  while (pos < buffer.length) {
    if (nextLf >= 0 && nextLf < pos) nextLf = buffer.indexOf(LF, pos);
    if (nextCr >= 0 && nextCr < pos) nextCr = buffer.indexOf(CR, pos);
    let end: number;
    let next: number;
    if (nextCr >= 0 && (nextLf < 0 || nextCr < nextLf)) {
      end = nextCr;
      next = buffer[nextCr + 1] === LF ? nextCr + 2 : nextCr + 1;
    } else if (nextLf >= 0) {
      end = nextLf;
      next = nextLf + 1;
    } else {
      yield { text: buffer.subarray(pos), ending: '' };
      return;
    }
    yield { text: buffer.subarray(pos, end), ending: endingOf(buffer, end, next) };
    pos = next;
  }
}

/**
 * Lines of a stream, by the one rule, across chunk boundaries: a CR at the end of a chunk is held until the
 * next byte shows whether it is a CRLF. Lines are views into the chunks where they fit in one, copies otherwise.
 */
export async function* readLines(source: AsyncIterable<Uint8Array>): AsyncGenerator<Line> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of source) {
    const incoming = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const data = pending.length ? Buffer.concat([pending, incoming]) : incoming;
    // Everything up to the last line ending is complete, except a CR as the very last byte.
    let limit = data.length;
    if (data[limit - 1] === CR) limit -= 1;
    const complete = data.subarray(0, limit);
    let consumed = 0;
    for (const line of splitLines(complete)) {
      if (line.ending === '') break;
      consumed += line.text.length + line.ending.length;
      yield line;
    }
    pending = Buffer.from(data.subarray(consumed));
  }
  if (pending.length) yield* splitLines(pending);
}

/** Lines joined back with their own endings: `joinLines([...splitLines(b)])` equals `b`. */
export function joinLines(lines: Iterable<Line>): Buffer {
  const parts: Buffer[] = [];
  for (const line of lines) {
    parts.push(line.text);
    if (line.ending) parts.push(ENDINGS[line.ending]);
  }
  return Buffer.concat(parts);
}

const ENDINGS: Record<Exclude<LineEnding, ''>, Buffer> = {
  '\r\n': Buffer.from('\r\n'),
  '\n': Buffer.from('\n'),
  '\r': Buffer.from('\r'),
};

/** The bytes of a line ending, for writers. */
export function endingBytes(ending: LineEnding): Buffer {
  return ending ? ENDINGS[ending] : Buffer.alloc(0);
}

/**
 * Where the top-level header block ends by the one rule: the index of the first byte after the empty line
 * that separates header and body (the body's first byte), and the index where that empty line starts.
 * `undefined` when the input has no empty line (all header, or not a message).
 */
export function findHeaderEnd(buffer: Buffer): { headerEnd: number; bodyStart: number } | undefined {
  let pos = 0;
  while (pos < buffer.length) {
    const found = findLineEnd(buffer, pos);
    if (!found) return undefined;
    if (found.end === pos) return { headerEnd: pos, bodyStart: found.next };
    pos = found.next;
  }
  return undefined;
}

/**
 * Whether a buffer starts with a header field (RFC 5322 2.2: a field name of printable ASCII except colon,
 * then a colon) on its first line. The test a reader uses to tell a mail message from other files.
 */
export function startsWithHeaderField(buffer: Buffer): boolean {
  const limit = Math.min(buffer.length, 1000);
  for (let i = 0; i < limit; i++) {
    const c = buffer[i] as number;
    if (c === 58) return i > 0;
    if (c < 33 || c > 126) return false;
  }
  return false;
}

/**
 * For a parser that knows only CRLF and LF: a CR not followed by LF becomes LF (streaming, chunk by chunk).
 * The hash and the archive keep the original bytes; only the parser sees this.
 */
export class BareCrToLf {
  private heldCr = false;

  transform(chunk: Buffer): Buffer {
    let input = chunk;
    if (this.heldCr) {
      input = Buffer.concat([Buffer.from([CR]), chunk]);
      this.heldCr = false;
    }
    let end = input.length;
    if (input[end - 1] === CR) {
      this.heldCr = true;
      end -= 1;
    }
    // Most mail is CRLF: find a bare CR before copying anything.
    let bare = -1;
    for (let i = input.indexOf(CR); i >= 0 && i < end; i = input.indexOf(CR, i + 1)) {
      if (input[i + 1] !== LF) {
        bare = i;
        break;
      }
    }
    if (bare < 0) return end === input.length ? input : input.subarray(0, end);
    const out = Buffer.from(input.subarray(0, end));
    for (let i = bare; i >= 0; i = out.indexOf(CR, i + 1)) {
      if (out[i + 1] !== LF) out[i] = LF;
    }
    return out;
  }

  flush(): Buffer {
    const rest = this.heldCr ? Buffer.from([LF]) : Buffer.alloc(0);
    this.heldCr = false;
    return rest;
  }
}

/** A UTF-8 byte order mark: some editors write one before a message's first header field. */
export const UTF8_BOM: Readonly<Buffer> = Buffer.from([0xef, 0xbb, 0xbf]);

/** 3 when `buffer` starts with a UTF-8 byte order mark, else 0: where a message's first header field starts. */
export function byteOrderMarkLength(buffer: Uint8Array): 0 | 3 {
  return buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf ? 3 : 0;
}

/**
 * What IMAP carries: the message with every bare CR and bare LF written as CRLF. IMAP carries RFC 5322 text, whose
 * lines end in CRLF ("CR and LF MUST only occur together as CRLF", RFC 5322 section 2.3). A bundle stores
 * CRLF-only messages with LF, so those come back to their original bytes; only messages that had bare CR or LF
 * differ from their original, by their line endings alone. Dovecot does the same to a bare LF on APPEND and drops
 * a final bare CR, so appending the bytes unchanged could not be verified anyway. Returns `bytes` itself when
 * nothing changes.
 */
export function toImapLineEndings(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === CR) {
      if (bytes[i + 1] === LF) {
        i += 1;
        continue;
      }
    } else if (b !== LF) {
      continue;
    }
    parts.push(bytes.subarray(start, i), CRLF_BYTES);
    start = i + 1;
  }
  if (start === 0) return bytes;
  parts.push(bytes.subarray(start));
  return Buffer.concat(parts);
}
const CRLF_BYTES = Buffer.from('\r\n');

/**
 * The version of the content rule ({@link ContentHasher}). Recorded with every identity (the envelope sidecar's
 * `contentRule`), so `reindex` finds identities made by an older rule and marks the content again.
 * 1: line endings only. 2: also the byte order mark, the end of the message, header folding and the fields below.
 */
export const CONTENT_RULE = 2;

/**
 * Header fields that mail stores and fetching or syncing programs write into their copy of every message to keep
 * their own state: not part of the message as it was sent or received, and different in every copy.
 */
const TOOL_STATE_FIELDS: ReadonlySet<string> = new Set([
  // mbsync (isync): the transaction id it writes into every message it stores (drv_maildir.c)
  'x-tuid',
  // offlineimap: the id it writes into messages it uploads to a server without UIDPLUS (folder/IMAP.py)
  'x-offlineimap',
  // getmail6: the folder it fetched the message from (retrievers, record_mailbox)
  'x-getmail-retrieved-from-mailbox',
  // mbox state: mutt and neomutt, UW-IMAP (c-client), Dovecot's mbox, Pine; neomutt's keywords, mutt's label
  'status',
  'x-status',
  'x-keywords',
  'x-uid',
  'x-imap',
  'x-imapbase',
  'tags',
  'x-label',
  // mboxcl and mboxcl2 (mutt, neomutt, Solaris mail): the body's size, written on every save
  'content-length',
  'lines',
  // Thunderbird
  'x-mozilla-status',
  'x-mozilla-status2',
  'x-mozilla-keys',
  // Google Takeout
  'x-gm-thrid',
  'x-gmail-labels',
]);

/** Trace fields a fetching program's delivery writes above the message (RFC 5321 4.4), with its Received. */
const FETCH_TRACE_FIELDS: ReadonlySet<string> = new Set([
  'return-path',
  'delivered-to',
  'received',
  'envelope-to',
  'x-envelope-from',
  'x-envelope-to',
  'x-original-to',
]);

/** getmail (getmailcore/message.py) or fetchmail wrote this Received value: see shared/mail/dates.ts. */
const isFetcherTrace = (value: string) => /\bgetmail6?\b|\(fetchmail-\d/i.test(value);

/** The header block's bytes a hasher holds before it knows the block's end; past this the rule is lines only. */
const MAX_HEAD_BYTES = 1024 * 1024;

interface HeadItem {
  /** Lower-case field name; '' for a line that is not a field. */
  name: string;
  /** The item unfolded (RFC 5322 2.2.3: the line endings inside it removed), without a line ending. */
  text: string;
}

function headItems(head: Buffer): HeadItem[] {
  const items: HeadItem[] = [];
  for (const line of splitLines(head)) {
    const text = line.text.toString('latin1');
    const first = line.text[0];
    const last = items[items.length - 1];
    if ((first === 32 || first === 9) && last) {
      last.text += text;
      continue;
    }
    const colon = text.indexOf(':');
    const name =
      colon > 0 && /^[\x21-\x39\x3b-\x7e]+$/.test(text.slice(0, colon)) ? text.slice(0, colon) : '';
    items.push({ name: name.toLowerCase(), text });
  }
  return items;
}

/**
 * What a fetching program wrote on top (getmail, fetchmail: the trace fields of its own delivery down to its own
 * Received field) is not the message. getmail also moves the message's own Return-Path to the top (it deletes
 * it and writes it first, with `<unknown>` when there was none): that one is the message's, kept.
 */
function withoutFetcherTrace(items: HeadItem[]): HeadItem[] {
  let end = 0;
  let getmail = false;
  for (let i = 0; i < items.length && FETCH_TRACE_FIELDS.has(items[i]?.name ?? ''); i++) {
    const item = items[i] as HeadItem;
    if (item.name === 'received' && isFetcherTrace(item.text)) {
      end = i + 1;
      getmail = /\bgetmail6?\b/i.test(item.text);
    }
  }
  if (end === 0) return items;
  const kept = items
    .slice(0, end)
    .filter((item) => getmail && item.name === 'return-path' && !/<unknown>/i.test(item.text));
  return [...kept, ...items.slice(end)];
}

/**
 * The content identity of a message, streamed: sha256 (hex) of the message as every copy of it says the same
 * thing, so the copies a mail program, a server, a fetching or a syncing tool keep of one message are one
 * message. The archived bytes stay each file's own bytes; only the identity reads them this way (rule
 * {@link CONTENT_RULE}):
 * - every line ending, by the one line rule (CRLF, LF, or a CR not followed by LF), is LF: a maildir's LF copy,
 *   SES's and an mbox's CRLF copy and a classic Mac OS bare-CR copy are served by IMAP with the same lines
 *   (restore appends every line ending as CRLF: toImapLineEndings);
 * - the message ends with one line end: a last line without one has one (SMTP carries no message without one:
 *   RFC 5321 4.1.1.4; the mbox copy of such a message has it), and empty lines at its very end are not content
 *   (mbox writers and converters add or drop the empty line that separates messages: mb2md keeps it);
 * - a UTF-8 byte order mark before the header is not part of the message;
 * - in the top-level header block, fields are unfolded (RFC 5322 2.2.3: folding is not content; Python's email
 *   package, which getmail writes with, folds long fields again), and the fields programs write into every copy
 *   for their own state are left out ({@link TOOL_STATE_FIELDS}: mbsync's X-TUID, mbox Status fields, Takeout's
 *   labels...), as is the trace a fetching program (getmail, fetchmail) writes on top of each message it fetches.
 * Chunk boundaries do not change the result. Used by ingest (shared/mail/mime.ts readMessage), the history import
 * and reindex alike; the index's content markers are made of it (shared/index/schema.ts itemKeys.content).
 */
export class ContentHasher {
  private readonly hash = createHash('sha256');
  private lastWasCr = false;
  /** The header block while its end is not known; undefined once it was hashed. */
  private head: Buffer[] | undefined = [];
  private headBytes = 0;
  /** LFs that may be the message's trailing empty lines: hashed once something other than an LF follows. */
  private heldLfs = 0;
  /** Something other than line ends was hashed: the message ends with exactly one line end. */
  private any = false;

  update(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (!this.head) {
      this.body(chunk);
      return;
    }
    this.head.push(chunk);
    this.headBytes += chunk.length;
    const held = this.head.length === 1 ? chunk : Buffer.concat(this.head);
    this.head = [held];
    // A CR that ends what arrived may be the first half of a CRLF: the block's end is known with the next byte.
    const searched = held[held.length - 1] === CR ? held.subarray(0, held.length - 1) : held;
    const end = findHeaderEnd(searched);
    if (end) {
      this.head = undefined;
      this.header(held.subarray(0, end.headerEnd), true);
      this.body(held.subarray(end.bodyStart));
    } else if (this.headBytes > MAX_HEAD_BYTES) {
      this.head = undefined;
      this.body(held.subarray(byteOrderMarkLength(held)));
    }
  }

  private header(block: Buffer, ended: boolean): void {
    const items = withoutFetcherTrace(headItems(block.subarray(byteOrderMarkLength(block))));
    let text = '';
    for (const item of items) if (!TOOL_STATE_FIELDS.has(item.name)) text += `${item.text}\n`;
    if (ended) text += '\n';
    this.emit(Buffer.from(text, 'latin1'));
  }

  /** Hashes LF-normalised bytes, holding back trailing LFs (see {@link digest}). */
  private emit(bytes: Buffer): void {
    let last = bytes.length - 1;
    while (last >= 0 && bytes[last] === LF) last -= 1;
    if (last < 0) {
      this.heldLfs += bytes.length;
      return;
    }
    if (this.heldLfs > 0) this.hash.update(Buffer.alloc(this.heldLfs, LF));
    this.hash.update(bytes.subarray(0, last + 1));
    this.heldLfs = bytes.length - last - 1;
    this.any = true;
  }

  private body(chunk: Buffer): void {
    if (chunk.length === 0) return;
    let start = this.lastWasCr && chunk[0] === LF ? 1 : 0;
    this.lastWasCr = chunk[chunk.length - 1] === CR;
    if (start >= chunk.length) return;
    let cr = chunk.indexOf(CR, start);
    if (cr < 0) {
      this.emit(start === 0 ? chunk : chunk.subarray(start));
      return;
    }
    const out = Buffer.allocUnsafe(chunk.length);
    let written = 0;
    while (cr >= 0) {
      written += chunk.copy(out, written, start, cr);
      out[written++] = LF;
      start = chunk[cr + 1] === LF ? cr + 2 : cr + 1;
      cr = chunk.indexOf(CR, start);
    }
    written += chunk.copy(out, written, start);
    this.emit(out.subarray(0, written));
  }

  /** The hex digest; the hasher cannot be used afterwards. */
  digest(): string {
    if (this.head) {
      const held = Buffer.concat(this.head);
      this.head = undefined;
      const end = findHeaderEnd(held);
      this.header(end ? held.subarray(0, end.headerEnd) : held, end !== undefined);
      if (end) this.body(held.subarray(end.bodyStart));
    }
    if (this.any) this.hash.update(LF_BYTE);
    return this.hash.digest('hex');
  }
}

const LF_BYTE = Buffer.from([LF]);

/** {@link ContentHasher} over bytes held in memory. */
export function contentSha256(buffer: Buffer): string {
  const hasher = new ContentHasher();
  hasher.update(buffer);
  return hasher.digest();
}
