// What a forwarded copy looks like: the original bytes with only the header fields SES requires changed.
// The top-level header block is read by the project's one line rule (CRLF, LF or a lone CR end a line, as SES
// reads mail) and edited item by item: each field keeps its exact raw bytes, folding and line endings; the body
// and every untouched field are copied byte for byte. A header-block line that is not a field is never dropped:
// SES would refuse it as it is, so its bytes are carried whole inside an added field, and that change is
// reported for the ledger entry. Every field the rewrite writes is folded to at most 998 octets a line
// (RFC 5322 2.1.1).
import { domainToASCII } from 'node:url';
import libmime from 'libmime';
import { addressDomain, splitAddress } from '../mail/address';
import { isKnownCharset } from '../mail/charset';
import { BIDI_FORMATTING_CHARACTER, CONTROL_CHARACTER } from '../mail/display-text';
import {
  fieldValue,
  foldField,
  type HeaderField,
  headerEndingOf,
  joinHeaderBlock,
  rawValueOf,
  type SplitMessage,
  splitHeaderBlock,
} from '../mail/header-block';
import { parseAddresses } from '../mail/mime';
import { fitLongLines } from './long-lines';

/** The ending of the header block's last line (the message's eol when it has none). */
function lastEnding(message: SplitMessage): string {
  const last = message.fields.at(-1);
  return (last && headerEndingOf(last.raw)) || message.eol;
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
  const domain = addressDomain(fromAddress);
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
 * too; a name that is not valid in the charset found is read as unlabelled text (shared/mail/charset.ts).
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
  // A byte order mark before the header (an editor's) would make the copy's first field unreadable: not sent.
  if (message.prefix.length > 0) changes.push('the byte order mark before the header was not sent');
  const fitted = await fitLongLines(
    joinHeaderBlock({ ...message, prefix: Buffer.alloc(0), fields: [...added, ...kept] }),
  );
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
  if (!address.includes('@')) return address;
  const { local } = splitAddress(address);
  const domain = domainToASCII(addressDomain(address));
  if (!domain) throw new Error(`${address}: the domain is not valid`);
  if (!/^[\x21-\x7e]+$/.test(local)) throw new Error(`${address}: the local part is not ASCII`);
  return `${local}@${domain}`;
}
