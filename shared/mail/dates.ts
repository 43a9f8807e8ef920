// Dates of mail: the RFC 5322 Date field (with section 4.3's obsolete forms), the stamps of Received fields,
// the date of an mbox envelope line, and the one rule that picks a message's received time (its IMAP
// INTERNALDATE) from what a source knew. Every date here is a Date in UTC; none is read in the local zone.

const MONTHS: Readonly<Record<string, number>> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

/** RFC 5322 4.3 obs-zone names, in minutes east of UTC. Military letters are read as -0000 (unknown), as 4.3 says. */
const ZONES: Readonly<Record<string, number>> = {
  ut: 0,
  utc: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
  // Common outside RFC 5322, seen in envelope lines and old Date fields.
  bst: 60,
  cet: 60,
  cest: 120,
  met: 60,
  mest: 120,
  eet: 120,
  eest: 180,
  wet: 0,
  west: 60,
  jst: 540,
  ist: 330,
  hst: -600,
  akst: -540,
  akdt: -480,
};

/** Minutes east of UTC for `+hhmm`, `-hhmm` or a zone name; 0 when unknown (RFC 5322 4.3). */
export function zoneOffsetMinutes(zone: string | undefined): number {
  if (!zone) return 0;
  const numeric = zone.match(/^([+-])(\d{2}):?(\d{2})$/);
  if (numeric) {
    const minutes = Number(numeric[2]) * 60 + Number(numeric[3]);
    return numeric[1] === '-' ? -minutes : minutes;
  }
  return ZONES[zone.toLowerCase()] ?? 0;
}

/**
 * RFC 5322 4.3 obs-year: a two-digit year is 2000+ below 50, 1900+ from 50; a three-digit year is 1900+.
 * Four digits (or more) are taken as written.
 */
export function obsoleteYear(digits: string): number {
  const year = Number(digits);
  if (digits.length === 2) return year < 50 ? 2000 + year : 1900 + year;
  if (digits.length === 3) return 1900 + year;
  return year;
}

export function monthIndex(name: string): number | undefined {
  return MONTHS[name.slice(0, 3).toLowerCase()];
}

/** A UTC Date from calendar fields in a zone; undefined when a field is out of range (e.g. 31 Feb). */
export function utcDate(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  zoneMinutes: number,
): Date | undefined {
  if (month < 0 || month > 11 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return undefined;
  const ms = Date.UTC(year, month, day, hour, minute, Math.min(second, 59));
  const check = new Date(ms);
  // Date.UTC maps years 0-99 to 1900-1999: put the year back as written.
  if (year >= 0 && year < 100) check.setUTCFullYear(year);
  if (check.getUTCDate() !== day) return undefined;
  return new Date(check.getTime() - zoneMinutes * 60_000);
}

/** Strips RFC 5322 comments (`(...)`, nested) and folds whitespace. */
function withoutComments(value: string): string {
  if (!value.includes('(')) return value.replace(/\s+/g, ' ').trim();
  let out = '';
  let depth = 0;
  for (const ch of value) {
    if (ch === '(') depth += 1;
    else if (ch === ')' && depth > 0) depth -= 1;
    else if (depth === 0) out += ch;
  }
  return out.replace(/\s+/g, ' ').trim();
}

const RFC5322_DATE =
  /^(?:[A-Za-z]{2,9}\.? ?,? ?)?(\d{1,2})[ -]([A-Za-z]{3,9})\.?[ -](\d{2,4}),? (\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?: ?([+-]\d{2}:?\d{2}|[A-Za-z]{1,5}))?/;

/**
 * The date of an RFC 5322 `Date:` or `Received:` value, obsolete forms included (obs-year: `102` is 2002, `03` is
 * 2003, `98` is 1998; obs-zone names; comments; a missing seconds field). Also accepts the asctime form
 * (`Tue Jan  1 10:00:00 2002`) that old gateways wrote. Returns undefined when nothing date-like parses.
 */
export function parseMailDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const text = withoutComments(value);
  const m = text.match(RFC5322_DATE);
  if (m) {
    const month = monthIndex(m[2] as string);
    if (month !== undefined) {
      return utcDate(
        obsoleteYear(m[3] as string),
        month,
        Number(m[1]),
        Number(m[4]),
        Number(m[5]),
        Number(m[6] ?? 0),
        zoneOffsetMinutes(m[7]),
      );
    }
  }
  const asctime = parseAsctime(text);
  if (asctime) return asctime;
  // ISO 8601 (some tools write it); only a full date with a time and zone, never local time.
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return new Date(ms);
  }
  return undefined;
}

// Minutes and seconds of one digit too (`00:0:00`): some writers print the fields without padding.
const ASCTIME =
  /^(?:([A-Za-z]{3}) +)?([A-Za-z]{3}) +(\d{1,2}) +(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?: +([+-]\d{4}|[A-Za-z]{1,5}))? +(\d{2,6})(?: +([+-]\d{4}|[A-Za-z]{1,5}))?\b/;

/**
 * asctime as mbox envelope lines write it: `Sat Jun  7 14:02:11 2025` (UTC by convention), with an optional
 * zone after the time (Google Takeout: `Sat Jun 07 14:02:11 +0000 2025`) or after the year. The weekday is not
 * checked against the date (writers get it wrong; the date is what counts).
 */
export function parseAsctime(text: string): Date | undefined {
  const m = text.match(ASCTIME);
  if (!m) return undefined;
  const month = monthIndex(m[2] as string);
  if (month === undefined) return undefined;
  return utcDate(
    obsoleteYear(m[8] as string),
    month,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6] ?? 0),
    zoneOffsetMinutes(m[7] ?? m[9]),
  );
}

/** The date of one `Received:` value: after its last `;` (RFC 5321 4.4), or undefined. */
function receivedStamp(value: string): Date | undefined {
  const semicolon = value.lastIndexOf(';');
  return semicolon < 0 ? undefined : parseMailDate(value.slice(semicolon + 1));
}

/** The date of each `Received:` value (after its last `;`, RFC 5321 4.4); unparseable stamps are skipped. */
export function receivedStamps(values: readonly string[]): Date[] {
  const out: Date[] = [];
  for (const value of values) {
    const date = receivedStamp(value);
    if (date) out.push(date);
  }
  return out;
}

/**
 * A `Received:` field that a program fetching mail from a server wrote on top of the message when it fetched it:
 * getmail (`... with IMAP4 getmail6 msgid:...`, getmailcore/message.py) and fetchmail (`(fetchmail-6.4.37)`).
 * Its stamp is when the copy was fetched, not when the server received the message.
 */
export function isFetcherReceived(value: string): boolean {
  return /\bgetmail6?\b|\(fetchmail-\d/i.test(value);
}

/**
 * The stamps of a message's `Received:` values (header order), without those a fetching program added
 * ({@link isFetcherReceived}); `fetchedAt` is the newest stamp of those, when there was one.
 */
export function readReceivedFields(values: readonly string[]): { stamps: Date[]; fetchedAt?: Date } {
  const stamps: Date[] = [];
  let fetchedAt: Date | undefined;
  for (const value of values) {
    const date = receivedStamp(value);
    if (!date) continue;
    if (!isFetcherReceived(value)) stamps.push(date);
    else if (!fetchedAt || date > fetchedAt) fetchedAt = date;
  }
  return { stamps, ...(fetchedAt ? { fetchedAt } : {}) };
}

const ISO_LIKE =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?: ?(Z|[+-]\d{2}:?\d{2}|UTC|GMT))?\b/i;

/**
 * The date of an mbox envelope line (the text after the sender), in any form writers were seen to use: asctime
 * (`Mon Jan  1 00:00:00 2015`, a zone after the time or the year, minutes or seconds unpadded), the RFC 5322 form
 * (`Mon 1 Jan 2015 00:00:00 +0900`, comma optional), or an ISO 8601-like date and time (`2019-10-02 05:04:34
 * +0000`). A date without a zone is UTC (the mbox convention; a writer that used its local time cannot be told).
 * Trailing text (`remote from`, the "moreinfo" of mbox(5)) is ignored. Undefined when no form parses.
 */
export function parseEnvelopeDate(text: string): Date | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const asctime = parseAsctime(trimmed);
  if (asctime) return asctime;
  const iso = trimmed.match(ISO_LIKE);
  if (iso) {
    const zone = iso[7] && /^(utc|gmt|z)$/i.test(iso[7]) ? undefined : iso[7];
    return utcDate(
      Number(iso[1]),
      Number(iso[2]) - 1,
      Number(iso[3]),
      Number(iso[4]),
      Number(iso[5]),
      Number(iso[6] ?? 0),
      zoneOffsetMinutes(zone),
    );
  }
  return parseMailDate(trimmed);
}

/** Where a received time came from, best first: the order the importer tries them in. */
export type ReceivedTimeSource =
  | 'ses'
  | 'internaldate'
  | 'envelope'
  | 'received'
  | 'date'
  | 'file'
  | 'import';

export interface ReceivedTimeEvidence {
  /** SES's receipt timestamp (mail SES received). */
  ses?: Date;
  /**
   * A maildir file time that is the server's INTERNALDATE (shared/history/maildir-source.ts keepsInternalDate):
   * what the source's IMAP server served as the received time.
   */
  internalDate?: Date;
  /** The mbox envelope line's date; placeholders (the 1970 epoch) are not evidence. */
  envelope?: Date;
  /** Stamps of the message's Received fields. */
  received?: readonly Date[];
  /** The Date field, read with the obsolete-year rules. */
  date?: Date;
  /** The source file's modification time (maildir: Dovecot's and Courier's INTERNALDATE). */
  file?: Date;
}

/** A date an mbox writer put where it had none: the Unix epoch (Jan 1 1970, in any zone). */
export function isPlaceholderDate(date: Date): boolean {
  return Math.abs(date.getTime()) <= 24 * 3600 * 1000;
}

/**
 * A Date field is plausible unless it is a placeholder or lies more than a day after the import (a clock set
 * wrong); dates long ago (1958) and far ahead of the epoch's 32-bit end are fine otherwise.
 */
export function isPlausibleDate(date: Date, now: Date): boolean {
  return !isPlaceholderDate(date) && date.getTime() <= now.getTime() + 24 * 3600 * 1000;
}

/**
 * The received time of a message and where it came from: the SES receipt, else a maildir file time the source
 * kept as the INTERNALDATE, else the envelope line, else the newest Received stamp, else a plausible Date, else
 * the file's time, else the time of the import.
 */
export function chooseReceivedTime(
  evidence: ReceivedTimeEvidence,
  now: Date,
): { receivedAt: Date; source: ReceivedTimeSource } {
  if (evidence.ses) return { receivedAt: evidence.ses, source: 'ses' };
  if (evidence.internalDate) return { receivedAt: evidence.internalDate, source: 'internaldate' };
  if (evidence.envelope && !isPlaceholderDate(evidence.envelope))
    return { receivedAt: evidence.envelope, source: 'envelope' };
  const stamps = (evidence.received ?? []).filter((d) => !isPlaceholderDate(d));
  if (stamps.length > 0) {
    const newest = stamps.reduce((a, b) => (b.getTime() > a.getTime() ? b : a));
    return { receivedAt: newest, source: 'received' };
  }
  if (evidence.date && isPlausibleDate(evidence.date, now))
    return { receivedAt: evidence.date, source: 'date' };
  if (evidence.file) return { receivedAt: evidence.file, source: 'file' };
  return { receivedAt: now, source: 'import' };
}
