// Whether the configured lock mode may follow what the archive already holds. Compliance retention cannot be
// shortened or removed by anyone, the AWS account's root user included (Amazon S3 User Guide, "How S3 Object Lock
// works", Retention modes): a config that turns a compliance archive to governance or off changes nothing for the
// versions already locked, and would only leave new mail less protected than the operator chose. doctor refuses
// it, naming why, instead of letting a deploy pretend otherwise.
import type { ArchiverConfig } from '../config';
import { RAW_MAIL_PREFIX } from '../index/schema';
import type { ObjectLocks, Retention } from '../ports';

/** What a sample of the archive's raw versions says: how many were read, and a compliance retention still running. */
export interface LockedSample {
  checked: number;
  compliance?: Retention & { key: string };
}

/**
 * Reads the retention of up to `limit` raw-mail versions (the first ones a listing gives: one listing page and
 * `limit` reads) and returns the first compliance retention that has not ended at `now`. Throws what S3 throws.
 */
export async function sampleLockedVersions(
  locks: ObjectLocks,
  bucket: string,
  now: Date,
  limit = 100,
): Promise<LockedSample> {
  let checked = 0;
  for await (const version of locks.versions(bucket, RAW_MAIL_PREFIX)) {
    if (version.deleteMarker) continue;
    if (checked >= limit) break;
    checked += 1;
    const retention = await locks.retention(version);
    if (retention?.mode === 'COMPLIANCE' && Date.parse(retention.retainUntil) > now.getTime())
      return { checked, compliance: { ...retention, key: version.key } };
  }
  return { checked };
}

/** doctor's verdict on the configured lock mode against the sample: `fail` names why and what to do. */
export function lockModeVerdict(
  config: Pick<ArchiverConfig, 'archive'>,
  sample: LockedSample,
): { status: 'ok' | 'fail'; detail: string; fix?: string } {
  const { mode, retainDays } = config.archive.lock;
  if (sample.compliance && mode !== 'compliance') {
    return {
      status: 'fail',
      detail: `archive.lock.mode is "${mode}", but this archive already locks in compliance mode (${sample.compliance.key} until ${sample.compliance.retainUntil}): compliance cannot be undone by anyone, so those versions stay locked, and only new mail would be less protected than was chosen`,
      fix: 'set archive.lock.mode back to "compliance" (the change cannot unlock anything already locked)',
    };
  }
  const locked = sample.compliance ? ', compliance versions found' : '';
  return {
    status: 'ok',
    detail: `${mode}${mode === 'off' ? '' : ` for ${retainDays} days`} (${sample.checked} raw versions read${locked})`,
  };
}
