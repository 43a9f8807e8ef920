// Reading mbox files as they exist in the wild (mboxo, mboxrd, mboxcl, mboxcl2; Google Takeout, Thunderbird,
// Netscape, mutt and neomutt, getmail, classic Mac OS with CR line ends, mailing-list archives), by the one line
// rule of shared/mail/lines.ts. Hand-written: the byte-exact messages, the separator decision below and the
// report of every `From ` line it did not take are what no mbox library on npm gives.
//
// Where a message starts (decided with mutt's mbox.c and is_from(), Python's mailbox.mbox, mb2md and the mbox(5)
// pages of qmail and mutt; written down in docs/importing.md):
// - A separator is a `From ` line followed by a header field. Its date is read when any common form parses
//   (shared/mail/dates.ts parseEnvelopeDate); an envelope line without a date (Netscape's `From - `) is still one.
// - At the start of the file or after an empty line, any such line separates (mbox(5); Python splits at every
//   `From ` line, mutt at every dated one).
// - After a non-empty line (a writer that adds no empty line after a message without a final line end: getmail,
//   procmail), the line separates when it has a date, as mutt and Python read it, unless the message before it
//   is a MIME multipart whose closing boundary has not come yet.
// - A `Content-Length` (mboxcl, mboxcl2: mutt and neomutt write one and escape nothing) is honoured when exactly
//   that many body bytes end at the end of the file or at a `From ` line (with at most one empty line, or, for a
//   message without a final line end, only the line end the writer added, between): the message ends there,
//   byte for byte, whatever its body holds, and its body is taken as written (no `>From` unescaping: these
//   writers do not escape). A count that does not fit is ignored, and the rules above decide.
// - Elsewhere `>From ` escaping (mboxrd: `>*From `) is undone by removing one `>` (mboxo writers escape only
//   `From `; the common case, an escaped `From `, comes back right).
// - Every dated `From ` line that was not taken as a separator is reported (kind 'notice'), with why.

import {
  byteOrderMarkLength,
  joinLines,
  type Line,
  readLines,
  splitLines,
  startsWithHeaderField,
} from '../mail/lines';
import { type EnvelopeLine, parseEnvelopeLine } from './envelope-line';

export interface MboxMessage {
  kind: 'message';
  /** The message's bytes, without the envelope line and the empty line that separates it from the next. */
  raw: Buffer;
  envelope?: EnvelopeLine;
  /** 1-based position in the file. */
  position: number;
  /** Bytes of the file this message accounts for (envelope line and separator included). */
  sourceBytes: number;
}

export interface MboxEmpty {
  kind: 'empty';
  position: number;
  sourceBytes: number;
}

/** A dated `From ` line that was not taken as a separator: it stayed in the message at `position`. */
export interface MboxNotice {
  kind: 'notice';
  position: number;
  /** 1-based line number in the file. */
  line: number;
  /** The line as written (at most 120 characters). */
  text: string;
  reason: string;
}

export type MboxEntry = MboxMessage | MboxEmpty | MboxNotice;

const isFromLine = (text: Buffer) =>
  text.length >= 5 && text[0] === 70 && text[1] === 114 && text.toString('latin1', 0, 5) === 'From ';

/** mboxrd/mboxo: `>From ` -> `From `, `>>From ` -> `>From `. */
export function unescapeFromLine(text: Buffer): Buffer {
  if (text[0] !== 62) return text;
  let i = 0;
  while (text[i] === 62) i += 1;
  return text.toString('latin1', i, i + 5) === 'From ' ? text.subarray(1) : text;
}

const lineSize = (line: Line) => line.text.length + line.ending.length;

interface Held {
  /** Index into `lines` of the line. */
  at: number;
  lineNumber: number;
  text: string;
  reason: string;
}

interface Building {
  envelope?: EnvelopeLine;
  lines: Line[];
  /** Bytes of the file accounted to this message so far (its envelope line included). */
  bytes: number;
  inHeader: boolean;
  contentLength?: number;
  bodyBytes: number;
  /** Where exactly Content-Length body bytes ended: `lines.slice(0, at)`, the last line's ending excluded if midLine. */
  counted?: { at: number; midLine: boolean };
  /** The count did not fit (text after its end, or the body went past it). */
  lengthBroken: boolean;
  /** The top-level multipart boundary, while its closing delimiter has not come. */
  openBoundary?: string;
  /** Separators inside the counted body: they split the message if the count turns out wrong. */
  tentative: { at: number; envelope: EnvelopeLine; bytesBefore: number; lineNumber: number; text: string }[];
  /** Dated `From ` lines kept in this message. */
  notices: Held[];
}

function topLevelBoundary(headerLines: Line[]): string | undefined {
  let field = '';
  let inType = false;
  for (const line of headerLines) {
    const text = line.text.toString('latin1');
    if (inType && /^[ \t]/.test(text)) field += text;
    else {
      if (inType) break;
      inType = /^content-type\s*:/i.test(text);
      if (inType) field = text;
    }
  }
  if (!/:\s*multipart\//i.test(field)) return undefined;
  const m = field.match(/boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i);
  return m ? (m[1] ?? m[2]) : undefined;
}

const shown = (text: Buffer) => {
  const s = text.toString('latin1');
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
};

/**
 * The messages of an mbox, streamed (the rules are at the top of this file). `source` yields the file's bytes in
 * order. A file that does not start with an envelope line still gives its content as one message (the caller
 * decides whether that is mail). With `escapedMboxrd` (a file this archiver wrote: every body `>*From ` line
 * escaped), every `From ` line is a separator, whatever follows it, and Content-Length fields are not read.
 */
export async function* readMboxMessages(
  source: AsyncIterable<Uint8Array>,
  options: { escapedMboxrd?: boolean } = {},
): AsyncGenerator<MboxEntry> {
  let position = 0;
  let current: Building | undefined;
  let previousBlank = false;
  let lineNumber = 0;

  const fresh = (envelope: EnvelopeLine | undefined, bytes: number): Building => ({
    ...(envelope ? { envelope } : {}),
    lines: [],
    bytes,
    inHeader: true,
    bodyBytes: 0,
    lengthBroken: false,
    tentative: [],
    notices: [],
  });
  const lengthHolds = (b: Building) => b.counted !== undefined && !b.lengthBroken;
  const insideCountedBody = (b: Building) =>
    b.contentLength !== undefined && !b.inHeader && b.counted === undefined && !b.lengthBroken;

  function* finish(building: Building): Generator<MboxEntry> {
    const pieces: {
      envelope?: EnvelopeLine;
      lines: Line[];
      bytes: number;
      counted: boolean;
      from: number;
    }[] = [];
    const envelope = building.envelope;
    if (lengthHolds(building) && building.counted) {
      const { at, midLine } = building.counted;
      const lines = building.lines.slice(0, at);
      const last = lines[lines.length - 1];
      if (midLine && last) lines[lines.length - 1] = { text: last.text, ending: '' };
      pieces.push({
        ...(envelope ? { envelope } : {}),
        lines,
        bytes: building.bytes,
        counted: true,
        from: 0,
      });
      for (const t of building.tentative)
        building.notices.push({
          at: t.at,
          lineNumber: t.lineNumber,
          text: t.text,
          reason: 'inside the body its Content-Length counts',
        });
      building.notices = building.notices.filter((n) => n.at < at);
    } else {
      let start = 0;
      let pieceEnvelope = envelope;
      let bytesBefore = 0;
      for (const split of building.tentative) {
        pieces.push({
          ...(pieceEnvelope ? { envelope: pieceEnvelope } : {}),
          lines: building.lines.slice(start, split.at),
          bytes: split.bytesBefore - bytesBefore,
          counted: false,
          from: start,
        });
        start = split.at + 1;
        pieceEnvelope = split.envelope;
        bytesBefore = split.bytesBefore;
      }
      pieces.push({
        ...(pieceEnvelope ? { envelope: pieceEnvelope } : {}),
        lines: building.lines.slice(start),
        bytes: building.bytes - bytesBefore,
        counted: false,
        from: start,
      });
    }
    for (const [index, piece] of pieces.entries()) {
      position += 1;
      const next = pieces[index + 1]?.from ?? Number.POSITIVE_INFINITY;
      for (const notice of building.notices)
        if (notice.at >= piece.from && notice.at < next)
          yield {
            kind: 'notice',
            position,
            line: notice.lineNumber,
            text: notice.text,
            reason: notice.reason,
          };
      const lines = piece.lines;
      // The empty line before the next envelope line belongs to the mbox, not to the message.
      if (!piece.counted && lines.length > 0 && lines[lines.length - 1]?.text.length === 0) lines.pop();
      const raw = piece.counted
        ? joinLines(lines)
        : joinLines(lines.map((l) => ({ text: unescapeFromLine(l.text), ending: l.ending })));
      if (raw.length === 0 || raw.every((c) => c === 10 || c === 13 || c === 32 || c === 9))
        yield { kind: 'empty', position, sourceBytes: piece.bytes };
      else
        yield {
          kind: 'message',
          raw,
          ...(piece.envelope ? { envelope: piece.envelope } : {}),
          position,
          sourceBytes: piece.bytes,
        };
    }
  }

  /** Counts a body line against the Content-Length; notes where the count ends. */
  function count(building: Building, line: Line) {
    if (!insideCountedBody(building)) return;
    const length = building.contentLength as number;
    // A message without a final line end: the count ends before the line end the writer added.
    if (line.ending !== '' && line.text.length > 0 && building.bodyBytes + line.text.length === length) {
      building.bodyBytes = length;
      building.counted = { at: building.lines.length, midLine: true };
      return;
    }
    building.bodyBytes += lineSize(line);
    if (building.bodyBytes === length) building.counted = { at: building.lines.length, midLine: false };
    else if (building.bodyBytes > length) building.lengthBroken = true;
  }

  function add(building: Building, line: Line) {
    building.bytes += lineSize(line);
    building.lines.push(line);
    if (building.inHeader) {
      if (line.text.length === 0) {
        building.inHeader = false;
        building.openBoundary = topLevelBoundary(building.lines);
        if (building.contentLength === 0) building.counted = { at: building.lines.length, midLine: false };
      } else if (
        !options.escapedMboxrd &&
        building.contentLength === undefined &&
        (line.text[0] === 67 || line.text[0] === 99)
      ) {
        const m = line.text.toString('latin1').match(/^Content-Length:\s*(\d{1,12})\s*$/i);
        if (m) building.contentLength = Number(m[1]);
      }
      return;
    }
    if (
      building.openBoundary !== undefined &&
      line.text[0] === 45 &&
      line.text.toString('latin1').trimEnd() === `--${building.openBoundary}--`
    )
      building.openBoundary = undefined;
    count(building, line);
  }

  function* startMessage(envelope: EnvelopeLine, line: Line): Generator<MboxEntry> {
    if (current && insideCountedBody(current)) {
      current.tentative.push({
        at: current.lines.length,
        envelope,
        bytesBefore: current.bytes,
        lineNumber,
        text: shown(line.text),
      });
      add(current, line);
      return;
    }
    if (current) yield* finish(current);
    current = fresh(envelope, lineSize(line));
  }

  /** A `From ` line: a separator, or a body line (reported when it had a date). */
  function* fromLine(text: Buffer, line: Line, next: Line | undefined): Generator<MboxEntry> {
    const envelope = parseEnvelopeLine(text.toString('latin1')) as EnvelopeLine;
    if (options.escapedMboxrd) {
      yield* startMessage(envelope, line);
      return;
    }
    const building = current;
    // After the counted end of a message: the next message, whatever follows.
    if (building && lengthHolds(building)) {
      yield* startMessage(envelope, line);
      return;
    }
    const headerFollows = next !== undefined && startsWithHeaderField(next.text);
    const dated = envelope.date !== undefined;
    if (!building) {
      // A file that is nothing but an envelope line: an empty message, said so.
      if (headerFollows || next === undefined) yield* startMessage(envelope, line);
      else {
        current = fresh(undefined, 0);
        add(current, line);
      }
      return;
    }
    let reason: string | undefined;
    if (!headerFollows) reason = 'no header field follows it';
    else if (previousBlank) {
      yield* startMessage(envelope, line);
      return;
    } else if (building.openBoundary !== undefined)
      reason = 'it follows a non-empty line inside a MIME multipart body whose closing boundary has not come';
    else if (dated) {
      yield* startMessage(envelope, line);
      return;
    }
    if (dated && reason)
      building.notices.push({ at: building.lines.length, lineNumber, text: shown(line.text), reason });
    add(building, line);
  }

  function* take(line: Line, next: Line | undefined): Generator<MboxEntry> {
    lineNumber += 1;
    // A byte order mark before the first envelope line belongs to the file, not to a message.
    const bom = lineNumber === 1 && isFromLine(line.text.subarray(byteOrderMarkLength(line.text)));
    const text = bom ? line.text.subarray(byteOrderMarkLength(line.text)) : line.text;
    const building = current;
    if (building && lengthHolds(building) && !isFromLine(text)) {
      // Between a counted end and the next envelope line (or the end of the file): one empty line, or none after a
      // message that had no final line end. Anything else: the count was wrong.
      const since = building.lines.length - (building.counted?.at ?? 0);
      if (text.length === 0 && building.counted?.midLine === false && since === 0) {
        building.bytes += lineSize(line);
        building.lines.push(line);
        previousBlank = true;
        return;
      }
      building.lengthBroken = true;
    }
    if (isFromLine(text)) yield* fromLine(text, line, next);
    else {
      current ??= fresh(undefined, 0);
      add(current, line);
    }
    previousBlank = line.text.length === 0;
  }

  let pending: Line | undefined;
  for await (const line of readLines(source)) {
    if (pending) yield* take(pending, line);
    pending = line;
  }
  if (pending) yield* take(pending, undefined);
  if (current) yield* finish(current);
}

/** Whether bytes begin like an mbox: (a byte order mark, then) a `From ` line followed by a header field. */
export function startsLikeMbox(head: Buffer): boolean {
  const lines = splitLines(head.subarray(byteOrderMarkLength(head)));
  const first = lines.next();
  if (first.done || !isFromLine(first.value.text) || first.value.ending === '') return false;
  const second = lines.next();
  return !second.done && startsWithHeaderField(second.value.text);
}
