// mboxrd writing: `From ` separator lines and reversible `>From ` escaping (every line matching /^>*From / gets
// one more `>`; the reader beside it, mbox-reader.ts, removes one). Hand-written on purpose: the writer and the
// reader must mirror each other byte for byte (the verifier reads every mboxrd bundle back and compares sha256
// with the archive), and the mbox libraries on npm parse into structured messages or normalise line endings.
import { Transform, type TransformCallback } from 'node:stream';

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

/** Escapes a message body for mboxrd, streaming; lines are LF- or CRLF-terminated as in the original. */
export class MboxrdEscape extends Transform {
  private carry: Buffer = Buffer.alloc(0);
  private atLineStart = true;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    const out: Buffer[] = [];
    let pos = 0;
    if (!this.atLineStart) {
      const nl = data.indexOf(10);
      if (nl < 0) {
        callback(null, data);
        return;
      }
      out.push(data.subarray(0, nl + 1));
      pos = nl + 1;
    }
    this.atLineStart = true;
    while (pos < data.length) {
      const nl = data.indexOf(10, pos);
      if (nl < 0) {
        const tail = data.subarray(pos);
        if (couldBecomeFromLine(tail)) {
          this.carry = Buffer.from(tail);
        } else {
          if (isFromLine(data, pos)) out.push(GT);
          out.push(tail);
          this.atLineStart = false;
        }
        break;
      }
      if (isFromLine(data, pos)) out.push(GT);
      out.push(data.subarray(pos, nl + 1));
      pos = nl + 1;
    }
    callback(null, Buffer.concat(out));
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.carry.length ? this.carry : undefined);
  }
}
const GT = Buffer.from('>');

/** Escapes a whole buffer (the same rule as MboxrdEscape). */
export function escapeMboxrd(message: Buffer): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < message.length; ) {
    if (isFromLine(message, i)) {
      out.push(message.subarray(start, i), GT);
      start = i;
    }
    const nl = message.indexOf(10, i);
    if (nl < 0) break;
    i = nl + 1;
  }
  out.push(message.subarray(start));
  return Buffer.concat(out);
}
