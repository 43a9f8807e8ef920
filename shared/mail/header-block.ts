// The top-level header block of a raw message as items (fields and lines that are not fields), each with its
// exact raw bytes: the primitives the forwarding rewrite, the long-line fitter, the forwarding policy and the
// Takeout reader share. Hand-written because no library keeps a field's raw bytes (folding, line endings,
// 8-bit text) exactly; lines are split by the one line rule (shared/mail/lines.ts).
import { decodeBytes, decodeUnlabelled } from './charset';
import {
  byteOrderMarkLength,
  findHeaderEnd,
  findLineEnd,
  type LineEnding,
  splitLines,
  startsWithHeaderField,
} from './lines';

/**
 * One item of the header block: a field (its name) or a line that is not a field (`name` is ''), with its exact
 * raw bytes (all folded lines, with their line endings).
 */
export interface HeaderField {
  name: string;
  raw: Buffer;
}

export interface SplitMessage {
  /** A UTF-8 byte order mark before the first field (some editors write one), else empty. */
  prefix: Buffer;
  fields: HeaderField[];
  /** Everything after the header block, starting with the blank line that ends it (kept exactly). */
  body: Buffer;
  /** The line ending the header block uses (its first line's); fields the rewrite writes end with it. */
  eol: '\r\n' | '\n' | '\r';
}

/** RFC 5322 2.2: a field name is printable US-ASCII except the colon, directly followed by the colon. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/** The name of a header line that is a field, or '' when it is not (no colon, an empty or invalid name). */
function fieldNameOf(line: Buffer): string {
  const colon = line.indexOf(58);
  if (colon <= 0) return '';
  const name = line.subarray(0, colon).toString('latin1');
  return FIELD_NAME.test(name) ? name : '';
}

/**
 * Splits the top-level header block into items, by the one line rule, after a byte order mark if there is one. A line starting with a space or tab
 * continues the item before it (as SES's JavaMail reads it); lines that are not fields are kept as items with
 * no name. `joinHeaderBlock` gives back the input byte for byte (a last header line without a line ending gets
 * one, and a message with no body gets an empty line).
 */
export function splitHeaderBlock(message: Buffer): SplitMessage {
  const bom = byteOrderMarkLength(message);
  const prefix = message.subarray(0, bom);
  const raw = message.subarray(bom);
  const end = findHeaderEnd(raw);
  const head = end ? raw.subarray(0, end.headerEnd) : raw;
  const fields: HeaderField[] = [];
  let eol: SplitMessage['eol'] | undefined;
  let pending: { name: string; parts: Buffer[] } | undefined;
  const flush = () => {
    if (pending) fields.push({ name: pending.name, raw: Buffer.concat(pending.parts) });
    pending = undefined;
  };
  for (const line of splitLines(head)) {
    const ending: Exclude<LineEnding, ''> = line.ending || (eol ?? '\r\n');
    eol ??= ending;
    const bytes = Buffer.concat([line.text, Buffer.from(ending)]);
    const first = line.text[0];
    if ((first === 32 || first === 9) && pending) {
      pending.parts.push(bytes);
      continue;
    }
    flush();
    pending = { name: fieldNameOf(line.text), parts: [bytes] };
  }
  flush();
  const lineEnding = eol ?? '\r\n';
  return {
    prefix,
    fields,
    body: end ? raw.subarray(end.headerEnd) : Buffer.from(lineEnding),
    eol: lineEnding,
  };
}

export function joinHeaderBlock(message: SplitMessage): Buffer {
  return Buffer.concat([message.prefix, ...message.fields.map((f) => f.raw), message.body]);
}

/** The line ending an item's raw bytes end with. */
export function headerEndingOf(raw: Buffer): string {
  if (raw.at(-1) === 10) return raw.at(-2) === 13 ? '\r\n' : '\n';
  return raw.at(-1) === 13 ? '\r' : '';
}

/** A field's raw value: the bytes after the colon, without the final line ending (folding kept). */
export function rawValueOf(field: HeaderField): Buffer {
  const colon = field.raw.indexOf(58);
  let stop = field.raw.length;
  if (field.raw[stop - 1] === 10) stop--;
  if (field.raw[stop - 1] === 13) stop--;
  return field.raw.subarray(colon + 1, stop);
}

/**
 * The unfolded value of a field as text. 8-bit bytes are read in `charset` (the message's declared one) when
 * given, else as UTF-8 when valid, else as Windows-1252 (the project's one decoding path, shared/mail/charset.ts).
 */
export function fieldValue(field: HeaderField, charset?: string): string {
  const bytes = rawValueOf(field);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: 8-bit detection
  const ascii = !/[^\x00-\x7f]/.test(bytes.toString('latin1'));
  const text = ascii
    ? bytes.toString('latin1')
    : charset
      ? decodeBytes(bytes, charset)
      : decodeUnlabelled(bytes);
  return text.replace(/(\r\n|\r|\n)[ \t]/g, ' ').trim();
}

const isUtf8Continuation = (byte: number | undefined) => byte !== undefined && (byte & 0xc0) === 0x80;

/** Whether the continuation byte at `at` belongs to a well-formed UTF-8 character starting before it. */
function startsUtf8Sequence(text: Buffer, at: number): boolean {
  let start = at;
  while (start > 0 && at - start < 3 && isUtf8Continuation(text[start])) start--;
  const lead = text[start] ?? 0;
  const length = lead >= 0xf0 && lead < 0xf8 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0;
  if (length === 0 || start + length <= at) return false;
  for (let i = start + 1; i < start + length; i++) if (!isUtf8Continuation(text[i])) return false;
  return true;
}

/** RFC 5322 2.1.1: a line is at most 998 octets, line ending excluded. */
export const MAX_LINE_OCTETS = 998;

/**
 * Folds `Name: value` (value as raw bytes, which may already be folded) so that no line passes `limit` octets:
 * a long line is broken before its last space or tab within the limit (folding that unfolds to the same value).
 * A line with no such space is broken hard (which adds a space on unfolding); `hard` says whether that happened.
 */
export function foldField(
  name: string,
  value: Buffer,
  eol: string,
  limit = MAX_LINE_OCTETS,
): { raw: Buffer; hard: boolean } {
  const input = Buffer.concat([Buffer.from(`${name}:`), value]);
  const out: Buffer[] = [];
  let hard = false;
  for (const line of splitLines(input)) {
    let text = line.text;
    while (text.length > limit) {
      let cut = -1;
      for (let i = limit; i > 0; i--) {
        if (text[i] === 32 || text[i] === 9) {
          cut = i;
          break;
        }
      }
      if (cut <= 0) {
        hard = true;
        // Never inside a UTF-8 character: a cut before a continuation byte moves back to the character's start
        // (at most 3 bytes; in a single-byte charset such a cut is as good as any other).
        let at = limit;
        while (at > limit - 3 && isUtf8Continuation(text[at]) && startsUtf8Sequence(text, at)) at--;
        out.push(text.subarray(0, at), Buffer.from(eol));
        text = Buffer.concat([Buffer.from(' '), text.subarray(at)]);
        continue;
      }
      out.push(text.subarray(0, cut), Buffer.from(eol));
      text = text.subarray(cut);
    }
    out.push(text, Buffer.from(line.ending || eol));
  }
  return { raw: Buffer.concat(out), hard };
}

/** Fields every real message has at least one of (RFC 5322 3.6, the trace fields of 3.6.7, MIME, mail stores). */
const MAIL_FIELDS =
  /^(from|sender|reply-to|to|cc|bcc|date|subject|message-id|in-reply-to|references|comments|keywords|received|return-path|resent-[a-z-]+|mime-version|content-[a-z-]+|delivered-to|envelope-to|x-original-to|list-[a-z-]+|dkim-signature|arc-[a-z-]+|authentication-results|x-mailer|user-agent|status|x-status|x-keywords|x-uid|x-mozilla-status2?|x-mozilla-keys|x-tuid|x-gm-thrid|x-gmail-labels|x-getmail-retrieved-from-mailbox)$/i;

/**
 * Whether bytes begin like a mail message (a file, or a chunk of an mbox without its envelope line): after an
 * optional byte order mark and blank lines, a header field on the first line, and among the head's fields (up to
 * the empty line, or what `head` holds) at least one that mail has (From, Date, Subject, Received, a MIME field,
 * an mbox state field...). A note that starts `TODO: call Bob` has a field-like first line but none of these.
 */
export function looksLikeMail(input: Buffer): boolean {
  // Whitespace before the first field (a blank first line some tools leave, a first line indented by mistake)
  // does not make a message something else.
  let start = byteOrderMarkLength(input);
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
