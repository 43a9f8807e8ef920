// Reads what the index needs from a raw message in one streaming pass: the sha256 and size of the exact
// bytes, the top-level headers (decoded), and the attachment names and sizes. Bodies are counted, never
// decoded or kept. The splitter is mailparser's own (@zone-eu/mailsplit) and the header decoding is
// mailparser's own (libmime through shared/mail/charset.ts, nodemailer's addressparser), without the HTML/text/link conversions that make
// mailparser slow and unbounded on hostile mail. A message the parser gives up on is still hashed to the
// end and indexed from what was read, with the failure recorded.
import { createHash } from 'node:crypto';
import mailsplit from '@zone-eu/mailsplit';
import type { MimeNode, SplitterChunk } from '@zone-eu/mailsplit/lib/types';
import addressparser from 'nodemailer/lib/addressparser';
import { asError } from '../errors';
import { decodeWords } from './charset';
import { ContentHasher } from './content-identity';
import { parseMailDate, readReceivedFields } from './dates';
import { CONTROL_CHARACTERS } from './display-text';
import { BareCrToLf, byteOrderMarkLength, UTF8_BOM } from './lines';

export interface MailAddress {
  name: string;
  address: string;
}

export interface AttachmentSummary {
  /** Sanitised: safe to show, never a path. */
  filename: string;
  contentType: string;
  /** Decoded size in bytes (exact for base64 and 7bit/8bit/binary, an upper bound for quoted-printable). */
  size: number;
}

export interface MessageHeaders {
  subject?: string;
  from: MailAddress[];
  to: MailAddress[];
  cc: MailAddress[];
  replyTo: MailAddress[];
  /** ISO 8601, when the Date header parses (RFC 5322 with its obsolete years: shared/mail/dates.ts). */
  date?: string;
  /**
   * ISO 8601 stamps of the top-level Received fields that parse, in header order (newest hop first), without
   * those a fetching program (getmail, fetchmail) added when it fetched the copy: shared/mail/dates.ts.
   */
  receivedStamps?: string[];
  /** ISO 8601: when a fetching program fetched this copy (its own Received field's stamp), if one said so. */
  fetchedAt?: string;
  dateHeader?: string;
  messageId?: string;
  inReplyTo?: string;
  references: string[];
}

/** Line endings of the raw bytes: what the maildir writer needs to know the sizes before it writes. */
export interface LineEndings {
  crlf: number;
  /** LF not preceded by CR. */
  lf: number;
  /** CR not followed by LF. */
  cr: number;
  /** NUL bytes present (Dovecot serves them as 0x80). */
  nul: boolean;
}

export interface MessageSummary {
  sha256: string;
  /** The content identity: sha256 (hex) of the message as every copy says it (shared/mail/content-identity.ts). */
  contentSha256: string;
  size: number;
  lineEndings: LineEndings;
  headers: MessageHeaders;
  attachments: AttachmentSummary[];
  /** Parts seen (bounded by limits.maxMimeNodes). */
  mimeParts: number;
  /** Why the structure could not be read to the end, when it could not. The bytes are intact regardless. */
  parseError?: string;
}

export interface ParseLimits {
  /** Header bytes per MIME node (mailsplit's own guard). */
  maxHeadBytes: number;
  /** MIME parts per message; also bounds nesting depth. */
  maxMimeNodes: number;
  /** Characters of one header value that are decoded; longer values are cut first (decoding is super-linear). */
  maxHeaderChars: number;
  /** Addresses kept per address header. */
  maxAddresses: number;
  maxAttachments: number;
  maxReferences: number;
}

export const defaultParseLimits: ParseLimits = {
  maxHeadBytes: 1024 * 1024,
  maxMimeNodes: 1000,
  maxHeaderChars: 16 * 1024,
  maxAddresses: 100,
  maxAttachments: 200,
  maxReferences: 50,
};

type MailsplitNode = MimeNode;

interface PartCounter {
  attachment: AttachmentSummary;
  base64: boolean;
  encodedBytes: number;
  base64Chars: number;
  padding: number;
}

/** Reads one raw message. `source` yields the exact stored bytes, in order. */
export async function readMessage(
  source: AsyncIterable<Uint8Array>,
  limits: ParseLimits = defaultParseLimits,
): Promise<MessageSummary> {
  const hash = createHash('sha256');
  const content = new ContentHasher();
  let size = 0;
  const structure = new StructureReader(limits);
  const bareCr = new BareCrToLf();
  const eol = new LineEndingCounter();
  // The first bytes, until they show whether a byte order mark precedes the header: the parser never sees one
  // (it would take the mark for part of the first field's name and lose that field).
  let opening: Buffer | undefined = Buffer.alloc(0);
  for await (const chunk of source) {
    const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    hash.update(buffer);
    content.update(buffer);
    size += buffer.length;
    eol.count(buffer);
    let parsed = buffer;
    if (opening) {
      parsed = Buffer.concat([opening, buffer]);
      if (parsed.length < UTF8_BOM.length && UTF8_BOM.subarray(0, parsed.length).equals(parsed)) {
        opening = parsed;
        continue;
      }
      opening = undefined;
      parsed = parsed.subarray(byteOrderMarkLength(parsed));
    }
    await structure.write(bareCr.transform(parsed));
  }
  if (opening?.length) await structure.write(bareCr.transform(opening));
  await structure.write(bareCr.flush());
  await structure.end();
  return {
    sha256: hash.digest('hex'),
    contentSha256: content.digest(),
    size,
    lineEndings: eol.result(),
    ...structure.result(),
  };
}

/** Counts CRLF, bare LF and bare CR across chunk boundaries. */
export class LineEndingCounter {
  private crlf = 0;
  private lf = 0;
  private crs = 0;
  private nul = false;
  private lastWasCr = false;

  count(chunk: Buffer): void {
    if (chunk.length === 0) return;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) {
      const prevIsCr = i === 0 ? this.lastWasCr : chunk[i - 1] === 13;
      if (prevIsCr) this.crlf += 1;
      else this.lf += 1;
    }
    for (let i = chunk.indexOf(13); i >= 0; i = chunk.indexOf(13, i + 1)) this.crs += 1;
    if (!this.nul && chunk.indexOf(0) >= 0) this.nul = true;
    this.lastWasCr = chunk[chunk.length - 1] === 13;
  }

  result(): LineEndings {
    return { crlf: this.crlf, lf: this.lf, cr: this.crs - this.crlf, nul: this.nul };
  }
}

/** Same as readMessage for bytes already in memory. */
export function readMessageBytes(raw: Uint8Array, limits?: ParseLimits): Promise<MessageSummary> {
  return readMessage(
    (async function* () {
      yield raw;
    })(),
    limits,
  );
}

class StructureReader {
  private readonly splitter: InstanceType<typeof mailsplit.Splitter>;
  private failure?: Error;
  private headers: MessageHeaders = { from: [], to: [], cc: [], replyTo: [], references: [] };
  private readonly parts: PartCounter[] = [];
  private current?: PartCounter;
  private nodes = 0;
  private attachmentsDropped = 0;

  constructor(private readonly limits: ParseLimits) {
    this.splitter = new mailsplit.Splitter({
      maxHeadSize: limits.maxHeadBytes,
      maxChildNodes: limits.maxMimeNodes,
    });
    this.splitter.on('data', (chunk: SplitterChunk) => {
      try {
        this.onChunk(chunk);
      } catch (error) {
        this.fail(asError(error));
      }
    });
    (this.splitter as NodeJS.EventEmitter).on('error', (error: Error) => this.fail(error));
  }

  write(chunk: Buffer): Promise<void> {
    if (this.failure || chunk.length === 0) return Promise.resolve();
    // The write callback fires once the splitter has consumed the chunk: natural backpressure.
    return new Promise((resolve) => this.splitter.write(chunk, () => resolve()));
  }

  end(): Promise<void> {
    if (this.failure) return Promise.resolve();
    return new Promise((resolve) => {
      (this.splitter as NodeJS.EventEmitter).once('error', () => resolve());
      this.splitter.end(() => resolve());
    });
  }

  result(): Omit<MessageSummary, 'sha256' | 'contentSha256' | 'size' | 'lineEndings'> {
    this.closePart();
    const attachments = this.parts.map((p) => p.attachment);
    let parseError = this.failure?.message;
    // mailsplit's own words for its maxChildNodes limit, said in the archive's terms.
    if (parseError === 'Max allowed child nodes exceeded')
      parseError = `more than ${this.limits.maxMimeNodes} MIME parts: the parts after them were not read for the index`;
    if (this.attachmentsDropped > 0) {
      // After a failure the rest of the message was not read: what was dropped is only a lower bound.
      const note = `${this.failure ? 'at least ' : ''}${this.attachmentsDropped} attachments beyond the first ${this.limits.maxAttachments} not indexed`;
      parseError = parseError ? `${parseError}; ${note}` : note;
    }
    return {
      headers: this.headers,
      attachments,
      mimeParts: this.nodes,
      ...(parseError ? { parseError } : {}),
    };
  }

  private fail(error: Error) {
    if (this.failure) return;
    this.failure = error;
    // Stop feeding the splitter; the caller keeps hashing the rest of the bytes.
    this.splitter.removeAllListeners('data');
    (this.splitter as NodeJS.EventEmitter).on('error', () => undefined);
    this.splitter.destroy();
  }

  private onChunk(chunk: SplitterChunk) {
    if (chunk.type === 'node') {
      this.closePart();
      this.nodes += 1;
      if (this.nodes === 1) this.headers = readHeaders(chunk, this.limits);
      if (isAttachment(chunk)) this.openPart(chunk);
    } else if (chunk.type === 'body' && this.current) {
      countBody(this.current, chunk.value);
    }
  }

  private openPart(node: MailsplitNode) {
    if (this.parts.length >= this.limits.maxAttachments) {
      this.attachmentsDropped += 1;
      return;
    }
    const counter: PartCounter = {
      attachment: {
        filename: sanitiseFilename(node.filename || ''),
        contentType: (node.contentType || 'application/octet-stream').slice(0, 255),
        size: 0,
      },
      base64: node.encoding === 'base64',
      encodedBytes: 0,
      base64Chars: 0,
      padding: 0,
    };
    this.parts.push(counter);
    this.current = counter;
  }

  private closePart() {
    const part = this.current;
    if (!part) return;
    part.attachment.size = part.base64
      ? Math.max(0, Math.floor((part.base64Chars * 3) / 4) - part.padding)
      : part.encodedBytes;
    this.current = undefined;
  }
}

function isAttachment(node: MailsplitNode): boolean {
  if (node.multipart) return false;
  return node.disposition === 'attachment' || Boolean(node.filename);
}

function countBody(part: PartCounter, value: Buffer) {
  part.encodedBytes += value.length;
  if (!part.base64) return;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as number;
    // A-Z a-z 0-9 + /
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 47 && c <= 57) || c === 43)
      part.base64Chars += 1;
    else if (c === 61) {
      part.base64Chars += 1;
      part.padding += 1;
    }
  }
}

function readHeaders(node: MailsplitNode, limits: ParseLimits): MessageHeaders {
  const raw = (key: string) => {
    const value = node.headers ? node.headers.getFirst(key) : '';
    return value ? value.slice(0, limits.maxHeaderChars) : undefined;
  };
  const dateHeader = raw('date');
  const parsedDate = parseMailDate(dateHeader);
  const { stamps: received, fetchedAt } = readReceivedFields(
    node.headers
      ? node.headers
          .get('received')
          .slice(0, limits.maxReferences)
          .map((line) => line.slice(0, limits.maxHeaderChars).replace(/^[^:]*:/, ''))
      : [],
  );
  const subject = raw('subject');
  const messageIds = (key: string) => (raw(key) ?? '').match(/<[^<>\s]{1,995}>/g) ?? [];
  return {
    ...(subject !== undefined ? { subject: cleanText(decodeWords(subject)) } : {}),
    from: parseAddresses(raw('from'), limits),
    to: parseAddresses(raw('to'), limits),
    cc: parseAddresses(raw('cc'), limits),
    replyTo: parseAddresses(raw('reply-to'), limits),
    ...(dateHeader !== undefined ? { dateHeader: cleanText(dateHeader) } : {}),
    ...(parsedDate ? { date: parsedDate.toISOString() } : {}),
    ...(received.length ? { receivedStamps: received.map((d) => d.toISOString()) } : {}),
    ...(fetchedAt ? { fetchedAt: fetchedAt.toISOString() } : {}),
    ...optional('messageId', messageIds('message-id')[0] ?? cleanOptional(raw('message-id'))),
    ...optional('inReplyTo', messageIds('in-reply-to')[0]),
    references: messageIds('references').slice(-limits.maxReferences),
  };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value ? ({ [key]: value } as Record<K, string>) : {};
}

function cleanOptional(value: string | undefined): string | undefined {
  const cleaned = value === undefined ? '' : cleanText(value);
  return cleaned || undefined;
}

export { decodeWords } from './charset';

/** Control characters (NUL, bare CR/LF from broken folding) out; whitespace runs folded. */
function cleanText(value: string): string {
  return value.replace(CONTROL_CHARACTERS, ' ').replace(/\s+/g, ' ').trim();
}

export function parseAddresses(
  value: string | undefined,
  limits: ParseLimits = defaultParseLimits,
): MailAddress[] {
  if (!value) return [];
  const out: MailAddress[] = [];
  const visit = (entries: ReturnType<typeof addressparser>) => {
    for (const entry of entries) {
      if (out.length >= limits.maxAddresses) return;
      if ('group' in entry && Array.isArray(entry.group)) visit(entry.group);
      else if ('address' in entry) {
        out.push({ name: cleanText(decodeWords(entry.name ?? '')), address: cleanText(entry.address ?? '') });
      }
    }
  };
  try {
    visit(addressparser(value));
  } catch {
    // Unparseable address list: keep nothing structured; the raw header is still in the stored message.
  }
  return out.filter((a) => a.address || a.name);
}

/**
 * A name from a message, made safe to show and to use as a file name: no directories, no control
 * characters, no leading dots, at most 255 UTF-8 bytes.
 */
export function sanitiseFilename(name: string, fallback = 'attachment'): string {
  const decoded = decodeWords(name);
  const lastSegment = decoded.split(/[/\\]/).pop() ?? '';
  const cleaned = lastSegment
    .replace(CONTROL_CHARACTERS, '')
    .replace(/[<>:"|?*]/g, '_')
    .trim()
    .replace(/^\.+/, '')
    .trim();
  let result = cleaned || fallback;
  while (Buffer.byteLength(result, 'utf8') > 255) result = result.slice(0, -1);
  return result;
}

export function formatAddress(address: MailAddress): string {
  if (!address.name) return address.address;
  return address.address ? `${address.name} <${address.address}>` : address.name;
}
