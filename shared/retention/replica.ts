// The replica in a second AWS account (account B): the names both stacks agree on (the replica bucket, the
// replication role of this stack), derived from the config so that neither stack needs the other's outputs, and
// the checks of the config that name the field. Sources: Amazon S3 User Guide, "Replicating objects within and
// across Regions" (replication-walkthrough-2: a destination in another account), "Changing the replica owner"
// (replication-change-owner), "Object Lock considerations" (Using Object Lock with S3 Replication); IAM User
// Guide, "IAM and AWS STS quotas" (role names are at most 64 characters).
import type { z } from 'zod';
import type { archiveSchema } from './archive-config';

/** The part of the config the replica's names come from (shared/config.ts reads it; no import back). */
type ReplicaConfigView = { stackName: string; archive: Pick<z.output<typeof archiveSchema>, 'replica'> };

/** The suffix of the replication role's name: `<stackName>-replication`. */
export const REPLICATION_ROLE_SUFFIX = '-replication';
const ROLE_NAME_MAX = 64;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export interface ReplicaNames {
  /** The replica bucket in account B. */
  bucketName: string;
  bucketArn: string;
  /** The role S3 assumes in account A to replicate (named, so that account B's bucket policy can name it). */
  roleName: string;
  roleArn: string;
  /** Account A, whose role replicates. */
  sourceAccount: string;
  /** Account B, which owns the bucket and the replicas. */
  account: string;
  region: string;
}

/** The replica's names, or undefined when the config has no replica. ARNs are in the `aws` partition. */
export function replicaNames(config: ReplicaConfigView): ReplicaNames | undefined {
  const replica = config.archive.replica;
  if (!replica) return undefined;
  const bucketName = replica.bucketName ?? `${config.stackName.toLowerCase()}-replica-${replica.account}`;
  const roleName = `${config.stackName}${REPLICATION_ROLE_SUFFIX}`;
  return {
    bucketName,
    bucketArn: `arn:aws:s3:::${bucketName}`,
    roleName,
    roleArn: `arn:aws:iam::${replica.sourceAccount}:role/${roleName}`,
    sourceAccount: replica.sourceAccount,
    account: replica.account,
    region: replica.region,
  };
}

/** What is wrong with the config's replica, each with the path of the field to change. */
export function replicaIssues(config: ReplicaConfigView): { path: (string | number)[]; message: string }[] {
  const names = replicaNames(config);
  if (!names) return [];
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (names.account === names.sourceAccount) {
    issues.push({
      path: ['archive', 'replica', 'account'],
      message:
        'must be a second AWS account, not the archive own (sourceAccount): a replica in the same account is lost with it',
    });
  }
  if (!BUCKET_NAME.test(names.bucketName)) {
    issues.push({
      path: ['archive', 'replica', 'bucketName'],
      message: `the derived replica bucket name "${names.bucketName}" is not a valid S3 bucket name (at most 63 characters): name the bucket here`,
    });
  }
  if (names.roleName.length > ROLE_NAME_MAX) {
    issues.push({
      path: ['stackName'],
      message: `the replication role is named "<stackName>${REPLICATION_ROLE_SUFFIX}", and IAM role names are at most ${ROLE_NAME_MAX} characters: use a stack name of at most ${ROLE_NAME_MAX - REPLICATION_ROLE_SUFFIX.length} characters`,
    });
  }
  return issues;
}
