// Reading mbox files as they exist in the wild (mboxo, mboxrd, mboxcl, mboxcl2; Google Takeout, Thunderbird,
// mutt, classic Mac OS with CR line ends, mailing-list archives), by the one line rule of shared/mail/lines.ts.
//
// A separator is a `From ` line that (a) starts the file or follows an empty line, (b) parses as an envelope
// line (a sender, then an asctime date: see parseEnvelopeLine) and (c) is followed by a header field. Any other
// `From ` line is body text: mboxo and mboxcl writers leave `From my point of view` in bodies unescaped.
// When a message has a `Content-Length` field (mboxcl, mboxcl2) and exactly that many body bytes are followed
// by the end of the file or by a separator, the message ends there, whatever `From ` lines its body contains;
// when the count does not fit, the separator rule decides. `>From ` escaping (mboxrd: `>*From `) is undone by
// removing one `>`. Source: the mbox(5) man pages of qmail and mutt, and Jamie Zawinski's "mbox" notes.

import { isPlaceholderDate, parseAsctime } from '../mail/dates';
import { joinLines, type Line, readLines, startsWithHeaderField } from '../mail/lines';

export interface EnvelopeLine {
  /** The envelope sender as written (`MAILER-DAEMON`, `-` from Thunderbird, `1802...@xxx` from Takeout). */
  sender: string;
  date: Date;
  /** The date is the Unix epoch a writer puts where it had no date: not evidence of anything. */
  placeholder: boolean;
}

/**
 * Parses `From <sender> <date>`: the date in asctime form (`Thu Jan  1 00:00:00 1970`), optionally with a zone
 * after the time (Takeout: `Sat Jun 07 14:02:11 +0000 2025`) or after the year, and an optional trailing
 * `remote from <host>` (UUCP). Returns undefined when the line is not an envelope line.
 */
export function parseEnvelopeLine(line: string): EnvelopeLine | undefined {
  if (!line.startsWith('From ')) return undefined;
  const rest = line.slice(5).replace(/\s+remote from \S+\s*$/, '');
  // The sender is everything before the weekday (or month) that starts the date; it may be empty.
  const m = rest.match(
    /^(.*?)\s+((?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{1,2}:\d{2}.*)$/i,
  );
  const dateText = m ? m[2] : rest.trim();
  const sender = m ? (m[1] as string).trim() : '';
  const date = dateText ? parseAsctime(dateText.trim()) : undefined;
  if (!date) return undefined;
  return { sender, date, placeholder: isPlaceholderDate(date) };
}

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

export type MboxEntry = MboxMessage | MboxEmpty;

const isFromLine = (text: Buffer) =>
  text.length >= 5 && text[0] === 70 && text[1] === 114 && text.toString('latin1', 0, 5) === 'From ';

function envelopeOf(text: Buffer): EnvelopeLine | undefined {
  return isFromLine(text) ? parseEnvelopeLine(text.toString('latin1')) : undefined;
}

/** mboxrd/mboxo: `>From ` -> `From `, `>>From ` -> `>From `. */
export function unescapeFromLine(text: Buffer): Buffer {
  if (text[0] !== 62) return text;
  let i = 0;
  while (text[i] === 62) i += 1;
  return text.toString('latin1', i, i + 5) === 'From ' ? text.subarray(1) : text;
}

interface Building {
  envelope?: EnvelopeLine;
  lines: Line[];
  bytes: number;
  inHeader: boolean;
  contentLength?: number;
  bodyBytes: number;
  /** Index into `lines` where exactly Content-Length body bytes end, once reached. */
  lengthEnd?: number;
  /** Text followed the counted body: the Content-Length was wrong. */
  lengthBroken: boolean;
  /** Separators seen inside the counted body: they split the message if the count turns out wrong. */
  tentative: { at: number; envelope: EnvelopeLine; bytesBefore: number }[];
}

/**
 * The messages of an mbox, streamed. `source` yields the file's bytes in order. A file that does not start with
 * an envelope line still gives its content as one message (the caller decides whether that is mail).
 */
/**
 * With `escapedMboxrd` (a file this archiver wrote: every body `>*From ` line escaped), every `From ` line that
 * parses as an envelope line is a separator, whatever follows it.
 */
export async function* readMboxMessages(
  source: AsyncIterable<Uint8Array>,
  options: { escapedMboxrd?: boolean } = {},
): AsyncGenerator<MboxEntry> {
  let position = 0;
  let current: Building | undefined;
  /** A `From ` line that may be a separator, waiting for the next line to show whether a header follows. */
  let candidate: { line: Line; envelope: EnvelopeLine } | undefined;
  let previousBlank = true; // the file's start counts as following an empty line

  const fresh = (envelope: EnvelopeLine | undefined, bytes: number): Building => ({
    ...(envelope ? { envelope } : {}),
    lines: [],
    bytes,
    inHeader: true,
    bodyBytes: 0,
    lengthBroken: false,
    tentative: [],
  });
  const lengthHolds = (b: Building) => b.lengthEnd !== undefined && !b.lengthBroken;

  function* finish(building: Building): Generator<MboxEntry> {
    const lengthHeld = lengthHolds(building);
    const pieces: { envelope?: EnvelopeLine; lines: Line[]; bytes: number }[] = [];
    if (lengthHeld || building.tentative.length === 0) {
      pieces.push({
        ...(building.envelope ? { envelope: building.envelope } : {}),
        lines: building.lines,
        bytes: building.bytes,
      });
    } else {
      // The Content-Length did not fit: the separators inside the counted body were separators after all.
      let start = 0;
      let envelope = building.envelope;
      let bytesBefore = 0;
      for (const split of building.tentative) {
        pieces.push({
          ...(envelope ? { envelope } : {}),
          lines: building.lines.slice(start, split.at),
          bytes: split.bytesBefore - bytesBefore,
        });
        start = split.at + 1;
        envelope = split.envelope;
        bytesBefore = split.bytesBefore;
      }
      pieces.push({
        ...(envelope ? { envelope } : {}),
        lines: building.lines.slice(start),
        bytes: building.bytes - bytesBefore,
      });
    }
    for (const piece of pieces) {
      position += 1;
      const lines = piece.lines;
      // The empty line before the next envelope line belongs to the mbox, not to the message.
      if (lines.length > 0 && lines[lines.length - 1]?.text.length === 0) lines.pop();
      const raw = joinLines(lines.map((l) => ({ text: unescapeFromLine(l.text), ending: l.ending })));
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

  function add(building: Building, line: Line) {
    const size = line.text.length + line.ending.length;
    building.bytes += size;
    if (building.inHeader) {
      building.lines.push(line);
      if (line.text.length === 0) {
        building.inHeader = false;
        if (building.contentLength === 0) building.lengthEnd = building.lines.length;
      } else if (!options.escapedMboxrd && (line.text[0] === 67 || line.text[0] === 99)) {
        const m = line.text.toString('latin1').match(/^Content-Length:\s*(\d{1,12})\s*$/i);
        if (m) building.contentLength = Number(m[1]);
      }
      return;
    }
    building.lines.push(line);
    if (
      building.lengthEnd !== undefined &&
      building.lines.length > building.lengthEnd &&
      line.text.length > 0
    )
      building.lengthBroken = true;
    if (building.contentLength !== undefined && building.lengthEnd === undefined) {
      building.bodyBytes += size;
      if (building.bodyBytes === building.contentLength) building.lengthEnd = building.lines.length;
    }
  }

  /** Whether a separator candidate may end the message being built (false: it is inside a counted body). */
  function insideCountedBody(building: Building): boolean {
    return (
      building.contentLength !== undefined &&
      !building.inHeader &&
      (building.lengthEnd === undefined || building.lines.length < building.lengthEnd) &&
      building.bodyBytes < building.contentLength
    );
  }

  function* startMessage(envelope: EnvelopeLine, line: Line): Generator<MboxEntry> {
    const size = line.text.length + line.ending.length;
    if (current && insideCountedBody(current)) {
      current.tentative.push({ at: current.lines.length, envelope, bytesBefore: current.bytes });
      current.lines.push(line);
      current.bytes += size;
      current.bodyBytes += size;
      if (current.bodyBytes === current.contentLength) current.lengthEnd = current.lines.length;
      return;
    }
    if (current) yield* finish(current);
    current = fresh(envelope, size);
  }

  function bodyLine(line: Line): void {
    if (!current) current = fresh(undefined, 0);
    add(current, line);
  }

  for await (const line of readLines(source)) {
    if (candidate) {
      const pending = candidate;
      candidate = undefined;
      if (startsWithHeaderField(line.text)) {
        yield* startMessage(pending.envelope, pending.line);
      } else {
        bodyLine(pending.line);
      }
    }
    const atCountedEnd = current !== undefined && lengthHolds(current);
    const envelope =
      previousBlank || atCountedEnd || options.escapedMboxrd ? envelopeOf(line.text) : undefined;
    if (envelope && options.escapedMboxrd) yield* startMessage(envelope, line);
    else if (envelope) candidate = { line, envelope };
    else bodyLine(line);
    previousBlank = line.text.length === 0;
  }
  if (candidate) {
    // A separator needs a header after it; at the end of the file this is the last line of a body, except
    // in a file that is nothing but an envelope line.
    if (current) bodyLine(candidate.line);
    else current = fresh(candidate.envelope, candidate.line.text.length + candidate.line.ending.length);
  }
  if (current) yield* finish(current);
}
