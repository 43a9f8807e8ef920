// The replica stack, deployed into account B (`archive.replica.account`, with account B's credentials): one
// bucket with S3 Object Lock that only the archive's replication role (account A) may write into, owned by
// account B (Object Ownership "bucket owner enforced": every replica is B's, whoever wrote it). Its Object Lock
// has a default retention, the archive's lock: a replica arrives with the retention its source version had when
// it was copied, and one copied before it was locked (a raw message between SES's write and ingest's lock) gets
// the bucket's default instead (Amazon S3 User Guide, "Object Lock considerations", Using Object Lock with S3
// Replication; "How S3 Object Lock works", default retention). SES never writes here, so its restriction on default retention does not apply. The bucket policy
// denies governance bypass to everyone, account B's own administrators included. docs/object-lock.md.
import { Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { ArnPrincipal, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  ObjectLockRetention,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { ArchiverConfig } from '../shared/config';
import { replicaNames } from '../shared/retention/replica';
import { denyGovernanceBypass } from './constructs/raw-mail-store';

export interface ReplicaStackProps extends StackProps {
  readonly config: ArchiverConfig;
}

/** Account B's side of `archive.replica`: the replica bucket and its policy. */
export class ReplicaStack extends Stack {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: ReplicaStackProps) {
    super(scope, id, props);
    const names = replicaNames(props.config);
    if (!names) throw new Error('ReplicaStack needs archive.replica in the config');
    const { mode, retainDays } = props.config.archive.lock;
    this.bucket = new Bucket(this, 'ReplicaBucket', {
      bucketName: names.bucketName,
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectLockEnabled: true,
      ...(mode === 'off'
        ? {}
        : {
            objectLockDefaultRetention:
              mode === 'compliance'
                ? ObjectLockRetention.compliance(Duration.days(retainDays))
                : ObjectLockRetention.governance(Duration.days(retainDays)),
          }),
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Account A's root as principal with its role named in a condition: a policy naming the role itself would
    // be refused until the role exists, and the role's replication rule needs this bucket first.
    const fromReplicationRole = { ArnEquals: { 'aws:PrincipalArn': names.roleArn } };
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'ReplicationRoleWritesReplicas',
        principals: [new ArnPrincipal(`arn:aws:iam::${names.sourceAccount}:root`)],
        actions: ['s3:ReplicateObject', 's3:ReplicateTags', 's3:ObjectOwnerOverrideToBucketOwner'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: fromReplicationRole,
      }),
    );
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'ReplicationRoleReadsVersioning',
        principals: [new ArnPrincipal(`arn:aws:iam::${names.sourceAccount}:root`)],
        actions: ['s3:GetBucketVersioning', 's3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: fromReplicationRole,
      }),
    );
    denyGovernanceBypass(this.bucket);
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Only S3 replication writes here; an Object Lock bucket cannot receive server access logs itself, and account B may add its own logging',
    });
  }
}
