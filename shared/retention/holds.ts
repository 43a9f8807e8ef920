// Legal holds: an S3 Object Lock legal hold on every version of the raw message and of the envelope sidecar of each
// message that matches (a mailbox, received between two dates, from an address), recorded in the index with who,
// when, why and how many. A message ingest wrote no sidecar for keeps its envelope in the delivery log
// (shared/archive/logged-envelope.ts): the log objects holding its records with a receipt are held in its place. A held version cannot be deleted, by anyone, retention or not, until the hold is released
// (Amazon S3 User Guide, "How S3 Object Lock works", Legal holds); S3 checks it at the moment of any delete,
// lifecycle's included. A release clears only what no other active hold still covers.
import { randomBytes } from 'node:crypto';
import { LOOK_BACK_MS, parseLogObjectKey, startAfterTime } from '../delivery-log/layout';
import type { DeliveryLog } from '../delivery-log/log';
import { type DeliveryRow, envelopeKey } from '../index/schema';
import { sameAddress } from '../mail/address';
import type { DeliveryIndex, HoldLog, ObjectLocks, ObjectVersion } from '../ports';
import type { HoldCriteria, HoldRecord } from './hold-record';

export type { HoldCriteria, HoldRecord } from './hold-record';

/** No active hold has the id asked for (a typo, or one already released). */
export class HoldNotFoundError extends Error {
  override name = 'HoldNotFoundError';
}

/** A hold that cannot be placed as asked: an empty window, no reason, or no message to hold. Nothing was recorded. */
export class InvalidHoldError extends Error {
  override name = 'InvalidHoldError';
}

/** What a hold's scope reads like in messages: `alice@example.com since ... until ... from ...`. */
export function describeCriteria(criteria: HoldCriteria): string {
  return [
    criteria.mailbox,
    criteria.since ? `since ${criteria.since}` : '',
    criteria.until ? `until ${criteria.until}` : '',
    criteria.from ? `from ${criteria.from}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/**
 * Refuses a hold that could never mean what its author wants: `since` not before `until` (the window
 * [since, until) is empty) or a blank reason (the record is the only account of why versions are kept).
 * Throws InvalidHoldError.
 */
export function checkHold(criteria: HoldCriteria, reason: string): void {
  if (criteria.since && criteria.until && criteria.since >= criteria.until) {
    throw new InvalidHoldError(
      `since (${criteria.since}) is not before until (${criteria.until}): no message can be received in that window`,
    );
  }
  if (reason.trim() === '') {
    throw new InvalidHoldError('a hold needs a reason: it is the record of why these versions are kept');
  }
}

export interface HoldDeps {
  index: Pick<DeliveryIndex, 'listDeliveries'>;
  holds: HoldLog;
  locks: ObjectLocks;
  bucket: string;
  /** The delivery log (in `bucket`): where a message without a sidecar keeps its envelope. Absent: not looked at. */
  deliveryLog?: DeliveryLog;
  now?: () => Date;
}

/**
 * Whether a delivery row is one the criteria cover. The sender compares without case, its domain in either
 * spelling of an internationalised domain: rows keep the address as the message wrote it.
 */
export function coveredBy(row: DeliveryRow, criteria: HoldCriteria): boolean {
  if (row.mailbox !== criteria.mailbox) return false;
  if (criteria.since && row.receivedAt < criteria.since) return false;
  if (criteria.until && row.receivedAt >= criteria.until) return false;
  if (criteria.from && !sameAddress((row.fromAddress ?? '').toLowerCase(), criteria.from.toLowerCase()))
    return false;
  return true;
}

/**
 * The keys a hold covers: each matching message's raw object and its envelope: its sidecar, or when it has none,
 * the delivery-log objects holding its records with a receipt ({@link loggedEnvelopeKeys}). The same criteria give
 * the same keys, so a release computes what other holds still cover as their placing did.
 */
async function coveredKeys(
  deps: HoldDeps,
  criteria: HoldCriteria,
): Promise<{ messages: number; keys: Set<string> }> {
  const keys = new Set<string>();
  let messages = 0;
  const logObjects = new Map<string, Set<string>>();
  for await (const row of deps.index.listDeliveries(criteria.mailbox)) {
    if (!coveredBy(row, criteria)) continue;
    messages += 1;
    keys.add(row.location.key);
    const sidecar = envelopeKey(row.sesMessageId);
    keys.add(sidecar);
    if (deps.deliveryLog && (await versionsOf(deps, sidecar)).length === 0) {
      for (const key of await loggedEnvelopeKeys(deps.deliveryLog, row, logObjects)) keys.add(key);
    }
  }
  return { messages, keys };
}

/**
 * The delivery-log objects holding records with a receipt of `row`'s message: ingest logs them right after it
 * writes the row, under keys from the same clock, so they are among the objects written from the row's
 * `archivedAt` to LOOK_BACK_MS after it (layout.ts: how late a key can be). Each candidate is read (once per
 * hold: `seen` keeps which raw objects each one names) and kept only when it holds one.
 */
async function loggedEnvelopeKeys(
  log: DeliveryLog,
  row: DeliveryRow,
  seen: Map<string, Set<string>>,
): Promise<string[]> {
  const from = new Date(row.archivedAt);
  if (Number.isNaN(from.getTime())) return [];
  const until = from.getTime() + LOOK_BACK_MS;
  const candidates: string[] = [];
  for await (const key of log.keysAfter({ after: startAfterTime(from), seen: [] })) {
    const at = parseLogObjectKey(key)?.at;
    if (!at || at.getTime() > until) break;
    candidates.push(key);
  }
  const unread = candidates.filter((k) => !seen.has(k));
  for await (const object of log.readObjects(unread)) {
    seen.set(object.key, new Set(object.records.filter((r) => r.receipt).map((r) => r.objectKey)));
  }
  return candidates.filter((k) => seen.get(k)?.has(row.location.key));
}

/** Every version (not delete markers) of exactly `key`. */
async function versionsOf(deps: HoldDeps, key: string): Promise<ObjectVersion[]> {
  const out: ObjectVersion[] = [];
  for await (const v of deps.locks.versions(deps.bucket, key)) {
    if (v.key === key && !v.deleteMarker) out.push({ bucket: v.bucket, key: v.key, versionId: v.versionId });
  }
  return out;
}

/**
 * Places a legal hold on every version of every matching message's raw object and sidecar and records it.
 * The record is written before any legal hold is set (state active, `placing`), so a hold interrupted half-way
 * is listed as incomplete and can be released or placed again; the final record drops `placing` and sets
 * `completedAt` once every version is held. Returns the record. Throws InvalidHoldError (checkHold, or no message matches: nothing is recorded,
 * since a hold covers only what exists when it is placed) and what S3 and the index throw.
 */
export async function placeHold(
  deps: HoldDeps,
  criteria: HoldCriteria,
  reason: string,
  by: string,
): Promise<HoldRecord> {
  checkHold(criteria, reason);
  const { messages, keys } = await coveredKeys(deps, criteria);
  if (messages === 0) {
    throw new InvalidHoldError(
      `no message matches ${describeCriteria(criteria)}: nothing to hold, nothing recorded (a hold covers only messages already archived; --from takes a whole address)`,
    );
  }
  const now = (deps.now ?? (() => new Date()))();
  const holdId = `${now.toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
  const record: HoldRecord = {
    holdId,
    criteria,
    reason,
    by,
    placedAt: now.toISOString(),
    state: 'active',
    messages,
    versions: 0,
    placing: true,
  };
  await deps.holds.putHold(record);
  let versions = 0;
  for (const key of keys) {
    for (const version of await versionsOf(deps, key)) {
      await deps.locks.setLegalHold(version, true);
      versions += 1;
    }
  }
  const { placing: _placing, ...placedRecord } = record;
  const placed = { ...placedRecord, versions, completedAt: (deps.now ?? (() => new Date()))().toISOString() };
  await deps.holds.putHold(placed);
  return placed;
}

/**
 * Releases a hold: clears the legal hold of its versions that no other active hold covers, and records the
 * release. Throws HoldNotFoundError when no active hold has that id.
 */
export async function releaseHold(deps: HoldDeps, holdId: string, by: string): Promise<HoldRecord> {
  const record = await deps.holds.getHold(holdId);
  if (record?.state === 'released') {
    throw new HoldNotFoundError(
      `hold ${holdId} was already released, at ${record.releasedAt} by ${record.releasedBy}: nothing to do`,
    );
  }
  if (record?.state !== 'active') {
    throw new HoldNotFoundError(`no active hold ${holdId} (mail-archiver hold list shows them)`);
  }
  const stillHeld = new Set<string>();
  for (const other of await deps.holds.listHolds()) {
    if (other.state !== 'active' || other.holdId === holdId) continue;
    for (const key of (await coveredKeys(deps, other.criteria)).keys) stillHeld.add(key);
  }
  let releasedVersions = 0;
  for (const key of (await coveredKeys(deps, record.criteria)).keys) {
    if (stillHeld.has(key)) continue;
    for (const version of await versionsOf(deps, key)) {
      await deps.locks.setLegalHold(version, false);
      releasedVersions += 1;
    }
  }
  const released: HoldRecord = {
    ...record,
    state: 'released',
    releasedAt: (deps.now ?? (() => new Date()))().toISOString(),
    releasedBy: by,
    releasedVersions,
  };
  await deps.holds.putHold(released);
  return released;
}
