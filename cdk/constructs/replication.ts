// Replication of the archive into a bucket of a second AWS account (account B, cdk/replica-stack.ts): every new
// version under the locked prefixes (raw mail, envelope sidecars, the delivery log, the transparency log) is
// copied there by S3 itself, owned by account B, in the configured storage class. Delete markers are not
// replicated, so a delete here leaves the replica as it was. Sources: Amazon S3 User Guide, "Setting up
// permissions" for replication (the role's source and destination actions), "Changing the replica owner"
// (AccessControlTranslation and s3:ObjectOwnerOverrideToBucketOwner), "Object Lock considerations" (the role
// also reads s3:GetObjectRetention and s3:GetObjectLegalHold; the destination must have Object Lock; a replica
// arrives with its source version's retention, see cdk/replica-stack.ts), "Monitoring replication with metrics"
// (OperationsFailedReplication and ReplicationLatency, published when a rule's Metrics are enabled);
// CloudFormation AWS::S3::Bucket ReplicationConfiguration (an update requires no interruption).
// Versions written before the rules existed are copied by an S3 Batch Replication job (`replica backfill`), run as
// the batch role here: S3 User Guide, "Configuring IAM policies for Batch Replication" (s3-batch-replication-
// policies: s3:InitiateReplication on the objects, s3:GetReplicationConfiguration and s3:PutInventoryConfiguration
// on the bucket for a generated manifest, s3:PutObject where the completion report goes; trusted by
// batchoperations.s3.amazonaws.com).
import { type CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import { ComparisonOperator, MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  BATCH_REPLICATION_REPORT_PREFIX,
  DELIVERY_LOG_PREFIX,
  ENVELOPE_PREFIX,
  LOCKED_PREFIXES,
  RAW_MAIL_PREFIX,
  REPLICA_CANARY_PREFIX,
  TRANSPARENCY_PREFIX,
} from '../../shared/index/schema';
import type { ReplicaNames } from '../../shared/retention/replica';
import type { OperatorAlarms } from './operator-alarms';
import type { RawMailStore } from './raw-mail-store';

/** Props of {@link ArchiveReplication}. */
export interface ArchiveReplicationProps {
  readonly rawMail: RawMailStore;
  readonly replica: ReplicaNames;
  /** S3 storage class of the replicas (`GLACIER_IR`, `STANDARD_IA`, ...). */
  readonly storageClass: string;
  readonly alarms: OperatorAlarms;
  /**
   * A replication later than this raises the late-replication alarm (S3 ReplicationLatency, maximum over an hour).
   * @default 6 hours
   */
  readonly lateAfter?: Duration;
}

/** What is replicated: the locked prefixes, and doctor's canaries (the proof that replication works). */
const REPLICATED = [...LOCKED_PREFIXES, REPLICA_CANARY_PREFIX];

/**
 * Each rule's priority, fixed once deployed: a new prefix takes the next number, so the rules already deployed
 * keep theirs (CloudFormation replaces the bucket's whole replication configuration on any change, "Update
 * requires: No interruption"). The prefixes do not overlap, so priorities never choose between rules here; S3
 * wants one per rule of a configuration with filters (S3 User Guide, "Replication configuration file elements").
 */
const RULE_PRIORITY: Readonly<Record<string, number>> = {
  [REPLICA_CANARY_PREFIX]: 1,
  [DELIVERY_LOG_PREFIX]: 2,
  [ENVELOPE_PREFIX]: 3,
  [RAW_MAIL_PREFIX]: 4,
  [TRANSPARENCY_PREFIX]: 5,
};

/** The priority of the rule for `prefix`; throws for a prefix given none (a new locked prefix needs one). */
export function replicationRulePriority(prefix: string): number {
  const priority = RULE_PRIORITY[prefix];
  if (priority === undefined)
    throw new Error(`No replication rule priority for ${prefix}: give it the next one`);
  return priority;
}

/** The replication rule id for a replicated prefix (`incoming/` -> `Replicate-incoming`): the metrics' RuleId. */
export const replicationRuleId = (prefix: string) => `Replicate-${prefix.replace(/\/$/, '')}`;

/**
 * The replication role (named `<stackName>-replication`, which the replica bucket's policy trusts), the rules on
 * the raw-mail bucket, and the alarms on failed and late replication.
 */
export class ArchiveReplication extends Construct {
  readonly role: Role;
  /** The role S3 Batch Operations assumes to replicate versions older than the rules (`replica backfill`). */
  readonly batchRole: Role;

  constructor(scope: Construct, id: string, props: ArchiveReplicationProps) {
    super(scope, id);
    const { rawMail, replica } = props;
    const bucket = rawMail.bucket;
    this.role = new Role(this, 'ReplicationRole', {
      roleName: replica.roleName,
      assumedBy: new ServicePrincipal('s3.amazonaws.com'),
      description: `S3 replication of the archive's locked prefixes into ${replica.bucketName} (account ${replica.account})`,
    });
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        resources: [bucket.bucketArn],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        actions: [
          's3:GetObjectVersionForReplication',
          's3:GetObjectVersionAcl',
          's3:GetObjectVersionTagging',
          's3:GetObjectRetention',
          's3:GetObjectLegalHold',
        ],
        resources: REPLICATED.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
      }),
    );
    // No s3:ReplicateDelete: delete markers are not replicated, and nothing of this account removes a replica.
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ReplicateObject', 's3:ReplicateTags', 's3:ObjectOwnerOverrideToBucketOwner'],
        resources: [`${replica.bucketArn}/*`],
      }),
    );
    const bucketId = Stack.of(this).getLogicalId(bucket.node.defaultChild as CfnElement);
    Validations.of(this.role).acknowledge(
      ...REPLICATED.map((prefix) => ({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
        reason: `Replication reads every new version under ${prefix} (object keys are message ids)`,
      })),
      {
        id: `AwsSolutions-IAM5[Resource::${replica.bucketArn}/*]`,
        reason: 'Replication writes each replica under the key of its source version in the replica bucket',
      },
    );
    // No fixed name (CloudFormation generates one; the CLI reads its ARN from a stack output): its permissions are
    // only to start replication of versions the rules already cover, and to write the job's report.
    this.batchRole = new Role(this, 'BackfillRole', {
      assumedBy: new ServicePrincipal('batchoperations.s3.amazonaws.com'),
      description: `S3 Batch Replication of versions written before the replication rules into ${replica.bucketName}`,
    });
    this.batchRole.addToPolicy(
      new PolicyStatement({
        actions: ['s3:InitiateReplication'],
        resources: REPLICATED.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
      }),
    );
    this.batchRole.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetReplicationConfiguration', 's3:PutInventoryConfiguration'],
        resources: [bucket.bucketArn],
      }),
    );
    this.batchRole.addToPolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${BATCH_REPLICATION_REPORT_PREFIX}*`)],
      }),
    );
    Validations.of(this.batchRole).acknowledge(
      ...REPLICATED.map((prefix) => ({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
        reason: `A backfill job starts replication of any version under ${prefix} that the rules cover`,
      })),
      {
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${BATCH_REPLICATION_REPORT_PREFIX}*]`,
        reason: 'S3 Batch Operations names each completion report after its job id',
      },
    );

    const rules = REPLICATED.map((prefix) => ({
      id: replicationRuleId(prefix),
      priority: replicationRulePriority(prefix),
      status: 'Enabled',
      filter: { prefix },
      deleteMarkerReplication: { status: 'Disabled' },
      destination: {
        bucket: replica.bucketArn,
        account: replica.account,
        accessControlTranslation: { owner: 'Destination' },
        storageClass: props.storageClass,
        // Metrics are billed per rule (as CloudWatch custom metrics): the canary's rule goes without.
        ...(prefix === REPLICA_CANARY_PREFIX ? {} : { metrics: { status: 'Enabled' } }),
      },
    }));
    const cfnBucket = bucket.node.defaultChild as CfnBucket;
    cfnBucket.replicationConfiguration = { role: this.role.roleArn, rules };

    const metric = (metricName: string, statistic: string, ruleId: string) =>
      new Metric({
        namespace: 'AWS/S3',
        metricName,
        dimensionsMap: {
          SourceBucket: bucket.bucketName,
          DestinationBucket: replica.bucketName,
          RuleId: ruleId,
        },
        statistic,
        period: Duration.hours(1),
      });
    // The alarms watch the archive's rules; a canary's failure is doctor's to report.
    const watched = rules.filter((rule) => rule.filter.prefix !== REPLICA_CANARY_PREFIX);
    const perRule = (metricName: string, statistic: string) =>
      Object.fromEntries(
        watched.map((rule, i) => [`m${i}`, metric(metricName, statistic, rule.id)] as const),
      );
    const ids = watched.map((_, i) => `m${i}`);
    props.alarms.alarmWhenAboveZero(
      'ReplicationFailedAlarm',
      new MathExpression({
        expression: ids.map((m) => `FILL(${m}, 0)`).join(' + '),
        usingMetrics: perRule('OperationsFailedReplication', 'Sum'),
        period: Duration.hours(1),
        label: 'Operations that failed to replicate',
      }),
      `S3 could not replicate versions into ${replica.bucketName} (account ${replica.account}): see docs/object-lock.md, "A copy in a second account"`,
    );
    const lateAfter = props.lateAfter ?? Duration.hours(6);
    props.alarms.alarm('ReplicationLateAlarm', {
      alarmDescription: `Replication into ${replica.bucketName} is more than ${lateAfter.toHumanString()} behind`,
      metric: new MathExpression({
        expression: `MAX([${ids.map((m) => `FILL(${m}, 0)`).join(', ')}])`,
        usingMetrics: perRule('ReplicationLatency', 'Maximum'),
        period: Duration.hours(1),
        label: 'Replication latency (seconds)',
      }),
      threshold: lateAfter.toSeconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
  }
}
