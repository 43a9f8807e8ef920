// What a forwarded copy looks like: the original bytes with only the header fields SES requires changed.
// The top-level header block is edited field by field (each field keeps its exact raw bytes, folding and line
// ending); the body and every untouched field are copied byte for byte. mailsplit's header editor would do the
// edit, but it rewrites every line ending of a changed block to CRLF; this keeps them.
import { domainToASCII } from 'node:url';
import libmime from 'libmime';
import { parseAddresses } from './mime';

/** One header field: its name and its exact raw bytes (all folded lines, with their line endings). */
export interface HeaderField {
  name: string;
  raw: Buffer;
}

export interface SplitMessage {
  fields: HeaderField[];
  /** Everything after the header block, starting with the blank line that ends it (kept exactly). */
  body: Buffer;
  eol: '\r\n' | '\n';
}

/** Splits the top-level header block into fields. Lines that are not fields (no name, no colon) are dropped. */
export function splitHeaderBlock(raw: Buffer): SplitMessage {
  let end = -1;
  let eol: '\r\n' | '\n' = '\r\n';
  for (let i = raw.indexOf(10); i >= 0; i = raw.indexOf(10, i + 1)) {
    const next = raw[i + 1];
    if (next === 10) {
      end = i + 1;
      eol = raw[i - 1] === 13 ? '\r\n' : '\n';
      break;
    }
    if (next === 13 && raw[i + 2] === 10) {
      end = i + 1;
      eol = '\r\n';
      break;
    }
  }
  const head = end < 0 ? raw : raw.subarray(0, end);
  const body = end < 0 ? Buffer.alloc(0) : raw.subarray(end);
  if (end < 0) eol = raw.indexOf('\r\n') >= 0 || raw.indexOf(10) < 0 ? '\r\n' : '\n';
  const fields: HeaderField[] = [];
  let start = 0;
  const lineEnd = (from: number) => {
    const nl = head.indexOf(10, from);
    return nl < 0 ? head.length : nl + 1;
  };
  while (start < head.length) {
    let stop = lineEnd(start);
    while (stop < head.length && (head[stop] === 32 || head[stop] === 9)) stop = lineEnd(stop);
    const raw = head.subarray(start, stop);
    const colon = raw.indexOf(58);
    const name = colon > 0 ? raw.subarray(0, colon).toString('latin1').trim() : '';
    // An empty or malformed name (SES refuses "empty header names") or a stray continuation is not kept.
    if (name && /^[\x21-\x39\x3b-\x7e]+$/.test(name)) {
      const terminated = raw[raw.length - 1] === 10 ? raw : Buffer.concat([raw, Buffer.from(eol)]);
      fields.push({ name, raw: terminated });
    }
    start = stop;
  }
  return { fields, body: end < 0 ? Buffer.from(eol) : body, eol };
}

export function joinHeaderBlock(message: SplitMessage): Buffer {
  return Buffer.concat([...message.fields.map((f) => f.raw), message.body]);
}

/** The unfolded value of a field. */
export function fieldValue(field: HeaderField): string {
  const text = field.raw.toString('utf8');
  return text
    .slice(text.indexOf(':') + 1)
    .replace(/\r?\n[ \t]/g, ' ')
    .trim();
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

function headerField(name: string, value: string, eol: string): HeaderField {
  return { name, raw: Buffer.from(`${name}: ${value}${eol}`, 'utf8') };
}

/** `"Ann Sender via example.com" <forwarder@example.com>`, RFC 2047-encoded when the name is not ASCII. */
export function forwardedFrom(originalFrom: string, fromAddress: string): string {
  const [first] = parseAddresses(originalFrom);
  const domain = fromAddress.slice(fromAddress.lastIndexOf('@') + 1);
  const who = (first?.name || first?.address || 'unknown sender').replace(/[\r\n]+/g, ' ').trim();
  const display = `${who} via ${domain}`;
  const phrase = /^[\x20-\x7e]*$/.test(display)
    ? `"${display.replace(/(["\\])/g, '\\$1')}"`
    : libmime.encodeWord(display, 'Q', 52);
  return `${phrase} <${fromAddress}>`;
}

export function rewriteForForwarding(input: RewriteInput): RewrittenMessage {
  const message = splitHeaderBlock(input.raw);
  const { eol } = message;
  const seen = new Set<string>();
  const removed: string[] = [];
  let originalFrom = '';
  let hasReplyTo = false;
  const kept: HeaderField[] = [];
  for (const field of message.fields) {
    const lower = field.name.toLowerCase();
    if (lower === 'from') {
      if (!originalFrom) originalFrom = fieldValue(field);
      else removed.push(field.name);
      continue;
    }
    if (REMOVED_FIELDS.has(lower)) {
      removed.push(field.name);
      continue;
    }
    if (SINGLE_INSTANCE_FIELDS.has(lower)) {
      if (seen.has(lower)) {
        removed.push(field.name);
        continue;
      }
      seen.add(lower);
    }
    if (lower === 'reply-to') hasReplyTo = true;
    kept.push(field);
  }
  const added: HeaderField[] = [
    headerField('From', forwardedFrom(originalFrom, input.fromAddress), eol),
    ...(hasReplyTo || !originalFrom ? [] : [headerField('Reply-To', originalFrom, eol)]),
    headerField('X-Original-From', originalFrom || '(none)', eol),
    headerField('X-Original-To', input.envelopeRecipient, eol),
    headerField(FORWARD_TRACE_FIELD, input.trace, eol),
  ];
  return {
    raw: joinHeaderBlock({ ...message, fields: [...added, ...kept] }),
    originalFrom,
    removed,
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
