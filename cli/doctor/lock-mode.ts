// doctor's "lock mode" check: the configured archive.lock.mode against what the archive already holds
// (shared/retention/lock-mode-check.ts), on the deployed bucket or the running local stack.
import { GetObjectLockConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import { createClients, destroyClients } from '../../shared/adapters/clients';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import type { ArchiverConfig } from '../../shared/config';
import { errorMessage, errorName } from '../../shared/errors';
import { lockModeVerdict, sampleLockedVersions } from '../../shared/retention/lock-mode-check';
import { LOCAL_BUCKET } from '../local/archive';
import type { StackFile } from '../local/running-stack';
import type { Check, NamedCheck } from './check';

const NAME = 'lock mode';

/**
 * The check, or a warning when there is no archive to read yet (not deployed, local stack not running). `aws`: the
 * deployed stack's outputs (RawMailBucketName) and the default credential chain.
 */
export async function lockModeCheck(
  config: ArchiverConfig,
  where: { aws: Record<string, string> | undefined } | { local: StackFile | undefined },
  now = new Date(),
): Promise<Check> {
  const target =
    'aws' in where
      ? where.aws?.RawMailBucketName && { clients: createClients(), bucket: where.aws.RawMailBucketName }
      : where.local && { clients: createClients(where.local.endpoints), bucket: LOCAL_BUCKET };
  if (!target)
    return {
      name: NAME,
      status: 'warn',
      detail: 'no archive to read yet',
      fix: 'aws' in where ? 'run cdk deploy, then doctor again' : 'npm start',
    };
  try {
    if ((await objectLockEnabled(target.clients.s3, target.bucket)) === false)
      return {
        name: NAME,
        status: 'fail',
        detail: `the raw-mail bucket ${target.bucket} has no S3 Object Lock (it was created without it): no version in it can be locked, whatever archive.lock.mode says`,
        fix: noObjectLockFix(target.bucket, 'aws' in where ? 'aws' : 'local'),
      };
    const verdict = lockModeVerdict(
      config,
      await sampleLockedVersions(new S3ObjectLocks(target.clients.s3), target.bucket, now),
    );
    return { name: NAME, ...verdict };
  } catch (error) {
    return {
      name: NAME,
      status: 'warn',
      detail: `could not read the archive's locks: ${errorMessage(error)}`,
      fix: 'needs s3:GetBucketObjectLockConfiguration, s3:ListBucketVersions and s3:GetObjectRetention on the raw-mail bucket',
    };
  } finally {
    destroyClients(target.clients);
  }
}

/**
 * Whether `bucket` has S3 Object Lock: false on S3's answer for a bucket without (ObjectLockConfigurationNotFoundError,
 * S3 API Reference, GetObjectLockConfiguration), undefined when it cannot be told (no permission to read it: the
 * sample of locks that follows says what it can).
 */
async function objectLockEnabled(s3: S3Client, bucket: string): Promise<boolean | undefined> {
  try {
    const { ObjectLockConfiguration } = await s3.send(
      new GetObjectLockConfigurationCommand({ Bucket: bucket }),
    );
    return ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
  } catch (error) {
    return errorName(error) === 'ObjectLockConfigurationNotFoundError' ? false : undefined;
  }
}

/**
 * What to do about a raw-mail bucket without Object Lock (docs/object-lock.md, "A bucket from before Object Lock").
 * On AWS: enable it in place (S3 allows it on an existing bucket once versioning is on; no default retention, which
 * SES refuses) and let the sweep lock what is there; and do not deploy this version over that stack, whose
 * template would replace the bucket (ObjectLockEnabled cannot be added to a deployed bucket in place,
 * cloudformation-coverage-roadmap#1929). Locally the stack enables it on its bucket when it starts.
 */
export function noObjectLockFix(bucket: string, target: 'aws' | 'local'): string {
  if (target === 'local')
    return 'restart `npm start` with this version: it enables Object Lock on the local bucket when it starts, and `mail-archiver reconcile` then locks what is there';
  return (
    `enable it in place: aws s3api put-bucket-versioning --bucket ${bucket} --versioning-configuration Status=Enabled, ` +
    `then aws s3api put-object-lock-configuration --bucket ${bucket} --object-lock-configuration ObjectLockEnabled=Enabled ` +
    '(no default retention: SES cannot write into a bucket with one); then `mail-archiver reconcile --target aws` locks ' +
    'the versions already there. Do not deploy this version over this stack: CloudFormation would replace the bucket ' +
    '(`cdk diff` shows it) and new mail would go to a new, empty one; docs/object-lock.md ' +
    '"A bucket from before Object Lock" says how to move to a stack of its own'
  );
}

/** What the lock mode check reads: the config and where the archive is (AWS outputs or the running stack). */
export interface LockModeRun {
  config: ArchiverConfig;
  where: { aws: Record<string, string> | undefined } | { local: StackFile | undefined };
  now?: () => Date;
}

/** The check by name (cli/doctor/check.ts), for both targets. */
export const lockMode: NamedCheck<LockModeRun> = {
  name: NAME,
  run: ({ config, where, now }) => lockModeCheck(config, where, now?.()),
};
