// One canary run: judge the previous canary by what its trail shows now, then send the next one. The same run
// serves the scheduled canary function (SES, the index table) and the local stack (SMTP listener, DynamoDB Local).
// The record of the last canary lives in the raw-mail bucket (CANARY_RECORD_KEY), like the reconcile report.
import { randomBytes } from 'node:crypto';
import { readObject } from '../archive/raw-object';
import type { ArchiverConfig } from '../config';
import { errorMessage } from '../errors';
import { CANARY_RECORD_KEY } from '../index/schema';
import { addressDomain } from '../mail/address';
import type { DeliveryIndex, MailSender, RawMailStore } from '../ports';
import { sleep } from '../retry/backoff';
import { type CanaryTrail, type CanaryVerdict, canaryAlarms, describeCanary, judgeCanary } from './canary';
import { isThisCanary, type SentCanary } from './canary-trail';
import { canaryAddress } from './config';

/** What the last run left for the next: the canary it sent (reports/canary.json). */
export interface CanaryRecord {
  /**
   * The Message-ID field's value the canary was written with, angle brackets included (SES replaces it on the
   * way: canary-trail.ts isThisCanary knows the canary by the SES message id and the Subject too).
   */
  messageId: string;
  trail: CanaryTrail;
  /** The verdict on the canary before it, as the run that sent this one judged it. */
  previous?: { trail: CanaryTrail; verdict: CanaryVerdict };
}

export interface CanaryRunDeps {
  config: ArchiverConfig;
  /** The raw-mail bucket's store: the canary record is read and written there. */
  store: RawMailStore;
  bucket: string;
  /** Where an archived canary is found: rows of the canary mailbox, newest received first. */
  index: Pick<DeliveryIndex, 'listDeliveries'>;
  /** SES (or the local SMTP listener): the canary is sent from and to the canary address. */
  sender: MailSender;
  /**
   * When a canary is not indexed: when its raw object was stored (S3 LastModified), if one that is this canary
   * (canary-trail.ts isThisCanary) was stored since `since`; undefined when none was. Absent: the trail says
   * nothing of S3 before the index. canary-trail.ts storedCanaryFinder is the one over a raw-mail store.
   */
  findStored?: (canary: SentCanary, since: Date) => Promise<string | undefined>;
  /** Calls the ping URL (a GET; throws when it cannot be reached or answers an error status). */
  ping?: (url: string) => Promise<void>;
  now?: () => Date;
}

export interface CanaryRunResult {
  /** The verdict on the previous canary (absent on the first run). */
  judged?: { trail: CanaryTrail; verdict: CanaryVerdict; alarms: boolean; line: string };
  /** The canary sent by this run. */
  sent: CanaryTrail;
  /** The Message-ID the canary sent by this run was written with. */
  sentMessageId: string;
  /** Why the record found was not a canary record (it was replaced by this run's). */
  replacedRecord?: string;
  /** The ping after an on-time round trip: 'ok', or why it failed (logged and counted, never fatal). */
  ping?: 'ok' | { failed: string };
}

/** The canary's bytes: a small plain-text message, CRLF line ends, its id in the Message-ID and the Subject. */
export function canaryMessage(address: string, id: string, date: Date): { messageId: string; raw: Buffer } {
  const messageId = `<${id}@${addressDomain(address)}>`;
  const lines = [
    `From: mail-archiver canary <${address}>`,
    `To: ${address}`,
    `Subject: mail-archiver canary ${id}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Auto-Submitted: auto-generated',
    '',
    'This message tests that mail to this domain is received and archived. It is kept in a mailbox',
    'of its own, never forwarded. See docs/operations.md.',
    '',
  ];
  return { messageId, raw: Buffer.from(lines.join('\r\n'), 'ascii') };
}

const canaryId = (now: Date) =>
  `canary-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`;

/** The canary record is there but is not one (not JSON, or missing its fields): the run replaces it. */
export class CanaryRecordError extends Error {
  override name = 'CanaryRecordError';
}

/**
 * The canary record (reports/canary.json), or undefined when no canary has run.
 * @throws CanaryRecordError when the object is not a canary record; what the store throws
 */
export async function readCanaryRecord(
  store: RawMailStore,
  bucket: string,
): Promise<CanaryRecord | undefined> {
  const location = { bucket, key: CANARY_RECORD_KEY };
  if (!(await store.exists(location))) return undefined;
  const text = (await readObject(store, location)).toString('utf8');
  let record: Partial<CanaryRecord> | undefined;
  try {
    record = JSON.parse(text) as Partial<CanaryRecord>;
  } catch (error) {
    throw new CanaryRecordError(`${CANARY_RECORD_KEY} is not JSON`, { cause: error });
  }
  if (
    typeof record?.messageId !== 'string' ||
    typeof record.trail?.id !== 'string' ||
    typeof record.trail.sentAt !== 'string'
  ) {
    throw new CanaryRecordError(
      `${CANARY_RECORD_KEY} is not a canary record (messageId, trail.id, trail.sentAt)`,
    );
  }
  return record as CanaryRecord;
}

/**
 * A canary's trail as the archive shows it now: its index row, else (unless `searchStore` is false) its raw object.
 */
async function followTrail(
  deps: CanaryRunDeps,
  record: Pick<CanaryRecord, 'messageId' | 'trail'>,
  mailbox: string,
  searchStore = true,
): Promise<CanaryTrail> {
  const trail: CanaryTrail = { ...record.trail };
  if (trail.sesMessageId === undefined) return trail;
  const since = Date.parse(trail.sentAt);
  // Newest first: stop at rows received before the canary was sent (its row cannot be older than that, give or
  // take a clock: a minute of slack).
  const canary: SentCanary = {
    messageId: record.messageId,
    id: trail.id,
    sesMessageId: trail.sesMessageId,
  };
  for await (const row of deps.index.listDeliveries(mailbox)) {
    if (Date.parse(row.receivedAt) < since - 60_000) break;
    if (isThisCanary(canary, row)) {
      return { ...trail, storedAt: row.receivedAt, indexedAt: row.receivedAt };
    }
  }
  if (!searchStore) return trail;
  const storedAt = await deps.findStored?.(canary, new Date(since - 60_000));
  return storedAt ? { ...trail, storedAt } : trail;
}

/**
 * Judges the previous canary (if any), sends the next, records it. A send SES refuses is recorded (the next run
 * reports it as not sent) and not thrown; the ping's failure is returned, not thrown. Throws what the store or
 * the index throw.
 */
export async function runCanary(deps: CanaryRunDeps): Promise<CanaryRunResult> {
  const now = deps.now ?? (() => new Date());
  const address = canaryAddress(deps.config);
  const window = { windowSeconds: deps.config.health.canary.windowMinutes * 60 };
  const result: Partial<CanaryRunResult> = {};
  let record: CanaryRecord | undefined;
  try {
    record = await readCanaryRecord(deps.store, deps.bucket);
  } catch (error) {
    // A damaged record would otherwise fail every run: it is replaced by this run's, and said.
    if (!(error instanceof CanaryRecordError)) throw error;
    result.replacedRecord = error.message;
  }
  let judged: CanaryRecord['previous'];
  if (record) {
    const trail = await followTrail(deps, record, address);
    const verdict = judgeCanary(trail, window, now());
    judged = { trail, verdict };
    result.judged = {
      trail,
      verdict,
      alarms: canaryAlarms(verdict),
      line: describeCanary(trail, verdict, window),
    };
    const url = deps.config.health.canary.pingUrl;
    if (url && verdict.outcome === 'on-time' && deps.ping) {
      try {
        await deps.ping(url);
        result.ping = 'ok';
      } catch (error) {
        result.ping = { failed: errorMessage(error) };
      }
    }
  }
  const sentAt = now();
  const id = canaryId(sentAt);
  const { messageId, raw } = canaryMessage(address, id, sentAt);
  const sent: CanaryTrail = { id, sentAt: sentAt.toISOString() };
  try {
    sent.sesMessageId = (await deps.sender.send({ from: address, to: address, raw })).messageId;
  } catch (error) {
    sent.sendError = errorMessage(error);
  }
  const next: CanaryRecord = { messageId, trail: sent, ...(judged ? { previous: judged } : {}) };
  await deps.store.write({ bucket: deps.bucket, key: CANARY_RECORD_KEY }, Buffer.from(JSON.stringify(next)), {
    contentType: 'application/json',
  });
  return { ...result, sent, sentMessageId: messageId };
}

/** A canary followed now, from sending until archived or given up on. */
export interface CanaryRoundTrip {
  trail: CanaryTrail;
  verdict: CanaryVerdict;
  /** describeCanary's line. */
  line: string;
}

/**
 * One canary round trip now (the local stack's `doctor`): a run (which judges the previous canary and sends the
 * next), then the new canary's trail every `pollMs` until it is indexed or `waitMs` passed, judged with `waitMs`
 * as its window (the raw objects are searched once, at the end, when it is not indexed), and recorded as the
 * round trip last judged. Throws what runCanary throws.
 */
export async function canaryRoundTrip(
  deps: CanaryRunDeps,
  options: { waitMs: number; pollMs?: number },
): Promise<CanaryRoundTrip> {
  const now = deps.now ?? (() => new Date());
  const run = await runCanary(deps);
  const record = { messageId: run.sentMessageId, trail: run.sent };
  const address = canaryAddress(deps.config);
  const window = { windowSeconds: options.waitMs / 1000 };
  let trail = run.sent;
  if (trail.sesMessageId !== undefined) {
    const deadline = Date.now() + options.waitMs;
    for (;;) {
      trail = await followTrail(deps, record, address, false);
      if (trail.indexedAt !== undefined || Date.now() >= deadline) break;
      await sleep(options.pollMs ?? 200);
    }
    if (trail.indexedAt === undefined) trail = await followTrail(deps, record, address);
  }
  // Judged once the window has closed: a canary not indexed by then is lost, not pending.
  const at = new Date(Math.max(now().getTime(), Date.parse(trail.sentAt) + options.waitMs + 1));
  const verdict = judgeCanary(trail, window, at);
  // Recorded as the round trip last judged, so the health view shown right after (doctor prints it) is this
  // canary's and not the one before. The next run judges the same canary again, by its trail then.
  const next: CanaryRecord = { ...record, previous: { trail, verdict } };
  await deps.store.write({ bucket: deps.bucket, key: CANARY_RECORD_KEY }, Buffer.from(JSON.stringify(next)), {
    contentType: 'application/json',
  });
  return { trail, verdict, line: describeCanary(trail, verdict, window) };
}
