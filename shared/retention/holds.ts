// Legal holds: an S3 Object Lock legal hold on every version of the raw message and of the envelope sidecar of each
// message that matches (a mailbox, received between two dates, from an address), recorded in the index with who,
// when, why and how many. A held version cannot be deleted, by anyone, retention or not, until the hold is released
// (Amazon S3 User Guide, "How S3 Object Lock works", Legal holds); S3 checks it at the moment of any delete,
// lifecycle's included. A release clears only what no other active hold still covers.
import { randomBytes } from 'node:crypto';
import { type DeliveryRow, envelopeKey } from '../index/schema';
import type { DeliveryIndex, HoldLog, ObjectLocks, ObjectVersion } from '../ports';
import type { HoldCriteria, HoldRecord } from './hold-record';

export type { HoldCriteria, HoldRecord } from './hold-record';

/** No active hold has the id asked for (a typo, or one already released). */
export class HoldNotFoundError extends Error {
  override name = 'HoldNotFoundError';
}

export interface HoldDeps {
  index: Pick<DeliveryIndex, 'listDeliveries'>;
  holds: HoldLog;
  locks: ObjectLocks;
  bucket: string;
  now?: () => Date;
}

/** Whether a delivery row is one the criteria cover. */
export function coveredBy(row: DeliveryRow, criteria: HoldCriteria): boolean {
  if (row.mailbox !== criteria.mailbox) return false;
  if (criteria.since && row.receivedAt < criteria.since) return false;
  if (criteria.until && row.receivedAt >= criteria.until) return false;
  if (criteria.from && row.fromAddress !== criteria.from.toLowerCase()) return false;
  return true;
}

/** The keys a hold covers: each matching message's raw object and its envelope sidecar. */
async function coveredKeys(
  deps: HoldDeps,
  criteria: HoldCriteria,
): Promise<{ messages: number; keys: Set<string> }> {
  const keys = new Set<string>();
  let messages = 0;
  for await (const row of deps.index.listDeliveries(criteria.mailbox)) {
    if (!coveredBy(row, criteria)) continue;
    messages += 1;
    keys.add(row.location.key);
    keys.add(envelopeKey(row.sesMessageId));
  }
  return { messages, keys };
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
 * The record is written first (state active), so a hold interrupted half-way is listed and can be released.
 * Returns the record. Throws what S3 and the index throw.
 */
export async function placeHold(
  deps: HoldDeps,
  criteria: HoldCriteria,
  reason: string,
  by: string,
): Promise<HoldRecord> {
  const now = (deps.now ?? (() => new Date()))();
  const holdId = `${now.toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
  const record: HoldRecord = {
    holdId,
    criteria,
    reason,
    by,
    placedAt: now.toISOString(),
    state: 'active',
    messages: 0,
    versions: 0,
  };
  await deps.holds.putHold(record);
  const { messages, keys } = await coveredKeys(deps, criteria);
  let versions = 0;
  for (const key of keys) {
    for (const version of await versionsOf(deps, key)) {
      await deps.locks.setLegalHold(version, true);
      versions += 1;
    }
  }
  const placed = { ...record, messages, versions };
  await deps.holds.putHold(placed);
  return placed;
}

/**
 * Releases a hold: clears the legal hold of its versions that no other active hold covers, and records the
 * release. Throws HoldNotFoundError when no active hold has that id.
 */
export async function releaseHold(deps: HoldDeps, holdId: string, by: string): Promise<HoldRecord> {
  const record = await deps.holds.getHold(holdId);
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
