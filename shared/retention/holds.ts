// Legal holds: an S3 Object Lock legal hold on every version of the raw message and of the envelope sidecar of each
// message that matches (a mailbox, received between two dates, from an address), recorded in the index with who,
// when, why and how many. A message ingest wrote no sidecar for keeps its envelope in the delivery log
// (shared/archive/logged-envelope.ts): the log objects holding a matching message's records with a receipt are
// held too, whether or not it has a sidecar (one written later must not let a release free them). A held version
// cannot be deleted, by anyone, retention or not, until the hold is released (Amazon S3 User Guide, "How S3 Object
// Lock works", Legal holds); S3 checks it at the moment of any delete, lifecycle's included.
// The versions a hold placed are recorded with it (HoldLog.putHeldVersions) before any is held, and its release
// frees exactly those that no other active hold placed: what the index or the log say since (a row rebuilt by
// reindex with a new archivedAt, a log object behind a delete marker, a sidecar written later) does not change
// what a release frees.
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
 * The keys a hold covers when it is placed: each matching message's raw object, its envelope sidecar, and the
 * delivery-log objects holding its records with a receipt ({@link loggedEnvelopeKeys}: where a message without a
 * sidecar keeps its envelope). Computed again only for a hold placed before its versions were recorded.
 */
async function coveredKeys(
  deps: HoldDeps,
  criteria: HoldCriteria,
): Promise<{ messages: number; keys: Set<string> }> {
  const keys = new Set<string>();
  const windows: LogWindow[] = [];
  let messages = 0;
  for await (const row of deps.index.listDeliveries(criteria.mailbox)) {
    if (!coveredBy(row, criteria)) continue;
    messages += 1;
    keys.add(row.location.key);
    keys.add(envelopeKey(row.sesMessageId));
    const from = Date.parse(row.archivedAt);
    if (!Number.isNaN(from)) windows.push({ from, rawKey: row.location.key });
  }
  if (deps.deliveryLog) for (const key of await loggedEnvelopeKeys(deps.deliveryLog, windows)) keys.add(key);
  return { messages, keys };
}

/** Where a covered message's records are: log objects written from `from` (epoch ms) to LOOK_BACK_MS after. */
interface LogWindow {
  from: number;
  rawKey: string;
}

/**
 * The delivery-log objects holding records with a receipt of the messages of `windows`: ingest logs a message's
 * records right after it writes its rows, under keys from the same clock, so they are among the objects written
 * from the row's `archivedAt` to LOOK_BACK_MS after it (layout.ts: how late a key can be). One listing from the
 * first window to the end of the last; each object inside a window is read once (with the log's concurrency), and
 * kept when it holds a record with a receipt of a message whose window it is in.
 */
async function loggedEnvelopeKeys(log: DeliveryLog, windows: LogWindow[]): Promise<string[]> {
  if (windows.length === 0) return [];
  windows.sort((a, b) => a.from - b.from);
  const last = (windows[windows.length - 1] as LogWindow).from + LOOK_BACK_MS;
  // The raw keys whose window each candidate is in, in the order readObjects yields the candidates.
  const open: Set<string>[] = [];
  async function* candidates(): AsyncGenerator<string> {
    let first = 0;
    for await (const key of log.keysAfter({
      after: startAfterTime(new Date((windows[0] as LogWindow).from)),
      seen: [],
    })) {
      const at = parseLogObjectKey(key)?.at.getTime();
      if (at === undefined) continue;
      if (at > last) return;
      while (first < windows.length && (windows[first] as LogWindow).from + LOOK_BACK_MS < at) first += 1;
      const rawKeys = new Set<string>();
      for (let i = first; i < windows.length && (windows[i] as LogWindow).from <= at; i++)
        rawKeys.add((windows[i] as LogWindow).rawKey);
      if (rawKeys.size === 0) continue;
      open.push(rawKeys);
      yield key;
    }
  }
  const held: string[] = [];
  for await (const object of log.readObjects(candidates())) {
    const rawKeys = open.shift() as Set<string>;
    if (object.records.some((r) => r.receipt && rawKeys.has(r.objectKey))) held.push(object.key);
  }
  return held;
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
 * Places a legal hold on every version of every matching message's raw object, sidecar and log objects, and
 * records it. The versions are recorded (HoldLog.putHeldVersions), then the record is written (state active,
 * `placing`, naming the parts), before any legal hold is set: a hold interrupted half-way is listed as incomplete
 * and its release frees what it may have held. The final record drops `placing` and sets `completedAt` once every
 * version is held. Returns the record. Throws InvalidHoldError (checkHold, or no message matches: nothing is
 * recorded, since a hold covers only what exists when it is placed) and what S3 and the index throw.
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
  const held: ObjectVersion[] = [];
  for (const key of keys) held.push(...(await versionsOf(deps, key)));
  const heldParts = await deps.holds.putHeldVersions(holdId, deps.bucket, held);
  const record: HoldRecord = {
    holdId,
    criteria,
    reason,
    by,
    placedAt: now.toISOString(),
    state: 'active',
    messages,
    versions: 0,
    heldParts,
    placing: true,
  };
  await deps.holds.putHold(record);
  for (const version of held) await deps.locks.setLegalHold(version, true);
  const { placing: _placing, ...placedRecord } = record;
  const placed = {
    ...placedRecord,
    versions: held.length,
    completedAt: (deps.now ?? (() => new Date()))().toISOString(),
  };
  await deps.holds.putHold(placed);
  return placed;
}

/** The versions `record` placed: as recorded, or (a hold placed before they were recorded) found from its criteria. */
async function heldBy(deps: HoldDeps, record: HoldRecord): Promise<ObjectVersion[]> {
  if (record.heldParts !== undefined) return deps.holds.heldVersions(record.holdId, record.heldParts);
  const versions: ObjectVersion[] = [];
  for (const key of (await coveredKeys(deps, record.criteria)).keys)
    versions.push(...(await versionsOf(deps, key)));
  return versions;
}

const versionText = (v: ObjectVersion) => `${v.bucket}\n${v.key}\n${v.versionId}`;

/**
 * Releases a hold: clears the legal hold of each version it placed that no other active hold placed (an
 * incomplete hold: of each one actually held), and records the release with how many it cleared. Throws
 * HoldNotFoundError when no active hold has that id.
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
    for (const version of await heldBy(deps, other)) stillHeld.add(versionText(version));
  }
  let releasedVersions = 0;
  for (const version of await heldBy(deps, record)) {
    if (stillHeld.has(versionText(version))) continue;
    // An interrupted `hold add` recorded versions it never reached: releasing them would free nothing.
    if (record.placing && !(await deps.locks.legalHold(version))) continue;
    await deps.locks.setLegalHold(version, false);
    releasedVersions += 1;
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
