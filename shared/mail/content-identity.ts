// The content identity of a message (rule {@link CONTENT_RULE}): what makes two copies of one message one
// message, whichever program kept them. One home: ingest, the history import, reindex and the index's content
// markers (shared/index/schema.ts itemKeys.content) all read it from here. Lines split by the one line rule
// (shared/mail/lines.ts).
import { createHash } from 'node:crypto';
import { byteOrderMarkLength, findHeaderEnd, splitLines } from './lines';

const CR = 13;
const LF = 10;

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

/**
 * A header block larger than this is hashed by the line rule only (no unfolding, no fields left out): real
 * headers are far smaller (Postfix's header_size_limit is 100 KiB), and a header bomb costs no more than its bytes.
 */
const MAX_HEAD_BYTES = 256 * 1024;

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
    if (end && end.headerEnd <= MAX_HEAD_BYTES) {
      this.head = undefined;
      this.header(held.subarray(0, end.headerEnd), true);
      this.body(held.subarray(end.bodyStart));
    } else if (end || this.headBytes > MAX_HEAD_BYTES) {
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
      const head = end ? held.subarray(0, end.headerEnd) : held;
      if (head.length > MAX_HEAD_BYTES) this.body(held.subarray(byteOrderMarkLength(held)));
      else {
        this.header(head, end !== undefined);
        if (end) this.body(held.subarray(end.bodyStart));
      }
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
