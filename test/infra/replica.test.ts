// The replica in a second account, in the templates: this stack's replication rules (one per locked prefix,
// delete markers not replicated, replicas owned by account B, the configured storage class, metrics on) and the
// alarms on failed and late replication; the replica stack's bucket (Object Lock with the archive's lock as its
// default retention, owned by account B, retained, its logical ID pinned). Proven with the IAM policy evaluator
// over both templates: only this stack's replication role can write replicas, it cannot delete them, nobody of
// either account can bypass governance retention there, and the role reads only the locked prefixes.
import { type RunSimulationResults, runSimulation } from '@cloud-copilot/iam-simulate';
import { App, Validations } from 'aws-cdk-lib';
import { Annotations, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ReplicaStack } from '../../cdk/replica-stack';
import { STACK_OUTPUT } from '../../shared/aws-names';
import {
  BATCH_REPLICATION_REPORT_PREFIX,
  LOCKED_PREFIXES,
  REPLICA_CANARY_PREFIX,
} from '../../shared/index/schema';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';
import { ACCOUNT, type CfnResource, type PolicyDocument, TemplateModel } from './template-model';

const STACK = 'ReplicatedArchiver';
const ACCOUNT_B = '222222222222';
const REPLICA_BUCKET = `replicatedarchiver-replica-${ACCOUNT_B}`;
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/${STACK}-replication`;
const replica = { account: ACCOUNT_B, region: 'eu-west-1', sourceAccount: ACCOUNT };
const configWith = (archive: Record<string, unknown>) => exampleConfig({ stackName: STACK, archive });

const resourcesOf = (template: Template) =>
  (template.toJSON() as { Resources: Record<string, CfnResource> }).Resources;

function sourceOutputs(archive: Record<string, unknown>) {
  const { template } = synthesize(configWith(archive), { stackName: STACK });
  return (template.toJSON() as { Outputs?: Record<string, unknown> }).Outputs;
}

function sourceModel(archive: Record<string, unknown>) {
  const { template } = synthesize(configWith(archive), { stackName: STACK });
  return new TemplateModel(STACK, resourcesOf(template));
}

function replicaStack(archive: Record<string, unknown>) {
  const app = new App();
  const stack = new ReplicaStack(app, `${STACK}-Replica`, {
    config: configWith(archive),
    env: { account: ACCOUNT_B, region: 'eu-west-1' },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const template = Template.fromStack(stack);
  return { stack, template, model: new TemplateModel(`${STACK}-Replica`, resourcesOf(template)) };
}

async function simulate(
  principal: string,
  action: string,
  resource: { arn: string; account: string },
  identityPolicies: { name: string; policy: PolicyDocument }[],
  resourcePolicy: PolicyDocument | undefined,
): Promise<string> {
  const result: RunSimulationResults = await runSimulation(
    {
      request: {
        principal,
        action,
        resource: { resource: resource.arn, accountId: resource.account },
        contextVariables: { 'aws:SecureTransport': 'true', 'aws:PrincipalArn': principal },
      },
      identityPolicies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy,
    },
    {},
  );
  return result.resultType === 'error' ? `error: ${result.errors.message}` : result.overallResult;
}

const everything = {
  name: 'everything',
  policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] },
};

describe('the replica in a second account', { timeout: 300_000 }, () => {
  it('replicates every locked prefix into account B: no delete markers, owned by B, storage class, metrics', () => {
    const model = sourceModel({ replica: { ...replica, storageClass: 'DEEP_ARCHIVE' } });
    const [, bucket] = model.find('AWS::S3::Bucket', 'RawMailBucket');
    const configuration = model.resolve<{ Role: string; Rules: Record<string, unknown>[] }>(
      bucket.Properties?.ReplicationConfiguration,
    );
    expect(configuration.Role).toBe(ROLE_ARN);
    expect(configuration.Rules.map((r) => (r.Filter as { Prefix: string }).Prefix)).toEqual([
      ...LOCKED_PREFIXES,
      REPLICA_CANARY_PREFIX,
    ]);
    expect(new Set(configuration.Rules.map((r) => r.Priority)).size).toBe(LOCKED_PREFIXES.length + 1);
    // Priorities are fixed once deployed: the rules before the transparency log's kept theirs (4, 3, 2, 1).
    expect(
      Object.fromEntries(
        configuration.Rules.map((r) => [(r.Filter as { Prefix: string }).Prefix, r.Priority] as const),
      ),
    ).toEqual({
      'incoming/': 4,
      'envelopes/': 3,
      'delivery-log/': 2,
      'transparency/': 5,
      [REPLICA_CANARY_PREFIX]: 1,
    });
    for (const rule of configuration.Rules.slice(0, LOCKED_PREFIXES.length)) {
      expect(rule).toMatchObject({
        Status: 'Enabled',
        DeleteMarkerReplication: { Status: 'Disabled' },
        Destination: {
          Bucket: `arn:aws:s3:::${REPLICA_BUCKET}`,
          Account: ACCOUNT_B,
          AccessControlTranslation: { Owner: 'Destination' },
          StorageClass: 'DEEP_ARCHIVE',
          Metrics: { Status: 'Enabled' },
        },
      });
    }
    const alarms = model.ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties?.AlarmName);
    expect(alarms).toEqual(
      expect.arrayContaining([`${STACK}-ReplicationFailedAlarm`, `${STACK}-ReplicationLateAlarm`]),
    );
    const [, failed] = model
      .ofType('AWS::CloudWatch::Alarm')
      .find(([, a]) => a.Properties?.AlarmName === `${STACK}-ReplicationFailedAlarm`) as [
      string,
      CfnResource,
    ];
    const metrics = (
      (failed.Properties?.Metrics ?? []) as { MetricStat?: { Metric: Record<string, unknown> } }[]
    ).flatMap((m) => (m.MetricStat ? [model.resolve<Record<string, unknown>>(m.MetricStat.Metric)] : []));
    expect(metrics.map((m) => m.MetricName)).toEqual(
      LOCKED_PREFIXES.map(() => 'OperationsFailedReplication'),
    );
  });

  it('adds no replication, role or alarm without a replica, and keeps the bucket at its logical ID with one', () => {
    const plain = sourceModel({});
    const [plainId, bucket] = plain.find('AWS::S3::Bucket', 'RawMailBucket');
    expect(bucket.Properties?.ReplicationConfiguration).toBeUndefined();
    expect(plain.ofType('AWS::IAM::Role').map(([id]) => id)).not.toContainEqual(
      expect.stringContaining('Replication'),
    );
    const [replicatedId] = sourceModel({ replica }).find('AWS::S3::Bucket', 'RawMailBucket');
    expect(replicatedId).toBe(plainId);
  });

  it.each([
    ['governance', { mode: 'governance', retainDays: 30 }, { Mode: 'GOVERNANCE', Days: 30 }],
    ['compliance', { mode: 'compliance', retainDays: 2555 }, { Mode: 'COMPLIANCE', Days: 2555 }],
    ['off', { mode: 'off' }, undefined],
  ])(
    'the replica bucket (%s): Object Lock, the lock as default retention, owned by B, retained',
    (_n, lock, retention) => {
      const { model, stack } = replicaStack({ lock, replica });
      const buckets = model.ofType('AWS::S3::Bucket');
      expect(buckets.map(([id]) => id)).toEqual(['ReplicaBucketB570B599']);
      const [, bucket] = buckets[0] as [string, CfnResource];
      expect((bucket as CfnResource & { DeletionPolicy?: string }).DeletionPolicy).toBe('Retain');
      expect(bucket.Properties).toMatchObject({
        BucketName: REPLICA_BUCKET,
        ObjectLockEnabled: true,
        VersioningConfiguration: { Status: 'Enabled' },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      });
      const defaultRetention = (
        bucket.Properties?.ObjectLockConfiguration as { Rule?: { DefaultRetention: unknown } } | undefined
      )?.Rule?.DefaultRetention;
      expect(defaultRetention).toEqual(retention);
      expect(Annotations.fromStack(stack).findError('*', /.*/)).toEqual([]);
    },
  );

  it('only the replication role writes replicas; it cannot delete them; nobody bypasses governance there', async () => {
    const source = sourceModel({ replica });
    const [roleId] = source.find('AWS::IAM::Role', 'ReplicationRole');
    const rolePolicies = source.rolePolicies(roleId);
    const { model } = replicaStack({ replica });
    const [bucketId] = model.find('AWS::S3::Bucket', 'ReplicaBucket');
    const bucketPolicy = model.resourcePolicy(bucketId);
    const replicaObject = { arn: `arn:aws:s3:::${REPLICA_BUCKET}/incoming/abc`, account: ACCOUNT_B };
    const verdict = (principal: string, action: string, policies = rolePolicies) =>
      simulate(principal, action, replicaObject, policies, bucketPolicy);
    expect(source.getAtt(roleId, 'Arn')).toBe(ROLE_ARN);
    expect(await verdict(ROLE_ARN, 's3:ReplicateObject')).toBe('Allowed');
    expect(await verdict(ROLE_ARN, 's3:ObjectOwnerOverrideToBucketOwner')).toBe('Allowed');
    expect(await verdict(ROLE_ARN, 's3:ReplicateDelete')).not.toBe('Allowed');
    expect(await verdict(ROLE_ARN, 's3:DeleteObjectVersion')).not.toBe('Allowed');
    // Another principal of account A, even one allowed everything by its own policies.
    const [ingest] = source.find('AWS::Lambda::Function', 'IngestFunction');
    const ingestRole = source.getAtt(source.roleOf(ingest), 'Arn');
    expect(await verdict(ingestRole, 's3:ReplicateObject', [everything])).not.toBe('Allowed');
    expect(await verdict(`arn:aws:iam::${ACCOUNT}:root`, 's3:PutObject', [everything])).not.toBe('Allowed');
    // Account B's own administrator cannot bypass governance retention on a replica.
    const adminB = `arn:aws:iam::${ACCOUNT_B}:role/Administrator`;
    expect(await verdict(adminB, 's3:BypassGovernanceRetention', [everything])).toBe('ExplicitlyDenied');
    // The role reads versions to replicate under the locked prefixes only.
    const [sourceBucket] = source.find('AWS::S3::Bucket', 'RawMailBucket');
    const sourceArn = source.getAtt(sourceBucket, 'Arn');
    const read = (key: string, action = 's3:GetObjectVersionForReplication') =>
      simulate(
        ROLE_ARN,
        action,
        { arn: `${sourceArn}/${key}`, account: ACCOUNT },
        rolePolicies,
        source.resourcePolicy(sourceBucket),
      );
    for (const prefix of LOCKED_PREFIXES) {
      expect(await read(`${prefix}abc`)).toBe('Allowed');
      expect(await read(`${prefix}abc`, 's3:GetObjectRetention')).toBe('Allowed');
      expect(await read(`${prefix}abc`, 's3:GetObjectLegalHold')).toBe('Allowed');
    }
    expect(await read('exports/alice/x.tar.gz')).not.toBe('Allowed');
    expect(await read('incoming/abc', 's3:DeleteObjectVersion')).not.toBe('Allowed');
  });
  it('the batch replication role starts replication of the replicated prefixes and writes only its report', async () => {
    const source = sourceModel({ replica });
    const [roleId, role] = source.find('AWS::IAM::Role', 'BackfillRole');
    expect(
      (role.Properties?.AssumeRolePolicyDocument as PolicyDocument | undefined)?.Statement.map(
        (s) => s.Principal,
      ),
    ).toEqual([{ Service: 'batchoperations.s3.amazonaws.com' }]);
    const roleArn = source.getAtt(roleId, 'Arn');
    const policies = source.rolePolicies(roleId);
    const [bucketId] = source.find('AWS::S3::Bucket', 'RawMailBucket');
    const bucketArn = source.getAtt(bucketId, 'Arn');
    const bucketPolicy = source.resourcePolicy(bucketId);
    const on = (action: string, arn: string) =>
      simulate(roleArn, action, { arn, account: ACCOUNT }, policies, bucketPolicy);
    for (const prefix of [...LOCKED_PREFIXES, REPLICA_CANARY_PREFIX])
      expect(await on('s3:InitiateReplication', `${bucketArn}/${prefix}abc`), prefix).toBe('Allowed');
    expect(await on('s3:InitiateReplication', `${bucketArn}/exports/alice/x.tar.gz`)).not.toBe('Allowed');
    expect(await on('s3:GetReplicationConfiguration', bucketArn)).toBe('Allowed');
    expect(await on('s3:PutInventoryConfiguration', bucketArn)).toBe('Allowed');
    expect(await on('s3:PutObject', `${bucketArn}/${BATCH_REPLICATION_REPORT_PREFIX}job-1/report.json`)).toBe(
      'Allowed',
    );
    for (const [action, key] of [
      ['s3:PutObject', 'incoming/abc'],
      ['s3:GetObject', 'incoming/abc'],
      ['s3:DeleteObjectVersion', 'incoming/abc'],
      ['s3:BypassGovernanceRetention', 'incoming/abc'],
      ['s3:PutObjectRetention', 'incoming/abc'],
    ] as const)
      expect(await on(action, `${bucketArn}/${key}`), action).not.toBe('Allowed');
    expect(await on('s3:PutReplicationConfiguration', bucketArn)).not.toBe('Allowed');
    expect(await on('s3:PutLifecycleConfiguration', bucketArn)).not.toBe('Allowed');
    // The CLI finds the role through the stack output.
    const outputs = (sourceOutputs({ replica }) ?? {}) as Record<string, { Value?: unknown }>;
    expect(source.resolve(outputs[STACK_OUTPUT.batchReplicationRoleArn]?.Value)).toBe(roleArn);
  });
});

describe('replica config errors name the field', () => {
  it.each([
    [{ replica: { region: 'eu-west-1', sourceAccount: ACCOUNT } }, 'archive.replica.account'],
    [{ replica: { account: ACCOUNT_B, region: 'eu-west-1' } }, 'archive.replica.sourceAccount'],
    [{ replica: { ...replica, account: ACCOUNT } }, 'archive.replica.account: must be a second AWS account'],
    [{ replica: { ...replica, storageClass: 'GLACIER' } }, 'archive.replica.storageClass'],
    [{ replica: { ...replica, bucketName: 'Not_A_Bucket' } }, 'archive.replica.bucketName'],
  ])('%j', (archive, message) => {
    expect(() => configWith(archive)).toThrow(message);
  });

  it('a stack name too long for the role or the bucket names the field to change', () => {
    const long = `A${'b'.repeat(55)}`;
    expect(() => exampleConfig({ stackName: long, archive: { replica } })).toThrow(
      'archive.replica.bucketName',
    );
    expect(() => exampleConfig({ stackName: long, archive: { replica } })).toThrow('stackName');
  });
});
