// What the archive locks, and for how long: S3 Object Lock retention on every version of raw mail (incoming/), of
// the envelope sidecars (envelopes/) and of the delivery log, one version at a time (SES cannot write into a
// bucket whose Object Lock has a default retention: Amazon SES Developer Guide, "Deliver to S3 bucket action"):
// set by the write itself for what the archive writes (retentionFor), placed after it for what it did not write
// in one request (lockVersion: SES's raw version, the seal's files, the sweep's finds). Sources: Amazon S3 User
// Guide, "How S3 Object Lock works" (retention modes and periods).
import type { ArchiverConfig } from '../config';
import { CANARY_OBJECT_TAG } from '../health/config';
import { CANARY_TAGGED_PREFIXES, LOCKED_PREFIXES, type RawLocation } from '../index/schema';
import type { ObjectLocks, Retention, StoredVersion } from '../ports';

export const isLockedKey = (key: string) => LOCKED_PREFIXES.some((prefix) => key.startsWith(prefix));

/** The retention every locked version gets: S3's mode, and days from the moment it is locked. */
export interface LockPolicy {
  mode: Retention['mode'];
  retainDays: number;
}

/** The config's lock, or undefined when it is `off` (versions are then kept, not locked). */
export function lockPolicyOf(config: Pick<ArchiverConfig, 'archive'>): LockPolicy | undefined {
  const { mode, retainDays } = config.archive.lock;
  if (mode === 'off') return undefined;
  return { mode: mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE', retainDays };
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Retention from `now` for the policy's days. */
export function retentionAt(policy: LockPolicy, now: Date): Retention {
  return {
    mode: policy.mode,
    retainUntil: new Date(now.getTime() + policy.retainDays * DAY_MS).toISOString(),
  };
}

/**
 * How much shorter than the retention the policy would place now a version's own may end and still count as the
 * policy's: the unit retainDays is counted in. A version locked by its write (an import's) and read by ingest a
 * second later, or redelivered within the day, is then not locked again.
 */
const LOCK_GRAIN_MS = DAY_MS;

/**
 * The retention to ask S3 for on a version that has `current` (what a read was told; undefined when it has none or
 * the reader may not see it), when the policy would place `wanted` at `now`; undefined to ask for nothing.
 * - `current` lasts as long as `wanted` (within {@link LOCK_GRAIN_MS}): nothing, whatever the two modes. S3 refuses
 *   a shorter date and a change of mode in force (COMPLIANCE to GOVERNANCE always, GOVERNANCE to COMPLIANCE without
 *   s3:BypassGovernanceRetention, which the bucket policy denies), so such a request could only fail.
 * - `current` is shorter and still in force: extended to `wanted`'s date in its own mode (extending is the change
 *   S3 allows in either mode).
 * - none, or one that has ended: `wanted`.
 * Source: Amazon S3 User Guide, "How S3 Object Lock works" (retention modes and periods).
 */
export function retentionToPlace(
  current: Retention | undefined,
  wanted: Retention,
  now: Date,
): Retention | undefined {
  if (!current) return wanted;
  const ends = new Date(current.retainUntil).getTime();
  if (ends >= new Date(wanted.retainUntil).getTime() - LOCK_GRAIN_MS) return undefined;
  return ends > now.getTime() ? { mode: current.mode, retainUntil: wanted.retainUntil } : wanted;
}

/**
 * Locks versions of the archive's objects: the lock step every writer (ingest, the Sent collection, import,
 * reindex, the delivery log) goes through, and the sweep that catches what a failed step left. A retention is
 * extended, never shortened: a version read with its retention is locked only when that is shorter
 * ({@link retentionToPlace}); one read without (SES's, or a reader S3 does not tell) is locked, and a retry locks
 * the same version again a little later, which S3 takes as an extension.
 */
export class ArchiveLocker {
  constructor(
    readonly locks: ObjectLocks,
    readonly policy: LockPolicy,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Locks `version` of the object at `location` when its key is one the archive locks; a store that keeps no
   * versions (a directory) has nothing to lock. `version.retention` is the retention a read of it was told (a
   * StoredBody's): then only what {@link retentionToPlace} says is asked for, nothing when it lasts as long. Returns
   * whether it placed a retention. Throws what S3 throws.
   */
  async lockVersion(
    location: RawLocation,
    version: StoredVersion & { retention?: Retention },
  ): Promise<boolean> {
    if (!version.versionId || !isLockedKey(location.key)) return false;
    const now = this.now();
    const retention = retentionToPlace(version.retention, retentionAt(this.policy, now), now);
    if (!retention) return false;
    await this.locks.retain({ ...location, versionId: version.versionId }, retention);
    return true;
  }

  /**
   * The retention a new version at `location` gets when written now, or undefined when its key is not one the
   * archive locks: for a writer that sets it in the write itself (WriteOptions.retention), one request instead
   * of a write and a PutObjectRetention.
   */
  retentionFor(location: RawLocation): Retention | undefined {
    return isLockedKey(location.key) ? retentionAt(this.policy, this.now()) : undefined;
  }

  /**
   * Tags `version` as a canary's instead of locking it (shared/receiving/routing.ts isCanaryOnly): the lifecycle
   * rule on the tag expires it, and the sweep leaves it unlocked. Returns whether it tagged. Throws what S3 throws.
   */
  async markCanary(location: RawLocation, version: StoredVersion): Promise<boolean> {
    if (!version.versionId || !isCanaryTaggedKey(location.key)) return false;
    await this.locks.tag(
      { ...location, versionId: version.versionId },
      { [CANARY_OBJECT_TAG.key]: CANARY_OBJECT_TAG.value },
    );
    return true;
  }
}

export const isCanaryTaggedKey = (key: string) =>
  CANARY_TAGGED_PREFIXES.some((prefix) => key.startsWith(prefix));

/** Whether object tags mark a canary's version (health.canary.keepDays: left unlocked, expired by lifecycle). */
export const isCanaryTagged = (tags: Record<string, string> | undefined) =>
  tags?.[CANARY_OBJECT_TAG.key] === CANARY_OBJECT_TAG.value;

/** The locker for `config`, or undefined when its lock is `off`. */
export function archiveLocker(
  config: Pick<ArchiverConfig, 'archive'>,
  locks: ObjectLocks,
  now?: () => Date,
): ArchiveLocker | undefined {
  const policy = lockPolicyOf(config);
  return policy ? new ArchiveLocker(locks, policy, now) : undefined;
}
