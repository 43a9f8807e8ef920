// What a forwarded copy looks like: the original bytes with only the header fields SES requires changed.
// The top-level header block is read by the project's one line rule (CRLF, LF or a lone CR end a line, as SES
// reads mail) and edited item by item: each field keeps its exact raw bytes, folding and line endings; the body
// and every untouched field are copied byte for byte. A header-block line that is not a field is never dropped:
// SES would refuse it as it is, so its bytes are carried whole inside an added field, and that change is
// reported for the ledger entry. Every field the rewrite writes is folded to at most 998 octets a line
// (RFC 5322 2.1.1).
import { domainToASCII } from 'node:url';
import libmime from 'libmime';
import { decodeBytes, decodeUnlabelled, isKnownCharset } from '../charset';
import { BIDI_FORMATTING_CHARACTER, CONTROL_CHARACTER } from '../display-text';
import { findHeaderEnd, type LineEnding, splitLines } from '../lines';
import { parseAddresses } from '../mime';
import { fitLongLines } from './long-lines';

/**
 * One item of the header block: a field (its name) or a line that is not a field (`name` is ''), with its exact
 * raw bytes (all folded lines, with their line endings).
 */
export interface HeaderField {
  name: string;
  raw: Buffer;
}

export interface SplitMessage {
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
 * Splits the top-level header block into items, by the one line rule. A line starting with a space or tab
 * continues the item before it (as SES's JavaMail reads it); lines that are not fields are kept as items with
 * no name. `joinHeaderBlock` gives back the input byte for byte (a last header line without a line ending gets
 * one, and a message with no body gets an empty line).
 */
export function splitHeaderBlock(raw: Buffer): SplitMessage {
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
  return { fields, body: end ? raw.subarray(end.headerEnd) : Buffer.from(lineEnding), eol: lineEnding };
}

export function joinHeaderBlock(message: SplitMessage): Buffer {
  return Buffer.concat([...message.fields.map((f) => f.raw), message.body]);
}

/** The line ending an item's raw bytes end with. */
export function headerEndingOf(raw: Buffer): string {
  if (raw.at(-1) === 10) return raw.at(-2) === 13 ? '\r\n' : '\n';
  return raw.at(-1) === 13 ? '\r' : '';
}

/** The ending of the header block's last line (the message's eol when it has none). */
function lastEnding(message: SplitMessage): string {
  const last = message.fields.at(-1);
  return (last && headerEndingOf(last.raw)) || message.eol;
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
 * given, else as UTF-8 when valid, else as Windows-1252 (the project's one decoding path, shared/charset.ts).
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

/** Fields SES refuses to see twice in the top-level header (SES developer guide, "Amazon SES header fields"). */
export const SINGLE_INSTANCE_FIELDS = new Set(
  [
    'Accept-Language',
    'acceptLanguage',
    'Archived-At',
    'Auto-Submitted',
    'Bounces-to',
    'Comments',
    'Content-Alternative',
    'Content-Base',
    'Content-Class',
    'Content-Description',
    'Content-Disposition',
    'Content-Duration',
    'Content-ID',
    'Content-Language',
    'Content-Length',
    'Content-Location',
    'Content-MD5',
    'Content-Transfer-Encoding',
    'Content-Type',
    'Date',
    'Delivered-To',
    'Disposition-Notification-Options',
    'Disposition-Notification-To',
    'DKIM-Signature',
    'DomainKey-Signature',
    'Errors-To',
    'From',
    'Importance',
    'In-Reply-To',
    'Keywords',
    'List-Archive',
    'List-Help',
    'List-Id',
    'List-Owner',
    'List-Post',
    'List-Subscribe',
    'List-Unsubscribe',
    'Message-Context',
    'Message-ID',
    'MIME-Version',
    'Organization',
    'Original-From',
    'Original-Message-ID',
    'Original-Recipient',
    'Original-Subject',
    'Precedence',
    'Priority',
    'References',
    'Reply-To',
    'Return-Path',
    'Return-Receipt-To',
    'Sender',
    'Solicitation',
    'Sensitivity',
    'Subject',
    'Thread-Index',
    'Thread-Topic',
    'User-Agent',
    'VBR-Info',
  ].map((n) => n.toLowerCase()),
);

/** Fields the forwarder removes: they speak for the original sender or would break once From changes. */
const REMOVED_FIELDS = new Set(['return-path', 'sender', 'dkim-signature', 'domainkey-signature']);

/** The trace field every forwarded copy carries; a message that already has it is a loop. */
export const FORWARD_TRACE_FIELD = 'X-Mail-Archiver-Forwarded';

export interface RewriteInput {
  raw: Buffer;
  /** The verified identity copies are sent from. */
  fromAddress: string;
  /** The envelope recipient the message was archived for. */
  envelopeRecipient: string;
  /** A token identifying this archive's copy (the message key), written into the trace field. */
  trace: string;
}

export interface RewrittenMessage {
  raw: Buffer;
  /** The original From, which became Reply-To unless the message had one. */
  originalFrom: string;
  /** Fields removed, by name, for the record. */
  removed: string[];
  /** What else had to change for SES to accept the copy (recorded on the ledger entry). */
  changes?: string[];
}

function writtenField(name: string, value: string | Buffer, eol: string, limit?: number): HeaderField {
  const bytes = typeof value === 'string' ? Buffer.from(` ${value}`, 'utf8') : value;
  return { name, raw: foldField(name, bytes, eol, limit).raw };
}

/** An address SES and mail clients accept in Reply-To: local@domain, no spaces or brackets. */
const VALID_ADDRESS = /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+\.[^\s@<>()",;:\\[\]]+$/;

/**
 * `"Ann Sender via example.com" <forwarder@example.com>`, RFC 2047-encoded when the name is not ASCII. Control
 * characters become spaces and bidirectional formatting characters are removed, so the name cannot hide or
 * reverse the "via" part (an override in the name would reverse the " via <domain>" appended to it).
 */
export function forwardedFrom(originalFrom: string, fromAddress: string): string {
  const [first] = parseAddresses(originalFrom);
  const domain = fromAddress.slice(fromAddress.lastIndexOf('@') + 1);
  const who = (first?.name || first?.address || 'unknown sender')
    .replace(CONTROL_CHARACTER, ' ')
    .replace(BIDI_FORMATTING_CHARACTER, '')
    .replace(/\s+/g, ' ')
    .trim();
  const display = `${who} via ${domain}`;
  const phrase = /^[\x20-\x7e]*$/.test(display)
    ? `"${display.replace(/(["\\])/g, '\\$1')}"`
    : libmime.encodeWord(display, 'Q', 52);
  return `${phrase} <${fromAddress}>`;
}

const CHARSET_PARAMETER = /charset\s*=\s*"?([^";\s]+)/i;
/** How far into the body a part's charset is looked for (a multipart message's first text part is near). */
const PART_CHARSET_WINDOW = 64 * 1024;

/**
 * The charset 8-bit header text of this message is read in: the one declared at its top level (Content-Type);
 * else the one its own encoded words name (a Subject in `=?koi8-r?...`); else the first one a MIME part
 * declares (a multipart message has none at the top). The mail program that wrote the 8-bit name wrote these
 * too; a name that is not valid in the charset found is read as unlabelled text (shared/charset.ts).
 */
function declaredCharset(message: SplitMessage): string | undefined {
  const type = message.fields.find((f) => f.name.toLowerCase() === 'content-type');
  const topLevel = type && CHARSET_PARAMETER.exec(rawValueOf(type).toString('latin1'))?.[1];
  if (topLevel && isKnownCharset(topLevel)) return topLevel;
  for (const field of message.fields) {
    for (const [, label] of rawValueOf(field)
      .toString('latin1')
      .matchAll(/=\?([^?*\s]+)(?:\*[^?]*)?\?[bBqQ]\?/g)) {
      if (label && !/^(us-)?ascii$/i.test(label) && isKnownCharset(label)) return label;
    }
  }
  const part = CHARSET_PARAMETER.exec(message.body.subarray(0, PART_CHARSET_WINDOW).toString('latin1'))?.[1];
  return part && isKnownCharset(part) ? part : topLevel || undefined;
}

/** The field that carries a header-block line that is not a field (its bytes, whole, as the value). */
export const MALFORMED_LINE_FIELD = 'X-Mail-Archiver-Malformed-Line';

export async function rewriteForForwarding(input: RewriteInput): Promise<RewrittenMessage> {
  const message = splitHeaderBlock(input.raw);
  const { eol } = message;
  const seen = new Set<string>();
  const removed: string[] = [];
  const changes: string[] = [];
  let from: HeaderField | undefined;
  let hasReplyTo = false;
  const kept: HeaderField[] = [];
  message.fields.forEach((field, index) => {
    const lower = field.name.toLowerCase();
    if (!field.name) {
      // Not a field: SES refuses it as it stands, and deleting it could delete a body line or a MIME boundary
      // of a malformed message. Its exact bytes travel as the value of an added field instead.
      // It keeps its own final line ending: a lone CR written before a body that starts with LF would
      // join them into one CRLF.
      const ending = headerEndingOf(field.raw);
      const line = field.raw.subarray(0, field.raw.length - ending.length);
      const carried = foldField(MALFORMED_LINE_FIELD, Buffer.concat([Buffer.from(' '), line]), eol);
      const raw = Buffer.concat([
        carried.raw.subarray(0, carried.raw.length - eol.length),
        Buffer.from(ending),
      ]);
      kept.push({ name: MALFORMED_LINE_FIELD, raw });
      changes.push(
        `header item ${index + 1} is not a field: carried in ${MALFORMED_LINE_FIELD}${carried.hard ? ' (folded)' : ''}`,
      );
      return;
    }
    if (lower === 'from') {
      if (!from) from = field;
      else {
        removed.push(field.name);
        changes.push(`a second ${field.name} field was dropped (SES refuses repeated From)`);
      }
      return;
    }
    if (REMOVED_FIELDS.has(lower)) {
      removed.push(field.name);
      return;
    }
    if (SINGLE_INSTANCE_FIELDS.has(lower)) {
      if (seen.has(lower)) {
        removed.push(field.name);
        changes.push(`a repeated ${field.name} field was dropped (SES refuses repeated ${field.name})`);
        return;
      }
      seen.add(lower);
    }
    if (lower === 'reply-to') hasReplyTo = true;
    kept.push(field);
  });
  const originalFrom = from ? fieldValue(from, declaredCharset(message)) : '';
  const fromAddress = parseAddresses(originalFrom)[0]?.address ?? '';
  // The original From's own bytes (8-bit names included) go into Reply-To and X-Original-From unchanged,
  // folded where a line would pass 998 octets.
  const originalBytes = from ? rawValueOf(from) : Buffer.from(' (none)');
  const carried = (name: string) => {
    const folded = foldField(name, originalBytes, eol);
    if (folded.hard)
      changes.push(`${name}: a line of the original From passed 998 octets with no space to fold at`);
    return { name, raw: folded.raw };
  };
  const added: HeaderField[] = [
    writtenField('From', forwardedFrom(originalFrom, input.fromAddress), eol, 78),
    ...(hasReplyTo || !VALID_ADDRESS.test(fromAddress) ? [] : [carried('Reply-To')]),
    carried('X-Original-From'),
    writtenField('X-Original-To', input.envelopeRecipient, eol),
    // Last before the body when nothing was kept: it ends like the original header block's last line.
    writtenField(FORWARD_TRACE_FIELD, input.trace, kept.length > 0 ? eol : lastEnding(message)),
  ];
  // A kept field or a body line over 998 octets: SES refuses the copy as it stands (shared/forwarding/long-lines.ts).
  const fitted = await fitLongLines(joinHeaderBlock({ ...message, fields: [...added, ...kept] }));
  changes.push(...fitted.changes);
  return {
    raw: fitted.raw,
    originalFrom,
    removed,
    changes,
  };
}

/** An envelope address SES accepts: the domain in punycode (SES wants 7-bit envelopes). */
export function asciiEnvelopeAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = domainToASCII(address.slice(at + 1).toLowerCase());
  if (!domain) throw new Error(`${address}: the domain is not valid`);
  if (!/^[\x21-\x7e]+$/.test(address.slice(0, at)))
    throw new Error(`${address}: the local part is not ASCII`);
  return `${address.slice(0, at)}@${domain}`;
}
