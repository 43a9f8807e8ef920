// The mbox envelope line, `From <sender> <date> <moreinfo>` (mbox(5)), as writers really write it: read by the mbox
// reader beside it to tell where a message starts and when it was received.
import { isPlaceholderDate, parseEnvelopeDate } from '../mail/dates';

export interface EnvelopeLine {
  /** The envelope sender as written (`MAILER-DAEMON`, `-` from Thunderbird, `1802...@xxx` from Takeout, `()`). */
  sender: string;
  /** The date, when one of the common forms parses; undefined: unknown (never a reason to refuse the message). */
  date?: Date;
  /** The date is the Unix epoch a writer puts where it had no date: not evidence of anything. */
  placeholder: boolean;
}

/** The sender token of an envelope line: up to whitespace outside quotes; pipermail's `me at host` whole. */
function senderOf(rest: string): { sender: string; after: string } {
  let i = 0;
  let quoted = false;
  for (; i < rest.length; i++) {
    const c = rest[i];
    if (c === '\\') i += 1;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t')) break;
  }
  const sender = rest.slice(0, i);
  const after = rest.slice(i).trimStart();
  const obscured = after.match(/^at\s+(\S+)\s+/);
  if (obscured) return { sender: `${sender} at ${obscured[1]}`, after: after.slice(obscured[0].length) };
  return { sender, after };
}

/**
 * Reads `From <sender> <date> <moreinfo>` (mbox(5)). Undefined only when the line does not start with `From `;
 * otherwise the sender as written and the date when a common form parses (shared/mail/dates.ts
 * parseEnvelopeDate), after the sender or, with no sender, straight after `From `. A trailing `remote from
 * <host>` (UUCP) is ignored.
 */
export function parseEnvelopeLine(line: string): EnvelopeLine | undefined {
  if (!line.startsWith('From ')) return undefined;
  const rest = line
    .slice(5)
    .replace(/\s+remote from \S+\s*$/i, '')
    .trim();
  // No sender when the date starts straight away (mutt's is_from: a weekday, then a month).
  const dateFirst =
    /^(mon|tue|wed|thu|fri|sat|sun)\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\b/i.test(rest);
  const { sender, after } = dateFirst ? { sender: '', after: rest } : senderOf(rest);
  let date = parseEnvelopeDate(after);
  let from = sender;
  if (!date && !dateFirst) {
    date = parseEnvelopeDate(rest);
    if (date) from = '';
  }
  return { sender: from, ...(date ? { date } : {}), placeholder: date ? isPlaceholderDate(date) : false };
}
