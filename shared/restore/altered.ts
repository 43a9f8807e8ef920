// What some IMAP servers change in a message as they store it, so that a changed copy is still recognised as the
// bundle message it came from (never appended again) and reported as such instead of "not verified".
// Seen on real servers: Cyrus IMAP 3.6 (munge8bit, its default) writes every 8-bit byte of the header as "X";
// Courier-IMAP 5.0 adds CRLF after a last line that had no line end. Anything else a server changes is not
// recognised: such a copy stays "not verified" (and a run without the state file appends it again).

/**
 * The INTERNALDATE a message received before 1970 is appended with where the server refuses its own (Cyrus 3.6:
 * "NO Invalid date-time", Courier 5.0: "BAD Error in IMAP command"): one second after the epoch, the earliest date
 * they keep (both take 1970-01-01T00:00:00Z itself for "no date", and set the time of the APPEND).
 */
export const EARLIEST_KEPT_SECS = 1;

const CR = 13;
const LF = 10;
const X = 0x58;

/** The changes a server may make to these bytes, counted. */
export interface PossibleChanges {
  /** Bytes >= 0x80 in the header block (before the first empty line). */
  highBitHeaderBytes: number;
  /** The message does not end in CRLF. */
  noFinalLineEnd: boolean;
}

/** Where the header block ends: the index of the CRLF CRLF that closes it, or the end of the message. */
function headerEnd(bytes: Buffer): number {
  const at = bytes.indexOf('\r\n\r\n');
  return at < 0 ? bytes.length : at;
}

/** What of {@link PossibleChanges} applies to a message as appended (CRLF lines). */
export function possibleChanges(imapBytes: Buffer): PossibleChanges {
  const end = headerEnd(imapBytes);
  let highBitHeaderBytes = 0;
  for (let i = 0; i < end; i++) if ((imapBytes[i] as number) >= 0x80) highBitHeaderBytes += 1;
  const n = imapBytes.length;
  return { highBitHeaderBytes, noFinalLineEnd: !(imapBytes[n - 2] === CR && imapBytes[n - 1] === LF) };
}

/**
 * The message with every change a server may make already made: 8-bit header bytes as "X", CRLF after a last line
 * without one. The bundle message and a server's changed copy of it have the same form; so do the bundle message
 * and an unchanged copy. `bytes` itself when there is nothing to change.
 */
export function asServersMayStore(bytes: Buffer, changes = possibleChanges(bytes)): Buffer {
  if (changes.highBitHeaderBytes === 0 && !changes.noFinalLineEnd) return bytes;
  const out = Buffer.alloc(bytes.length + (changes.noFinalLineEnd ? 2 : 0));
  bytes.copy(out);
  if (changes.highBitHeaderBytes > 0) {
    const end = headerEnd(bytes);
    for (let i = 0; i < end; i++) if ((out[i] as number) >= 0x80) out[i] = X;
  }
  if (changes.noFinalLineEnd) {
    out[bytes.length] = CR;
    out[bytes.length + 1] = LF;
  }
  return out;
}

/**
 * The sizes a stored copy of a message of `size` bytes may have: the same, and 2 more where the server adds the
 * final CRLF.
 */
export function possibleSizes(size: number, changes: PossibleChanges): number[] {
  return changes.noFinalLineEnd ? [size, size + 2] : [size];
}

/**
 * The changes the server made, in words, given its copy (known to have the same {@link asServersMayStore} form
 * as the message): what the report names for the user.
 */
export function describeChanges(changes: PossibleChanges, imapSize: number, served: Buffer): string[] {
  const out: string[] = [];
  const servedHighBit = possibleChanges(served).highBitHeaderBytes;
  if (changes.highBitHeaderBytes > servedHighBit)
    out.push(
      `${changes.highBitHeaderBytes - servedHighBit} 8-bit header ${changes.highBitHeaderBytes - servedHighBit === 1 ? 'byte' : 'bytes'} written as "X"`,
    );
  if (changes.noFinalLineEnd && served.length === imapSize + 2)
    out.push('a line end (CRLF) added after the last line');
  return out;
}
