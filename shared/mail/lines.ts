// The one line rule every reader of raw mail uses (the indexer, the mbox and maildir readers, the forwarding
// rewrite). RFC 5322 lines end in CRLF, but stored mail also has LF (Unix tools, maildirs, mbox files) and bare
// CR (classic Mac OS mail programs and their mbox files). A line ends at CRLF, at an LF, or at a CR not followed
// by LF; the line ending is reported with the line so a reader can give back the exact bytes it read.

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
