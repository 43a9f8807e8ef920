// mboxrd writing: `From ` separator lines and reversible `>From ` escaping (every line, by the one line rule of
// shared/mail/lines.ts, matching /^>*From / gets one more `>`; the reader beside it, mbox-reader.ts, splits by the
// same rule and removes one). Hand-written on purpose: the writer and the
// reader must mirror each other byte for byte (the verifier reads every mboxrd bundle back and compares sha256
// with the archive), and the mbox libraries on npm parse into structured messages or normalise line endings.
import { Transform, type TransformCallback } from 'node:stream';
import { findLineEnd } from '../mail/lines';

const ASCTIME_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const ASCTIME_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `From <sender> <asctime in UTC>` */
export function mboxFromLine(sender: string, receivedAt: Date): string {
  const d = receivedAt;
  const pad = (n: number) => String(n).padStart(2, '0');
  const safeSender = sender.replace(/\s+/g, '') || 'MAILER-DAEMON';
  return `From ${safeSender} ${ASCTIME_DAYS[d.getUTCDay()]} ${ASCTIME_MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCFullYear()}\n`;
}

const FROM = Buffer.from('From ');

/** Could `tail` (the start of a line) still turn out to match /^>*From / once more bytes arrive? */
function couldBecomeFromLine(tail: Buffer): boolean {
  let i = 0;
  while (i < tail.length && tail[i] === 62) i += 1;
  const rest = tail.subarray(i);
  return rest.length < FROM.length && FROM.subarray(0, rest.length).equals(rest);
}

/** Does the line at `start` match /^>*From /: a line the writer escapes and the reader unescapes? */
function isFromLine(line: Buffer, start: number): boolean {
  let i = start;
  while (line[i] === 62) i += 1;
  return line.length - i >= FROM.length && line.subarray(i, i + FROM.length).equals(FROM);
}

/**
 * Escapes a message for mboxrd, streaming: every line matching /^>*From / gets one more `>`. Lines end by the
 * one line rule (shared/mail/lines.ts: CRLF, LF or a bare CR), the rule the reader (mbox-reader.ts) splits by, so a
 * `From ` line after a bare CR is escaped here exactly when the reader would take it for a separator.
 */
export class MboxrdEscape extends Transform {
  /** The start of a line that may still become a `>*From ` line, held until more bytes arrive. */
  private carry: Buffer = Buffer.alloc(0);
  private atLineStart = true;
  /** The previous chunk ended in a CR: an LF first in this chunk belongs to that line's ending. */
  private heldCr = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    const out: Buffer[] = [];
    let pos = 0;
    if (this.heldCr && data.length > 0) {
      this.heldCr = false;
      if (data[0] === LF) {
        out.push(data.subarray(0, 1));
        pos = 1;
      }
    }
    while (pos < data.length) {
      const found = findLineEnd(data, pos);
      if (this.atLineStart) {
        if (!found && couldBecomeFromLine(data.subarray(pos))) {
          this.carry = Buffer.from(data.subarray(pos));
          break;
        }
        if (isFromLine(data, pos)) out.push(GT);
      }
      if (!found) {
        out.push(data.subarray(pos));
        this.atLineStart = false;
        break;
      }
      out.push(data.subarray(pos, found.next));
      this.atLineStart = true;
      // A CR as the chunk's last byte: the next chunk may start with its LF.
      if (found.next === data.length && data[found.end] === CR) this.heldCr = true;
      pos = found.next;
    }
    callback(null, Buffer.concat(out));
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.carry.length ? this.carry : undefined);
  }
}
const GT = Buffer.from('>');
const CR = 13;
const LF = 10;

/** Escapes a whole buffer (the same rule as MboxrdEscape). */
export function escapeMboxrd(message: Buffer): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < message.length; ) {
    if (isFromLine(message, i)) {
      out.push(message.subarray(start, i), GT);
      start = i;
    }
    const found = findLineEnd(message, i);
    if (!found) break;
    i = found.next;
  }
  out.push(message.subarray(start));
  return Buffer.concat(out);
}

/**
 * The line ending that closes a message in an mbox (the empty line before the next `From ` line, which the
 * reader drops): an LF, or a CR after a message whose last byte is a CR, since an LF there would turn that
 * bare CR into a CRLF when read back by the one line rule.
 */
export function messageSeparator(lastByte: number | undefined): Buffer {
  return lastByte === CR ? CR_BYTES : LF_BYTES;
}
const CR_BYTES = Buffer.from('\r');
const LF_BYTES = Buffer.from('\n');
