// The replica machine's read-only policy (`doctor --target aws` prints it; shared/delivery-log/read-policy.ts)
// evaluated with the IAM policy evaluator together with the synthesized stack's own bucket policy (TLS only,
// the write-once denies, the governance bypass deny), as S3 evaluates a request: the identity policy and the
// bucket policy of the same account. What a replica machine reads: the delivery log, the raw mail it names (also
// by version id: GetObject with a VersionId is authorized as s3:GetObjectVersion alone, per the GetObject API
// reference), the transparency log. What it can never do: write, delete, change a lock or a policy, or read
// anything else. And what it cannot reach: the copy in account B (a cross-account read needs that bucket's
// policy to name the principal, which the replica stack's policy never does; IAM's cross-account evaluation).
import { type RunSimulationResults, runSimulation } from '@cloud-copilot/iam-simulate';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ReplicaStack } from '../../cdk/replica-stack';
import { replicaPolicyForStack } from '../../cli/doctor/sync-replicas';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';
import { ACCOUNT, type CfnResource, type PolicyDocument, REGION, TemplateModel } from './template-model';

const STACK = 'ReplicatedArchiver';
const ACCOUNT_B = '222222222222';
const REPLICA_MACHINE = `arn:aws:iam::${ACCOUNT}:user/replica-machine`;
const config = exampleConfig({
  stackName: STACK,
  archive: { replica: { account: ACCOUNT_B, region: 'eu-west-1', sourceAccount: ACCOUNT } },
});

const resourcesOf = (template: Template) =>
  (template.toJSON() as { Resources: Record<string, CfnResource> }).Resources;

async function verdict(
  action: string,
  resource: { arn: string; account: string },
  identity: PolicyDocument,
  bucketPolicy: PolicyDocument | undefined,
  context: Record<string, string> = {},
): Promise<string> {
  const result: RunSimulationResults = await runSimulation(
    {
      request: {
        principal: REPLICA_MACHINE,
        action,
        resource: { resource: resource.arn, accountId: resource.account },
        contextVariables: { 'aws:SecureTransport': 'true', 'aws:PrincipalArn': REPLICA_MACHINE, ...context },
      },
      identityPolicies: [{ name: 'replica', policy: identity as never }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: bucketPolicy as never,
    },
    {},
  );
  return result.resultType === 'error' ? `error: ${result.errors.message}` : result.overallResult;
}

describe("the replica machine's read-only policy against the deployed bucket's own policy", {
  timeout: 300_000,
}, () => {
  const { template } = synthesize(config, { stackName: STACK });
  const model = new TemplateModel(STACK, resourcesOf(template));
  const [bucketId] = model.find('AWS::S3::Bucket', 'RawMailBucket');
  const bucket = model.ref(bucketId);
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const bucketPolicy = model.resourcePolicy(bucketId);
  const policy = replicaPolicyForStack(STACK, REGION, { RawMailBucketName: bucket }) as PolicyDocument;
  const onBucket = (action: string, context: Record<string, string> = {}) =>
    verdict(action, { arn: bucketArn, account: ACCOUNT }, policy, bucketPolicy, context);
  const onObject = (action: string, key: string, context: Record<string, string> = {}) =>
    verdict(action, { arn: `${bucketArn}/${key}`, account: ACCOUNT }, policy, bucketPolicy, context);

  it('reads the logs and the mail they name, also by version id, over TLS only', async () => {
    expect(bucketPolicy, 'the synthesized raw-mail bucket has a bucket policy').toBeDefined();
    for (const prefix of [
      'delivery-log/',
      'delivery-log/2026-12-07/',
      'transparency/',
      'transparency/seals/',
    ])
      expect(await onBucket('s3:ListBucket', { 's3:prefix': prefix }), prefix).toBe('Allowed');
    for (const key of [
      'delivery-log/2026-12-07/010203.456Z-ingest-abc.jsonl',
      'incoming/0000abcd',
      'transparency/checkpoint',
      'transparency/tile/entries/000',
    ]) {
      expect(await onObject('s3:GetObject', key), key).toBe('Allowed');
      expect(await onObject('s3:GetObjectVersion', key, { 's3:versionid': 'v1' }), key).toBe('Allowed');
    }
    // The bucket's enforceSSL statement: the same read over plain HTTP is refused.
    expect(await onObject('s3:GetObject', 'incoming/0000abcd', { 'aws:SecureTransport': 'false' })).toBe(
      'ExplicitlyDenied',
    );
  });

  it('reads nothing else: no other prefix, no listing of the mail, no locks, tags or ACLs', async () => {
    expect(await onBucket('s3:ListBucket')).not.toBe('Allowed');
    expect(await onBucket('s3:ListBucket', { 's3:prefix': 'incoming/' })).not.toBe('Allowed');
    expect(await onBucket('s3:ListBucketVersions', { 's3:prefix': 'delivery-log/' })).not.toBe('Allowed');
    for (const key of ['envelopes/0000abcd.json', 'exports/alice@example.com/x.tar.gz', 'ledger/x'])
      expect(await onObject('s3:GetObject', key), key).not.toBe('Allowed');
    for (const action of [
      's3:GetObjectRetention',
      's3:GetObjectLegalHold',
      's3:GetObjectTagging',
      's3:GetObjectAcl',
    ])
      expect(await onObject(action, 'incoming/0000abcd'), action).not.toBe('Allowed');
  });

  it('can write, delete or change nothing, in the bucket or its configuration', async () => {
    for (const action of [
      's3:PutObject',
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:PutObjectRetention',
      's3:PutObjectLegalHold',
      's3:BypassGovernanceRetention',
      's3:PutObjectTagging',
      's3:DeleteObjectTagging',
      's3:PutObjectAcl',
      's3:RestoreObject',
      's3:ReplicateObject',
      's3:ReplicateDelete',
      's3:AbortMultipartUpload',
    ])
      for (const key of ['incoming/0000abcd', 'delivery-log/2026-12-07/x.jsonl', 'transparency/checkpoint'])
        expect(await onObject(action, key), `${action} ${key}`).not.toBe('Allowed');
    for (const action of [
      's3:PutBucketPolicy',
      's3:DeleteBucketPolicy',
      's3:DeleteBucket',
      's3:PutLifecycleConfiguration',
      's3:PutBucketVersioning',
      's3:PutBucketObjectLockConfiguration',
      's3:PutReplicationConfiguration',
      's3:PutBucketOwnershipControls',
      's3:PutBucketPublicAccessBlock',
    ])
      expect(await onBucket(action), action).not.toBe('Allowed');
    // Nothing outside S3 but finding the bucket through the stack: no stack change, no index, no queue, no key.
    const elsewhere = (action: string, arn: string) =>
      verdict(action, { arn, account: ACCOUNT }, policy, undefined);
    const stackArn = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${STACK}/0b5e`;
    expect(await elsewhere('cloudformation:DescribeStacks', stackArn)).toBe('Allowed');
    for (const action of [
      'cloudformation:DeleteStack',
      'cloudformation:UpdateStack',
      'cloudformation:CreateChangeSet',
    ])
      expect(await elsewhere(action, stackArn), action).not.toBe('Allowed');
    expect(
      await elsewhere('dynamodb:Scan', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${STACK}-index`),
    ).not.toBe('Allowed');
    // Every action it names is a read: no wildcard can grow into a write when AWS adds actions.
    const actions = policy.Statement.flatMap((s) => s.Action as string[]);
    expect(actions.sort()).toEqual([
      'cloudformation:DescribeStacks',
      's3:GetObject',
      's3:GetObjectVersion',
      's3:ListBucket',
    ]);
  });

  it("cannot read the copy in account B: that bucket's policy grants reads to nobody", async () => {
    const app = new App();
    const replicaStack = new ReplicaStack(app, `${STACK}-Replica`, {
      config,
      env: { account: ACCOUNT_B, region: 'eu-west-1' },
    });
    const replicaModel = new TemplateModel(`${STACK}-Replica`, resourcesOf(Template.fromStack(replicaStack)));
    const [replicaBucketId] = replicaModel.find('AWS::S3::Bucket', 'ReplicaBucket');
    const replicaBucket = `arn:aws:s3:::${replicaModel.ref(replicaBucketId)}`;
    // Even the same policy written for account B's bucket: a cross-account read needs both policies to allow it.
    const forB = replicaPolicyForStack(STACK, REGION, {
      RawMailBucketName: replicaModel.ref(replicaBucketId),
    }) as PolicyDocument;
    const inB = (action: string, arn: string, context: Record<string, string> = {}) =>
      verdict(
        action,
        { arn, account: ACCOUNT_B },
        forB,
        replicaModel.resourcePolicy(replicaBucketId),
        context,
      );
    expect(await inB('s3:GetObject', `${replicaBucket}/incoming/0000abcd`)).not.toBe('Allowed');
    expect(await inB('s3:ListBucket', replicaBucket, { 's3:prefix': 'delivery-log/' })).not.toBe('Allowed');
  });
});
