// The canary's verdict: what the trail of one canary (a small message the canary function sent through SES to the
// archive's own reserved address) says about the receiving path. Pure: the canary function (AWS) and `doctor` /
// `send-test` (local stack) gather the trail through their own adapters and judge it here, so both explain a
// broken path in the same words.

/**
 * What was seen of one canary, step by step along the path it travels: SES sending, then (through DNS MX, SES
 * receiving and the active receipt rule) the raw object in S3, then (the S3 notification, ingest) the index row.
 * Times are ISO 8601 UTC.
 */
export interface CanaryTrail {
  /** The canary's id: the local part of its Message-ID, also in its Subject. */
  id: string;
  /** When the canary was handed to SES. */
  sentAt: string;
  /** SES's message id of the send; absent when SES refused it. */
  sesMessageId?: string;
  /** Why SES refused the send (its error's name and message), when it did. */
  sendError?: string;
  /** When the received copy was stored (the raw object's LastModified), once found. */
  storedAt?: string;
  /** When it was archived (the delivery's index row), once found. */
  indexedAt?: string;
}

/** How long a canary may take, sent to indexed, before it counts as late (the window), in seconds. */
export interface CanaryWindow {
  windowSeconds: number;
}

/**
 * The verdict on one canary:
 * - `on-time`: indexed within the window; `latencySeconds` is sent to indexed (or stored, when the index row
 *   carries no time of its own).
 * - `late`: indexed, but after the window.
 * - `pending`: not indexed yet and the window is still open (judge it on the next run).
 * - `not-sent`: SES refused to send it (`reason`): sending is broken, the receiving path was not tested.
 * - `not-stored`: SES sent it, nothing was stored when the window closed: DNS MX, SES receiving, the receipt rule
 *   set or the domain's verification.
 * - `not-indexed`: stored but not indexed when the window closed: the S3 notification, the ingest queue, ingest.
 */
export type CanaryVerdict =
  | { outcome: 'on-time'; latencySeconds: number }
  | { outcome: 'late'; latencySeconds: number }
  | { outcome: 'pending' }
  | { outcome: 'not-sent'; reason: string }
  | { outcome: 'not-stored' }
  | { outcome: 'not-indexed' };

const seconds = (from: string, to: string) => Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);

/**
 * Judges one canary's trail at `now`. A time that is not ISO 8601 is a programming error: throws RangeError.
 */
export function judgeCanary(trail: CanaryTrail, window: CanaryWindow, now: Date): CanaryVerdict {
  for (const [field, value] of Object.entries({
    sentAt: trail.sentAt,
    storedAt: trail.storedAt,
    indexedAt: trail.indexedAt,
  })) {
    if (value !== undefined && Number.isNaN(Date.parse(value))) {
      throw new RangeError(`canary ${trail.id}: ${field} is not a time: ${value}`);
    }
  }
  if (trail.sesMessageId === undefined) {
    return { outcome: 'not-sent', reason: trail.sendError ?? 'no SES message id recorded' };
  }
  const archivedAt = trail.indexedAt;
  if (archivedAt !== undefined) {
    const latencySeconds = seconds(trail.sentAt, archivedAt);
    return { outcome: latencySeconds <= window.windowSeconds ? 'on-time' : 'late', latencySeconds };
  }
  if (seconds(trail.sentAt, now.toISOString()) <= window.windowSeconds) return { outcome: 'pending' };
  return trail.storedAt === undefined ? { outcome: 'not-stored' } : { outcome: 'not-indexed' };
}

/** Whether a verdict alarms: everything but a canary on time or still within its window. */
export const canaryAlarms = (verdict: CanaryVerdict) =>
  verdict.outcome !== 'on-time' && verdict.outcome !== 'pending';

/** One line for the operator: what the verdict means and where to look (the alarm's log line, `doctor`). */
export function describeCanary(trail: CanaryTrail, verdict: CanaryVerdict, window: CanaryWindow): string {
  const minutes = (s: number) => `${Math.round(s / 6) / 10} min`;
  const of = `canary ${trail.id} sent ${trail.sentAt}`;
  switch (verdict.outcome) {
    case 'on-time':
      return `${of}: archived after ${minutes(verdict.latencySeconds)}`;
    case 'late':
      return `${of}: archived, but after ${minutes(verdict.latencySeconds)} (the window is ${minutes(window.windowSeconds)}): mail is slow somewhere between SES receiving and the index`;
    case 'pending':
      return `${of}: not archived yet, within its window of ${minutes(window.windowSeconds)}`;
    case 'not-sent':
      return `${of}: SES refused to send it (${verdict.reason}): check SES sending in the region (sandbox, a paused account, the canary address's identity); receiving was not tested`;
    case 'not-stored':
      return `${of}: SES sent it, but nothing was stored within ${minutes(window.windowSeconds)}: check the domain's MX records, SES receiving in the region, the active receipt rule set and the domain's verification (mail-archiver doctor --target aws)`;
    case 'not-indexed':
      return `${of}: stored in S3 at ${trail.storedAt}, but not indexed within ${minutes(window.windowSeconds)}: check the S3 notification, the ingest queue and its dead letters (mail-archiver status, then redrive)`;
  }
}
