// The lock sweep: finds versions under the locked prefixes that carry no retention (a raw version SES wrote that
// ingest did not lock: a timeout, a dead-lettered message; an import from before the lock, a lock turned on later) and
// locks them. Run by the scheduled reconcile and `mail-archiver reconcile`. A version's retention is read only
// when it is newer than where the previous sweep left everything locked (`lockedThrough`, less an hour for
// writes still in flight), so a sweep costs one listing of versions plus one read per new version. A version
// without retention that carries the canary tag (shared/health/config.ts CANARY_OBJECT_TAG) is left as it is:
// canaries expire; only versions without retention cost the extra read of their tags.
import { errorMessage } from '../errors';
import { ENVELOPE_PREFIX, LOCKED_PREFIXES, RAW_MAIL_PREFIX, TRANSPARENCY_PREFIX } from '../index/schema';
import { type ArchiveLocker, isCanaryTagged, isCanaryTaggedKey } from './lock-policy';

export interface SweepReport {
  /** Versions whose retention was read. */
  examined: number;
  /** Versions this sweep locked. */
  locked: number;
  /** Versions left unlocked because they are canaries (tagged; they expire after health.canary.keepDays). */
  canaries: number;
  /** Versions still without a lock afterwards (their lock failed): key, version id and why. */
  unlocked: { key: string; versionId: string; reason: string }[];
  /**
   * Messages (by SES message id) with at least one version left unlocked; a delivery log object left unlocked
   * counts as one. The transparency log's files are not messages: one left unlocked is in `unlocked` only.
   */
  unlockedMessages: number;
  /**
   * Every version created before this instant (ISO 8601 UTC) is locked: where the next sweep starts. Unchanged
   * (the previous value) while a version is left unlocked.
   */
  lockedThrough?: string;
}

/** An hour: a write whose version was created before the previous sweep listed may still be locking it. */
const IN_FLIGHT_MS = 60 * 60 * 1000;

/**
 * The message a locked key belongs to: `incoming/<id>`, `envelopes/<id>.json` and its damaged copies
 * `envelopes/damaged/<id>.<stamp>.json` (SES message ids and import ids have no dot). A delivery log object holds
 * rows of many messages: it stands for itself (its key).
 */
export function messageIdOfKey(key: string): string {
  if (key.startsWith(RAW_MAIL_PREFIX)) return key.slice(RAW_MAIL_PREFIX.length);
  if (!key.startsWith(ENVELOPE_PREFIX)) return key;
  const name = key.slice(key.lastIndexOf('/') + 1);
  return name.split('.')[0] ?? name;
}

/**
 * Locks every version under the locked prefixes that has no retention, examining only versions created after
 * `since` less an hour (all of them without `since`). Delete markers are skipped (S3 does not lock them). Never
 * throws for one version's failure: it is reported in `unlocked`; throws when the listing itself fails.
 */
export async function sweepUnlocked(deps: {
  locker: ArchiveLocker;
  bucket: string;
  since?: string;
  now?: () => Date;
}): Promise<SweepReport> {
  const now = (deps.now ?? (() => new Date()))();
  const from = deps.since ? new Date(deps.since).getTime() - IN_FLIGHT_MS : Number.NEGATIVE_INFINITY;
  const report: SweepReport = { examined: 0, locked: 0, canaries: 0, unlocked: [], unlockedMessages: 0 };
  const locks = deps.locker.locks;
  for (const prefix of LOCKED_PREFIXES) {
    for await (const version of locks.versions(deps.bucket, prefix)) {
      if (version.deleteMarker || new Date(version.lastModified).getTime() < from) continue;
      report.examined += 1;
      try {
        if (await locks.retention(version)) continue;
        if (isCanaryTaggedKey(version.key) && isCanaryTagged(await locks.tags(version))) {
          report.canaries += 1;
          continue;
        }
        await deps.locker.lockVersion(version, version);
        report.locked += 1;
      } catch (error) {
        report.unlocked.push({ key: version.key, versionId: version.versionId, reason: errorMessage(error) });
      }
    }
  }
  report.unlockedMessages = new Set(
    report.unlocked.filter((u) => !u.key.startsWith(TRANSPARENCY_PREFIX)).map((u) => messageIdOfKey(u.key)),
  ).size;
  if (report.unlocked.length === 0) report.lockedThrough = now.toISOString();
  else if (deps.since) report.lockedThrough = deps.since;
  return report;
}
