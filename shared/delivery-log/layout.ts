// Where the delivery log lives in the archive's bucket, and how a reader walks it. The one place that builds or
// reads a log object's key.
//
//   delivery-log/<YYYY-MM-DD>/<HHMMSS.mmm>Z-<writer>-<unique>.jsonl     one object per Lambda invocation or batch
//
// The time is the writer's clock (UTC) taken just before the object is put, so keys sort in time order (S3 lists
// keys in UTF-8 binary order: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html), and a
// reader resumes with ListObjectsV2 StartAfter. A slow writer (a put retried, a clock a little behind) can put a
// key that sorts before keys a reader has already passed: readers look back LOOK_BACK_MS behind their cursor and
// read every key there they have not read before (readDeliveryLog in log.ts).

import { DELIVERY_LOG_PREFIX } from '../index/schema';

export { DELIVERY_LOG_PREFIX };

/** Who wrote a log object (part of its key, for a person reading a listing; readers do not depend on it). */
export type LogWriter = 'ingest' | 'import' | 'gmail-sent' | 'reindex';
const WRITERS: readonly LogWriter[] = ['ingest', 'import', 'gmail-sent', 'reindex'];

/**
 * How far behind its cursor a reader looks again, in milliseconds: 15 minutes. A key is taken right before its
 * put, so a key shows up late by the put's duration plus clock skew; the put is bounded by the writer's own
 * limits (a Lambda stops at its timeout, 15 minutes at most; our writers abort a put after PUT_TIMEOUT_MS and
 * retry under a new key). Clocks are NTP-synchronised (Lambda) or the one machine's (local).
 */
export const LOOK_BACK_MS = 15 * 60 * 1000;

/** A writer gives up on one put after this long and puts the batch again under a new key (time taken anew). */
export const PUT_TIMEOUT_MS = 2 * 60 * 1000;

/** The time part of a key: `YYYY-MM-DD/HHMMSS.mmmZ` (fixed width for years 0000-9999). */
function timePart(at: Date): string {
  const iso = at.toISOString(); // 2026-11-21T10:15:02.123Z
  if (iso.length !== 24) throw new RangeError(`a delivery log time must be in years 0000-9999: ${iso}`);
  return `${iso.slice(0, 10)}/${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 23)}Z`;
}

/**
 * The key of a new log object written at `at` by `writer`; `unique` (letters, digits, `_`, `-`) keeps two
 * objects of the same millisecond apart (a Lambda request id, random hex).
 */
export function logObjectKey(at: Date, writer: LogWriter, unique: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(unique)) throw new Error(`unsafe log object id ${JSON.stringify(unique)}`);
  return `${DELIVERY_LOG_PREFIX}${timePart(at)}-${writer}-${unique}.jsonl`;
}

const KEY_PATTERN = new RegExp(
  `^delivery-log/(\\d{4}-\\d{2}-\\d{2})/(\\d{2})(\\d{2})(\\d{2}\\.\\d{3})Z-(${WRITERS.join('|')})-[A-Za-z0-9_-]+\\.jsonl$`,
);

/** The time and writer of a log object's key; undefined for a key that is not one (a stray object). */
export function parseLogObjectKey(key: string): { at: Date; writer: LogWriter } | undefined {
  const match = KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const [, day, hh, mm, ss, writer] = match;
  const at = new Date(`${day}T${hh}:${mm}:${ss}Z`);
  if (Number.isNaN(at.getTime())) return undefined;
  return { at, writer: writer as LogWriter };
}

/**
 * The StartAfter of a listing that returns every key written at `at` or later: the bare time part sorts just
 * before any key of that millisecond (whose next character is `-`).
 */
export function startAfterTime(at: Date): string {
  return `${DELIVERY_LOG_PREFIX}${timePart(at)}`;
}

/**
 * Where a reader stands: every log object whose key sorts at or before `after` was read, and so was every key
 * in `seen` (the keys after `after`, inside the look-back window). A new reader starts from {@link LOG_START}.
 */
export interface LogCursor {
  /** A StartAfter value: a key, or a time prefix from startAfterTime. */
  after: string;
  /** Keys read that sort after `after`, sorted. */
  seen: string[];
}

/** The cursor of a reader that has read nothing: the whole log lies ahead. */
export const LOG_START: LogCursor = { after: DELIVERY_LOG_PREFIX, seen: [] };

/**
 * The cursor after reading `read` (keys, in any order) from `cursor`: `after` moves up to LOOK_BACK_MS behind
 * the newest key read (never back), and `seen` keeps the keys read that sort after it. A key that shows up later
 * in that window is read then; one later still than the look-back is missed, which is why the look-back is
 * longer than any writer takes (see LOOK_BACK_MS).
 */
export function advanceCursor(
  cursor: LogCursor,
  read: Iterable<string>,
  lookBackMs = LOOK_BACK_MS,
): LogCursor {
  const keys = new Set([...cursor.seen, ...read]);
  let newest: Date | undefined;
  for (const key of keys) {
    const at = parseLogObjectKey(key)?.at;
    if (at && (!newest || at > newest)) newest = at;
  }
  let after = cursor.after;
  if (newest) {
    const candidate = startAfterTime(new Date(newest.getTime() - lookBackMs));
    if (candidate > after) after = candidate;
  }
  return { after, seen: [...keys].filter((k) => k > after).sort() };
}
