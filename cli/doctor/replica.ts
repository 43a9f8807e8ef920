// doctor's "replica" check (`--target aws`, with archive.replica): S3 reports on each source version whether it
// was replicated (x-amz-replication-status: PENDING, COMPLETED, FAILED; Amazon S3 User Guide, "Getting
// replication status information"). doctor writes a small canary under replica-canary/, which the replica's
// rules replicate like the archive's prefixes, and reads its status on the source bucket with account A's
// credentials only: COMPLETED proves that account B's bucket exists, trusts the replication role and takes
// writes. A canary still pending is judged by the one an earlier doctor run left.
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ArchiverConfig } from '../../shared/config';
import { errorMessage } from '../../shared/errors';
import { REPLICA_CANARY_PREFIX } from '../../shared/index/schema';
import { replicaNames } from '../../shared/retention/replica';
import type { Check, NamedCheck } from './check';

const NAME = 'replica';
/** A canary pending longer than this is late (S3 replicates most objects within 15 minutes). */
const LATE_MS = 60 * 60 * 1000;

type Status = 'COMPLETED' | 'PENDING' | 'FAILED' | 'NONE';

async function statusOf(s3: S3Client, bucket: string, key: string): Promise<Status> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const status = head.ReplicationStatus;
  return status === 'COMPLETED' || status === 'PENDING' || status === 'FAILED' ? status : 'NONE';
}

/**
 * The check, or undefined when the config has no replica. `bucket` is the deployed raw-mail bucket (the stack's
 * RawMailBucketName output), undefined before the first deploy. Waits up to `waitMs` for the new canary.
 */
export async function replicaCheck(
  config: ArchiverConfig,
  s3: S3Client,
  bucket: string | undefined,
  options: { now?: Date; waitMs?: number; pollMs?: number } = {},
): Promise<Check | undefined> {
  const names = replicaNames(config);
  if (!names) return undefined;
  const where = `${names.bucketName} (account ${names.account}, ${names.region})`;
  if (!bucket)
    return {
      name: NAME,
      status: 'warn',
      detail: 'not deployed yet',
      fix: 'run cdk deploy, then doctor again',
    };
  const now = options.now ?? new Date();
  try {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: REPLICA_CANARY_PREFIX }));
    const earlier = (listed.Contents ?? [])
      .map((o) => o.Key as string)
      .sort()
      .at(-1);
    const key = `${REPLICA_CANARY_PREFIX}${now.toISOString()}`;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: `mail-archiver doctor canary ${now.toISOString()}\n`,
        ContentType: 'text/plain',
      }),
    );
    const deadline = Date.now() + (options.waitMs ?? 30_000);
    let status = await statusOf(s3, bucket, key);
    while (status === 'PENDING' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 3_000));
      status = await statusOf(s3, bucket, key);
    }
    if (status === 'COMPLETED')
      return { name: NAME, status: 'ok', detail: `a canary replicated into ${where}` };
    if (status === 'NONE')
      return {
        name: NAME,
        status: 'fail',
        detail: `the raw-mail bucket does not replicate ${REPLICA_CANARY_PREFIX} (no replication status on ${key})`,
        fix: 'deploy the stack with archive.replica in the config (cdk deploy)',
      };
    const failed = {
      name: NAME,
      status: 'fail' as const,
      fix: `deploy the replica stack with account B's credentials (cdk deploy ${config.stackName}-Replica); check that its bucket policy names ${names.roleArn}`,
    };
    if (status === 'FAILED') return { ...failed, detail: `S3 could not replicate a canary into ${where}` };
    // Still pending: the canary an earlier run left says whether replication works.
    const before = earlier ? await statusOf(s3, bucket, earlier) : undefined;
    const age = earlier ? now.getTime() - Date.parse(earlier.slice(REPLICA_CANARY_PREFIX.length)) : 0;
    if (before === 'COMPLETED')
      return {
        name: NAME,
        status: 'ok',
        detail: `the previous canary (${earlier}) replicated into ${where}`,
      };
    if (before === 'FAILED' || (before === 'PENDING' && age > LATE_MS))
      return { ...failed, detail: `the previous canary (${earlier}) is ${before} for ${where}` };
    return {
      name: NAME,
      status: 'warn',
      detail: `a canary is still pending replication into ${where}`,
      fix: 'run doctor again in a few minutes',
    };
  } catch (error) {
    return {
      name: NAME,
      status: 'warn',
      detail: `could not write or read a canary: ${errorMessage(error)}`,
      fix: `needs s3:PutObject, s3:GetObject and s3:ListBucket on ${REPLICA_CANARY_PREFIX} of the raw-mail bucket`,
    };
  }
}

/** What the replica check reads: the config and, on AWS, an S3 client and the deployed raw-mail bucket. */
export interface ReplicaRun {
  config: ArchiverConfig;
  /** Absent locally: the replica is an AWS matter (no check). */
  s3?: S3Client;
  /** The stack's RawMailBucketName output; undefined before the first deploy. */
  bucket?: string | undefined;
  now?: () => Date;
}

/** The check by name (cli/doctor/check.ts): no line without archive.replica, or locally. */
export const replica: NamedCheck<ReplicaRun> = {
  name: NAME,
  async run({ config, s3, bucket, now }) {
    if (!s3) return [];
    const check = await replicaCheck(config, s3, bucket, now ? { now: now() } : {});
    return check ? [check] : [];
  },
};
